//! Announcements a freeze window held back, as the state document keeps them until the window
//! ends (docs/promotion.md#freeze-windows). Publishing (`publish/deferral.rs`) decides when to
//! add and when to publish them; this is the record and its bookkeeping.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::state::PipelineState;
use crate::names::{CommitId, ServiceName};
use crate::slots::ImageSet;

/// How many deferred announcements the state keeps: the newest image of each service is what
/// is published, so older records only stay while they name a service no newer one does.
const KEEP_DEFERRED: usize = 200;

/// One announcement held back by a freeze window of the first wave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeferredRecord {
    /// The app commit announced.
    pub app: CommitId,
    /// Its images that no newer deferred announcement replaces.
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
    /// Holds back an announcement: the services it names are taken out of older deferred
    /// records (the newest image of each service is the one published), and records left with
    /// no image are dropped. Returns whether anything changed (the same announcement deferred
    /// again changes nothing).
    pub fn add_deferred(&mut self, record: DeferredRecord) -> bool {
        if self
            .deferred
            .iter()
            .any(|old| old.app == record.app && old.images == record.images)
        {
            return false;
        }
        self.drop_deferred_services(record.images.keys());
        self.deferred.push(record);
        let excess = self.deferred.len().saturating_sub(KEEP_DEFERRED);
        self.deferred.drain(..excess);
        true
    }

    /// Takes `services` out of every deferred record (a newer image of them was deferred or
    /// published); returns whether anything changed.
    pub fn drop_deferred_services<'s>(
        &mut self,
        services: impl IntoIterator<Item = &'s ServiceName>,
    ) -> bool {
        let services: Vec<&ServiceName> = services.into_iter().collect();
        let mut changed = false;
        for record in &mut self.deferred {
            let before = record.images.len();
            record
                .images
                .retain(|service, _| !services.contains(&service));
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
    fn the_newest_deferred_image_of_each_service_is_kept() {
        let mut state = PipelineState::default();
        assert!(state.add_deferred(record('a', &[("api", '1'), ("web", '1')], 1)));
        assert!(state.add_deferred(record('b', &[("api", '2')], 2)));
        assert_eq!(
            state.deferred,
            vec![
                record('a', &[("web", '1')], 1),
                record('b', &[("api", '2')], 2)
            ]
        );
        // The same announcement again changes nothing.
        assert!(!state.add_deferred(record('b', &[("api", '2')], 3)));
        assert!(state.add_deferred(record('c', &[("web", '3')], 4)));
        assert_eq!(
            state.deferred,
            vec![
                record('b', &[("api", '2')], 2),
                record('c', &[("web", '3')], 4)
            ]
        );
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
