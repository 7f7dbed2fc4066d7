//! An in-memory config repository, for tests and simulations of the core (and of programs that
//! embed it). It models a remote branch and a local view of it that can fall behind, so that
//! stale reads and rejected pushes happen as they do with a real remote.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::names::CommitId;
use crate::path::RepoPath;
use crate::repository::{
    Change, CommitInfo, ConfigRepository, FileChange, PairOutcome, PushOutcome, RepositoryError,
    RepositoryErrorKind, StateVersion,
};

/// The files of one revision.
pub type Tree = BTreeMap<RepoPath, Vec<u8>>;

/// A person's commit that lands on the remote just before the next push cfgupdate attempts.
#[derive(Clone)]
struct Race {
    message: String,
    edit: Arc<dyn Fn(&mut Tree) + Send + Sync>,
}

impl fmt::Debug for Race {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Race")
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
struct Commit {
    parent: Option<CommitId>,
    tree: Tree,
    message: String,
    time: i64,
    author: &'static str,
}

/// The author of the commits people push ([`MemoryRepository::person_pushes`]).
pub const PERSON: &str = "A Person <person@example.com>";
/// The author of the commits cfgupdate pushes.
const CFGUPDATE: &str = "cfgupdate <cfgupdate@example.com>";

/// A branch on a pretend remote, and this process's possibly stale view of it.
#[derive(Debug, Clone)]
pub struct MemoryRepository {
    commits: BTreeMap<CommitId, Commit>,
    remote_tip: CommitId,
    local_tip: Option<CommitId>,
    remote_state: Option<StateVersion>,
    local_state: Option<StateVersion>,
    /// Every state version the remote ever held, by commit.
    state_versions: BTreeMap<CommitId, StateVersion>,
    /// The anchor the core keeps in the cache.
    anchor: RefCell<Option<StateVersion>>,
    fresh: bool,
    next_id: u64,
    /// How many fetches were made.
    pub fetches: usize,
    /// How many pushes were attempted (to the branch and to the state ref), and how many were
    /// rejected.
    pub pushes: usize,
    /// How many of those pushes were to the branch.
    pub branch_pushes: usize,
    /// How many pushes were rejected.
    pub rejections: usize,
    /// When set, every network operation fails as unavailable.
    pub offline: bool,
    /// When set, the remote declines every push to the branch with this message (as a
    /// pre-receive hook or a protected branch would), after counting it in `pushes`.
    pub decline_branch: Option<String>,
    /// When set, the remote declines every push to the state ref with this message.
    pub decline_state: Option<String>,
    /// When set, a push of both refs ([`ConfigRepository::push_with_state`]) is not atomic:
    /// each ref lands when it still is what it was built on, as libgit2 pushes, and
    /// [`ConfigRepository::fast_forward_with_state`] makes two pushes in order. Otherwise
    /// both land or neither does.
    pub non_atomic: bool,
    /// How many of the next pushes are rejected as stale ([`reject_next_pushes`]).
    ///
    /// [`reject_next_pushes`]: MemoryRepository::reject_next_pushes
    reject: usize,
    /// The person's commits waiting for the next push ([`race_next_push`]).
    ///
    /// [`race_next_push`]: MemoryRepository::race_next_push
    races: Vec<Race>,
    /// The commits those people pushed, in order.
    raced: Vec<CommitId>,
    /// The remote's side branches (strict mode's auto branch), by name.
    remote_sides: BTreeMap<String, CommitId>,
    /// The side branches as last fetched (`None`: fetched, and absent).
    local_sides: BTreeMap<String, Option<CommitId>>,
}

impl MemoryRepository {
    /// A remote whose branch has one commit holding `files`; the local view has not fetched.
    pub fn new(files: &[(&str, &str)]) -> Self {
        let mut repo = Self {
            commits: BTreeMap::new(),
            remote_tip: CommitId::parse(&"0".repeat(40)).expect("forty zeros are a commit id"),
            local_tip: None,
            remote_state: None,
            local_state: None,
            state_versions: BTreeMap::new(),
            anchor: RefCell::new(None),
            fresh: false,
            next_id: 1,
            fetches: 0,
            pushes: 0,
            branch_pushes: 0,
            rejections: 0,
            offline: false,
            decline_branch: None,
            decline_state: None,
            non_atomic: false,
            reject: 0,
            races: Vec::new(),
            raced: Vec::new(),
            remote_sides: BTreeMap::new(),
            local_sides: BTreeMap::new(),
        };
        let tree = files
            .iter()
            .map(|(path, text)| {
                (
                    RepoPath::parse(path).expect("test paths are valid"),
                    text.as_bytes().to_vec(),
                )
            })
            .collect();
        let root = repo.add_commit(None, tree, "Initial commit\n".into(), PERSON);
        repo.remote_tip = root;
        repo
    }

