//! The five-field cron schedules of recurring freeze windows (`0 17 * * FRI`).
//!
//! Written here rather than taken from a crate: the well-kept cron crates compute occurrences
//! with `chrono` (and `chrono-tz`, a second time-zone database beside jiff's), and `cron`
//! itself wants a seconds field. A window only needs to know which civil minutes match and the
//! latest match at or before a civil time; the time zone, and with it daylight saving, is
//! applied by the caller with jiff.
//!
//! The grammar is the one of crontab(5): minute (0-59), hour (0-23), day of month (1-31),
//! month (1-12 or `JAN`-`DEC`), day of week (0-7, 0 and 7 both Sunday, or `SUN`-`SAT`); each
//! field a comma-separated list of `*`, a value, a range `a-b`, each optionally with a step
//! `/n` (`a/n` meaning `a-max/n`). Names are case-insensitive. As in Vixie cron, when both the
//! day of month and the day of week are restricted (neither starts with `*`), a day matching
//! either one matches; when either starts with `*` (`*/2` too), a day must match both.

use std::fmt;

use jiff::civil::{Date, DateTime, Time};

use crate::shown::shown;

/// A parsed five-field cron schedule.
#[derive(Clone, PartialEq, Eq)]
pub struct CronSchedule {
    text: String,
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    /// The day-of-month field starts with `*` (it restricts nothing for the OR rule).
    days_star: bool,
    /// The day-of-week field starts with `*`.
    weekdays_star: bool,
}

impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronSchedule({:?})", self.text)
    }
}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Why a cron schedule was refused; the message completes "`…` is not a cron schedule: ".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    /// Not five fields.
    #[error(
        "it has {count} fields; write five: minute, hour, day of month, month, day of week (such as \"0 17 * * FRI\")"
    )]
    FieldCount {
        /// How many fields were written.
        count: usize,
    },
    /// One field does not parse, or names a value out of its range.
    #[error("the {field} field `{value}` {reason}")]
    Field {
        /// `minute`, `hour`, `day of month`, `month` or `day of week`.
        field: &'static str,
        /// The field as written (escaped and cut).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A character other than printable ASCII (a line break, a direction override).
    #[error("it holds a character other than printable ASCII")]
    Character,
    /// The days and months can never meet (`0 0 30 2 *`).
    #[error("it never fires: no month it names has the days of month it names")]
    Never,
}

struct Field {
    name: &'static str,
    min: u8,
    max: u8,
    names: &'static [&'static str],
}

const MINUTE: Field = Field {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Field = Field {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY: Field = Field {
    name: "day of month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
};
const WEEKDAY: Field = Field {
    name: "day of week",
    min: 0,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
};

impl Field {
    /// The bits of the values one field matches, and whether it starts with `*`.
    fn parse(&self, text: &str) -> Result<(u64, bool), CronError> {
        let error = |reason: String| CronError::Field {
            field: self.name,
            value: shown(text),
            reason,
        };
        let mut bits = 0u64;
        for item in text.split(',') {
            if item.is_empty() {
                return Err(error("has an empty list item".to_owned()));
            }
            let (range, step) = match item.split_once('/') {
                Some((range, step)) => {
                    let step: u8 = step.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                        error(format!(
                            "has the step `{}`, which is not a whole number above zero",
                            shown(step)
                        ))
                    })?;
                    (range, Some(step))
                }
                None => (item, None),
            };
            let (low, high) = if range == "*" {
                (self.min, self.max)
            } else if let Some((low, high)) = range.split_once('-') {
                let low = self.value(low).map_err(&error)?;
                let high = self.value(high).map_err(&error)?;
                if low > high {
                    return Err(error(format!(
                        "has the range {low}-{high}, which runs backwards"
                    )));
                }
                (low, high)
            } else {
                let value = self.value(range).map_err(&error)?;
                // `a/n` is `a-max/n`, as in Vixie cron.
                (value, if step.is_some() { self.max } else { value })
            };
            let step = step.unwrap_or(1);
            let mut value = low;
            while value <= high {
                bits |= 1 << value;
                value = match value.checked_add(step) {
                    Some(next) => next,
                    None => break,
                };
            }
        }
        Ok((bits, text.starts_with('*')))
    }

    fn value(&self, text: &str) -> Result<u8, String> {
        if let Some(index) = self
            .names
            .iter()
            .position(|name| name.eq_ignore_ascii_case(text))
        {
            return Ok(index as u8 + self.min);
        }
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            let names = if self.names.is_empty() {
                String::new()
            } else {
                format!(" or a name ({})", self.names.join(", "))
            };
            return Err(format!(
                "names `{}`, which is not a number from {} to {}{names}",
                shown(text),
                self.min,
                self.max
            ));
        }
        match text.parse::<u8>() {
            Ok(value) if (self.min..=self.max).contains(&value) => Ok(value),
            _ => Err(format!(
                "names {}, outside {}-{}",
                shown(text),
                self.min,
                self.max
            )),
        }
    }
}

