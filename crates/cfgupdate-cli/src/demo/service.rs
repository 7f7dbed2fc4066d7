//! What the demo's CI, Argo CD and approver need from the service ([`Service`]), and its
//! answers, shaped as the JSON of `docs/http.md`. [`super::http::HttpService`] is the real
//! service over HTTP.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::failure::Failure;

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
    /// Strict mode: the auto branch commit a red CI result evicted.
    #[serde(default)]
    pub evicted: Option<String>,
    /// Strict mode: the subjects of the changes a green CI result accepted.
    #[serde(default)]
    pub accepted: Vec<String>,
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

    /// Strict mode: the config repository's CI result (`success`, `failure` or `pending`) for
    /// a commit of the auto branch, under the check's name `context`.
    fn check(&mut self, commit: &str, state: &str, context: &str) -> Result<Answer, Failure>;

    /// Strict mode: the auto queue as the status shows it (the `strict` member of
    /// `GET /v1/status`).
    fn auto_queue(&mut self) -> Result<Value, Failure>;

    /// Strict mode: waits, at most `limit`, until the auto queue holds an automatic change
    /// into `wave` (the service's timer makes the promotion when a soak gate opens), and
    /// returns its commit.
    fn await_queued(&mut self, wave: &str, limit: Duration) -> Result<String, Failure>;

    /// An announcement the service is expected to refuse (`409`): the sentence it answers
    /// with.
    fn announce_refused(
        &mut self,
        app_commit: &str,
        images: &BTreeMap<String, String>,
    ) -> Result<String, Failure>;
}
