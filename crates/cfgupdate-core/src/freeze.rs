//! Freeze windows: the times when nothing automatic writes into a wave (`freeze` in a
//! `[[wave]]` of `cfgupdate.toml`, docs/promotion.md#freeze-windows).
//!
//! A window is fixed (`from`, `to`: two instants) or recurring (a five-field `cron` schedule
//! that starts it, a `duration`, and the `timezone` both are read in). This module answers one
//! question, with no clock of its own: is a wave frozen at instant `t`, until when, and why
//! ([`frozen_at`]).
//!
//! Daylight saving is honoured in the window's time zone: the schedule names wall-clock
//! minutes (`0 17 * * FRI` is five in the afternoon in Berlin, summer and winter); a start the
//! clock skips when it springs forward begins as much later as the clock jumped (02:30 becomes
//! 03:30); a start the clock passes twice when it falls back begins at the first pass. In a
//! duration, days and weeks are calendar days of that zone (from Friday 17:00, `2d` ends on
//! Sunday 17:00 whether the day between had 23, 24 or 25 hours); hours and smaller units are
//! elapsed time (`63h` is 63 hours on the clock of the world).
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use cfgupdate_core::freeze::{FreezeWindow, frozen_at};
//!
//! let weekend = FreezeWindow::recurring("0 17 * * FRI", "63h", Some("Europe/Berlin"), "weekend")?;
//! // Saturday 2026-12-05, noon UTC: inside the window that began on Friday at 17:00 in Berlin.
//! let saturday: jiff::Timestamp = "2026-12-05T12:00:00Z".parse()?;
//! let frozen = frozen_at(&[weekend], SystemTime::try_from(saturday)?).expect("frozen");
//! assert_eq!(jiff::Timestamp::try_from(frozen.until)?.to_string(), "2026-12-07T07:00:00Z");
//! assert_eq!(frozen.reason, "weekend");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cron;

use std::fmt;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use jiff::civil::DateTime;
use jiff::tz::{TimeZone, TimeZoneDatabase};
use jiff::{SignedDuration, Span, SpanRelativeTo, Timestamp};

pub use cron::{CronError, CronSchedule};

use crate::pipeline::{DurationError, parse_duration};
use crate::shown::shown;

/// The time zones jiff carries compiled in: the core reads no zoneinfo files.
static ZONES: LazyLock<TimeZoneDatabase> = LazyLock::new(TimeZoneDatabase::bundled);

/// How many windows that follow on from each other are joined into one answer; a schedule
/// that is frozen without end (`* * * * *` for two minutes) is reported as frozen at least
/// until the last of them.
const CHAIN: usize = 200;

/// How far before `at` a recurring window's start may lie beyond its duration: the clock may
/// have been set back, and a day may be 25 hours long.
const SLACK_DAYS: u32 = 2;

/// Wall-clock time searched past `at`, for the starts of a schedule the clock passes twice
/// when it falls back (the second pass has a later instant than a later wall-clock minute).
const FOLD_HOURS: i64 = 3;

/// One freeze window of a wave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreezeWindow {
    /// When it holds.
    pub schedule: FreezeSchedule,
    /// Why, as `status` and the answers to CI show it.
    pub reason: String,
}

/// When a freeze window holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FreezeSchedule {
    /// From one instant (inclusive) to another (exclusive).
    Fixed {
        /// The first frozen instant.
        from: Timestamp,
        /// The first instant no longer frozen.
        to: Timestamp,
    },
    /// Each time the schedule fires, for the duration.
    Recurring {
        /// When a window starts, in wall-clock time of the zone.
        cron: CronSchedule,
        /// How long it lasts.
        duration: FreezeDuration,
        /// The zone the schedule and the duration's days are read in.
        timezone: FreezeZone,
    },
}

/// The longest recurring window, in days (of 24 hours).
const MAX_RECURRING_DAYS: u64 = 366;

/// A recurring window's length: whole calendar days (weeks count as seven) and elapsed time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreezeDuration {
    text: String,
    days: i32,
    elapsed: Duration,
}