impl CronSchedule {
    /// Parses a five-field schedule.
    pub fn parse(text: &str) -> Result<Self, CronError> {
        if !text.bytes().all(|b| (b' '..=b'~').contains(&b)) {
            return Err(CronError::Character);
        }
        let fields: Vec<&str> = text.split_ascii_whitespace().collect();
        if fields.len() != 5 {
            return Err(CronError::FieldCount {
                count: fields.len(),
            });
        }
        let (minutes, _) = MINUTE.parse(fields[0])?;
        let (hours, _) = HOUR.parse(fields[1])?;
        let (days, days_star) = DAY.parse(fields[2])?;
        let (months, _) = MONTH.parse(fields[3])?;
        let (weekdays, weekdays_star) = WEEKDAY.parse(fields[4])?;
        // 7 is Sunday too.
        let weekdays = ((weekdays | (weekdays >> 7)) & 0x7f) as u8;
        let schedule = Self {
            text: fields.join(" "),
            minutes,
            hours: hours as u32,
            days: days as u32,
            months: months as u16,
            weekdays,
            days_star,
            weekdays_star,
        };
        if schedule.never_fires() {
            return Err(CronError::Never);
        }
        Ok(schedule)
    }

    /// The schedule as written (fields separated by one space).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Only the day of month decides, and no month named has such a day (29 February
    /// counts: it comes in leap years).
    fn never_fires(&self) -> bool {
        if !self.weekdays_star {
            return false;
        }
        const LONGEST: [u8; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        !(1..=12u8).any(|month| {
            self.months & (1 << month) != 0
                && (1..=LONGEST[usize::from(month - 1)]).any(|day| self.days & (1 << day) != 0)
        })
    }

    /// Whether the schedule fires on `date` (at some minute).
    pub fn matches_date(&self, date: Date) -> bool {
        if self.months & (1 << date.month()) == 0 {
            return false;
        }
        let day = self.days & (1 << date.day()) != 0;
        let weekday = self.weekdays & (1 << date.weekday().to_sunday_zero_offset()) != 0;
        // Vixie cron: a field starting with `*` (`*`, `*/2`) makes the two fields both
        // required (a bare `*` has every bit, so the other one alone decides); two restricted
        // fields match on either.
        if self.days_star || self.weekdays_star {
            day && weekday
        } else {
            day || weekday
        }
    }

    /// Whether the schedule fires at the civil minute `at`.
    pub fn matches(&self, at: DateTime) -> bool {
        self.matches_date(at.date())
            && self.hours & (1 << at.hour()) != 0
            && self.minutes & (1 << at.minute()) != 0
    }

    /// The latest civil minute at or before `at` at which the schedule fires, searching back
    /// at most `days` days.
    pub fn latest_at_or_before(&self, at: DateTime, days: u32) -> Option<DateTime> {
        let mut date = at.date();
        let mut bound = Some((at.hour(), at.minute()));
        for _ in 0..=days {
            if self.matches_date(date)
                && let Some((hour, minute)) = self.latest_time(bound)
            {
                return Some(date.to_datetime(Time::constant(hour, minute, 0, 0)));
            }
            date = date.yesterday().ok()?;
            bound = None;
        }
        None
    }

    /// The latest (hour, minute) the schedule names, at or before `bound` when given.
    fn latest_time(&self, bound: Option<(i8, i8)>) -> Option<(i8, i8)> {
        let (last_hour, last_minute) = bound.unwrap_or((23, 59));
        for hour in (0..=last_hour).rev() {
            if self.hours & (1 << hour) == 0 {
                continue;
            }
            let top = if hour == last_hour { last_minute } else { 59 };
            if let Some(minute) = (0..=top).rev().find(|m| self.minutes & (1 << m) != 0) {
                return Some((hour, minute));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    fn at(text: &str) -> DateTime {
        text.parse().unwrap()
    }

    #[test]
    fn a_stepped_star_in_either_day_field_requires_both_as_vixie_cron_does() {
        let fires = |cron: &str, date: &str| {
            CronSchedule::parse(cron)
                .unwrap()
                .matches_date(date.parse().unwrap())
        };
        // Every other day of the month, not every day.
        assert!(fires("0 0 */2 * *", "2026-12-01"));
        assert!(!fires("0 0 */2 * *", "2026-12-02"));
        // Every other weekday (Sunday, Tuesday, ...), not every day.
        assert!(fires("0 17 * * */2", "2026-12-01")); // a Tuesday
        assert!(!fires("0 17 * * */2", "2026-12-02")); // a Wednesday
        // Fridays that are also among the days 1, 8, 15, 22, 29: not every Friday.
        assert!(fires("0 17 */7 * FRI", "2027-01-01")); // Friday the 1st
        assert!(!fires("0 17 */7 * FRI", "2026-12-04")); // Friday the 4th
        // Two restricted fields: either.
        assert!(fires("0 17 1 * FRI", "2026-12-04"));
        assert!(fires("0 17 1 * FRI", "2026-12-01"));
        assert!(!fires("0 17 1 * FRI", "2026-12-02"));
    }

    #[test]
    fn a_weekly_schedule_matches_its_minute_only() {
        let cron = CronSchedule::parse("0 17 * * FRI").unwrap();
        // 2026-12-04 is a Friday.
        assert!(cron.matches(at("2026-12-04T17:00")));
        assert!(!cron.matches(at("2026-12-04T17:01")));
        assert!(!cron.matches(at("2026-12-05T17:00")));
        assert_eq!(cron.to_string(), "0 17 * * FRI");
    }

    #[test]
    fn the_latest_firing_at_or_before_a_time_is_found_backwards() {
        let cron = CronSchedule::parse("0 17 * * FRI").unwrap();
        assert_eq!(
            cron.latest_at_or_before(at("2026-12-07T09:00"), 8),
            Some(at("2026-12-04T17:00"))
        );
        assert_eq!(
            cron.latest_at_or_before(at("2026-12-04T17:00"), 8),
            Some(at("2026-12-04T17:00"))
        );
        assert_eq!(
            cron.latest_at_or_before(at("2026-12-04T16:59"), 8),
            Some(at("2026-11-27T17:00"))
        );
        assert_eq!(cron.latest_at_or_before(at("2026-12-04T16:59"), 5), None);
        let every = CronSchedule::parse("*/15 9-17 * * mon-fri").unwrap();
        assert_eq!(
            every.latest_at_or_before(at("2026-12-04T12:44"), 1),
            Some(at("2026-12-04T12:30"))
        );
        assert_eq!(
            every.latest_at_or_before(at("2026-12-07T08:00"), 5),
            Some(at("2026-12-04T17:45"))
        );
    }

    #[test]
    fn lists_ranges_steps_and_names_parse_as_crontab_says() {
        let cron = CronSchedule::parse("5,10-12,40/10 0 * jan,Jul-aug 1-5").unwrap();
        for minute in [5, 10, 11, 12, 40, 50] {
            assert!(
                cron.matches(date(2026, 1, 5).at(0, minute, 0, 0)),
                "{minute}"
            );
        }
        for minute in [0, 6, 13, 41, 59] {
            assert!(
                !cron.matches(date(2026, 1, 5).at(0, minute, 0, 0)),
                "{minute}"
            );
        }
        assert!(cron.matches_date(date(2026, 7, 1)));
        assert!(!cron.matches_date(date(2026, 3, 2)));
        // 7 is Sunday, as 0 is.
        let sunday = CronSchedule::parse("0 0 * * 7").unwrap();
        assert!(sunday.matches_date(date(2026, 12, 6)));
        assert!(!sunday.matches_date(date(2026, 12, 7)));
    }

    #[test]
    fn day_of_month_and_day_of_week_together_match_either() {
        // The 13th, or any Friday.
        let cron = CronSchedule::parse("0 0 13 * 5").unwrap();
        assert!(cron.matches_date(date(2026, 12, 13))); // a Sunday
        assert!(cron.matches_date(date(2026, 12, 4))); // a Friday
        assert!(!cron.matches_date(date(2026, 12, 5)));
        // With `*` in one of them, only the other decides.
        let fridays = CronSchedule::parse("0 0 * * 5").unwrap();
        assert!(!fridays.matches_date(date(2026, 12, 13)));
        let thirteenth = CronSchedule::parse("0 0 13 * *").unwrap();
        assert!(!thirteenth.matches_date(date(2026, 12, 4)));
    }

    #[test]
    fn leap_days_are_found_years_back() {
        let cron = CronSchedule::parse("0 12 29 2 *").unwrap();
        assert_eq!(
            cron.latest_at_or_before(at("2027-03-01T00:00"), 4 * 366),
            Some(at("2024-02-29T12:00"))
        );
    }

    #[test]
    fn bad_schedules_name_the_field_and_value() {
        let cases = [
            ("0 17 * *", "it has 4 fields"),
            ("0 17 * * FRI 2026", "it has 6 fields"),
            (
                "60 17 * * *",
                "the minute field `60` names 60, outside 0-59",
            ),
            ("0 24 * * *", "the hour field `24` names 24, outside 0-23"),
            (
                "0 0 0 * *",
                "the day of month field `0` names 0, outside 1-31",
            ),
            ("0 0 * 13 *", "the month field `13` names 13, outside 1-12"),
            (
                "0 0 * * 8",
                "the day of week field `8` names 8, outside 0-7",
            ),
            ("0 0 * * FRIDAY", "names `FRIDAY`, which is not a number"),
            ("0 0 * * 5-1", "has the range 5-1, which runs backwards"),
            ("*/0 0 * * *", "has the step `0`"),
            ("1,,2 0 * * *", "has an empty list item"),
            ("0 0 30 2 *", "it never fires"),
            ("0 0 31 4,6 *", "it never fires"),
            ("@daily", "it has 1 fields"),
        ];
        for (text, expected) in cases {
            let message = CronSchedule::parse(text).unwrap_err().to_string();
            assert!(message.contains(expected), "{text}: {message}");
        }
        assert_eq!(
            CronSchedule::parse("0 0 * * \u{202e}5"),
            Err(CronError::Character)
        );
        assert_eq!(CronSchedule::parse("0 0 * *\n5"), Err(CronError::Character));
        // The 30th of February never comes, but a Friday does.
        assert!(CronSchedule::parse("0 0 30 2 FRI").is_ok());
    }
}
