//! The pipeline state: deploy reports, approvals and what publishing needs to refuse stale and
//! replayed announcements, kept as one JSON document on the state ref beside the branch, and
//! updated with the same no-force, replay-the-intent discipline as the branch.
//!
//! With a state key the document carries `mac`, an HMAC-SHA256 over the state commit it was
//! written on and the document itself: anything else on the state ref (a person's push, a
//! document copied from elsewhere in the chain, one from before the key) is never acted on,
//! and only `state reset` replaces it.
//!
//! # Rollback
//!
//! An older document cfgupdate really wrote still passes that check, and anyone who can push
//! can force the state ref back to it. So every document also carries its position, `epoch`
//! (when its line of states began: the state's creation or its last `state reset`) and
//! `serial` (writes since), both authenticated. The repository keeps an anchor, the newest
//! authentic state it has seen, moved only forward here; a state behind the anchor is
//! [`StateProblem::Rewound`] and never acted on. `state reset` starts a new epoch later than
//! any it knows, so it is ahead of every anchor again.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::history::HISTORY_DEPTH;
use super::holds::{self, Holds};
use super::{Approver, DeployStatus, PromotionError};
use crate::clock::Clock;
use crate::key::StateKey;
use crate::names::{CommitId, ServiceName, TargetName, WaveName};
use crate::reference::ImageRef;
use crate::repository::{
    CommitInfo, CommitMessage, ConfigRepository, PushOutcome, RepositoryError, RepositoryErrorKind,
    StateVersion,
};
use crate::retry::RetryPolicy;
use crate::shown::shown;
use crate::slots::ImageSet;
use crate::trailers::{self, BuildInfo, Record};

/// How many reports are kept per target, and approvals per wave: enough to decide, small
/// enough to fetch in every call.
const KEEP_REPORTS: usize = 50;
const KEEP_APPROVALS: usize = 20;
/// How many recent publishes are remembered per service to recognise a replayed announcement
/// that carries no build information.
pub(crate) const KEEP_RECENT: usize = 20;
/// How many new commits publishing lets pass before it writes the state forward.
pub(crate) const CATCH_UP_EVERY: usize = 64;

/// The format this cfgupdate writes, and the newest it reads.
///
/// From version 3 on, a document's `mac` covers its canonical form (every key but `mac`, keys
/// sorted, no spaces), whatever fields a later version adds: so an older cfgupdate can tell an
/// authentic newer document (it says "upgrade") from a forged one (it says "reset").
/// Version 4 adds `deferred` (announcements a freeze window holds back) and `holds` (services
/// held in a wave by a rollback or a person's edit). Version 5 adds `strict.built` (the ids
/// of the auto branch's commits strict mode made, the only ones it fast-forwards main to).
/// Version 6 adds `awaiting` (the revision whose wait for approval after a soak was announced,
/// by wave). Each new field comes with a new version, so that a cfgupdate from before it says
/// "upgrade" during a rolling upgrade instead of finding the document unreadable.
pub const STATE_VERSION: u32 = 6;

/// The last format whose `mac` covers this cfgupdate's own serialisation of the document.
const LEGACY_MAC_VERSION: u64 = 2;

/// `Cfgupdate-State: <epoch>.<serial>`: the position of the (authentic) state the process had when
/// it wrote the commit, sealed with it. A state older than what a sealed commit records was moved
/// back, whichever cache reads it (an addition to the trailers of docs/contract.md#commits).
pub const STATE_TRAILER: &str = "Cfgupdate-State";

/// Where a document stands in the state's history, `(epoch, serial)`: later is newer.
type Position = (u64, u64);

/// How many of the branch's newest commits are searched for the newest sealed commit that
/// records a state position.
const RECORDED_DEPTH: usize = 32;

/// What `status`, the CLI and `/readyz` say when there is no state key.
pub const UNAUTHENTICATED_WARNING: &str = "the pipeline state and commit trailers are not authenticated (no CFGUPDATE_STATE_KEY): anyone who can push to the config repository can forge deploy reports and approvals";

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
    /// Who approved (absent in documents written before approvals were accountable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Approver>,
}

/// One publish remembered for replay detection: this app commit's image of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecentPublish {
    /// The app commit announced.
    pub app: CommitId,
    /// The image published for it.
    pub image: ImageRef,
}

