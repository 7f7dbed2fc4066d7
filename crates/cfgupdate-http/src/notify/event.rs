//! What a notification says: the event names of docs/contract.md ("Notifications") and the
//! JSON body every webhook sink receives.

use std::time::SystemTime;

use cfgupdate_core::{CommitId, ImageSet, WaveName};
use serde::Serialize;

/// The kinds of event, by their names in docs/contract.md ("Notifications").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// An announcement was written into the first wave.
    Published,
    /// Images were promoted into a wave (by a deploy report, an approval or the timer).
    Promoted,
    /// A promotion waits for `cfgupdate approve`.
    ApprovalPending,
    /// A target reported a failed deployment.
    DeployFailed,
    /// cfgupdate refused to write something: a stale announcement, a change the render or
    /// effect check refused, slots that could not take the images.
    Refused,
    /// An announcement into a frozen wave was accepted and deferred.
    Deferred,
    /// An announcement was not written because a service is held in the wave.
    Held,
    /// The remote declined a push for a reason of its own (a hook, a protected branch).
    PushRefused,
    /// A wave was rolled back to the images it held at an earlier revision.
    RolledBack,
}

impl EventKind {
    /// Every kind, in the contract's order.
    pub const ALL: [EventKind; 9] = [
        EventKind::Published,
        EventKind::Promoted,
        EventKind::ApprovalPending,
        EventKind::DeployFailed,
        EventKind::Refused,
        EventKind::Deferred,
        EventKind::Held,
        EventKind::PushRefused,
        EventKind::RolledBack,
    ];

    /// The event's name in the body's `event` field.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Published => "published",
            EventKind::Promoted => "promoted",
            EventKind::ApprovalPending => "approval_pending",
            EventKind::DeployFailed => "deploy_failed",
            EventKind::Refused => "refused",
            EventKind::Deferred => "deferred",
            EventKind::Held => "held",
            EventKind::PushRefused => "push_refused",
            EventKind::RolledBack => "rolled_back",
        }
    }
}

/// One event: what happened, where, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The wave it happened in, when there is one.
    pub wave: Option<WaveName>,
    /// The commit it made, or the revision it is about (a report's, a pending candidate's).
    pub commit: Option<CommitId>,
    /// The images concerned: those announced, or those a commit changed in the wave.
    pub images: ImageSet,
    /// The target a deploy report came from, as the report named it.
    pub target: Option<String>,
    /// Why, in one sentence, when there is more to say than the event's name.
    pub reason: Option<String>,
    /// When the service saw it happen (the service's clock).
    pub at: SystemTime,
}

impl Event {
    /// An event of `kind` at `at`, with nothing else said yet.
    pub fn new(kind: EventKind, at: SystemTime) -> Self {
        Self {
            kind,
            wave: None,
            commit: None,
            images: ImageSet::new(),
            target: None,
            reason: None,
            at,
        }
    }

    /// In `wave`.
    pub fn wave(mut self, wave: &WaveName) -> Self {
        self.wave = Some(wave.clone());
        self
    }

    /// About `commit`.
    pub fn commit(mut self, commit: &CommitId) -> Self {
        self.commit = Some(commit.clone());
        self
    }

    /// Concerning `images`.
    pub fn images(mut self, images: &ImageSet) -> Self {
        self.images = images.clone();
        self
    }

    /// Reported by `target`.
    pub fn target(mut self, target: &str) -> Self {
        self.target = Some(target.to_owned());
        self
    }

    /// Because of `reason`.
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// The JSON body a webhook sink receives: `{"event", "wave", "commit", "images",
    /// "reason", "at"}` (absent values are `null`), and `"target"` on events a deploy report
    /// caused.
    pub fn json(&self) -> String {
        let body = Body {
            event: self.kind.name(),
            wave: self.wave.as_ref().map(WaveName::as_str),
            commit: self.commit.as_ref().map(CommitId::as_str),
            images: self
                .images
                .iter()
                .map(|(service, image)| (service.as_str(), image.as_str()))
                .collect(),
            reason: self.reason.as_deref(),
            at: crate::wire::rfc3339(self.at),
            target: self.target.as_deref(),
        };
        // A struct of strings and a map of strings always serialises.
        serde_json::to_string(&body).unwrap_or_default()
    }
}

#[derive(Serialize)]
struct Body<'a> {
    event: &'static str,
    wave: Option<&'a str>,
    commit: Option<&'a str>,
    images: std::collections::BTreeMap<&'a str, &'a str>,
    reason: Option<&'a str>,
    at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'a str>,
}