    fn add_commit(
        &mut self,
        parent: Option<CommitId>,
        tree: Tree,
        message: String,
        author: &'static str,
    ) -> CommitId {
        let id = CommitId::parse(&format!("{:040x}", self.next_id)).expect("hex of a counter");
        let time = self.next_id as i64;
        self.next_id += 1;
        self.commits.insert(
            id.clone(),
            Commit {
                parent,
                tree,
                message,
                time,
                author,
            },
        );
        id
    }

    /// A person pushes a commit to the remote: `edit` changes the tip's files.
    pub fn person_pushes(&mut self, message: &str, edit: impl FnOnce(&mut Tree)) -> CommitId {
        let mut tree = self.commits[&self.remote_tip].tree.clone();
        edit(&mut tree);
        let parent = self.remote_tip.clone();
        let id = self.add_commit(Some(parent), tree, format!("{message}\n"), PERSON);
        self.remote_tip = id.clone();
        self.fresh = false;
        id
    }

    /// The next `count` pushes (to the branch, to the state ref, or of both at once, each
    /// counting once) are rejected as stale, as if someone had pushed just before each of
    /// them, although nothing changed on the remote: the core fetches and tries again.
    pub fn reject_next_pushes(&mut self, count: usize) {
        self.reject = count;
    }

    /// A person pushes a commit (`edit` changes the then current tip's files) just before the
    /// next push cfgupdate attempts, between its read of the tip and its push, as happens with
    /// a real remote; that push is then rejected as stale. Several calls queue several people,
    /// who all push before that one push. The commits they made are in [`raced`].
    ///
    /// [`raced`]: MemoryRepository::raced
    pub fn race_next_push(
        &mut self,
        message: &str,
        edit: impl Fn(&mut Tree) + Send + Sync + 'static,
    ) {
        self.races.push(Race {
            message: message.to_owned(),
            edit: Arc::new(edit),
        });
    }

    /// Drops the people still waiting for a push ([`race_next_push`]) and returns how many
    /// there were.
    ///
    /// [`race_next_push`]: MemoryRepository::race_next_push
    pub fn cancel_races(&mut self) -> usize {
        std::mem::take(&mut self.races).len()
    }

    /// The commits people pushed through [`race_next_push`], oldest first.
    ///
    /// [`race_next_push`]: MemoryRepository::race_next_push
    pub fn raced(&self) -> &[CommitId] {
        &self.raced
    }

    /// The people waiting for the next push push now.
    fn run_races(&mut self) {
        for race in std::mem::take(&mut self.races) {
            let id = self.person_pushes(&race.message, |tree| (race.edit)(tree));
            self.raced.push(id);
        }
    }

    /// Whether this push is one of those to reject ([`reject_next_pushes`]); it is then
    /// counted as a rejection.
    ///
    /// [`reject_next_pushes`]: MemoryRepository::reject_next_pushes
    fn rejects_this_push(&mut self) -> bool {
        if self.reject == 0 {
            return false;
        }
        self.reject -= 1;
        self.rejections += 1;
        self.fresh = false;
        true
    }

    /// A person force-pushes the branch back (or anywhere) to `to`, a commit the remote has.
    pub fn person_force_pushes(&mut self, to: &CommitId) {
        self.remote_tip = to.clone();
        self.fresh = false;
    }