/// What publishing remembers of one service.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedService {
    /// The highest build number published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_number: Option<u64>,
    /// The latest build creation time published.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "rfc3339")]
    pub build_created_at: Option<jiff::Timestamp>,
    /// The most recent publishes, oldest first.
    #[serde(default)]
    pub recent: Vec<RecentPublish>,
}

/// A timestamp written as RFC 3339 (jiff's serde support is not built in).
pub(super) mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(in crate::promotion) fn serialize<S: Serializer>(
        value: &Option<jiff::Timestamp>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(time) => serializer.serialize_str(&time.to_string()),
            None => serializer.serialize_none(),
        }
    }

    pub(in crate::promotion) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<jiff::Timestamp>, D::Error> {
        let text = Option::<String>::deserialize(deserializer)?;
        text.map(|text| text.parse().map_err(D::Error::custom))
            .transpose()
    }
}

/// What publishing needs to refuse stale and replayed announcements, however long ago they
/// were first published: counted from cfgupdate's own (sealed) publish commits up to `tip`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Published {
    /// The branch commit up to which publishes are counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tip: Option<CommitId>,
    /// By service.
    #[serde(default)]
    pub services: BTreeMap<ServiceName, PublishedService>,
}

impl Published {
    /// Counts one publish commit's trailers.
    fn absorb(&mut self, record: &Record) {
        for (service, image, app) in &record.image_entries {
            let app = app.clone().or_else(|| match record.app_commits.as_slice() {
                [only] => Some(only.clone()),
                _ => None,
            });
            let Some(app) = app else { continue };
            let entry = self.services.entry(service.clone()).or_default();
            let recent = RecentPublish {
                app,
                image: image.clone(),
            };
            entry.recent.retain(|r| r != &recent);
            entry.recent.push(recent);
            let excess = entry.recent.len().saturating_sub(KEEP_RECENT);
            entry.recent.drain(..excess);
        }
        for (service, build) in &record.builds {
            let entry = self.services.entry(service.clone()).or_default();
            if let Some(number) = build.number {
                entry.build_number = Some(entry.build_number.map_or(number, |n| n.max(number)));
            }
            if let Some(at) = build.created_at {
                entry.build_created_at = Some(entry.build_created_at.map_or(at, |t| t.max(at)));
            }
        }
    }

    /// Whether `app` was published with exactly these images already.
    pub fn has_published(&self, app: &CommitId, images: &ImageSet) -> bool {
        images.iter().all(|(service, image)| {
            self.services
                .get(service)
                .is_some_and(|s| s.recent.iter().any(|r| &r.app == app && &r.image == image))
        })
    }

    /// The newest build published for `service`, as far as it is known.
    pub fn held_build(&self, service: &ServiceName) -> Option<BuildInfo> {
        let entry = self.services.get(service)?;
        let build = BuildInfo {
            number: entry.build_number,
            created_at: entry.build_created_at,
        };
        (!build.is_empty()).then_some(build)
    }
}

/// The whole state document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineState {
    /// The document's format.
    #[serde(default = "first_version")]
    pub version: u32,
    /// Reports by target, oldest first.
    #[serde(default)]
    pub reports: BTreeMap<TargetName, Vec<ReportRecord>>,
    /// Approvals by wave, oldest first.
    #[serde(default)]
    pub approvals: BTreeMap<WaveName, Vec<ApprovalRecord>>,
    /// What publishing remembers.
    #[serde(default)]
    pub published: Published,
    /// Announcements into a frozen first wave, held back until its freeze window ends,
    /// oldest first (docs/promotion.md#freeze-windows).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deferred: Vec<super::deferred::DeferredRecord>,
    /// Services held in a wave by a rollback or a person's edit (version 4 on).
    #[serde(default, skip_serializing_if = "Holds::is_empty")]
    pub holds: Holds,
    /// When this document's line of states began (the state's creation or its last reset),
    /// milliseconds since the Unix epoch: 0 in documents from before positions.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub epoch: u64,
    /// How many times the state was written since `epoch`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub serial: u64,
    /// The document's authentication (hex HMAC-SHA256), when written with a state key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// Strict mode's CI results and evictions (docs/strict.md).
    #[serde(default, skip_serializing_if = "crate::strict::StrictRecord::is_empty")]
    pub strict: crate::strict::StrictRecord,
    /// By wave promoted into: the source revision whose promotion was last announced as
    /// waiting for approval once its soak ended (version 6 on), so that the announcement is
    /// made once, by the process whose record of it landed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub awaiting: BTreeMap<WaveName, CommitId>,
}