impl FreezeDuration {
    /// Parses a duration in the grammar of [`parse_duration`] (`63h`, `2d15h`, `1w`).
    pub fn parse(text: &str) -> Result<Self, DurationError> {
        // The one duration grammar decides what is refused (zero, negative, months, years).
        parse_duration(text)?;
        let span: Span = jiff::fmt::friendly::SpanParser::new()
            .parse_span(text)
            .map_err(|error| DurationError::Malformed {
                reason: shown(&error.to_string()),
            })?;
        let days = span
            .get_weeks()
            .checked_mul(7)
            .and_then(|weeks| weeks.checked_add(span.get_days()))
            .ok_or(DurationError::Overflow)?;
        let rest = span.weeks(0).days(0);
        let elapsed = rest
            .to_duration(SpanRelativeTo::days_are_24_hours())
            .ok()
            .and_then(|d| Duration::try_from(d).ok())
            .ok_or(DurationError::Overflow)?;
        // Longer windows would only be written by mistake, and the window maths (searching back
        // as far as a window lasts) must stay bounded whatever the file says.
        let seconds = u64::try_from(days)
            .unwrap_or(u64::MAX)
            .saturating_mul(86_400)
            .saturating_add(elapsed.as_secs());
        if seconds > MAX_RECURRING_DAYS * 86_400 {
            return Err(DurationError::TooLongForFreeze);
        }
        Ok(Self {
            text: text.to_owned(),
            days,
            elapsed,
        })
    }

    /// The duration as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// A named time zone from the compiled-in database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreezeZone {
    name: String,
    zone: TimeZone,
}

impl FreezeZone {
    /// The zone named `name` (an IANA name such as `Europe/Berlin`, or `UTC`).
    pub fn get(name: &str) -> Option<Self> {
        let zone = ZONES.get(name).ok()?;
        Some(Self {
            name: name.to_owned(),
            zone,
        })
    }

    /// Its name, as written.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// A wave is frozen: until when, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frozen {
    /// The first instant it is no longer frozen (windows that follow on from each other
    /// count as one).
    pub until: SystemTime,
    /// The reasons of the windows that hold now, joined by `; `.
    pub reason: String,
}

impl Frozen {
    /// `until` in RFC 3339, as every answer spells it (`2027-01-04T00:00:00Z`).
    pub fn until_rfc3339(&self) -> String {
        rfc3339(self.until)
    }
}

/// An instant in RFC 3339, UTC, to the second when it has no fraction.
pub fn rfc3339(time: SystemTime) -> String {
    Timestamp::try_from(time)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Why a freeze window was refused; the reader of `cfgupdate.toml` puts the wave and the
/// entry in front.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FreezeError {
    /// `from` or `to` is not an instant.
    #[error(
        "`{key}` is `{value}`, which is not an instant: {reason}; write it in RFC 3339 with an offset, such as \"2026-12-20T00:00:00Z\" or \"2026-12-20T00:00:00+01:00\""
    )]
    Instant {
        /// `from` or `to`.
        key: &'static str,
        /// The value (escaped and cut).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `to` is not after `from`.
    #[error("`to` ({to}) is not after `from` ({from}); a window ends after it begins")]
    Order {
        /// `from`, as read.
        from: Timestamp,
        /// `to`, as read.
        to: Timestamp,
    },
    /// The schedule is not a five-field cron schedule.
    #[error("`cron` is `{value}`, which is not a cron schedule: {source}")]
    Cron {
        /// The schedule (escaped and cut).
        value: String,
        /// Why.
        source: CronError,
    },
    /// The duration is not one.
    #[error(
        "`duration` is `{value}`, which is not a duration: {source}; write it like 63h, 2d or 1w"
    )]
    Duration {
        /// The duration (escaped and cut).
        value: String,
        /// Why.
        source: DurationError,
    },
    /// No such time zone.
    #[error(
        "`timezone` is `{value}`, which is not a time zone jiff knows; write an IANA name such as \"Europe/Berlin\", \"America/New_York\" or \"UTC\""
    )]
    TimeZone {
        /// The name (escaped and cut).
        value: String,
    },
    /// The reason is empty or more than one line of printable text.
    #[error("`reason` is `{value}`; write one line of printable text, such as \"holidays\"")]
    Reason {
        /// The reason (escaped and cut).
        value: String,
    },
}