    /// A person pushes `content` as the state document, one commit on the remote's state
    /// (a plain push: anyone who can push to the repository can do this).
    pub fn person_pushes_state(&mut self, content: &[u8]) -> CommitId {
        let parent = self.remote_state.as_ref().map(|state| state.commit.clone());
        let id = self.add_commit(
            parent.clone(),
            Tree::new(),
            "Edit the state\n".to_owned(),
            PERSON,
        );
        let version = StateVersion {
            commit: id.clone(),
            parent,
            content: content.to_vec(),
        };
        self.state_versions.insert(id.clone(), version.clone());
        self.remote_state = Some(version);
        id
    }

    /// The cache is thrown away and fetched again (a new replica, a CLI run with an empty
    /// cache directory): nothing fetched, no anchor.
    pub fn forget_cache(&mut self) {
        self.local_tip = None;
        self.local_state = None;
        self.fresh = false;
        *self.anchor.borrow_mut() = None;
    }

    /// A person force-pushes the remote's state ref back to `commit`, a state it held before.
    /// Panics when it never held it (a mistake in the test).
    pub fn person_rewinds_state(&mut self, commit: &CommitId) {
        self.remote_state = Some(self.state_versions[commit].clone());
    }

    /// A person deletes the remote's state ref.
    pub fn person_deletes_state(&mut self) {
        self.remote_state = None;
    }

    /// The remote's side branch `branch` (strict mode's auto branch), if it exists.
    pub fn remote_side(&self, branch: &str) -> Option<&CommitId> {
        self.remote_sides.get(branch)
    }

    /// A file at any commit the remote holds, as text.
    pub fn text_at(&self, commit: &CommitId, path: &str) -> Option<String> {
        let path = RepoPath::parse(path).ok()?;
        let bytes = self.commits.get(commit)?.tree.get(&path)?;
        String::from_utf8(bytes.clone()).ok()
    }

    /// The tree `change` makes of `parent`'s.
    fn apply(&self, parent: &CommitId, change: &Change) -> Result<Tree, RepositoryError> {
        let mut tree = self.commit(parent)?.tree.clone();
        for (path, file) in &change.files {
            match file {
                FileChange::Write(bytes) => {
                    tree.insert(path.clone(), bytes.clone());
                }
                FileChange::Delete => {
                    tree.remove(path);
                }
            }
        }
        Ok(tree)
    }

    /// The remote's state document, if any.
    pub fn remote_state(&self) -> Option<&StateVersion> {
        self.remote_state.as_ref()
    }

    /// The first state document of the remote's state ref (the one the others were written
    /// on, one after the other), if any.
    pub fn first_state(&self) -> Option<&StateVersion> {
        let mut version = self.remote_state.as_ref()?;
        while let Some(parent) = &version.parent {
            match self.state_versions.get(parent) {
                Some(older) => version = older,
                None => break,
            }
        }
        Some(version)
    }

    /// The remote branch's tip.
    pub fn remote_tip(&self) -> &CommitId {
        &self.remote_tip
    }

    /// A file on the remote tip, as text.
    pub fn remote_text(&self, path: &str) -> Option<String> {
        let path = RepoPath::parse(path).ok()?;
        let bytes = self.commits[&self.remote_tip].tree.get(&path)?;
        String::from_utf8(bytes.clone()).ok()
    }

    /// The remote branch's commits, newest first.
    pub fn remote_history(&self) -> Vec<(CommitId, String)> {
        let mut out = Vec::new();
        let mut next = Some(self.remote_tip.clone());
        while let Some(id) = next {
            let commit = &self.commits[&id];
            out.push((id, commit.message.clone()));
            next = commit.parent.clone();
        }
        out
    }

    fn commit(&self, id: &CommitId) -> Result<&Commit, RepositoryError> {
        self.commits.get(id).ok_or_else(|| {
            RepositoryError::new(RepositoryErrorKind::NotFound, format!("no commit {id}"))
        })
    }

