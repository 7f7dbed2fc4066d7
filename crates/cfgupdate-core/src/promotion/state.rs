//! The pipeline state: deploy reports and approvals, kept as one JSON document on the state ref
//! beside the branch, and updated with the same no-force, replay-the-intent discipline as the
//! branch.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{DeployStatus, PromotionError};
use crate::clock::Clock;
use crate::names::{CommitId, TargetName, WaveName};
use crate::repository::{ConfigRepository, PushOutcome};
use crate::retry::RetryPolicy;
use crate::slots::ImageSet;

/// How many reports are kept per target, and approvals per wave: enough to decide, small
/// enough to fetch in every call.
const KEEP_REPORTS: usize = 50;
const KEEP_APPROVALS: usize = 20;

/// One deploy report as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportRecord {
    /// The config revision the target reported.
    pub revision: CommitId,
    /// How the deployment went.
    pub status: DeployStatus,
    /// When cfgupdate received it, milliseconds since the Unix epoch.
    pub at: u64,
}

impl ReportRecord {
    /// When it was received.
    pub fn time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.at)
    }
}

/// One approval as recorded: it lets exactly this image set into its wave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    /// The images approved.
    pub images: ImageSet,
    /// The source revision of the promotion approved.
    pub source_revision: CommitId,
    /// When, milliseconds since the Unix epoch.
    pub at: u64,
}

/// The whole state document.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineState {
    /// The document's format.
    #[serde(default = "version")]
    pub version: u32,
    /// Reports by target, oldest first.
    #[serde(default)]
    pub reports: BTreeMap<TargetName, Vec<ReportRecord>>,
    /// Approvals by wave, oldest first.
    #[serde(default)]
    pub approvals: BTreeMap<WaveName, Vec<ApprovalRecord>>,
}

fn version() -> u32 {
    1
}

/// Milliseconds since the Unix epoch.
pub(crate) fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl PipelineState {
    /// Reads the document; an absent state is empty.
    pub fn parse(content: Option<&[u8]>) -> Result<Self, PromotionError> {
        match content {
            None => Ok(Self {
                version: version(),
                ..Self::default()
            }),
            Some(bytes) => serde_json::from_slice(bytes).map_err(|error| PromotionError::State {
                message: format!("the pipeline state on the remote is not readable: {error}"),
            }),
        }
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Adds a report, unless the target's latest report already says the same (a PostSync
    /// hook fires on every sync): returns whether anything changed.
    pub fn add_report(&mut self, target: &TargetName, record: ReportRecord) -> bool {
        let reports = self.reports.entry(target.clone()).or_default();
        if reports
            .last()
            .is_some_and(|last| last.revision == record.revision && last.status == record.status)
        {
            return false;
        }
        reports.push(record);
        let excess = reports.len().saturating_sub(KEEP_REPORTS);
        reports.drain(..excess);
        true
    }

    /// Adds an approval unless the same images are approved already: returns whether
    /// anything changed.
    pub fn add_approval(&mut self, wave: &WaveName, record: ApprovalRecord) -> bool {
        let approvals = self.approvals.entry(wave.clone()).or_default();
        if approvals.iter().any(|a| a.images == record.images) {
            return false;
        }
        approvals.push(record);
        let excess = approvals.len().saturating_sub(KEEP_APPROVALS);
        approvals.drain(..excess);
        true
    }

    /// Whether these exact images are approved into `wave`.
    pub fn is_approved(&self, wave: &WaveName, images: &ImageSet) -> bool {
        self.approvals
            .get(wave)
            .is_some_and(|list| list.iter().any(|a| &a.images == images))
    }
}

/// The state as last fetched.
pub(crate) fn load(repo: &dyn ConfigRepository) -> Result<PipelineState, PromotionError> {
    let version = repo.state()?;
    PipelineState::parse(version.as_ref().map(|v| v.content.as_slice()))
}

/// Applies `update` to the remote's state and pushes it, replaying `update` on the newest
/// state after every rejection. `update` returns whether it changed anything; when it did not,
/// nothing is pushed. Returns the state as it then stands.
pub(crate) fn update(
    repo: &mut dyn ConfigRepository,
    clock: &dyn Clock,
    retry: &RetryPolicy,
    message: &str,
    mut update: impl FnMut(&mut PipelineState) -> bool,
) -> Result<PipelineState, PromotionError> {
    let mut rejected = 0;
    loop {
        let version = repo.state()?;
        let mut state = PipelineState::parse(version.as_ref().map(|v| v.content.as_slice()))?;
        if !update(&mut state) {
            return Ok(state);
        }
        let parent = version.as_ref().map(|v| &v.commit);
        match repo.push_state(parent, &state.to_bytes(), message)? {
            PushOutcome::Pushed(_) => return Ok(state),
            PushOutcome::Rejected => {
                rejected += 1;
                if rejected >= retry.attempts {
                    return Err(PromotionError::Contended { attempts: rejected });
                }
                clock.sleep(retry.delay(rejected, clock.now()));
                repo.refresh()?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(rev: char, status: DeployStatus, at: u64) -> ReportRecord {
        ReportRecord {
            revision: CommitId::parse(&rev.to_string().repeat(40)).unwrap(),
            status,
            at,
        }
    }

    #[test]
    fn a_repeated_report_is_recorded_once() {
        let mut state = PipelineState::default();
        let target = TargetName::parse("staging").unwrap();
        assert!(state.add_report(&target, report('a', DeployStatus::Succeeded, 1)));
        assert!(!state.add_report(&target, report('a', DeployStatus::Succeeded, 2)));
        assert!(state.add_report(&target, report('a', DeployStatus::Failed, 3)));
        assert_eq!(state.reports[&target].len(), 2);
    }

    #[test]
    fn old_reports_are_pruned_to_a_bounded_history() {
        let mut state = PipelineState::default();
        let target = TargetName::parse("staging").unwrap();
        for i in 0..(KEEP_REPORTS as u64 + 10) {
            let status = if i % 2 == 0 {
                DeployStatus::Succeeded
            } else {
                DeployStatus::Failed
            };
            state.add_report(&target, report('a', status, i));
        }
        assert_eq!(state.reports[&target].len(), KEEP_REPORTS);
        assert_eq!(state.reports[&target][0].at, 10);
    }

    #[test]
    fn a_status_is_spelled_the_same_in_words_and_in_the_document() {
        for status in [DeployStatus::Succeeded, DeployStatus::Failed] {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
    }

    #[test]
    fn the_document_round_trips_and_an_unreadable_one_is_an_error() {
        let mut state = PipelineState::parse(None).unwrap();
        state.add_report(
            &TargetName::parse("prod").unwrap(),
            report('b', DeployStatus::Failed, 7),
        );
        assert_eq!(
            PipelineState::parse(Some(&state.to_bytes())).unwrap(),
            state
        );
        assert!(PipelineState::parse(Some(b"{\"reports\": 3}")).is_err());
    }
}
