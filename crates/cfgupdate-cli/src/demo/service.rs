//! What the demo's CI and Argo CD talk to: the service, reached through [`Service`], with the
//! answers of contract section 5. [`CoreService`] answers through the core's API directly on a
//! git-backed repository, which is what the service itself does behind each endpoint.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use cfgupdate_core::promotion::{
    ApprovalOutcome, DeployReport, DeployStatus, DeploymentOutcome, Gate, TargetSelector, advance,
    approve, record_deployment,
};
use cfgupdate_core::{
    Announcement, Clock, CommitId, ImageRef, ImageSet, PublishOutcome, ServiceName, TargetName,
    WaveName, WriteOptions, publish,
};
use cfgupdate_git::GitRepository;
use serde::Deserialize;

use crate::failure::Failure;
use crate::remote::{SystemClock, classified};

/// Who reports a deployment: a PostSync hook names the target, Argo CD Notifications the
/// Application.
#[derive(Debug, Clone)]
pub enum Reporter {
    /// By the target's name (`"target"`).
    Target(&'static str),
    /// By the Argo CD Application's name (`"app"`).
    App(&'static str),
}

/// The service's answer, shaped as the HTTP API's JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Answer {
    /// `committed`, `unchanged`, `recorded`, `pending`, `promoted` or `approved`.
    pub result: String,
    /// The commit made, if any.
    #[serde(default)]
    pub commit: Option<String>,
    /// The wave written, or the wave a pending promotion waits to enter.
    #[serde(default)]
    pub wave: Option<String>,
    /// The gate a pending promotion waits at (`soak`, `approval`).
    #[serde(default)]
    pub gate: Option<String>,
    /// Why nothing moved, when the service says.
    #[serde(default)]
    pub reason: Option<String>,
}

impl Answer {
    fn result(result: &str) -> Self {
        Self {
            result: result.to_owned(),
            ..Self::default()
        }
    }

    fn with_commit(result: &str, commit: &CommitId, wave: &WaveName) -> Self {
        Self {
            commit: Some(commit.to_string()),
            wave: Some(wave.to_string()),
            ..Self::result(result)
        }
    }

    fn pending(wave: &WaveName, gate: &Gate) -> Self {
        Self {
            wave: Some(wave.to_string()),
            gate: Some(gate.name().to_owned()),
            reason: Some(gate.describe(wave)),
            ..Self::result("pending")
        }
    }
}

/// The service as CI, Argo CD and an approver see it.
pub trait Service {
    /// Where it is, for the narration.
    fn describe(&self) -> String;

    /// CI's announcement of the images built from `app_commit`.
    fn announce(
        &mut self,
        app_commit: &str,
        images: &BTreeMap<String, String>,
    ) -> Result<Answer, Failure>;

    /// A post-deploy report.
    fn report(
        &mut self,
        reporter: &Reporter,
        revision: &str,
        succeeded: bool,
    ) -> Result<Answer, Failure>;

    /// An approval of what waits to enter `wave`.
    fn approve(&mut self, wave: &str) -> Result<Answer, Failure>;

    /// Waits, at most `limit`, until the promotion into `wave` that waits for its soak time has
    /// been made, and returns it.
    fn await_soak(&mut self, wave: &str, limit: Duration) -> Result<Answer, Failure>;
}

/// The core's API on a git-backed repository, in this process.
pub struct CoreService {
    repo: GitRepository,
    options: WriteOptions,
}

impl CoreService {
    /// The service over `repo`.
    pub fn new(repo: GitRepository) -> Self {
        Self {
            repo,
            options: WriteOptions::default(),
        }
    }
}

fn parse_images(images: &BTreeMap<String, String>) -> Result<ImageSet, Failure> {
    images
        .iter()
        .map(|(service, image)| {
            let service = ServiceName::parse(service).map_err(Failure::invalid)?;
            let image = ImageRef::parse(image).map_err(Failure::invalid)?;
            Ok((service, image))
        })
        .collect()
}

impl Service for CoreService {
    fn describe(&self) -> String {
        "the core's API in this process (publish, record_deployment, approve, advance)".to_owned()
    }

    fn announce(
        &mut self,
        app_commit: &str,
        images: &BTreeMap<String, String>,
    ) -> Result<Answer, Failure> {
        let app_commit = CommitId::parse(app_commit).map_err(Failure::invalid)?;
        let announcement =
            Announcement::new(app_commit, parse_images(images)?).map_err(Failure::invalid)?;
        let outcome = publish(&mut self.repo, &SystemClock, &announcement, &self.options)
            .map_err(|error| classified(&error))?;
        Ok(match outcome {
            PublishOutcome::Committed { commit, wave } => {
                Answer::with_commit("committed", &commit, &wave)
            }
            PublishOutcome::Unchanged => Answer::result("unchanged"),
        })
    }

    fn report(
        &mut self,
        reporter: &Reporter,
        revision: &str,
        succeeded: bool,
    ) -> Result<Answer, Failure> {
        let target = match reporter {
            Reporter::Target(name) => {
                TargetSelector::Name(TargetName::parse(name).map_err(Failure::invalid)?)
            }
            Reporter::App(app) => TargetSelector::App((*app).to_owned()),
        };
        let report = DeployReport {
            target,
            revision: CommitId::parse(revision).map_err(Failure::invalid)?,
            status: if succeeded {
                DeployStatus::Succeeded
            } else {
                DeployStatus::Failed
            },
        };
        let outcome = record_deployment(&mut self.repo, &SystemClock, &report, &self.options)
            .map_err(|error| classified(&error))?;
        Ok(match outcome {
            DeploymentOutcome::Promoted { commit, wave } => {
                Answer::with_commit("promoted", &commit, &wave)
            }
            DeploymentOutcome::Pending { wave, gate } => Answer::pending(&wave, &gate),
            DeploymentOutcome::Recorded { reason } => Answer {
                reason: Some(reason),
                ..Answer::result("recorded")
            },
        })
    }

    fn approve(&mut self, wave: &str) -> Result<Answer, Failure> {
        let wave = WaveName::parse(wave).map_err(Failure::invalid)?;
        let outcome = approve(&mut self.repo, &SystemClock, &wave, &self.options)
            .map_err(|error| classified(&error))?;
        Ok(match outcome {
            ApprovalOutcome::Promoted { commit, wave } => {
                Answer::with_commit("promoted", &commit, &wave)
            }
            ApprovalOutcome::Approved { waiting } => Answer::pending(&wave, &waiting),
            ApprovalOutcome::Unchanged { reason } => Answer {
                reason: Some(reason),
                ..Answer::result("unchanged")
            },
        })
    }

    fn await_soak(&mut self, wave: &str, limit: Duration) -> Result<Answer, Failure> {
        let started = Instant::now();
        loop {
            let advanced = advance(&mut self.repo, &SystemClock, &self.options)
                .map_err(|error| classified(&error))?;
            if let Some((into, commit)) = advanced
                .promoted
                .iter()
                .find(|(into, _)| into.as_str() == wave)
            {
                return Ok(Answer::with_commit("promoted", commit, into));
            }
            if started.elapsed() >= limit {
                return Err(Failure::operational(format!(
                    "the promotion into `{wave}` was not made within {} s of waiting for its soak time",
                    limit.as_secs()
                )));
            }
            // Look again when the earliest gate opens, but at least every half second.
            let until_deadline = advanced
                .next_deadline
                .and_then(|at| at.duration_since(SystemTime::now()).ok())
                .unwrap_or_default();
            SystemClock
                .sleep(until_deadline.clamp(Duration::from_millis(50), Duration::from_millis(500)));
        }
    }
}
