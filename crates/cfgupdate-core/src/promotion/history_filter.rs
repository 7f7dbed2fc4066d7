//! Which automatic commits `cfgupdate history` (and `GET /v1/history`) shows: by the wave
//! written, a service written, and the commit's time.

use super::PromotionError;
use super::history::{AutomaticHistory, HistoryEntry};
use crate::key::StateKey;
use crate::names::{ServiceName, WaveName};
use crate::repository::ConfigRepository;
use crate::shown::shown;

/// A filter over the automatic commits; every part given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryFilter {
    /// Only commits that wrote this wave (`Cfgupdate-Wave`).
    pub wave: Option<WaveName>,
    /// Only commits that wrote an image of this service.
    pub service: Option<ServiceName>,
    /// Only commits made at or after this time.
    pub since: Option<TimeBound>,
    /// Only commits made at or before this time.
    pub until: Option<TimeBound>,
}

/// One end of a time range, in whole seconds since the Unix epoch (commit times have no
/// more), parsed from RFC 3339 or a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeBound {
    seconds: i64,
}

/// Which end of a range a bound is: a date stands for its first second as a start and for its
/// last second as an end, so `--since 2026-12-01 --until 2026-12-01` is that whole day (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// `since`.
    Start,
    /// `until`.
    Finish,
}

/// Why a history filter was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryFilterError {
    /// A time that is neither RFC 3339 nor a date.
    #[error(
        "{} is neither an RFC 3339 time (2026-12-01T09:30:00Z, 2026-12-01T10:30:00+01:00) nor a date (2026-12-01, read in UTC)",
        shown(.value)
    )]
    Time {
        /// The text given.
        value: String,
    },
    /// `since` is after `until`: nothing could match.
    #[error(
        "the range is empty: its start ({since}) is after its end ({until})",
        since = seconds_text(*.since),
        until = seconds_text(*.until)
    )]
    Empty {
        /// The start, in seconds since the Unix epoch.
        since: i64,
        /// The end, in seconds since the Unix epoch.
        until: i64,
    },
}

/// A filter that cannot be used is invalid input (exit 2, HTTP 422).
impl crate::class::Classify for HistoryFilterError {
    fn class(&self) -> crate::class::ErrorClass {
        crate::class::ErrorClass::Invalid
    }
}

fn seconds_text(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| seconds.to_string())
}

impl TimeBound {
    /// Parses `text` as RFC 3339 (with an offset) or as a date (`YYYY-MM-DD`, in UTC), as the
    /// `end` of a range.
    pub fn parse(text: &str, end: End) -> Result<Self, HistoryFilterError> {
        let refused = || HistoryFilterError::Time {
            value: text.to_owned(),
        };
        let trimmed = text.trim();
        if let Ok(timestamp) = trimmed.parse::<jiff::Timestamp>() {
            // A start within a second counts from that second; an end through it.
            let seconds = timestamp.as_second();
            let seconds = match end {
                End::Start if timestamp.subsec_nanosecond() > 0 => seconds + 1,
                _ => seconds,
            };
            return Ok(Self { seconds });
        }
        // Only a plain date: a civil date-time without an offset is ambiguous.
        if trimmed.len() != 10 {
            return Err(refused());
        }
        let date: jiff::civil::Date = trimmed.parse().map_err(|_| refused())?;
        let start = format!("{date}T00:00:00Z")
            .parse::<jiff::Timestamp>()
            .map_err(|_| refused())?
            .as_second();
        Ok(Self {
            seconds: match end {
                End::Start => start,
                End::Finish => start + 24 * 60 * 60 - 1,
            },
        })
    }

    /// Seconds since the Unix epoch.
    pub fn seconds(self) -> i64 {
        self.seconds
    }
}

impl HistoryFilter {
    /// Refuses a range whose start is after its end.
    pub fn check(&self) -> Result<(), HistoryFilterError> {
        match (self.since, self.until) {
            (Some(since), Some(until)) if since > until => Err(HistoryFilterError::Empty {
                since: since.seconds,
                until: until.seconds,
            }),
            _ => Ok(()),
        }
    }

    /// Whether `entry` passes every part of the filter.
    pub fn matches(&self, entry: &HistoryEntry) -> bool {
        self.wave
            .as_ref()
            .is_none_or(|wave| entry.wave.as_ref() == Some(wave))
            && self
                .service
                .as_ref()
                .is_none_or(|service| entry.images.contains_key(service))
            && self.since.is_none_or(|since| entry.time >= since.seconds)
            && self.until.is_none_or(|until| entry.time <= until.seconds)
    }

    /// The entries that pass, in their order, at most `limit` of them.
    pub fn apply(
        &self,
        entries: impl IntoIterator<Item = HistoryEntry>,
        limit: usize,
    ) -> Vec<HistoryEntry> {
        entries
            .into_iter()
            .filter(|entry| self.matches(entry))
            .take(limit)
            .collect()
    }
}

