//! What strict mode keeps in the pipeline state document: the CI results received, the
//! changes evicted or dropped from the auto branch (each reported once), and the newest commit
//! accepted, so that replicas agree on every decision through the state's compare-and-swap.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::names::{CommitId, ServiceName, WaveName};
use crate::reference::ImageRef;
use crate::trailers::Record;

/// How many CI results are kept per commit (one per check, the newest). A result that holds
/// its commit back is never pushed out by another (see [`StrictRecord::add_check`]): a caller
/// posting results for made-up checks cannot flush the one that keeps a commit off the main
/// branch.
const KEEP_CHECKS_PER_COMMIT: usize = 32;
/// How many commits' results are kept. Results leave when their commit is accepted or evicted;
/// this bound only catches those of commits a rebuild left behind, and pushes out the commit
/// whose newest result is the oldest (results are only ever recorded for commits waiting on
/// the auto branch, so a live commit loses its results only after this many others got
/// results since).
const KEEP_CHECKED_COMMITS: usize = 64;
/// How many evictions are kept: enough for `status` and `history`, small enough to fetch in
/// every call.
const KEEP_EVICTIONS: usize = 100;
/// How many ids of commits made for the auto branch are kept at most. Ids leave when their
/// commit is accepted or the branch is rebuilt without it; this bound only catches ids of
/// commits whose push was rejected, far above any queue (an id left out makes its commit's
/// green result rebuild the branch, nothing worse).
const KEEP_BUILT: usize = 4096;

/// A CI result's state, as `POST /v1/checks` and GitHub's `status` event name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckState {
    /// CI passed the commit: once no other check holds it back, the main branch is
    /// fast-forwarded to it.
    Success,
    /// CI failed the commit: its change is evicted.
    Failure,
    /// CI is still running: recorded, and a `success` of another check waits for it.
    Pending,
    /// GitHub's `error`: the check could not run (its infrastructure failed), which says
    /// nothing about the commit. Recorded and treated as [`CheckState::Pending`]: no verdict.
    Error,
}

impl CheckState {
    /// The word of the API: `success`, `failure`, `pending` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckState::Success => "success",
            CheckState::Failure => "failure",
            CheckState::Pending => "pending",
            CheckState::Error => "error",
        }
    }

    /// Reads the API's word (GitHub's `error` included).
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "success" => Some(CheckState::Success),
            "failure" => Some(CheckState::Failure),
            "pending" => Some(CheckState::Pending),
            "error" => Some(CheckState::Error),
            _ => None,
        }
    }

    /// Whether the check has not said yet whether the commit is good (`pending`, `error`).
    pub fn is_open(self) -> bool {
        matches!(self, CheckState::Pending | CheckState::Error)
    }
}

impl std::fmt::Display for CheckState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One CI result as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckRecord {
    /// The auto branch's commit CI checked.
    pub commit: CommitId,
    /// What CI said.
    pub state: CheckState,
    /// CI's name for the check (GitHub's `context`), empty when it gave none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub context: String,
    /// When cfgupdate received it, milliseconds since the Unix epoch.
    pub at: u64,
}

/// Why a change left the auto branch without reaching the main branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvictionKind {
    /// The config repository's CI failed its commit.
    Failed,
    /// The auto branch was rebuilt on a main branch a person changed, and the change no
    /// longer applies there (the person set those images, or removed the wave or service).
    Dropped,
}

/// A change evicted from (or dropped by a rebuild of) the auto branch: what it wanted, read
/// from its commit's trailers, and why it left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Eviction {
    /// The auto branch's commit that carried the change.
    pub commit: CommitId,
    /// Its subject line.
    pub subject: String,
    /// Its `Cfgupdate-Action` (`publish`, `promote`, ...), empty when it had none.
    #[serde(default)]
    pub action: String,
    /// The wave it wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<WaveName>,
    /// The images it wrote.
    #[serde(default)]
    pub images: BTreeMap<ServiceName, ImageRef>,
    /// The app commits it named (an evicted announcement stays evicted: see
    /// [`StrictRecord::evicted_announcement`]).
    #[serde(default)]
    pub app_commits: Vec<CommitId>,
    /// Evicted by CI, or dropped by a rebuild.
    pub kind: EvictionKind,
    /// Why, in one sentence.
    pub reason: String,
    /// When, milliseconds since the Unix epoch.
    pub at: u64,
}