impl Default for PipelineState {
    fn default() -> Self {
        Self {
            version: STATE_VERSION,
            reports: BTreeMap::new(),
            approvals: BTreeMap::new(),
            published: Published::default(),
            deferred: Vec::new(),
            holds: Holds::default(),
            epoch: 0,
            serial: 0,
            mac: None,
            strict: crate::strict::StrictRecord::default(),
            awaiting: BTreeMap::new(),
        }
    }
}

fn first_version() -> u32 {
    1
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// Milliseconds since the Unix epoch.
pub(crate) fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Why the state on the remote is not acted on. Nothing is recorded, approved or promoted
/// while it stands; `status` and `/readyz` say it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateProblem {
    /// The state ref holds something that is not a state document.
    #[error(
        "the pipeline state on the remote cannot be read: {detail}; nothing is recorded or promoted until an admin runs `cfgupdate state reset`"
    )]
    Unreadable {
        /// What is wrong, in words.
        detail: String,
    },
    /// A newer cfgupdate wrote it.
    #[error(
        "the pipeline state on the remote has format version {version}, newer than this cfgupdate reads (up to {STATE_VERSION}); nothing was changed: upgrade cfgupdate (if no newer cfgupdate writes to this repository, an admin runs `cfgupdate state reset`)"
    )]
    Newer {
        /// Its version.
        version: u64,
    },
    /// It fails the check against the state key.
    #[error(
        "the pipeline state on the remote (state commit {commit}) was not written by cfgupdate with this state key ({reason}); its reports and approvals are not acted on until an admin runs `cfgupdate state reset`"
    )]
    Unauthenticated {
        /// The state commit.
        commit: String,
        /// Why it fails.
        reason: &'static str,
    },
    /// It is older than a state cfgupdate saw there before: someone moved the state ref back
    /// to an earlier document (or deleted it), which would bring back what was consumed,
    /// replaced or refused since.
    #[error(
        "the pipeline state on the remote ({found}) is older than the state cfgupdate saw there before ({seen}): someone moved the state ref back; it is not acted on, and nothing is recorded or promoted, until an admin runs `cfgupdate state reset` (which writes a state newer than both)"
    )]
    Rewound {
        /// What the remote holds.
        found: String,
        /// What was seen before.
        seen: String,
    },
    /// There is none, though cfgupdate has written to the branch before.
    #[error(
        "the pipeline state on the remote is missing, although cfgupdate wrote to this branch before ({written}); nothing is recorded or promoted until an admin runs `cfgupdate state reset`"
    )]
    Missing {
        /// What proves it: a sealed commit of the branch, or the state commit this cache saw.
        written: String,
    },
}

impl PipelineState {
    /// Reads a document without checking its authentication (use it to look, never to
    /// decide); an absent state is empty.
    pub fn parse(content: Option<&[u8]>) -> Result<Self, PromotionError> {
        match content {
            None => Ok(Self::default()),
            Some(bytes) => Ok(Self::parse_document(bytes)?),
        }
    }

    fn parse_document(bytes: &[u8]) -> Result<Self, StateProblem> {
        let object = Self::parse_object(bytes)?;
        let claimed = Self::claimed_version(&object);
        if claimed > u64::from(STATE_VERSION) {
            return Err(StateProblem::Newer { version: claimed });
        }
        Self::from_object(object)
    }