impl FreezeWindow {
    /// A fixed window from `from` to `to`, both RFC 3339 with an offset.
    pub fn fixed(from: &str, to: &str, reason: &str) -> Result<Self, FreezeError> {
        let from = instant("from", from)?;
        let to = instant("to", to)?;
        if to <= from {
            return Err(FreezeError::Order { from, to });
        }
        Ok(Self {
            schedule: FreezeSchedule::Fixed { from, to },
            reason: checked_reason(reason)?,
        })
    }

    /// A recurring window: it starts each time `cron` fires in `timezone` (UTC when `None`)
    /// and lasts `duration`.
    pub fn recurring(
        cron: &str,
        duration: &str,
        timezone: Option<&str>,
        reason: &str,
    ) -> Result<Self, FreezeError> {
        let schedule = CronSchedule::parse(cron).map_err(|source| FreezeError::Cron {
            value: shown(cron),
            source,
        })?;
        let duration = FreezeDuration::parse(duration).map_err(|source| FreezeError::Duration {
            value: shown(duration),
            source,
        })?;
        let name = timezone.unwrap_or("UTC");
        let timezone =
            FreezeZone::get(name).ok_or_else(|| FreezeError::TimeZone { value: shown(name) })?;
        Ok(Self {
            schedule: FreezeSchedule::Recurring {
                cron: schedule,
                duration,
                timezone,
            },
            reason: checked_reason(reason)?,
        })
    }

    /// The end of this window's occurrence that holds at `at` (its start at or before `at`,
    /// its end after), if one does.
    pub fn active_at(&self, at: Timestamp) -> Option<Timestamp> {
        match &self.schedule {
            FreezeSchedule::Fixed { from, to } => (*from <= at && at < *to).then_some(*to),
            FreezeSchedule::Recurring {
                cron,
                duration,
                timezone,
            } => {
                let start = latest_start(cron, duration, &timezone.zone, at)?;
                let end = end_of(start, duration, &timezone.zone)?;
                (at < end).then_some(end)
            }
        }
    }
}

impl fmt::Display for FreezeWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schedule {
            FreezeSchedule::Fixed { from, to } => write!(f, "from {from} to {to}"),
            FreezeSchedule::Recurring {
                cron,
                duration,
                timezone,
            } => write!(
                f,
                "`{cron}` for {} in {}",
                duration.as_str(),
                timezone.name()
            ),
        }?;
        write!(f, " ({})", self.reason)
    }
}

/// Whether `windows` freeze their wave at `at`: until when (following windows that begin
/// before the current one ends), and the reasons of those that hold at `at`.
pub fn frozen_at(windows: &[FreezeWindow], at: SystemTime) -> Option<Frozen> {
    let at = Timestamp::try_from(at).ok()?;
    let mut reasons: Vec<&str> = Vec::new();
    let mut until: Option<Timestamp> = None;
    for window in windows {
        if let Some(end) = window.active_at(at) {
            if !reasons.contains(&window.reason.as_str()) {
                reasons.push(&window.reason);
            }
            until = Some(until.map_or(end, |until| until.max(end)));
        }
    }
    let mut until = until?;
    for _ in 0..CHAIN {
        let next = windows
            .iter()
            .filter_map(|window| window.active_at(until))
            .max();
        match next {
            Some(end) if end > until => until = end,
            _ => break,
        }
    }
    Some(Frozen {
        until: SystemTime::try_from(until).ok()?,
        reason: reasons.join("; "),
    })
}

fn instant(key: &'static str, text: &str) -> Result<Timestamp, FreezeError> {
    text.parse::<Timestamp>()
        .map_err(|error| FreezeError::Instant {
            key,
            value: shown(text),
            reason: shown(&error.to_string()),
        })
}

