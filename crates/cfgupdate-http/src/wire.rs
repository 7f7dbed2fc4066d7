//! The JSON of `GET /v1/status` and of `cfgupdate status --json` / `cfgupdate history --json`:
//! the one definition of the wire shape, which the service and the CLI both print
//! (docs/http.md). The core answers with typed values ([`Status`], [`HistoryEntry`]); how they
//! are spelled (RFC 3339 times, `1h30m` durations, lower-case words, which fields are left out
//! when empty) is decided here, and [`rfc3339`], [`commit_time`] and [`soak_text`] are the
//! spellings the status page and the CLI's text use too.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use cfgupdate_core::promotion::{
    Gate, HeldService, HistoryEntry, Hold, ReportView, StateStatus, Status, TargetStatus,
    TransitionStatus, WaveStatus,
};
use cfgupdate_core::{CommitId, ImageRef, ImageSet, ServiceName, TargetName, WaveName};
use serde::Serialize;

/// The status as `GET /v1/status` sends it and `cfgupdate status --json` prints it: pretty JSON
/// ending in a newline.
pub fn status_json(status: &Status) -> Result<String, serde_json::Error> {
    pretty(&StatusJson::from(status))
}

/// The status with strict mode's auto queue as its `strict` member (docs/strict.md), as
/// `cfgupdate status --json` prints it and `GET /v1/status` answers; without a queue (strict
/// mode off), exactly [`status_json`].
pub fn status_json_with(
    status: &Status,
    queue: Option<&cfgupdate_core::strict::AutoQueue>,
) -> Result<String, serde_json::Error> {
    let Some(queue) = queue else {
        return status_json(status);
    };
    let mut document = serde_json::to_value(StatusJson::from(status))?;
    if let serde_json::Value::Object(object) = &mut document {
        object.insert("strict".to_owned(), strict_json(queue));
    }
    pretty(&document)
}

/// The auto queue as the status' `strict` member.
pub fn strict_json(queue: &cfgupdate_core::strict::AutoQueue) -> serde_json::Value {
    use cfgupdate_core::strict::EvictionKind;
    use serde_json::{Value, json};
    let images = |images: &std::collections::BTreeMap<
        cfgupdate_core::ServiceName,
        cfgupdate_core::ImageRef,
    >| {
        images
            .iter()
            .map(|(s, i)| (s.to_string(), Value::from(i.to_string())))
            .collect::<serde_json::Map<_, _>>()
    };
    json!({
        "branch": queue.branch,
        "main": queue.main.as_str(),
        "auto": queue.auto.as_ref().map(|c| c.as_str()),
        "pending": queue.changes.iter().map(|change| json!({
            "commit": change.commit.as_str(),
            "subject": change.subject,
            "action": change.action,
            "wave": change.wave.as_ref().map(|w| w.as_str()),
            "images": images(&change.images),
            "ci": change.ci.as_ref().map(|c| c.state.as_str()),
            "context": change.ci.as_ref().map(|c| c.context.as_str()),
        })).collect::<Vec<_>>(),
        "evicted": queue.evicted.iter().map(|e| json!({
            "commit": e.commit.as_str(),
            "subject": e.subject,
            "action": e.action,
            "wave": e.wave.as_ref().map(|w| w.as_str()),
            "images": images(&e.images),
            "kind": match e.kind { EvictionKind::Failed => "failed", EvictionKind::Dropped => "dropped" },
            "reason": e.reason,
        })).collect::<Vec<_>>(),
    })
}

/// The automatic commits as `cfgupdate history --json` prints them: pretty JSON ending in a
/// newline.
pub fn history_json(entries: &[HistoryEntry]) -> Result<String, serde_json::Error> {
    pretty(&entries.iter().map(HistoryJson::from).collect::<Vec<_>>())
}

/// An instant as RFC 3339 in UTC (`2027-01-15T10:00:00Z`); empty when it cannot be written.
pub fn rfc3339(time: SystemTime) -> String {
    jiff::Timestamp::try_from(time)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// A commit's time (seconds since the Unix epoch) as RFC 3339; empty when out of range.
pub fn commit_time(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// A soak duration as the pipeline file spells it (`1h`, `10m`, `1h 30m` in jiff's friendly
/// form).
pub fn soak_text(soak: Duration) -> String {
    jiff::SignedDuration::try_from(soak)
        .map(|d| format!("{d:#}"))
        .unwrap_or_default()
}

fn pretty(value: &impl Serialize) -> Result<String, serde_json::Error> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    Ok(text)
}

#[derive(Serialize)]
struct StatusJson<'a> {
    revision: &'a CommitId,
    waves: Vec<WaveJson<'a>>,
    state: StateJson<'a>,
    history: Vec<HistoryJson<'a>>,
}

impl<'a> From<&'a Status> for StatusJson<'a> {
    fn from(status: &'a Status) -> Self {
        Self {
            revision: &status.revision,
            waves: status.waves.iter().map(WaveJson::from).collect(),
            state: StateJson::from(&status.state),
            history: status.history.iter().map(HistoryJson::from).collect(),
        }
    }
}

#[derive(Serialize)]
struct WaveJson<'a> {
    name: &'a WaveName,
    images: &'a ImageSet,
    #[serde(skip_serializing_if = "Option::is_none")]
    images_error: Option<&'a str>,
    soak: Option<String>,
    approval: bool,
    hold: &'a [ServiceName],
    pin: &'static str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    digestless: &'a [ServiceName],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    held: Vec<HeldJson<'a>>,
    targets: Vec<TargetJson<'a>>,
    promotion: Option<StepJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frozen: Option<FrozenJson<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    deferred: Vec<DeferredJson<'a>>,
}