    fn parse_object(bytes: &[u8]) -> Result<serde_json::Map<String, Value>, StateProblem> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|error| StateProblem::Unreadable {
                detail: format!("it is not JSON ({error})"),
            })?;
        match value {
            Value::Object(object) => Ok(object),
            _ => Err(StateProblem::Unreadable {
                detail: "it is not a JSON object".to_owned(),
            }),
        }
    }

    /// The format a document says it has (1 when it says nothing, as the first did).
    fn claimed_version(object: &serde_json::Map<String, Value>) -> u64 {
        object
            .get("version")
            .and_then(Value::as_u64)
            .unwrap_or(u64::from(first_version()))
    }

    fn from_object(object: serde_json::Map<String, Value>) -> Result<Self, StateProblem> {
        serde_json::from_value(Value::Object(object)).map_err(|error| StateProblem::Unreadable {
            detail: format!("it is not a state document: {}", shown(&error.to_string())),
        })
    }

    /// What the authentication of a version 2 document covers: this cfgupdate's own
    /// serialisation of it without its `mac` (which only reproduces documents of the formats
    /// it knows).
    fn legacy_bytes(&self) -> Vec<u8> {
        let mut plain = self.clone();
        plain.mac = None;
        serde_json::to_vec(&plain).unwrap_or_default()
    }

    /// What the authentication of a document of version 3 or later covers: every key but
    /// `mac`, sorted (serde_json's map is ordered by key), without spaces.
    fn canonical_bytes(object: &serde_json::Map<String, Value>) -> Vec<u8> {
        let mut plain = object.clone();
        plain.remove("mac");
        serde_json::to_vec(&Value::Object(plain)).unwrap_or_default()
    }

    fn legacy_parts<'a>(parent: &'a str, bytes: &'a [u8]) -> [&'a [u8]; 3] {
        [b"cfgupdate-state-v2", parent.as_bytes(), bytes]
    }

    fn tag_parts<'a>(parent: &'a str, bytes: &'a [u8]) -> [&'a [u8]; 3] {
        [b"cfgupdate-state-v3", parent.as_bytes(), bytes]
    }

    /// The document as written on top of `parent`, authenticated with `key` when there is
    /// one.
    fn to_bytes(&self, key: Option<&StateKey>, parent: Option<&CommitId>) -> Vec<u8> {
        let mut state = self.clone();
        state.version = STATE_VERSION;
        state.mac = None;
        state.mac = key.map(|key| {
            let parent = parent.map(CommitId::as_str).unwrap_or_default();
            let object = match serde_json::to_value(&state) {
                Ok(Value::Object(object)) => object,
                _ => serde_json::Map::new(),
            };
            key.state_tag(&Self::tag_parts(parent, &Self::canonical_bytes(&object)))
        });
        let mut bytes = serde_json::to_vec_pretty(&state).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Reads and checks a stored version: with a key, only a document cfgupdate wrote on
    /// exactly this state commit's parent passes. The check comes before anything the
    /// document says is believed: only an authentic document may claim a newer format.
    fn verified(version: &StateVersion, key: Option<&StateKey>) -> Result<Self, StateProblem> {
        let object = Self::parse_object(&version.content)?;
        let claimed = Self::claimed_version(&object);
        if let Some(key) = key {
            let unauthenticated = |reason| StateProblem::Unauthenticated {
                commit: version.commit.short().to_owned(),
                reason,
            };
            let tag = match object.get("mac") {
                None | Some(Value::Null) => {
                    return Err(unauthenticated("it carries no authentication"));
                }
                Some(Value::String(tag)) => tag.clone(),
                Some(_) => return Err(unauthenticated("its authentication is not a string")),
            };
            let parent = version
                .parent
                .as_ref()
                .map(CommitId::as_str)
                .unwrap_or_default();
            let authentic = if claimed > LEGACY_MAC_VERSION {
                key.state_matches(
                    &Self::tag_parts(parent, &Self::canonical_bytes(&object)),
                    &tag,
                )
            } else {
                // A document that does not even parse as one of ours cannot carry our tag.
                let Ok(state) = Self::from_object(object.clone()) else {
                    return Err(unauthenticated("its authentication does not match"));
                };
                key.state_matches(&Self::legacy_parts(parent, &state.legacy_bytes()), &tag)
            };
            if !authentic {
                return Err(unauthenticated("its authentication does not match"));
            }
        }
        if claimed > u64::from(STATE_VERSION) {
            return Err(StateProblem::Newer { version: claimed });
        }
        Self::from_object(object)
    }

    /// Where the document stands in the state's history.
    fn position(&self) -> Position {
        (self.epoch, self.serial)
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

    /// Adds an approval as the wave's newest (the one that counts: docs/promotion.md,
    /// "Approvals"), unless it is the newest already (the same update replayed): returns
    /// whether anything changed.
    pub fn add_approval(&mut self, wave: &WaveName, record: ApprovalRecord) -> bool {
        let approvals = self.approvals.entry(wave.clone()).or_default();
        if approvals.last() == Some(&record) {
            return false;
        }
        approvals.push(record);
        let excess = approvals.len().saturating_sub(KEEP_APPROVALS);
        approvals.drain(..excess);
        true
    }
}

/// Whether the state can be acted on, as status shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateStatus {
    /// Whether the state and trailers are checked against a state key.
    pub authenticated: bool,
    /// Why the state is not acted on, when it is not.
    pub problem: Option<String>,
    /// The warning of the unauthenticated mode.
    pub warning: Option<String>,
}