impl Eviction {
    /// The eviction of the commit `commit` (whose message is `message`) for `reason`.
    pub(crate) fn of(
        commit: &CommitId,
        message: &str,
        kind: EvictionKind,
        reason: String,
        at: u64,
    ) -> Self {
        let record = Record::parse(message);
        Self {
            commit: commit.clone(),
            subject: message.lines().next().unwrap_or_default().to_owned(),
            action: record.action.unwrap_or_default(),
            wave: record.wave,
            images: record.images,
            app_commits: record.app_commits,
            kind,
            reason,
            at,
        }
    }
}

/// Strict mode's part of the pipeline state document (`strict`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrictRecord {
    /// CI results received, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckRecord>,
    /// Changes evicted or dropped, oldest first; each is recorded (and so reported) once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evicted: Vec<Eviction>,
    /// The newest auto commit CI passed that the main branch is (being) fast-forwarded to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<CommitId>,
    /// The commits cfgupdate made for the auto branch and that are not accepted yet, recorded
    /// before each is pushed (with a state key only): the main branch is fast-forwarded only
    /// through these, so a commit someone else put on the auto branch, even with a sealed
    /// message copied from one of cfgupdate's, never reaches it (docs/strict.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub built: Vec<CommitId>,
}

impl StrictRecord {
    /// Whether there is nothing in it (the state document then leaves it out).
    pub fn is_empty(&self) -> bool {
        self.checks.is_empty()
            && self.evicted.is_empty()
            && self.accepted.is_none()
            && self.built.is_empty()
    }

    /// Whether cfgupdate made `commit` for the auto branch (and it is not accepted yet).
    pub fn is_built(&self, commit: &CommitId) -> bool {
        self.built.contains(commit)
    }

