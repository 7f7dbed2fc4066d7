//! Dry runs: any writing operation, run against a repository that captures its pushes instead
//! of sending them.
//!
//! [`DryRun`] wraps a [`ConfigRepository`] and is one itself. Reads and fetches go to the
//! repository it wraps; a push (to the branch or to the state ref) is captured as a
//! [`PlannedWrite`] and answered as if it had landed, and every later read sees it: the
//! operation goes on exactly as a real run would (an approval recorded in the state is what
//! the promotion after it decides with, a publish's bookkeeping reads the commit it made), and
//! nothing reaches the remote. What would be written is decided by the operation itself, by
//! the same code as a real run; the caller only shows it.
//!
//! A push is a compare-and-swap on the remote, and so is a captured one: before the first
//! capture the wrapped repository is fetched once, and a push built on
//! anything but what the remote holds is answered [`PushOutcome::Rejected`], so the operation
//! replays its intent on the new tip as it would for real.
//!
//! # Wiring a command
//!
//! Every operation takes `&mut dyn ConfigRepository`, so a dry run of one is one line, and a
//! new operation (a rollback, a release) gets it by construction:
//!
//! ```
//! # #[cfg(feature = "render")] {
//! use std::time::{Duration, SystemTime};
//! use cfgupdate_core::{
//!     Announcement, Clock, CommitId, ImageRef, ImageSet, MemoryRepository, PlannedWrite,
//!     PublishOutcome, ServiceName, WriteOptions, dry_run, publish,
//! };
//!
//! struct Fixed;
//! impl Clock for Fixed {
//!     fn now(&self) -> SystemTime { SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000) }
//!     fn sleep(&self, _: Duration) {}
//! }
//!
//! let old = format!("reg.example.com/api:v1@sha256:{}", "1".repeat(64));
//! let new = format!("reg.example.com/api:v2@sha256:{}", "2".repeat(64));
//! let mut repo = MemoryRepository::new(&[
//!     ("cfgupdate.toml", "[[wave]]\nname = \"staging\"\nimages = \"images.json\"\ntargets = [\"staging\"]\n\n[target.staging]\nentrypoint = \"staging.jsonnet\"\n"),
//!     ("images.json", &format!("{{ \"api\": \"{old}\" }}\n")),
//!     ("staging.jsonnet", "{ kind: 'Pod', apiVersion: 'v1', metadata: { name: 'api' }, spec: { containers: [{ name: 'api', image: (import 'images.json').api }] } }\n"),
//! ]);
//! let images = ImageSet::from([(ServiceName::parse("api")?, ImageRef::parse(&new)?)]);
//! let announcement = Announcement::new(CommitId::parse(&"a".repeat(40))?, images)?;
//!
//! let (outcome, writes) = dry_run(&mut repo, &Fixed, |repo| {
//!     publish(repo, &Fixed, &announcement, &WriteOptions::default())
//! });
//! assert!(matches!(outcome?, PublishOutcome::Committed { .. }));
//! let [PlannedWrite::Commit(commit)] = writes.as_slice() else { panic!("{writes:?}") };
//! assert_eq!(commit.message.trailers[0], ("Cfgupdate-Action".into(), "publish".into()));
//! assert_eq!(commit.files[0].path.as_str(), "images.json");
//! assert_eq!(commit.files[0].after, Some(format!("{{ \"api\": \"{new}\" }}\n").into_bytes()));
//! // Nothing was pushed.
//! assert_eq!(repo.remote_text("images.json"), Some(format!("{{ \"api\": \"{old}\" }}\n")));
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The outcome the operation returns speaks of the planned commits by their placeholder ids
//! ([`PlannedCommit::id`]), which are not the ids git would give them (those depend on the
//! author and the time of the real commit): show the [`PlannedWrite`]s, not the outcome's
//! commit.

use std::collections::BTreeSet;

use sha2::{Digest as _, Sha256};

use crate::clock::Clock;
use crate::names::CommitId;
use crate::path::RepoPath;
use crate::repository::{
    Change, CommitInfo, CommitMessage, ConfigRepository, FileChange, PushOutcome, RepositoryError,
    StateVersion,
};

