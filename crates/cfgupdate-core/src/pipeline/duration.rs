//! The soak gate's durations: `30s`, `10m`, `1h30m`, `2d`.
//!
//! A small grammar of our own rather than a dependency: whole numbers, each followed by one of
//! the units `d`, `h`, `m`, `s`, largest first and each at most once, so that a value reads the
//! same way to every person who reviews the pipeline file.

use std::fmt;
use std::time::Duration;

/// The units, largest first, with their length in seconds.
const UNITS: [(&str, u64); 4] = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];

/// Why a duration was refused; the message completes "`…` is not a duration: ".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DurationError {
    Empty,
    Negative,
    ExpectedNumber { at: String },
    MissingUnit { number: String },
    UnknownUnit { unit: String },
    UnitOutOfOrder { unit: String },
    Zero,
    Overflow,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("it is empty"),
            Self::Negative => f.write_str("it is negative"),
            Self::ExpectedNumber { at } => write!(f, "expected a whole number at `{at}`"),
            Self::MissingUnit { number } => {
                write!(f, "`{number}` has no unit (d, h, m or s)")
            }
            Self::UnknownUnit { unit } => {
                write!(f, "`{unit}` is not a unit (d, h, m or s)")
            }
            Self::UnitOutOfOrder { unit } => write!(
                f,
                "the unit `{unit}` repeats or comes after a smaller one; write units largest first, each once"
            ),
            Self::Zero => f.write_str("it is zero, and a soak gate of no time is no gate"),
            Self::Overflow => f.write_str("it is too long to represent"),
        }
    }
}

/// Parses a soak duration such as `1h30m`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if text.starts_with('-') {
        return Err(DurationError::Negative);
    }
    let mut seconds: u64 = 0;
    // Index into UNITS of the next unit allowed: each unit must be smaller than the last.
    let mut next_unit = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(DurationError::ExpectedNumber {
                at: rest.to_owned(),
            });
        }
        let (number, after) = rest.split_at(digits);
        let unit_len = after.len()
            - after
                .trim_start_matches(|c: char| !c.is_ascii_digit())
                .len();
        let (unit, after) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(if text.bytes().all(|b| b == b'0') {
                DurationError::Zero
            } else {
                DurationError::MissingUnit {
                    number: number.to_owned(),
                }
            });
        }
        let Some(position) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(DurationError::UnknownUnit {
                unit: unit.to_owned(),
            });
        };
        if position < next_unit {
            return Err(DurationError::UnitOutOfOrder {
                unit: unit.to_owned(),
            });
        }
        next_unit = position + 1;
        let count: u64 = number.parse().map_err(|_| DurationError::Overflow)?;
        seconds = count
            .checked_mul(UNITS[position].1)
            .and_then(|part| seconds.checked_add(part))
            .ok_or(DurationError::Overflow)?;
        rest = after;
    }
    if seconds == 0 {
        return Err(DurationError::Zero);
    }
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(text: &str) -> u64 {
        parse_duration(text).unwrap().as_secs()
    }

    #[test]
    fn durations_of_the_contract_examples_parse_to_seconds() {
        assert_eq!(secs("30s"), 30);
        assert_eq!(secs("10m"), 600);
        assert_eq!(secs("1h30m"), 5_400);
        assert_eq!(secs("2d"), 172_800);
        assert_eq!(secs("1d2h3m4s"), 93_784);
        assert_eq!(secs("90m"), 5_400);
        assert_eq!(secs("0h5m"), 300);
    }

    #[test]
    fn zero_durations_are_refused_because_they_gate_nothing() {
        for zero in ["0", "0s", "0m0s", "00"] {
            assert_eq!(parse_duration(zero), Err(DurationError::Zero), "{zero}");
        }
    }

    #[test]
    fn malformed_durations_say_what_is_wrong() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert_eq!(parse_duration("-5m"), Err(DurationError::Negative));
        assert_eq!(
            parse_duration("30"),
            Err(DurationError::MissingUnit {
                number: "30".into()
            })
        );
        assert_eq!(
            parse_duration("5y"),
            Err(DurationError::UnknownUnit { unit: "y".into() })
        );
        assert_eq!(
            parse_duration("5ms"),
            Err(DurationError::UnknownUnit { unit: "ms".into() })
        );
        assert_eq!(
            parse_duration("1.5h"),
            Err(DurationError::UnknownUnit { unit: ".".into() })
        );
        assert_eq!(
            parse_duration("h"),
            Err(DurationError::ExpectedNumber { at: "h".into() })
        );
        assert_eq!(
            parse_duration("30m1h"),
            Err(DurationError::UnitOutOfOrder { unit: "h".into() })
        );
        assert_eq!(
            parse_duration("1h1h"),
            Err(DurationError::UnitOutOfOrder { unit: "h".into() })
        );
    }

    #[test]
    fn durations_too_long_for_the_clock_are_refused_not_wrapped() {
        assert_eq!(
            parse_duration("99999999999999999999s"),
            Err(DurationError::Overflow)
        );
        assert_eq!(
            parse_duration("999999999999999d"),
            Err(DurationError::Overflow)
        );
        assert_eq!(
            parse_duration("213503982334601d8h"),
            Err(DurationError::Overflow)
        );
    }
}