    fn check_online(&self) -> Result<(), RepositoryError> {
        if self.offline {
            Err(RepositoryError::new(
                RepositoryErrorKind::Unavailable,
                "the remote is offline",
            ))
        } else {
            Ok(())
        }
    }
}

/// The error a remote that says no gives, in the words the git adapter uses.
fn declined(message: &str) -> RepositoryError {
    RepositoryError::new(
        RepositoryErrorKind::Declined,
        format!("the remote refused the push: {message}"),
    )
}

impl ConfigRepository for MemoryRepository {
    fn tip(&self) -> Result<CommitId, RepositoryError> {
        self.local_tip.clone().ok_or_else(|| {
            RepositoryError::new(RepositoryErrorKind::NotFound, "nothing fetched yet")
        })
    }

    fn refresh(&mut self) -> Result<CommitId, RepositoryError> {
        self.check_online()?;
        self.fetches += 1;
        self.local_tip = Some(self.remote_tip.clone());
        self.local_state = self.remote_state.clone();
        self.fresh = true;
        Ok(self.remote_tip.clone())
    }

    fn is_fresh(&self) -> bool {
        self.fresh && self.local_tip.as_ref() == Some(&self.remote_tip)
    }

    fn read_file(
        &self,
        revision: &CommitId,
        path: &RepoPath,
    ) -> Result<Option<Vec<u8>>, RepositoryError> {
        Ok(self.commit(revision)?.tree.get(path).cloned())
    }

    fn list_files(
        &self,
        revision: &CommitId,
        under: &str,
    ) -> Result<Vec<RepoPath>, RepositoryError> {
        let prefix = if under.is_empty() {
            String::new()
        } else {
            format!("{under}/")
        };
        Ok(self
            .commit(revision)?
            .tree
            .keys()
            .filter(|path| path.as_str().starts_with(&prefix))
            .cloned()
            .collect())
    }

    fn is_ancestor(
        &self,
        ancestor: &CommitId,
        descendant: &CommitId,
    ) -> Result<bool, RepositoryError> {
        self.commit(ancestor)?;
        let mut next = Some(descendant.clone());
        while let Some(id) = next {
            if &id == ancestor {
                return Ok(true);
            }
            next = self.commit(&id)?.parent.clone();
        }
        Ok(false)
    }

    fn log(&self, from: &CommitId, limit: usize) -> Result<Vec<CommitInfo>, RepositoryError> {
        let mut out = Vec::new();
        let mut next = Some(from.clone());
        while let Some(id) = next {
            if out.len() >= limit {
                break;
            }
            let commit = self.commit(&id)?;
            out.push(CommitInfo {
                id,
                message: commit.message.clone(),
                parents: commit.parent.iter().cloned().collect(),
                time: commit.time,
                author: commit.author.to_owned(),
            });
            next = commit.parent.clone();
        }
        Ok(out)
    }

    fn commit_and_push(
        &mut self,
        parent: &CommitId,
        change: &Change,
    ) -> Result<PushOutcome, RepositoryError> {
        self.run_races();
        self.check_online()?;
        self.pushes += 1;
        self.branch_pushes += 1;
        let mut tree = self.commit(parent)?.tree.clone();
        for (path, file) in &change.files {
            match file {
                FileChange::Write(bytes) => {
                    tree.insert(path.clone(), bytes.clone());
                }
                FileChange::Delete => {
                    tree.remove(path);
                }
            }
        }
        if tree == self.commit(parent)?.tree {
            return Err(RepositoryError::new(
                RepositoryErrorKind::Failed,
                "refusing to push a commit that changes nothing",
            ));
        }
        if let Some(message) = &self.decline_branch {
            return Err(declined(message));
        }
        if self.rejects_this_push() {
            return Ok(PushOutcome::Rejected);
        }
        if parent != &self.remote_tip {
            self.rejections += 1;
            self.fresh = false;
            return Ok(PushOutcome::Rejected);
        }
        let id = self.add_commit(
            Some(parent.clone()),
            tree,
            change.message.render(),
            CFGUPDATE,
        );
        self.remote_tip = id.clone();
        self.local_tip = Some(id.clone());
        self.fresh = true;
        Ok(PushOutcome::Pushed(id))
    }