/// The automatic commits of the branch that pass `filter`, newest first, at most `limit`,
/// from the newest [`HISTORY_DEPTH`](super::HISTORY_DEPTH) commits (after a fetch). With a
/// state key, each says whether cfgupdate sealed it.
pub fn history_matching(
    repo: &mut dyn ConfigRepository,
    filter: &HistoryFilter,
    limit: usize,
    key: Option<&StateKey>,
) -> Result<Vec<HistoryEntry>, PromotionError> {
    let tip = repo.refresh()?;
    let history = AutomaticHistory::read(repo, &tip, key)?;
    Ok(filter.apply(history.entries(usize::MAX), limit))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::names::CommitId;
    use crate::reference::ImageRef;

    fn entry(n: u64, time: i64, wave: &str, services: &[&str]) -> HistoryEntry {
        HistoryEntry {
            commit: CommitId::parse(&format!("{n:040x}")).unwrap(),
            time,
            subject: format!("commit {n}"),
            action: "promote".to_owned(),
            wave: Some(WaveName::parse(wave).unwrap()),
            app_commits: Vec::new(),
            source_wave: None,
            source_revision: None,
            images: services
                .iter()
                .map(|s| {
                    (
                        ServiceName::parse(s).unwrap(),
                        ImageRef::parse(&format!("reg.example.com/{s}:v{n}")).unwrap(),
                    )
                })
                .collect::<BTreeMap<_, _>>(),
            approved_by: None,
            sealed: None,
        }
    }

    /// 2026-12-01T00:00:00Z.
    const DAY: i64 = 1_796_083_200;

    fn entries() -> Vec<HistoryEntry> {
        vec![
            entry(4, DAY + 86_400 + 10, "production", &["api"]),
            entry(3, DAY + 86_399, "internal", &["api", "web"]),
            entry(2, DAY, "staging", &["web"]),
            entry(1, DAY - 1, "staging", &["api"]),
        ]
    }

    fn numbers(filter: &HistoryFilter, limit: usize) -> Vec<String> {
        filter
            .apply(entries(), limit)
            .iter()
            .map(|e| e.subject.replace("commit ", ""))
            .collect()
    }

    #[test]
    fn every_part_of_the_filter_must_match_and_the_limit_counts_matches() {
        let all = HistoryFilter::default();
        assert_eq!(numbers(&all, 50), ["4", "3", "2", "1"]);
        let staging = HistoryFilter {
            wave: Some(WaveName::parse("staging").unwrap()),
            ..HistoryFilter::default()
        };
        assert_eq!(numbers(&staging, 50), ["2", "1"]);
        let api = HistoryFilter {
            service: Some(ServiceName::parse("api").unwrap()),
            ..HistoryFilter::default()
        };
        assert_eq!(numbers(&api, 50), ["4", "3", "1"]);
        // The limit applies to what matches, not to what was read.
        assert_eq!(numbers(&api, 2), ["4", "3"]);
        let both = HistoryFilter {
            wave: staging.wave,
            ..api
        };
        assert_eq!(numbers(&both, 50), ["1"]);
    }

    #[test]
    fn a_date_is_a_whole_day_in_utc_and_a_time_is_that_second() {
        let day = |end| TimeBound::parse("2026-12-01", end).unwrap();
        let that_day = HistoryFilter {
            since: Some(day(End::Start)),
            until: Some(day(End::Finish)),
            ..HistoryFilter::default()
        };
        assert_eq!(numbers(&that_day, 50), ["3", "2"]);
        let since = HistoryFilter {
            since: Some(TimeBound::parse("2026-12-01T23:59:59Z", End::Start).unwrap()),
            ..HistoryFilter::default()
        };
        assert_eq!(numbers(&since, 50), ["4", "3"]);
        // An offset is honoured: 01:00 at +01:00 is midnight UTC.
        let until = HistoryFilter {
            until: Some(TimeBound::parse("2026-12-01T01:00:00+01:00", End::Finish).unwrap()),
            ..HistoryFilter::default()
        };
        assert_eq!(numbers(&until, 50), ["2", "1"]);
        that_day.check().unwrap();
    }

    #[test]
    fn a_bad_time_or_an_empty_range_is_refused_naming_the_value() {
        for bad in [
            "yesterday",
            "2026-13-01",
            "2026-12-01T09:00:00",
            "1796083200",
            "",
        ] {
            let error = TimeBound::parse(bad, End::Start).unwrap_err();
            assert!(error.to_string().contains("RFC 3339"), "{bad}: {error}");
        }
        let error = TimeBound::parse("next\nweek", End::Start).unwrap_err();
        assert!(!error.to_string().contains('\n'), "{error}");
        let empty = HistoryFilter {
            since: Some(TimeBound::parse("2026-12-02", End::Start).unwrap()),
            until: Some(TimeBound::parse("2026-12-01", End::Finish).unwrap()),
            ..HistoryFilter::default()
        };
        let error = empty.check().unwrap_err();
        assert!(
            error.to_string().contains("2026-12-02T00:00:00Z")
                && error.to_string().contains("2026-12-01T23:59:59Z"),
            "{error}"
        );
    }
}