    /// Records the commits `made` for the auto branch and forgets `gone` (accepted, or no
    /// longer on the rebuilt branch); returns whether anything changed.
    pub(crate) fn note_built<'a>(
        &mut self,
        made: impl IntoIterator<Item = &'a CommitId>,
        gone: &[CommitId],
    ) -> bool {
        let before = self.built.clone();
        self.built.retain(|c| !gone.contains(c));
        for commit in made {
            if !self.built.contains(commit) {
                self.built.push(commit.clone());
            }
        }
        let excess = self.built.len().saturating_sub(KEEP_BUILT);
        self.built.drain(..excess);
        self.built != before
    }

    /// Records a CI result, replacing the result recorded for the same commit and check (a
    /// check's newest result is the one that counts); returns whether anything changed (the
    /// same result again does not).
    ///
    /// A commit keeps at most [`KEEP_CHECKS_PER_COMMIT`] results: to make room for a new check,
    /// the oldest result that cannot hold the commit back goes (with `required` checks, one of
    /// a check they do not name; without, a `success`); when every kept result may hold it
    /// back, the new check is not kept (the commit is held back all the same). At most
    /// [`KEEP_CHECKED_COMMITS`] commits keep results.
    pub(crate) fn add_check(&mut self, check: CheckRecord, required: &[String]) -> bool {
        let same = |c: &CheckRecord| c.commit == check.commit && c.context == check.context;
        if self
            .checks
            .iter()
            .any(|c| same(c) && c.state == check.state)
        {
            return false;
        }
        let before = self.checks.len();
        self.checks.retain(|c| !same(c));
        let known = self.checks.len() != before;
        let of_commit = self
            .checks
            .iter()
            .filter(|c| c.commit == check.commit)
            .count();
        if !known && of_commit >= KEEP_CHECKS_PER_COMMIT {
            let harmless = |c: &CheckRecord| {
                c.commit == check.commit
                    && if required.is_empty() {
                        c.state == CheckState::Success
                    } else {
                        !required.contains(&c.context)
                    }
            };
            match self.checks.iter().position(harmless) {
                Some(oldest) => {
                    self.checks.remove(oldest);
                }
                None => return known,
            }
        }
        if of_commit == 0 {
            self.make_room_for_a_commit();
        }
        self.checks.push(check);
        true
    }

    /// Drops the results of the commit whose newest result is the oldest, while
    /// [`KEEP_CHECKED_COMMITS`] commits have results.
    fn make_room_for_a_commit(&mut self) {
        loop {
            let mut newest: BTreeMap<&CommitId, u64> = BTreeMap::new();
            for c in &self.checks {
                let at = newest.entry(&c.commit).or_insert(c.at);
                *at = (*at).max(c.at);
            }
            if newest.len() < KEEP_CHECKED_COMMITS {
                return;
            }
            let Some(stalest) = newest
                .into_iter()
                .min_by_key(|(_, at)| *at)
                .map(|(commit, _)| commit.clone())
            else {
                return;
            };
            self.checks.retain(|c| c.commit != stalest);
        }
    }

    /// Forgets the results of `commits` (accepted or evicted: no longer waiting); returns
    /// whether any were kept.
    pub(crate) fn forget_checks(&mut self, commits: &[CommitId]) -> bool {
        let before = self.checks.len();
        self.checks.retain(|c| !commits.contains(&c.commit));
        self.checks.len() != before
    }

    /// The newest result of each check recorded for `commit`, by check name.
    pub fn checks_of(&self, commit: &CommitId) -> BTreeMap<&str, &CheckRecord> {
        self.checks
            .iter()
            .filter(|c| &c.commit == commit)
            .map(|c| (c.context.as_str(), c))
            .collect()
    }

    /// Whether the results recorded for `commit` accept it (docs/strict.md#several-checks):
    /// with `required` checks, each of them reported `success` (other checks never decide);
    /// without, some check reported `success` and none is `pending`, `failure` or `error`.
    /// `Err` names the checks still holding it back, with their state (`None`: no result yet).
    pub fn verdict<'a>(
        &'a self,
        commit: &CommitId,
        required: &'a [String],
    ) -> Result<(), Vec<(&'a str, Option<CheckState>)>> {
        let newest = self.checks_of(commit);
        let waiting: Vec<(&str, Option<CheckState>)> = if required.is_empty() {
            if !newest.values().any(|c| c.state == CheckState::Success) {
                return Err(vec![("", None)]);
            }
            newest
                .iter()
                .filter(|(_, c)| c.state != CheckState::Success)
                .map(|(name, c)| (*name, Some(c.state)))
                .collect()
        } else {
            required
                .iter()
                .map(|name| (name.as_str(), newest.get(name.as_str()).map(|c| c.state)))
                .filter(|(_, state)| *state != Some(CheckState::Success))
                .collect()
        };
        if waiting.is_empty() {
            Ok(())
        } else {
            Err(waiting)
        }
    }

    /// Records an eviction unless its commit's is recorded already: returns whether it was
    /// new (and so is to be reported).
    pub(crate) fn add_eviction(&mut self, eviction: Eviction) -> bool {
        if self.is_evicted(&eviction.commit) {
            return false;
        }
        self.evicted.push(eviction);
        let excess = self.evicted.len().saturating_sub(KEEP_EVICTIONS);
        self.evicted.drain(..excess);
        true
    }

    /// Whether the change of `commit` was evicted or dropped.
    pub fn is_evicted(&self, commit: &CommitId) -> bool {
        self.evicted.iter().any(|e| &e.commit == commit)
    }

    /// The latest CI result for `commit`, if any.
    pub fn check_of(&self, commit: &CommitId) -> Option<&CheckRecord> {
        self.checks.iter().rev().find(|c| &c.commit == commit)
    }

    /// The eviction by CI of a publish of exactly these images for `app`, if there was one:
    /// such an announcement stays evicted, and its replay is refused.
    pub fn evicted_announcement(
        &self,
        app: &CommitId,
        images: &BTreeMap<ServiceName, ImageRef>,
    ) -> Option<&Eviction> {
        self.evicted.iter().rev().find(|e| {
            e.kind == EvictionKind::Failed
                && e.action == crate::trailers::PUBLISH
                && e.app_commits.contains(app)
                && images.iter().all(|(s, i)| e.images.get(s) == Some(i))
        })
    }
}