    fn state(&self) -> Result<Option<StateVersion>, RepositoryError> {
        Ok(self.local_state.clone())
    }

    fn push_state(
        &mut self,
        parent: Option<&CommitId>,
        content: &[u8],
        message: &str,
    ) -> Result<PushOutcome, RepositoryError> {
        self.run_races();
        self.check_online()?;
        self.pushes += 1;
        if let Some(message) = &self.decline_state {
            return Err(declined(message));
        }
        if self.rejects_this_push() {
            return Ok(PushOutcome::Rejected);
        }
        if parent != self.remote_state.as_ref().map(|state| &state.commit) {
            self.rejections += 1;
            return Ok(PushOutcome::Rejected);
        }
        let id = self.add_commit(parent.cloned(), Tree::new(), message.to_owned(), CFGUPDATE);
        let version = StateVersion {
            commit: id.clone(),
            parent: parent.cloned(),
            content: content.to_vec(),
        };
        self.state_versions.insert(id.clone(), version.clone());
        self.remote_state = Some(version.clone());
        self.local_state = Some(version);
        Ok(PushOutcome::Pushed(id))
    }

    /// One push of both refs: counted once in `pushes` and in `branch_pushes`.
    fn push_with_state(
        &mut self,
        parent: &CommitId,
        change: &Change,
        state_parent: Option<&CommitId>,
        state_content: &[u8],
        state_message: &str,
    ) -> Result<PairOutcome, RepositoryError> {
        self.push_pair(
            parent,
            state_parent,
            state_content,
            state_message,
            |trial| trial.commit_and_push(parent, change),
        )
    }

    /// One atomic push of both refs (the two pushes in order with `non_atomic`, as an
    /// adapter whose remote cannot take an atomic push makes them): counted once in `pushes`
    /// and in `branch_pushes`.
    fn fast_forward_with_state(
        &mut self,
        expected: &CommitId,
        to: &CommitId,
        state_parent: Option<&CommitId>,
        state_content: &[u8],
        state_message: &str,
    ) -> Result<PairOutcome, RepositoryError> {
        if self.non_atomic {
            return crate::repository::state_then_fast_forward(
                self,
                expected,
                to,
                state_parent,
                state_content,
                state_message,
            );
        }
        self.push_pair(
            expected,
            state_parent,
            state_content,
            state_message,
            |trial| trial.fast_forward(expected, to),
        )
    }

    fn state_anchor(&self) -> Result<Option<StateVersion>, RepositoryError> {
        Ok(self.anchor.borrow().clone())
    }

    fn side_tip(&self, branch: &str) -> Result<Option<CommitId>, RepositoryError> {
        Ok(self.local_sides.get(branch).cloned().flatten())
    }

    fn refresh_side(&mut self, branch: &str) -> Result<Option<CommitId>, RepositoryError> {
        self.check_online()?;
        self.fetches += 1;
        let tip = self.remote_sides.get(branch).cloned();
        self.local_sides.insert(branch.to_owned(), tip.clone());
        Ok(tip)
    }

    fn create_commit(
        &mut self,
        parent: &CommitId,
        change: &Change,
    ) -> Result<CommitId, RepositoryError> {
        let tree = self.apply(parent, change)?;
        if tree == self.commit(parent)?.tree {
            return Err(RepositoryError::new(
                RepositoryErrorKind::Failed,
                "refusing to make a commit that changes nothing",
            ));
        }
        Ok(self.add_commit(
            Some(parent.clone()),
            tree,
            change.message.render(),
            CFGUPDATE,
        ))
    }