/// Reads the state as last fetched and checks it: the state to act on, or why there is none.
/// `tip` is the branch tip, searched for sealed commits when the state is missing.
pub(crate) fn load(
    repo: &dyn ConfigRepository,
    key: Option<&StateKey>,
    tip: &CommitId,
) -> Result<PipelineState, PromotionError> {
    let mut state = read(repo, key, tip)?.1;
    state.holds = holds::catch_up(repo, key, tip, &state.holds)?;
    Ok(state)
}

/// The stored version and the checked state.
fn read(
    repo: &dyn ConfigRepository,
    key: Option<&StateKey>,
    tip: &CommitId,
) -> Result<(Option<StateVersion>, PipelineState), PromotionError> {
    let version = match repo.state() {
        Ok(version) => version,
        // The adapter could not read what the ref holds (not a commit, no document in it).
        Err(RepositoryError {
            kind: RepositoryErrorKind::Failed,
            message,
        }) => {
            return Err(StateProblem::Unreadable {
                detail: message.trim_end_matches('.').to_owned(),
            }
            .into());
        }
        Err(error) => return Err(error.into()),
    };
    let state = match &version {
        Some(version) => {
            let state = PipelineState::verified(version, key)?;
            if let Some(key) = key {
                hold_forward(repo, version, &state)?;
                hold_to_branch(repo, key, tip, version, &state)?;
            }
            state
        }
        None => {
            if let Some(key) = key {
                // Deleted: moved back to before the first state, which this cache saw.
                if let Some(seen) = repo.state_anchor()? {
                    return Err(StateProblem::Missing {
                        written: format!("state commit {}", seen.commit.short()),
                    }
                    .into());
                }
                if let Some(sealed) = newest_sealed(repo, tip, key)? {
                    return Err(StateProblem::Missing {
                        written: format!("commit {}", sealed.short()),
                    }
                    .into());
                }
            }
            PipelineState::default()
        }
    };
    Ok((version, state))
}

/// Refuses an authentic state that is older than the anchor (the newest this cache saw), and
/// moves the anchor up to one that is newer.
fn hold_forward(
    repo: &dyn ConfigRepository,
    version: &StateVersion,
    state: &PipelineState,
) -> Result<(), PromotionError> {
    let Some(seen) = repo.state_anchor()? else {
        advance_anchor(repo, &version.commit);
        return Ok(());
    };
    if seen.commit == version.commit {
        return Ok(());
    }
    // The anchor's document was checked when it was set. One this cfgupdate no longer reads
    // gives no position to compare with.
    let seen_position = PipelineState::parse_document(&seen.content)
        .ok()
        .map(|seen| seen.position());
    let forward = match seen_position {
        Some(position) if position != state.position() => state.position() > position,
        // Equal positions (documents from before positions, or resets in the same
        // millisecond): the state chain decides, a later state is written on top of it.
        _ => match repo.is_ancestor(&seen.commit, &version.commit) {
            Ok(yes) => yes,
            Err(RepositoryError {
                kind: RepositoryErrorKind::NotFound,
                ..
            }) => false,
            Err(error) => return Err(error.into()),
        },
    };
    if !forward {
        return Err(StateProblem::Rewound {
            found: format!("state commit {}", version.commit.short()),
            seen: format!("state commit {}", seen.commit.short()),
        }
        .into());
    }
    advance_anchor(repo, &version.commit);
    Ok(())
}

/// Refuses an authentic state older than the position the branch's newest sealed commit
/// records: what a process had when it wrote to the branch was on the remote, and a state
/// only moves forward. This holds for a cache that never saw the state before.
fn hold_to_branch(
    repo: &dyn ConfigRepository,
    key: &StateKey,
    tip: &CommitId,
    version: &StateVersion,
    state: &PipelineState,
) -> Result<(), PromotionError> {
    if let Some((recorded, commit)) = recorded_position(repo, key, tip)?
        && state.position() < recorded
    {
        return Err(StateProblem::Rewound {
            found: format!("state commit {}", version.commit.short()),
            seen: format!("the state commit {} records", commit.short()),
        }
        .into());
    }
    Ok(())
}