/// Runs `operation` against `repo` wrapped in a [`DryRun`]: returns what it returned and the
/// writes it would have pushed, in order. Nothing is pushed.
pub fn dry_run<T>(
    repo: &mut dyn ConfigRepository,
    clock: &dyn Clock,
    operation: impl FnOnce(&mut dyn ConfigRepository) -> T,
) -> (T, Vec<PlannedWrite>) {
    let mut dry = DryRun::new(repo, clock);
    let value = operation(&mut dry);
    (value, dry.into_writes())
}

/// One push a dry run captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedWrite {
    /// A commit on the branch.
    Commit(PlannedCommit),
    /// A new document in the pipeline state (the state ref beside the branch).
    State(PlannedState),
}

/// A branch commit a dry run captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedCommit {
    /// The commit it is built on: the branch's tip as fetched, or an earlier planned commit.
    pub parent: CommitId,
    /// The placeholder id the rest of the operation knew it by (not the id git would give it).
    pub id: CommitId,
    /// Its message, with the trailers (and the seal, with a state key) a real run writes.
    pub message: CommitMessage,
    /// The files it changes, by path, each with its content before and after. A file the
    /// change writes with the bytes it already has is not listed.
    pub files: Vec<PlannedFile>,
}

/// One file a planned commit changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Its path.
    pub path: RepoPath,
    /// Its content in the parent, `None` when the commit creates it.
    pub before: Option<Vec<u8>>,
    /// Its content after the commit, `None` when the commit removes it.
    pub after: Option<Vec<u8>>,
}

/// A state document a dry run captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedState {
    /// The state commit it is written on (`None`: the first state of the branch).
    pub parent: Option<CommitId>,
    /// The placeholder id the rest of the operation knew it by.
    pub id: CommitId,
    /// The state commit's message ("Approve 1 images into production (by alice)").
    pub message: String,
    /// The document.
    pub content: Vec<u8>,
}

/// A [`ConfigRepository`] that captures pushes instead of making them (see the module
/// documentation). Build one with [`DryRun::new`], run operations against it, then take the
/// [`PlannedWrite`]s with [`DryRun::into_writes`]; or use [`dry_run()`], which does all three.
pub struct DryRun<'a> {
    inner: &'a mut dyn ConfigRepository,
    clock: &'a dyn Clock,
    writes: Vec<PlannedWrite>,
    /// Whether the wrapped repository was fetched before the first capture.
    checked: bool,
    /// The anchor moved to a planned state (a real one goes to the wrapped repository).
    anchor: std::cell::RefCell<Option<StateVersion>>,
}

impl std::fmt::Debug for DryRun<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DryRun")
            .field("writes", &self.writes)
            .finish_non_exhaustive()
    }
}

impl<'a> DryRun<'a> {
    /// Wraps `inner`; `clock` dates the planned commits as later reads of the log see them.
    pub fn new(inner: &'a mut dyn ConfigRepository, clock: &'a dyn Clock) -> Self {
        Self {
            inner,
            clock,
            writes: Vec::new(),
            checked: false,
            anchor: std::cell::RefCell::new(None),
        }
    }

    /// The writes captured so far, in the order they were pushed.
    pub fn writes(&self) -> &[PlannedWrite] {
        &self.writes
    }

    /// The writes captured, in order.
    pub fn into_writes(self) -> Vec<PlannedWrite> {
        self.writes
    }

    fn planned_commit(&self, id: &CommitId) -> Option<&PlannedCommit> {
        self.writes.iter().find_map(|write| match write {
            PlannedWrite::Commit(commit) if &commit.id == id => Some(commit),
            _ => None,
        })
    }

    fn planned_state(&self, id: &CommitId) -> Option<&PlannedState> {
        self.writes.iter().find_map(|write| match write {
            PlannedWrite::State(state) if &state.id == id => Some(state),
            _ => None,
        })
    }

    /// The parent of a planned commit or state, and whether `id` is planned at all.
    fn planned_parent(&self, id: &CommitId) -> Option<Option<&CommitId>> {
        if let Some(commit) = self.planned_commit(id) {
            return Some(Some(&commit.parent));
        }
        self.planned_state(id).map(|state| state.parent.as_ref())
    }