fn checked_reason(reason: &str) -> Result<String, FreezeError> {
    let trimmed = reason.trim();
    if trimmed.is_empty() || trimmed.chars().any(crate::shown::is_hidden) || trimmed.len() > 200 {
        return Err(FreezeError::Reason {
            value: shown(reason),
        });
    }
    Ok(trimmed.to_owned())
}

/// The latest instant at or before `at` at which `cron` starts a window in `zone`. Wall-clock
/// starts are read with jiff's "compatible" rule (a skipped minute moves forward by the
/// jump, a repeated one is its first pass); since that can put a later wall-clock minute at an
/// earlier instant near a transition, every start within [`FOLD_HOURS`] of the wall-clock time
/// is compared.
fn latest_start(
    cron: &CronSchedule,
    duration: &FreezeDuration,
    zone: &TimeZone,
    at: Timestamp,
) -> Option<Timestamp> {
    let wall = at.to_zoned_datetime(zone.clone()).datetime();
    let search_days = u32::try_from(duration.days)
        .unwrap_or(0)
        .saturating_add(u32::try_from(duration.elapsed.as_secs() / 86_400).unwrap_or(u32::MAX))
        .saturating_add(SLACK_DAYS);
    // Away from a change of the zone's offset, wall-clock time maps onto instants in order:
    // the latest start at or before `wall` is the answer, found in one step (a schedule firing
    // every minute would otherwise be walked minute by minute through the fold hours, on every
    // look at the wave).
    let folds = near_offset_change(zone, at);
    let earliest_close = if folds {
        wall.checked_sub(Span::new().hours(FOLD_HOURS)).ok()?
    } else {
        wall
    };
    let mut bound = if folds {
        wall.checked_add(Span::new().hours(FOLD_HOURS)).ok()?
    } else {
        wall
    };
    let mut best: Option<Timestamp> = None;
    while let Some(start) = cron.latest_at_or_before(bound, search_days) {
        if let Ok(instant) = zone.to_zoned_datetime(start).map(|z| z.timestamp())
            && instant <= at
        {
            best = Some(best.map_or(instant, |best| best.max(instant)));
        }
        if best.is_some() && (start < earliest_close || (!folds && start <= wall)) {
            break;
        }
        bound = match start.checked_sub(Span::new().minutes(1)) {
            Ok(bound) => bound,
            Err(_) => break,
        };
        // Searching further back than the window is long finds nothing that still holds.
        if !within(bound, wall, search_days) {
            break;
        }
    }
    best
}

/// Whether `zone`'s offset from UTC changes within [`FOLD_HOURS`] of `at` (a daylight saving
/// transition, say), where wall-clock minutes are skipped or repeated.
fn near_offset_change(zone: &TimeZone, at: Timestamp) -> bool {
    let offset = zone.to_offset(at);
    [-FOLD_HOURS, FOLD_HOURS].into_iter().any(|hours| {
        at.checked_add(SignedDuration::from_hours(hours))
            .map_or(true, |then| zone.to_offset(then) != offset)
    })
}

fn within(bound: DateTime, wall: DateTime, days: u32) -> bool {
    Span::new()
        .try_days(i64::from(days))
        .and_then(|span| wall.checked_sub(span))
        .is_ok_and(|earliest| bound >= earliest)
}

/// When a window that starts at `start` ends: its calendar days in `zone`, then its elapsed
/// time.
fn end_of(start: Timestamp, duration: &FreezeDuration, zone: &TimeZone) -> Option<Timestamp> {
    let zoned = start.to_zoned_datetime(zone.clone());
    let after_days = zoned
        .checked_add(Span::new().try_days(i64::from(duration.days)).ok()?)
        .ok()?;
    let elapsed = SignedDuration::try_from(duration.elapsed).ok()?;
    after_days.timestamp().checked_add(elapsed).ok()
}

#[cfg(test)]
mod tests;