/// The position recorded by the newest sealed commit that records one among the newest
/// [`RECORDED_DEPTH`] of the branch, and that commit.
fn recorded_position(
    repo: &dyn ConfigRepository,
    key: &StateKey,
    tip: &CommitId,
) -> Result<Option<(Position, CommitId)>, RepositoryError> {
    let log = match repo.log(tip, RECORDED_DEPTH) {
        Ok(log) => log,
        // A tip the cache does not hold (nothing fetched yet) records nothing.
        Err(RepositoryError {
            kind: RepositoryErrorKind::NotFound,
            ..
        }) => return Ok(None),
        Err(error) => return Err(error),
    };
    Ok(log
        .into_iter()
        .filter(|commit| trailers::is_sealed(commit, key))
        .find_map(|commit| {
            let position = CommitMessage::parse_trailers(&commit.message)
                .into_iter()
                .find(|(name, _)| name == STATE_TRAILER)
                .and_then(|(_, value)| parse_position(&value))?;
            Some((position, commit.id))
        }))
}

fn parse_position(value: &str) -> Option<Position> {
    let (epoch, serial) = value.split_once('.')?;
    Some((epoch.parse().ok()?, serial.parse().ok()?))
}

/// Adds [`STATE_TRAILER`] to a message cfgupdate is about to seal: the position of the state
/// as last fetched, when it is authentic and not older than the anchor (else nothing: a
/// record must never claim more than the remote had).
pub(crate) fn record_position(
    repo: &dyn ConfigRepository,
    key: &StateKey,
    message: &mut CommitMessage,
) {
    message.trailers.retain(|(name, _)| name != STATE_TRAILER);
    let Ok(Some(version)) = repo.state() else {
        return;
    };
    let Ok(state) = PipelineState::verified(&version, Some(key)) else {
        return;
    };
    if let Ok(Some(seen)) = repo.state_anchor()
        && seen.commit != version.commit
        && PipelineState::parse_document(&seen.content)
            .is_ok_and(|seen| seen.position() > state.position())
    {
        return;
    }
    message.trailers.push((
        STATE_TRAILER.to_owned(),
        format!("{}.{}", state.epoch, state.serial),
    ));
}

/// Moves the anchor to `commit`. Best effort: an anchor that could not be stored stays where
/// it was, which only narrows what is recognised as moved back, never refuses a good state.
fn advance_anchor(repo: &dyn ConfigRepository, commit: &CommitId) {
    let _ = repo.set_state_anchor(commit);
}

/// The newest commit cfgupdate sealed among the newest [`HISTORY_DEPTH`] of the branch.
fn newest_sealed(
    repo: &dyn ConfigRepository,
    tip: &CommitId,
    key: &StateKey,
) -> Result<Option<CommitId>, RepositoryError> {
    Ok(repo
        .log(tip, HISTORY_DEPTH)?
        .into_iter()
        .find(|commit| trailers::is_sealed(commit, key))
        .map(|commit| commit.id))
}

/// `base` brought up to `tip`: every trusted publish commit after `base.tip` counted. Returns
/// it and how many commits were read. The cost follows the commits since `base.tip`; only
/// when that commit is no longer on the branch (it was rewritten) is the walk bounded by
/// [`HISTORY_DEPTH`] instead.
pub(crate) fn catch_up(
    repo: &dyn ConfigRepository,
    tip: &CommitId,
    key: Option<&StateKey>,
    base: &Published,
) -> Result<(Published, usize), RepositoryError> {
    if base.tip.as_ref() == Some(tip) {
        return Ok((base.clone(), 0));
    }
    let ancestry =
        |ancestor: &CommitId, descendant: &CommitId| match repo.is_ancestor(ancestor, descendant) {
            Ok(yes) => Ok(yes),
            Err(RepositoryError {
                kind: RepositoryErrorKind::NotFound,
                ..
            }) => Ok(false),
            Err(error) => Err(error),
        };
    // A record already past `tip` (another process wrote it from a newer fetch) stays as it is.
    if let Some(since) = &base.tip
        && ancestry(tip, since)?
    {
        return Ok((base.clone(), 0));
    }
    let on_branch = match &base.tip {
        Some(since) => ancestry(since, tip)?,
        None => false,
    };
    let mut limit = CATCH_UP_EVERY;
    let commits: Vec<CommitInfo> = loop {
        let mut log = repo.log(tip, limit)?;
        let found = base
            .tip
            .as_ref()
            .and_then(|since| log.iter().position(|c| &c.id == since));
        if let Some(found) = found {
            // The log lists commits by date among those reached: after a person's merge, a
            // commit of the other line dated before `since` would come after it and be left
            // out. cfgupdate's own commits are linear on the tip it fetched, so a sealed
            // commit lands there only with clocks that disagree across a merge.
            log.truncate(found);
            break log;
        }
        let capped = !on_branch && limit >= HISTORY_DEPTH;
        if log.len() < limit || capped {
            break log;
        }
        limit = if on_branch {
            limit.saturating_mul(4)
        } else {
            limit.saturating_mul(4).min(HISTORY_DEPTH)
        };
    };
    let mut published = base.clone();
    for commit in commits.iter().rev() {
        if !trailers::is_trusted(commit, key) {
            continue;
        }
        let record = Record::parse(&commit.message);
        if record.action.as_deref() == Some(trailers::PUBLISH) {
            published.absorb(&record);
        }
    }
    published.tip = Some(tip.clone());
    Ok((published, commits.len()))
}