    fn planned_tip(&self) -> Option<&CommitId> {
        self.writes.iter().rev().find_map(|write| match write {
            PlannedWrite::Commit(commit) => Some(&commit.id),
            PlannedWrite::State(_) => None,
        })
    }

    fn planned_state_version(&self) -> Option<StateVersion> {
        self.writes.iter().rev().find_map(|write| match write {
            PlannedWrite::State(state) => Some(version_of(state)),
            PlannedWrite::Commit(_) => None,
        })
    }

    /// The planned commits from `id` back to the first, newest first, and the real commit
    /// they are built on.
    fn chain(&self, id: &CommitId) -> (Vec<&PlannedCommit>, CommitId) {
        let mut chain = Vec::new();
        let mut at = id.clone();
        while let Some(commit) = self.planned_commit(&at) {
            chain.push(commit);
            at = commit.parent.clone();
        }
        (chain, at)
    }

    /// Fetches once, before the first capture, so that a captured push compares with what
    /// the remote holds now, as a real push does (a cache can be behind however fresh it
    /// believes itself).
    fn check_remote(&mut self) -> Result<(), RepositoryError> {
        if !self.checked {
            self.inner.refresh()?;
            self.checked = true;
        }
        Ok(())
    }

    /// A placeholder id for a planned write: a digest of what it is, so that it names the
    /// same write in every run and never a commit of the remote.
    fn placeholder(&self, parts: &[&[u8]]) -> CommitId {
        let mut hash = Sha256::new();
        hash.update(b"cfgupdate dry run\0");
        hash.update(self.writes.len().to_le_bytes());
        for part in parts {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part);
        }
        let hex = hex::encode(hash.finalize());
        CommitId::parse(&hex[..40]).expect("40 hex digits are a commit id")
    }
}

fn version_of(state: &PlannedState) -> StateVersion {
    StateVersion {
        commit: state.id.clone(),
        parent: state.parent.clone(),
        content: state.content.clone(),
    }
}

fn under_prefix(under: &str) -> String {
    let under = under.trim_end_matches('/');
    if under.is_empty() {
        String::new()
    } else {
        format!("{under}/")
    }
}