    fn set_side(
        &mut self,
        branch: &str,
        expected: Option<&CommitId>,
        to: &CommitId,
    ) -> Result<PushOutcome, RepositoryError> {
        self.run_races();
        self.check_online()?;
        self.pushes += 1;
        self.commit(to)?;
        if self.rejects_this_push() {
            return Ok(PushOutcome::Rejected);
        }
        if self.remote_sides.get(branch) != expected {
            self.rejections += 1;
            self.local_sides.remove(branch);
            return Ok(PushOutcome::Rejected);
        }
        self.remote_sides.insert(branch.to_owned(), to.clone());
        self.local_sides.insert(branch.to_owned(), Some(to.clone()));
        Ok(PushOutcome::Pushed(to.clone()))
    }

    fn fast_forward(
        &mut self,
        expected: &CommitId,
        to: &CommitId,
    ) -> Result<PushOutcome, RepositoryError> {
        self.run_races();
        self.check_online()?;
        if !self.is_ancestor(expected, to)? {
            return Err(RepositoryError::new(
                RepositoryErrorKind::Failed,
                format!(
                    "refusing to move the branch to {}: it does not descend from {}",
                    to.short(),
                    expected.short()
                ),
            ));
        }
        self.pushes += 1;
        self.branch_pushes += 1;
        if let Some(message) = &self.decline_branch {
            return Err(declined(message));
        }
        if self.rejects_this_push() {
            return Ok(PushOutcome::Rejected);
        }
        if expected != &self.remote_tip {
            self.rejections += 1;
            self.fresh = false;
            return Ok(PushOutcome::Rejected);
        }
        self.remote_tip = to.clone();
        self.local_tip = Some(to.clone());
        self.fresh = true;
        Ok(PushOutcome::Pushed(to.clone()))
    }

    fn set_state_anchor(&self, commit: &CommitId) -> Result<(), RepositoryError> {
        let version = self.state_versions.get(commit).cloned().ok_or_else(|| {
            RepositoryError::new(
                RepositoryErrorKind::NotFound,
                format!("no state commit {commit}"),
            )
        })?;
        *self.anchor.borrow_mut() = Some(version);
        Ok(())
    }
}

impl MemoryRepository {
    /// A state push and a branch push (`branch`, run on a copy, built on `parent`) as one:
    /// both land or neither, unless `non_atomic` (then each as it went).
    fn push_pair(
        &mut self,
        parent: &CommitId,
        state_parent: Option<&CommitId>,
        state_content: &[u8],
        state_message: &str,
        branch: impl FnOnce(&mut MemoryRepository) -> Result<PushOutcome, RepositoryError>,
    ) -> Result<PairOutcome, RepositoryError> {
        self.run_races();
        self.check_online()?;
        let (pushes, branch_pushes, rejections) =
            (self.pushes + 1, self.branch_pushes + 1, self.rejections);
        self.pushes = pushes;
        self.branch_pushes = branch_pushes;
        if self.rejects_this_push() {
            return Ok(PairOutcome::Rejected);
        }
        let mut trial = self.clone();
        // The pair is one push: the trial's two pushes do not count against the hooks.
        trial.reject = 0;
        let state = trial.push_state(state_parent, state_content, state_message)?;
        let branch = branch(&mut trial)?;
        let outcome = match (state, branch) {
            (PushOutcome::Pushed(state), PushOutcome::Pushed(commit)) => {
                PairOutcome::Pushed { commit, state }
            }
            (PushOutcome::Pushed(state), PushOutcome::Rejected) if self.non_atomic => {
                PairOutcome::StateOnly(state)
            }
            (PushOutcome::Rejected, PushOutcome::Pushed(commit)) if self.non_atomic => {
                PairOutcome::BranchOnly(commit)
            }
            _ => PairOutcome::Rejected,
        };
        if outcome == PairOutcome::Rejected {
            self.rejections = rejections + 1;
            if parent != &self.remote_tip {
                self.fresh = false;
            }
        } else {
            let reject = self.reject;
            *self = trial;
            self.reject = reject;
            self.pushes = pushes;
            self.branch_pushes = branch_pushes;
            self.rejections =
                rejections + usize::from(!matches!(outcome, PairOutcome::Pushed { .. }));
        }
        Ok(outcome)
    }
}
