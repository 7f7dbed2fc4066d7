//! Durations as people write them: the soak gate in the pipeline file (`30s`, `10m`, `1h30m`,
//! `2d`) and the time limits on the command line and in the environment (`500ms`, `60s`, `2m`).
//!
//! One grammar for all of them, jiff's "friendly" format rather than one of our own: a number
//! and a unit, several of them largest first (`1h30m`), with the units' usual short and long
//! names (`ms`, `s`, `m`, `h`, `d`, `w`; `2 hours 30 minutes`) and a fraction on the last one
//! (`1.5h`). A day is 24 hours, a week 7 days; months and years, which have no fixed length,
//! are refused, as are negative, zero and bare numbers.

use std::time::Duration;

use jiff::fmt::friendly::SpanParser;
use jiff::{Span, SpanRelativeTo};

use crate::shown::shown;

static PARSER: SpanParser = SpanParser::new();

/// Why a duration was refused; the message completes "`…` is not a duration: ".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Nothing was written.
    #[error("it is empty")]
    Empty,
    /// It is below zero (`-5m`, `5m ago`).
    #[error("it is negative")]
    Negative,
    /// A number without a unit.
    #[error("`{number}` has no unit (for example ms, s, m, h or d)")]
    MissingUnit {
        /// The number, as written (cut when long).
        number: String,
    },
    /// Not in the grammar; the parser's reason, escaped and cut.
    #[error("{reason}")]
    Malformed {
        /// What the parser says is wrong.
        reason: String,
    },
    /// Months or years, whose length depends on the calendar.
    #[error("{unit} have no fixed length; use weeks, days, hours, minutes or seconds")]
    CalendarUnit {
        /// `months` or `years`.
        unit: &'static str,
    },
    /// It is no time at all.
    #[error("it is zero")]
    Zero,
    /// It does not fit in a duration.
    #[error("it is too long to represent")]
    Overflow,
    /// A recurring freeze window longer than a year (write one that long as a fixed window).
    #[error(
        "a recurring freeze window lasts at most 366 days; write a longer one as a fixed window (`from` and `to`)"
    )]
    TooLongForFreeze,
}

/// Parses a duration such as `1h30m` or `500ms`.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    if text.trim().is_empty() {
        return Err(DurationError::Empty);
    }
    if text.trim_start().starts_with('-') {
        return Err(DurationError::Negative);
    }
    // Line breaks and invisible characters have no place in a duration, even where the parser
    // would skip them as white space.
    if !text.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return Err(DurationError::Malformed {
            reason: "it holds a character other than printable ASCII".to_owned(),
        });
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(if text.bytes().all(|b| b == b'0') {
            DurationError::Zero
        } else {
            DurationError::MissingUnit {
                number: shown(text),
            }
        });
    }
    let span: Span = PARSER
        .parse_span(text)
        .map_err(|error| DurationError::Malformed {
            reason: shown(&error.to_string()),
        })?;
    if span.is_negative() {
        return Err(DurationError::Negative);
    }
    if span.get_years() != 0 {
        return Err(DurationError::CalendarUnit { unit: "years" });
    }
    if span.get_months() != 0 {
        return Err(DurationError::CalendarUnit { unit: "months" });
    }
    let duration = span
        .to_duration(SpanRelativeTo::days_are_24_hours())
        .ok()
        .and_then(|duration| Duration::try_from(duration).ok())
        .ok_or(DurationError::Overflow)?;
    if duration.is_zero() {
        return Err(DurationError::Zero);
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(text: &str) -> u64 {
        parse_duration(text).unwrap().as_secs()
    }

    #[test]
    fn the_soak_durations_the_docs_show_parse_to_seconds() {
        assert_eq!(secs("30s"), 30);
        assert_eq!(secs("10m"), 600);
        assert_eq!(secs("1h30m"), 5_400);
        assert_eq!(secs("2d"), 172_800);
        assert_eq!(secs("1d2h3m4s"), 93_784);
        assert_eq!(secs("90m"), 5_400);
        assert_eq!(secs("0h5m"), 300);
        assert_eq!(secs("63h"), 226_800);
    }

    #[test]
    fn the_time_limits_the_docs_show_parse() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(secs("60s"), 60);
        assert_eq!(secs("2m"), 120);
        assert_eq!(secs("1h"), 3_600);
        assert_eq!(secs("10s"), 10);
    }

    #[test]
    fn jiffs_longer_spellings_mean_the_same() {
        assert_eq!(secs("1 hour 30 minutes"), 5_400);
        assert_eq!(secs("1.5h"), 5_400);
        assert_eq!(secs("1w"), 7 * 86_400);
    }

    #[test]
    fn zero_durations_are_refused() {
        for zero in ["0", "0s", "0m0s", "00", "0ms"] {
            assert_eq!(parse_duration(zero), Err(DurationError::Zero), "{zero}");
        }
    }

    #[test]
    fn malformed_durations_say_what_is_wrong() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert_eq!(parse_duration("-5m"), Err(DurationError::Negative));
        assert_eq!(parse_duration("5m ago"), Err(DurationError::Negative));
        assert_eq!(
            parse_duration("30"),
            Err(DurationError::MissingUnit {
                number: "30".into()
            })
        );
        assert_eq!(
            parse_duration("5y"),
            Err(DurationError::CalendarUnit { unit: "years" })
        );
        assert_eq!(
            parse_duration("2mo"),
            Err(DurationError::CalendarUnit { unit: "months" })
        );
        for bad in ["h", "5x", "30m1h", "1h1h", "1h\n2m", "1h\u{202e}"] {
            let error = parse_duration(bad).unwrap_err();
            assert!(
                matches!(error, DurationError::Malformed { .. }),
                "{bad}: {error:?}"
            );
            let message = error.to_string();
            assert!(
                !message.contains('\n') && !message.contains('\u{202e}'),
                "{message}"
            );
        }
    }

    #[test]
    fn durations_too_long_for_the_clock_are_refused_not_wrapped() {
        for long in [
            "99999999999999999999s",
            "999999999999999d",
            "213503982334601d8h",
        ] {
            assert!(parse_duration(long).is_err(), "{long}");
        }
    }
}