impl ConfigRepository for DryRun<'_> {
    fn tip(&self) -> Result<CommitId, RepositoryError> {
        match self.planned_tip() {
            Some(tip) => Ok(tip.clone()),
            None => self.inner.tip(),
        }
    }

    fn refresh(&mut self) -> Result<CommitId, RepositoryError> {
        let tip = self.inner.refresh()?;
        // What was planned stays planned: a real run's commits would be on the remote now.
        Ok(self.planned_tip().cloned().unwrap_or(tip))
    }

    fn is_fresh(&self) -> bool {
        self.inner.is_fresh()
    }

    fn read_file(
        &self,
        revision: &CommitId,
        path: &RepoPath,
    ) -> Result<Option<Vec<u8>>, RepositoryError> {
        let (chain, base) = self.chain(revision);
        for commit in chain {
            if let Some(file) = commit.files.iter().find(|file| &file.path == path) {
                return Ok(file.after.clone());
            }
        }
        self.inner.read_file(&base, path)
    }

    fn list_files(
        &self,
        revision: &CommitId,
        under: &str,
    ) -> Result<Vec<RepoPath>, RepositoryError> {
        let (chain, base) = self.chain(revision);
        let mut files: BTreeSet<RepoPath> =
            self.inner.list_files(&base, under)?.into_iter().collect();
        let prefix = under_prefix(under);
        for commit in chain.into_iter().rev() {
            for file in &commit.files {
                if !file.path.as_str().starts_with(&prefix) {
                    continue;
                }
                if file.after.is_some() {
                    files.insert(file.path.clone());
                } else {
                    files.remove(&file.path);
                }
            }
        }
        Ok(files.into_iter().collect())
    }

    fn is_ancestor(
        &self,
        ancestor: &CommitId,
        descendant: &CommitId,
    ) -> Result<bool, RepositoryError> {
        let mut at = descendant.clone();
        loop {
            if &at == ancestor {
                return Ok(true);
            }
            match self.planned_parent(&at) {
                Some(Some(parent)) => at = parent.clone(),
                Some(None) => return Ok(false),
                None => break,
            }
        }
        // `at` is real now: a planned commit is no ancestor of any real one.
        if self.planned_parent(ancestor).is_some() {
            return Ok(false);
        }
        self.inner.is_ancestor(ancestor, &at)
    }

    fn log(&self, from: &CommitId, limit: usize) -> Result<Vec<CommitInfo>, RepositoryError> {
        let (chain, base) = self.chain(from);
        let time = self
            .clock
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| {
                i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
            });
        let mut log: Vec<CommitInfo> = chain
            .into_iter()
            .take(limit)
            .map(|commit| CommitInfo {
                id: commit.id.clone(),
                message: commit.message.render(),
                parents: vec![commit.parent.clone()],
                time,
                // Not made yet: git gives it the configured author when it is.
                author: "cfgupdate (planned)".to_owned(),
            })
            .collect();
        if log.len() < limit {
            log.extend(self.inner.log(&base, limit - log.len())?);
        }
        Ok(log)
    }

    fn commit_and_push(
        &mut self,
        parent: &CommitId,
        change: &Change,
    ) -> Result<PushOutcome, RepositoryError> {
        self.check_remote()?;
        if &self.tip()? != parent {
            return Ok(PushOutcome::Rejected);
        }
        let mut files = Vec::new();
        for (path, file) in &change.files {
            let before = self.read_file(parent, path)?;
            let after = match file {
                FileChange::Write(bytes) => Some(bytes.clone()),
                FileChange::Delete => None,
            };
            if before != after {
                files.push(PlannedFile {
                    path: path.clone(),
                    before,
                    after,
                });
            }
        }
        let message = change.message.clone();
        let mut parts: Vec<&[u8]> = vec![parent.as_str().as_bytes()];
        let rendered = message.render();
        parts.push(rendered.as_bytes());
        for file in &files {
            parts.push(file.path.as_str().as_bytes());
            parts.push(file.after.as_deref().unwrap_or(b"\0deleted"));
        }
        let id = self.placeholder(&parts);
        self.writes.push(PlannedWrite::Commit(PlannedCommit {
            parent: parent.clone(),
            id: id.clone(),
            message,
            files,
        }));
        Ok(PushOutcome::Pushed(id))
    }

    fn state(&self) -> Result<Option<StateVersion>, RepositoryError> {
        match self.planned_state_version() {
            Some(version) => Ok(Some(version)),
            None => self.inner.state(),
        }
    }

    fn push_state(
        &mut self,
        parent: Option<&CommitId>,
        content: &[u8],
        message: &str,
    ) -> Result<PushOutcome, RepositoryError> {
        self.check_remote()?;
        let current = self.state()?.map(|version| version.commit);
        if current.as_ref() != parent {
            return Ok(PushOutcome::Rejected);
        }
        let parent_bytes = parent.map_or(&[][..], |parent| parent.as_str().as_bytes());
        let id = self.placeholder(&[parent_bytes, content, message.as_bytes()]);
        self.writes.push(PlannedWrite::State(PlannedState {
            parent: parent.cloned(),
            id: id.clone(),
            message: message.to_owned(),
            content: content.to_vec(),
        }));
        Ok(PushOutcome::Pushed(id))
    }

    // `push_with_state` is the trait's default: the state captured first, then the commit,
    // each a compare-and-swap as above.

    fn state_anchor(&self) -> Result<Option<StateVersion>, RepositoryError> {
        match self.anchor.borrow().as_ref() {
            Some(version) => Ok(Some(version.clone())),
            None => self.inner.state_anchor(),
        }
    }

    fn set_state_anchor(&self, commit: &CommitId) -> Result<(), RepositoryError> {
        match self.planned_state(commit) {
            // A planned state lives only here; the cache never learns of it.
            Some(state) => {
                *self.anchor.borrow_mut() = Some(version_of(state));
                Ok(())
            }
            // A state the remote really holds: the anchor moves as a read would move it.
            None => {
                *self.anchor.borrow_mut() = None;
                self.inner.set_state_anchor(commit)
            }
        }
    }
}

#[cfg(all(test, feature = "render"))]
mod tests;