/// A frozen wave: `{"until": "<RFC 3339>", "reason": "..."}`.
#[derive(Serialize)]
struct FrozenJson<'a> {
    until: String,
    reason: &'a str,
}

/// An announcement a freeze deferred: its app commit, images and when it arrived.
#[derive(Serialize)]
struct DeferredJson<'a> {
    app_commit: &'a CommitId,
    images: &'a ImageSet,
    at: String,
}

impl<'a> From<&'a WaveStatus> for WaveJson<'a> {
    fn from(wave: &'a WaveStatus) -> Self {
        Self {
            name: &wave.name,
            images: &wave.images,
            images_error: wave.images_error.as_deref(),
            soak: wave.soak.map(soak_text),
            approval: wave.approval,
            hold: &wave.hold,
            pin: wave.pin.as_str(),
            digestless: &wave.digestless,
            held: wave
                .held
                .iter()
                .map(|held| HeldJson::new(&wave.name, held))
                .collect(),
            targets: wave.targets.iter().map(TargetJson::from).collect(),
            promotion: wave.promotion.as_ref().map(StepJson::from),
            frozen: wave.frozen.as_ref().map(|frozen| FrozenJson {
                until: rfc3339(frozen.until),
                reason: &frozen.reason,
            }),
            deferred: wave
                .deferred
                .iter()
                .map(|record| DeferredJson {
                    app_commit: &record.app,
                    images: &record.images,
                    at: rfc3339(record.time()),
                })
                .collect(),
        }
    }
}

/// A service held in a wave: by a rollback (`to_revision`, and the rollback `commit` when the
/// branch shows it) or by a person's edit (the `commit` and its `author`).
#[derive(Serialize)]
struct HeldJson<'a> {
    service: &'a ServiceName,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    commit: Option<&'a CommitId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    author: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to_revision: Option<&'a CommitId>,
    since: String,
    reason: String,
}

impl<'a> HeldJson<'a> {
    fn new(wave: &WaveName, held: &'a HeldService) -> Self {
        let (commit, author, to_revision) = match &held.hold {
            Hold::Rollback { to_revision, .. } => {
                (held.rollback_commit.as_ref(), None, Some(to_revision))
            }
            Hold::Edit { commit, author, .. } => (Some(commit), Some(author.as_str()), None),
        };
        Self {
            service: &held.service,
            kind: held.hold.kind(),
            commit,
            author,
            to_revision,
            since: rfc3339(held.hold.since()),
            reason: held.describe(wave),
        }
    }
}

#[derive(Serialize)]
struct TargetJson<'a> {
    name: &'a TargetName,
    argocd_app: &'a str,
    last_report: Option<ReportJson<'a>>,
}

impl<'a> From<&'a TargetStatus> for TargetJson<'a> {
    fn from(target: &'a TargetStatus) -> Self {
        Self {
            name: &target.name,
            argocd_app: &target.argocd_app,
            last_report: target.last_report.as_ref().map(ReportJson::from),
        }
    }
}

#[derive(Serialize)]
struct ReportJson<'a> {
    revision: &'a CommitId,
    status: &'static str,
    at: String,
}

impl<'a> From<&'a ReportView> for ReportJson<'a> {
    fn from(report: &'a ReportView) -> Self {
        Self {
            revision: &report.revision,
            status: report.status.as_str(),
            at: rfc3339(report.at),
        }
    }
}

#[derive(Serialize)]
struct StepJson<'a> {
    into: &'a WaveName,
    state: &'static str,
    reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    wait: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gate: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ready_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frozen_until: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_revision: Option<&'a CommitId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    images: Option<&'a ImageSet>,
}

impl<'a> From<&'a TransitionStatus> for StepJson<'a> {
    fn from(step: &'a TransitionStatus) -> Self {
        Self {
            into: &step.into,
            state: step.state.as_str(),
            reason: &step.reason,
            wait: step.wait.as_ref().map(|wait| wait.sentence()),
            gate: step.gate.as_ref().map(|gate| gate.name()),
            ready_at: step.ready_at().map(rfc3339),
            frozen_until: match &step.gate {
                Some(Gate::Freeze { until, .. }) => Some(rfc3339(*until)),
                _ => None,
            },
            source_revision: step.source_revision.as_ref(),
            images: step.images.as_ref(),
        }
    }
}

#[derive(Serialize)]
struct StateJson<'a> {
    authenticated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warning: Option<&'a str>,
}

impl<'a> From<&'a StateStatus> for StateJson<'a> {
    fn from(state: &'a StateStatus) -> Self {
        Self {
            authenticated: state.authenticated,
            problem: state.problem.as_deref(),
            warning: state.warning.as_deref(),
        }
    }
}

#[derive(Serialize)]
struct HistoryJson<'a> {
    commit: &'a CommitId,
    time: String,
    subject: &'a str,
    action: &'a str,
    wave: Option<&'a WaveName>,
    app_commits: &'a [CommitId],
    source_wave: Option<&'a WaveName>,
    source_revision: Option<&'a CommitId>,
    images: &'a BTreeMap<ServiceName, ImageRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    approved_by: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sealed: Option<bool>,
}

impl<'a> From<&'a HistoryEntry> for HistoryJson<'a> {
    fn from(entry: &'a HistoryEntry) -> Self {
        Self {
            commit: &entry.commit,
            time: commit_time(entry.time),
            subject: &entry.subject,
            action: &entry.action,
            wave: entry.wave.as_ref(),
            app_commits: &entry.app_commits,
            source_wave: entry.source_wave.as_ref(),
            source_revision: entry.source_revision.as_ref(),
            images: &entry.images,
            approved_by: entry.approved_by.as_deref(),
            sealed: entry.sealed,
        }
    }
}

#[cfg(test)]
mod tests;