/// What publishing needs at `tip`: the checked state's record brought up to `tip`, and how
/// many commits that read.
pub(crate) fn protection(
    repo: &dyn ConfigRepository,
    key: Option<&StateKey>,
    tip: &CommitId,
) -> Result<(Published, usize), PromotionError> {
    let state = load(repo, key, tip)?;
    Ok(catch_up(repo, tip, key, &state.published)?)
}

/// How an update brings what publishing remembers up to date.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CatchUp<'a> {
    /// Count the publishes up to this branch tip along with the update.
    Along(&'a CommitId),
    /// The same, and push even when the update changes nothing else, once this many
    /// commits were read.
    Push(&'a CommitId, usize),
}

/// A new state document ready to push.
#[derive(Debug, Clone)]
pub(crate) struct PreparedState {
    /// The state commit it is written on (`None` for the first).
    pub(crate) parent: Option<CommitId>,
    /// The document, authenticated on `parent` when there is a key.
    pub(crate) content: Vec<u8>,
}

/// Applies `update` to the (checked) state as last fetched, with what publishing remembers
/// brought up to `catch_up_to`, in memory: returns the state as it would then stand, and the
/// document to push (with its new serial, epoch and authentication), or `None` when nothing
/// calls for a push. [`update`] pushes what this prepares; a report that promotes pushes it
/// beside its promotion commit.
pub(crate) fn prepare(
    repo: &dyn ConfigRepository,
    clock: &dyn Clock,
    key: Option<&StateKey>,
    tip: &CommitId,
    catch_up_to: CatchUp<'_>,
    update: &mut dyn FnMut(&mut PipelineState) -> bool,
) -> Result<(PipelineState, Option<PreparedState>), PromotionError> {
    let (version, mut state) = read(repo, key, tip)?;
    let (CatchUp::Along(to) | CatchUp::Push(to, _)) = catch_up_to;
    let (published, read) = catch_up(repo, to, key, &state.published)?;
    // A state that does not exist yet is written at once: see `publish::ensure_state`.
    let due = matches!(catch_up_to, CatchUp::Push(_, every) if read >= every) || version.is_none();
    state.published = published;
    state.holds = holds::catch_up(repo, key, to, &state.holds)?;
    if !update(&mut state) && !due {
        return Ok((state, None));
    }
    if version.is_none() {
        state.epoch = millis(clock.now());
        state.serial = 0;
        // cfgupdate manages the branch from here on: people's edits after this commit count
        // (docs/promotion.md#peoples-edits), also before a commit of cfgupdate's is on the
        // branch, as in strict mode until CI passed the first one. What set the pipeline up
        // before it pins nothing.
        state.holds.managed = true;
    }
    state.serial = state.serial.saturating_add(1);
    let parent = version.map(|v| v.commit);
    let content = state.to_bytes(key, parent.as_ref());
    Ok((state, Some(PreparedState { parent, content })))
}

/// A state push of `commit` landed: with a key, the anchor moves up to it (only now).
pub(crate) fn landed(repo: &dyn ConfigRepository, key: Option<&StateKey>, commit: &CommitId) {
    if key.is_some() {
        advance_anchor(repo, commit);
    }
}

/// Applies `update` to the remote's (checked) state and pushes it, replaying `update` on the
/// newest state after every rejection. `update` returns whether it changed anything; when it
/// did not (and catching up does not call for it), nothing is pushed. Returns the state as it
/// then stands.
#[allow(clippy::too_many_arguments)]
pub(crate) fn update(
    repo: &mut dyn ConfigRepository,
    clock: &dyn Clock,
    retry: &RetryPolicy,
    key: Option<&StateKey>,
    tip: &CommitId,
    message: &str,
    catch_up_to: CatchUp<'_>,
    mut update: impl FnMut(&mut PipelineState) -> bool,
) -> Result<PipelineState, PromotionError> {
    let mut rejected = 0;
    loop {
        let (state, prepared) = prepare(repo, clock, key, tip, catch_up_to, &mut update)?;
        let Some(prepared) = prepared else {
            return Ok(state);
        };
        match repo.push_state(prepared.parent.as_ref(), &prepared.content, message)? {
            PushOutcome::Pushed(commit) => {
                landed(repo, key, &commit);
                return Ok(state);
            }
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

/// Replaces whatever the state ref holds (unreadable, forged, from an older format, or
/// nothing) with a fresh, authenticated document: no reports, no approvals, and what
/// publishing needs rebuilt from the sealed publish commits among the newest
/// [`HISTORY_DEPTH`] of the branch. Pushed without force on the state commit the remote holds.
/// Needs the key: a state written without one could be forged by anyone who can push.
pub fn reset(
    repo: &mut dyn ConfigRepository,
    clock: &dyn Clock,
    key: Option<&StateKey>,
    retry: &RetryPolicy,
) -> Result<CommitId, PromotionError> {
    let Some(key) = key else {
        return Err(PromotionError::KeyRequired);
    };
    let mut rejected = 0;
    loop {
        let tip = repo.refresh()?;
        let parent = repo.state()?.map(|version| version.commit);
        let (published, _) = catch_up(repo, &tip, Some(key), &Published::default())?;
        let state = PipelineState {
            published,
            // People's edits count from the reset on; earlier holds and pins are dropped.
            holds: Holds {
                tip: Some(tip.clone()),
                managed: true,
                ..Holds::default()
            },
            epoch: reset_epoch(repo, clock, key, &tip)?,
            serial: 0,
            ..PipelineState::default()
        };
        let bytes = state.to_bytes(Some(key), parent.as_ref());
        match repo.push_state(parent.as_ref(), &bytes, "Reset the pipeline state")? {
            PushOutcome::Pushed(commit) => {
                advance_anchor(repo, &commit);
                return Ok(commit);
            }
            PushOutcome::Rejected => {
                rejected += 1;
                if rejected >= retry.attempts {
                    return Err(PromotionError::Contended { attempts: rejected });
                }
                clock.sleep(retry.delay(rejected, clock.now()));
            }
        }
    }
}

/// The epoch of a reset: now, and later than every position this process can know of (the
/// anchor, the document on the remote when it is authentic, and what the branch's sealed
/// commits record), so that the fresh state is
/// ahead of every anchor that saw an older one, also with a clock that is behind.
fn reset_epoch(
    repo: &dyn ConfigRepository,
    clock: &dyn Clock,
    key: &StateKey,
    tip: &CommitId,
) -> Result<u64, RepositoryError> {
    let mut epoch = millis(clock.now());
    if let Some(seen) = repo.state_anchor()?
        && let Ok(seen) = PipelineState::parse_document(&seen.content)
    {
        epoch = epoch.max(seen.epoch.saturating_add(1));
    }
    if let Some(current) = repo.state()?
        && let Ok(current) = PipelineState::verified(&current, Some(key))
    {
        epoch = epoch.max(current.epoch.saturating_add(1));
    }
    if let Some(((recorded, _), _)) = recorded_position(repo, key, tip)? {
        epoch = epoch.max(recorded.saturating_add(1));
    }
    Ok(epoch)
}

/// Whether the state as last fetched can be acted on, for `status` and `/readyz`.
pub fn check(
    repo: &dyn ConfigRepository,
    key: Option<&StateKey>,
) -> Result<StateStatus, RepositoryError> {
    let tip = repo.tip()?;
    let problem = match load(repo, key, &tip) {
        Ok(_) => None,
        Err(PromotionError::State(problem)) => Some(problem.to_string()),
        Err(PromotionError::Repository(error)) => return Err(error),
        Err(other) => Some(other.to_string()),
    };
    Ok(state_status(key, problem))
}

pub(crate) fn state_status(key: Option<&StateKey>, problem: Option<String>) -> StateStatus {
    StateStatus {
        authenticated: key.is_some(),
        problem,
        warning: key.is_none().then(|| UNAUTHENTICATED_WARNING.to_owned()),
    }
}

#[cfg(test)]
mod tests;
