//! The validity period of an X.509 certificate, read from its DER encoding: enough to say
//! that a server's certificate expired instead of only that it is invalid.

use std::time::{SystemTime, UNIX_EPOCH};

/// When a certificate starts and stops being valid, in seconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Validity {
    pub(crate) not_before: i64,
    pub(crate) not_after: i64,
}

impl Validity {
    /// Reads `tbsCertificate.validity` from a DER certificate; `None` when it is not one.
    pub(crate) fn from_der(der: &[u8]) -> Option<Self> {
        let (tag, certificate, _) = tlv(der)?;
        if tag != SEQUENCE {
            return None;
        }
        let (tag, tbs, _) = tlv(certificate)?;
        if tag != SEQUENCE {
            return None;
        }
        let mut rest = tbs;
        // version [0] EXPLICIT (optional), serialNumber, signature, issuer, then validity.
        let (tag, _, after) = tlv(rest)?;
        if tag == VERSION {
            rest = after;
        }
        for _ in 0..3 {
            rest = tlv(rest)?.2;
        }
        let (tag, validity, _) = tlv(rest)?;
        if tag != SEQUENCE {
            return None;
        }
        let (before_tag, before, rest) = tlv(validity)?;
        let (after_tag, after, _) = tlv(rest)?;
        Some(Self {
            not_before: time(before_tag, before)?,
            not_after: time(after_tag, after)?,
        })
    }
}

/// Seconds since the Unix epoch now (negative before it, which never happens in practice).
pub(crate) fn now() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// `seconds` since the epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub(crate) fn format_utc(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

const SEQUENCE: u8 = 0x30;
const VERSION: u8 = 0xa0;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// One DER element: its tag, its content, and what follows it.
fn tlv(data: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *data.first()?;
    let first = *data.get(1)?;
    let (length, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let mut length = 0usize;
        for byte in data.get(2..2 + count)? {
            length = (length << 8) | usize::from(*byte);
        }
        (length, 2 + count)
    };
    let end = header.checked_add(length)?;
    Some((tag, data.get(header..end)?, data.get(end..)?))
}

/// `YYMMDDHHMMSSZ` (UTCTime, years 1950 to 2049) or `YYYYMMDDHHMMSSZ` (GeneralizedTime).
fn time(tag: u8, text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
    if !text.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (year, rest) = match tag {
        UTC_TIME if text.len() == 12 => {
            let short: i64 = text[..2].parse().ok()?;
            (
                if short >= 50 {
                    1900 + short
                } else {
                    2000 + short
                },
                &text[2..],
            )
        }
        GENERALIZED_TIME if text.len() == 14 => (text[..4].parse().ok()?, &text[4..]),
        _ => return None,
    };
    let field = |at: usize| rest[at..at + 2].parse::<i64>().ok();
    let (month, day) = (field(0)?, field(2)?);
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day since 1970-01-01 (the inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DER of a minimal certificate shape: version, serial, algorithm, issuer, validity.
    fn certificate(not_before: (u8, &str), not_after: (u8, &str)) -> Vec<u8> {
        fn element(tag: u8, content: &[u8]) -> Vec<u8> {
            let mut out = vec![tag];
            if content.len() < 0x80 {
                out.push(content.len() as u8);
            } else {
                out.push(0x82);
                out.extend_from_slice(&(content.len() as u16).to_be_bytes());
            }
            out.extend_from_slice(content);
            out
        }
        let validity = [
            element(not_before.0, not_before.1.as_bytes()),
            element(not_after.0, not_after.1.as_bytes()),
        ]
        .concat();
        let tbs = [
            element(VERSION, &element(0x02, &[2])),
            element(0x02, &[1, 2, 3]),
            element(SEQUENCE, &element(0x06, &[42])),
            element(SEQUENCE, &[0u8; 200]),
            element(SEQUENCE, &validity),
            element(SEQUENCE, &[]),
        ]
        .concat();
        element(
            SEQUENCE,
            &[element(SEQUENCE, &tbs), vec![0x05, 0x00]].concat(),
        )
    }

    #[test]
    fn validity_is_read_in_both_time_forms() {
        let der = certificate(
            (UTC_TIME, "261130004011Z"),
            (GENERALIZED_TIME, "20261201004011Z"),
        );
        let validity = Validity::from_der(&der).unwrap();
        assert_eq!(format_utc(validity.not_before), "2026-11-30 00:40:11 UTC");
        assert_eq!(format_utc(validity.not_after), "2026-12-01 00:40:11 UTC");
        assert_eq!(validity.not_after - validity.not_before, 86_400);
    }

    #[test]
    fn utc_time_years_before_50_are_in_this_century() {
        let der = certificate((UTC_TIME, "491231235959Z"), (UTC_TIME, "500101000000Z"));
        let validity = Validity::from_der(&der).unwrap();
        assert_eq!(format_utc(validity.not_before), "2049-12-31 23:59:59 UTC");
        assert_eq!(format_utc(validity.not_after), "1950-01-01 00:00:00 UTC");
    }

    #[test]
    fn anything_else_is_no_certificate() {
        assert_eq!(Validity::from_der(&[]), None);
        assert_eq!(
            Validity::from_der(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
            None
        );
        let bad_time = certificate((UTC_TIME, "26113000401Z"), (UTC_TIME, "261130004011Z"));
        assert_eq!(Validity::from_der(&bad_time), None);
        let bad_month = certificate((UTC_TIME, "261330004011Z"), (UTC_TIME, "261130004011Z"));
        assert_eq!(Validity::from_der(&bad_month), None);
    }

    #[test]
    fn the_epoch_and_leap_days_convert_both_ways() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(
            days_from_civil(2000, 3, 1) - days_from_civil(2000, 2, 28),
            2
        );
    }
}
