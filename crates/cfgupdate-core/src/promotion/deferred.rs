//! Announcements a freeze window held back, as the state document keeps them until the window
//! ends (docs/promotion.md#freeze-windows). Publishing (`publish/deferral.rs`) decides when to
//! add and when to publish them; this is the record and its bookkeeping.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::state::PipelineState;
use crate::names::{CommitId, ServiceName};
use crate::slots::ImageSet;

/// How many deferred announcements the state keeps. Past it, a record whose every service a
/// later one names again goes first (its images would not be published), then the oldest.
const KEEP_DEFERRED: usize = 200;

/// One announcement held back by a freeze window of the first wave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeferredRecord {
    /// The app commit announced.
    pub app: CommitId,
    /// Its images. Where a later deferred announcement names the same service, the later
    /// image is the one published; the earlier one is still named in the publish commit's
    /// trailers, so that a replay of this announcement is recognised.
    pub images: ImageSet,
    /// The CI build number, when the announcement gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_number: Option<u64>,
    /// When the CI build was made, when the announcement said.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "super::state::rfc3339"
    )]
    pub build_created_at: Option<jiff::Timestamp>,
    /// When it was received, milliseconds since the Unix epoch.
    pub at: u64,
}

impl DeferredRecord {
    /// When it was received.
    pub fn time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.at)
    }
}

impl PipelineState {
    /// Holds back an announcement, after those deferred before it (the newest image of each
    /// service is the one published). Returns whether anything changed: the same announcement
    /// deferred again changes nothing.
    pub fn add_deferred(&mut self, record: DeferredRecord) -> bool {
        if self
            .deferred
            .iter()
            .any(|old| old.app == record.app && old.images == record.images)
        {
            return false;
        }
        self.deferred.push(record);
        while self.deferred.len() > KEEP_DEFERRED {
            let superseded = (0..self.deferred.len()).find(|&index| {
                self.deferred[index].images.keys().all(|service| {
                    self.deferred[index + 1..]
                        .iter()
                        .any(|later| later.images.contains_key(service))
                })
            });
            self.deferred.remove(superseded.unwrap_or(0));
        }
        true
    }

    /// Takes `services` out of every deferred record (a newer image of them was published);
    /// returns whether anything changed. What is taken out is remembered as published for
    /// replay detection, as an image a batch superseded is: a replay of the announcement then
    /// writes nothing over the newer image.
    pub fn drop_deferred_services<'s>(
        &mut self,
        services: impl IntoIterator<Item = &'s ServiceName>,
    ) -> bool {
        let services: Vec<&ServiceName> = services.into_iter().collect();
        let mut changed = false;
        for record in &mut self.deferred {
            let before = record.images.len();
            let app = record.app.clone();
            let published = &mut self.published;
            record.images.retain(|service, image| {
                if !services.contains(&service) {
                    return true;
                }
                let entry = published.services.entry(service.clone()).or_default();
                let recent = super::state::RecentPublish {
                    app: app.clone(),
                    image: image.clone(),
                };
                entry.recent.retain(|r| r != &recent);
                entry.recent.push(recent);
                let excess = entry.recent.len().saturating_sub(super::state::KEEP_RECENT);
                entry.recent.drain(..excess);
                false
            });
            changed |= record.images.len() != before;
        }
        self.deferred.retain(|record| !record.images.is_empty());
        changed
    }

    /// Forgets the deferred records in `done` (published, or refused for good); returns
    /// whether anything changed. Records deferred since are kept.
    pub fn remove_deferred(&mut self, done: &[DeferredRecord]) -> bool {
        let before = self.deferred.len();
        self.deferred.retain(|record| !done.contains(record));
        self.deferred.len() != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::ImageRef;

    fn image(service: &str, tag: char) -> (ServiceName, ImageRef) {
        let reference = format!("reg.example.com/{service}:v{tag}@sha256:{}", "a".repeat(64));
        (
            ServiceName::parse(service).unwrap(),
            ImageRef::parse(&reference).unwrap(),
        )
    }

    fn record(app: char, images: &[(&str, char)], at: u64) -> DeferredRecord {
        DeferredRecord {
            app: CommitId::parse(&app.to_string().repeat(40)).unwrap(),
            images: images.iter().map(|(s, t)| image(s, *t)).collect(),
            build_number: None,
            build_created_at: None,
            at,
        }
    }

    #[test]
    fn deferred_announcements_are_kept_in_order_and_the_same_one_once() {
        let mut state = PipelineState::default();
        assert!(state.add_deferred(record('a', &[("api", '1'), ("web", '1')], 1)));
        assert!(state.add_deferred(record('b', &[("api", '2')], 2)));
        // The same announcement again changes nothing.
        assert!(!state.add_deferred(record('b', &[("api", '2')], 3)));
        assert_eq!(
            state.deferred,
            vec![
                record('a', &[("api", '1'), ("web", '1')], 1),
                record('b', &[("api", '2')], 2)
            ]
        );
    }

    #[test]
    fn past_the_bound_a_record_later_ones_replace_goes_first() {
        let mut state = PipelineState::default();
        state.add_deferred(record('a', &[("web", '1')], 0));
        for n in 1..KEEP_DEFERRED as u64 {
            let mut next = record('b', &[("api", '1')], n);
            next.app = CommitId::parse(&format!("{n:040x}")).unwrap();
            next.build_number = Some(n);
            assert!(state.add_deferred(next));
        }
        assert_eq!(state.deferred.len(), KEEP_DEFERRED);
        state.add_deferred(record('c', &[("api", '2')], 999));
        assert_eq!(state.deferred.len(), KEEP_DEFERRED);
        // The only record of `web` stays; the oldest record of `api` went.
        assert_eq!(state.deferred[0], record('a', &[("web", '1')], 0));
        assert_eq!(state.deferred[1].build_number, Some(2));
    }

    #[test]
    fn published_records_are_forgotten_and_later_ones_kept() {
        let mut state = PipelineState::default();
        state.add_deferred(record('a', &[("api", '1')], 1));
        let done = state.deferred.clone();
        state.add_deferred(record('b', &[("web", '1')], 2));
        assert!(state.remove_deferred(&done));
        assert_eq!(state.deferred, vec![record('b', &[("web", '1')], 2)]);
        assert!(!state.remove_deferred(&done));
        let web = ServiceName::parse("web").unwrap();
        assert!(state.drop_deferred_services([&web]));
        assert!(state.deferred.is_empty());
        // What was dropped counts as published: its replay is recognised.
        let (service, image) = image("web", '1');
        let app = CommitId::parse(&"b".repeat(40)).unwrap();
        assert!(
            state
                .published
                .has_published(&app, &[(service, image)].into())
        );
    }

    #[test]
    fn a_deferred_record_reads_back_as_written() {
        let mut state = PipelineState::default();
        let mut deferred = record('a', &[("api", '1')], 1_800_000_000_000);
        deferred.build_number = Some(42);
        deferred.build_created_at = Some("2027-01-01T00:00:00Z".parse().unwrap());
        state.add_deferred(deferred);
        let text = serde_json::to_string(&state).unwrap();
        assert!(
            text.contains("\"build_created_at\":\"2027-01-01T00:00:00Z\""),
            "{text}"
        );
        let back: PipelineState = serde_json::from_str(&text).unwrap();
        assert_eq!(back, state);
    }
}
