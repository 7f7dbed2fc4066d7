//! [`GitRepository`]: the core's [`ConfigRepository`] on a git remote, through a local bare
//! cache.

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::path::Path;
use std::sync::Once;

use cfgupdate_core::{
    Change, CommitInfo, ConfigRepository, FileChange, PairOutcome, PushOutcome, RepositoryError,
    RepositoryErrorKind, StateVersion,
};
use cfgupdate_core::{CommitId, RepoPath};
use git2::build::TreeUpdateBuilder;
use git2::{Commit, ErrorCode, FileMode, ObjectType, Oid, Repository, Signature, Tree};

use crate::cache::{self, CacheLocation, WriteLock};
use crate::errors::Describe;
use crate::options::{Branch, GitOptions};
use crate::remote::{self, Expect, Fetched, Pushed};
use crate::url::{RemoteUrl, Transport};

use RepositoryErrorKind::{Declined, Failed, NotFound, Unavailable};

mod outline;
mod side;
mod state;

/// How long connecting to a remote may take before it counts as unavailable. libgit2 would
/// otherwise wait as long as the operating system does (minutes, for a host that drops
/// packets).
const CONNECT_TIMEOUT_MS: i32 = 10_000;

/// How long the remote may stay silent in the middle of a fetch or push. libgit2 1.9 needs
/// this whenever the connect timeout is set: that leaves the socket non-blocking, and
/// without an I/O timeout a read that would block fails at once ("error receiving data from
/// socket: Resource temporarily unavailable").
const IO_TIMEOUT_MS: i32 = 120_000;

/// How many fetches and pushes pass between two looks at the cache's loose objects and packs
/// (a look lists the object directories; the packing itself waits for 1,024 loose objects,
/// see [`cache::maintain`]).
const MAINTAIN_EVERY: u32 = 32;
/// The largest tree libgit2 keeps in a repository's object cache once read (its default is
/// 4 KiB). A directory of a few hundred files is a tree over 4 KiB: without this, every file
/// read below such a directory (`generated/`, `envs/`) inflated, resolved and hashed it again:
/// 80% of a publish at 400 targets (issue 12). A push reads the directories beside the ones
/// it changes too (libgit2 looks up each entry of a new tree; see `repository/outline.rs`).
/// Objects read from the cache were verified when they were read from the object store.
const TREE_CACHE_LIMIT: usize = 4 << 20;

/// One branch of one remote, read from a bare cache under the cache directory and written by
/// pushing single commits without force, each a compare-and-swap on the commit it was built on.
///
/// Reads never touch the network: they see what [`ConfigRepository::refresh`] last fetched
/// (or what this process last pushed). Writers, in this process or another, take the cache's
/// exclusive file lock, so processes can share one cache directory. A state push goes from a
/// throwaway repository beside the cache (`<cache>.git.state-push`, made and removed under
/// that lock) holding only the state's own objects, so that it does not walk the branch. A
/// branch commit and a state commit pushed together
/// ([`ConfigRepository::push_with_state`]) go from the cache in one push of two refspecs over
/// one connection; libgit2 cannot ask for an atomic push, so the outcome says which landed.
///
/// A push reads, of the commit it builds on, only the directories on the way to the files it
/// changes: it hides from libgit2's pack builder an outline of that commit, held for the
/// length of the push in an in-memory object backend that this handle adds to the cache's
/// object database (read by libgit2, never written to by it), instead of the advertised refs,
/// whose whole trees libgit2 would read (see `repository/outline.rs`). The pack sent is the
/// same, every object read is still hash-verified, and nothing process-wide is involved.
///
/// [`ConfigRepository::is_fresh`] turns true with a fetch or a push that landed, and false
/// again when a push to the branch is rejected or fails midway (the remote may or may not
/// have taken it). It is about the branch: a state push leaves it as it is.
///
/// # Process-wide settings
///
/// libgit2 keeps some settings for the whole process, and [`GitRepository::open`] sets three of
/// them, once, the first time it is called:
///
/// - **a connect timeout of 10 s and an I/O timeout of 120 s**
///   (`git2::opts::set_server_connect_timeout_in_milliseconds` and
///   `set_server_timeout_in_milliseconds`). They apply to every connection libgit2 opens in
///   the process afterwards, the host program's own fetches and pushes included (libgit2 1.9
///   needs both set, or neither: a connect timeout alone makes every transfer fail at once);
/// - **trees of up to 4 MiB kept in each repository's object cache** once read
///   (`git2::opts::set_cache_object_limit` for trees; libgit2's default is 4 KiB). Every file
///   read walks the trees above it, and a push looks up the entries of each tree it writes;
///   with directories of a few hundred files, most of a publish to many targets was reading
///   the same big trees again. The cache's total size stays libgit2's (256 MiB by default, across
///   the process): the host's own repositories may keep more trees in memory, nothing else.
///
/// A host that needs other values sets them after the first `open`. Nothing else is changed
/// for the process: object hashes are still verified on every read from an object store (a
/// corrupt object in the cache or in what a remote sends is an error, never used; what the
/// object cache holds was verified when it was read), and no other option is touched.
pub struct GitRepository {
    repo: Repository,
    options: GitOptions,
    branch_origin: crate::head::BranchOrigin,
    location: CacheLocation,
    fresh: bool,
    rebuilt: Option<String>,
    last_rejection: Option<String>,
    /// Whether the remote refused an atomic push (a local path, or a server that does not
    /// offer it): strict mode's fast-forward then goes as two pushes, without asking again.
    atomic_refused: bool,
    /// Fetches and pushes since the open: every [`MAINTAIN_EVERY`]th looks after the cache.
    writes: u32,
    /// The in-memory backend of `repo`'s object database holding a push's outline (see
    /// `repository/outline.rs`), attached at the first push; dropped whenever `repo` is
    /// replaced (see [`GitRepository::replace_repo`]).
    scratch: Option<outline::Scratch>,
    /// The commit read from last, and its root tree: a render reads thousands of files at one
    /// revision, and a commit whose message lists a thousand regenerated targets is over
    /// libgit2's 4 KiB cache limit for commits, so each file read inflated and hashed it again
    /// (a cost that grew with the targets for every file read: quadratic in all).
    last_root: Cell<Option<(Oid, Oid)>>,
}

impl GitRepository {
    /// Opens the cache of `options.remote`, creating it when missing and rebuilding it when a
    /// crash left it broken. Needs no network: a new or rebuilt cache is empty until the
    /// first [`ConfigRepository::refresh`].
    ///
    /// The first call also sets libgit2's process-wide timeouts (10 s to connect, 120 s of
    /// silence in the middle of a transfer) and lets each repository's object cache keep trees
    /// of up to 4 MiB (see [the type's documentation](GitRepository)). A
    /// CA file in the credentials ([`crate::Credentials::with_ca_file`]) is process-wide too:
    /// from the first connection on, its CAs are trusted for every `https://` remote of the
    /// process.
    ///
    /// With [`GitOptions::with_remote_head_branch`], it asks the remote which branch its
    /// `HEAD` names (one connection reading the ref advertisement, so it needs the network
    /// then), and refuses a name that is not a valid branch. A remote that cannot be reached
    /// then is asked again at each [`ConfigRepository::refresh`] until it answers
    /// ([`crate::BranchOrigin::Pending`] until then).
    pub fn open(mut options: GitOptions) -> Result<Self, RepositoryError> {
        static TIMEOUTS: Once = Once::new();
        TIMEOUTS.call_once(|| {
            // SAFETY: libgit2 reads these options only when it opens a connection; setting
            // them once, before any connection of ours, races with nothing. Should setting
            // one fail, libgit2 keeps its defaults (wait as long as the system does), which
            // is slower to fail but still correct.
            unsafe {
                if git2::opts::set_server_timeout_in_milliseconds(IO_TIMEOUT_MS).is_ok() {
                    let _ =
                        git2::opts::set_server_connect_timeout_in_milliseconds(CONNECT_TIMEOUT_MS);
                }
            }
            // SAFETY: as above, once, before any repository of ours reads an object; libgit2
            // reads the limit only when it stores an object in a repository's cache. Should it
            // fail, trees over 4 KiB are read from the pack again on every push: slower, still
            // correct.
            unsafe {
                let _ = git2::opts::set_cache_object_limit(ObjectType::Tree, TREE_CACHE_LIMIT);
            }
        });
        let location = CacheLocation::new(&options.cache_dir, &options.remote);
        let describe = Describe {
            url: &options.remote,
            credentials: &options.credentials,
        };
        let guard = lock(&location, describe)?;
        let (repo, rebuilt) = location.open_or_rebuild(guard.was_dirty).map_err(|error| {
            describe.error(
                Failed,
                &format!("the cache of {} is unusable: {error}", options.remote),
            )
        })?;
        // A process that publishes once and ends never reaches a periodic check: look now.
        let repo = match cache::maintain(&location.git_dir) {
            Ok(cache::Maintained::Nothing) | Err(_) => repo,
            Ok(_) => Repository::open_bare(&location.git_dir).unwrap_or(repo),
        };
        drop(guard);
        let branch_origin = match crate::head::resolve(&repo, &mut options) {
            Ok(origin) => origin,
            // Unreachable now: asked again at the next refresh, so a service still starts
            // (and says why it is not ready).
            Err(error) if error.kind == Unavailable => crate::head::BranchOrigin::Pending,
            Err(error) => return Err(error),
        };
        Ok(Self {
            repo,
            options,
            branch_origin,
            location,
            fresh: false,
            rebuilt,
            last_rejection: None,
            atomic_refused: false,
            writes: 0,
            scratch: None,
            last_root: Cell::new(None),
        })
    }

    /// When opening or refreshing found the cache broken and rebuilt it: what was wrong.
    pub fn rebuilt_cache(&self) -> Option<&str> {
        self.rebuilt.as_deref()
    }

    /// Why the last push (to the branch or to the state ref) was rejected, as the remote or
    /// libgit2 put it (such as `pre-receive hook declined`), until the next push.
    pub fn last_rejection(&self) -> Option<&str> {
        self.last_rejection.as_deref()
    }

    /// The bare repository that caches the remote.
    pub fn cache_path(&self) -> &Path {
        &self.location.git_dir
    }

    /// The file beside the cache whose exclusive lock every writer holds while it fetches,
    /// pushes or repairs.
    pub fn lock_file(&self) -> &Path {
        &self.location.lock_file
    }

    /// The remote.
    pub fn remote(&self) -> &RemoteUrl {
        &self.options.remote
    }

    /// The branch.
    pub fn branch(&self) -> &Branch {
        &self.options.branch
    }

    /// Packs the cache's loose objects, or rewrites its packs as one, when there are too
    /// many (see [`cache::maintain`]); call it holding the lock. Then opens the repository
    /// afresh, which also lets go of libgit2's object cache and of the packs removed. Best
    /// effort: a maintenance that fails has replaced nothing, and the next one tries again.
    /// Counts a fetch or a push about to be made, and every [`MAINTAIN_EVERY`]th time looks
    /// after the cache. Call it holding the lock.
    fn now_and_then_maintain(&mut self) {
        self.writes = self.writes.wrapping_add(1);
        if self.writes.is_multiple_of(MAINTAIN_EVERY) {
            self.maintain();
        }
    }

    fn maintain(&mut self) {
        match cache::maintain(&self.location.git_dir) {
            Ok(cache::Maintained::Nothing) | Err(_) => {}
            Ok(_) => {
                if let Ok(repo) = Repository::open_bare(&self.location.git_dir) {
                    self.replace_repo(repo);
                }
            }
        }
    }

    /// Works on `repo` from now on. The scratch backend belonged to the old one's object
    /// database, which goes with it.
    fn replace_repo(&mut self, repo: Repository) {
        self.scratch = None;
        self.last_root.set(None);
        self.repo = repo;
    }

    /// Where [`GitRepository::branch`] came from: given, or what the remote's `HEAD` named
    /// when the repository was opened.
    pub fn branch_origin(&self) -> crate::head::BranchOrigin {
        self.branch_origin
    }

    /// Nothing is pushed while the branch is [`crate::BranchOrigin::Pending`]: the cache may
    /// still hold the fallback branch of an earlier run, which is not the remote's HEAD.
    fn branch_known(&self) -> Result<(), RepositoryError> {
        if self.branch_origin != crate::head::BranchOrigin::Pending {
            return Ok(());
        }
        Err(self.describe().error(
            Unavailable,
            &format!(
                "which branch of {} to push to is not known yet: its HEAD could not be asked (refresh first, or pass --branch NAME)",
                self.options.remote
            ),
        ))
    }

    fn describe(&self) -> Describe<'_> {
        Describe {
            url: &self.options.remote,
            credentials: &self.options.credentials,
        }
    }

    /// The commit `revision` names, which must be in the cache.
    fn commit(&self, revision: &CommitId) -> Result<Commit<'_>, RepositoryError> {
        let id = Oid::from_str(revision.as_str()).map_err(|error| {
            self.describe().local(
                &format!(
                    "`{revision}` is not a commit id for {}",
                    self.options.remote
                ),
                &error,
            )
        })?;
        self.repo.find_commit(id).map_err(|error| {
            let kind = match error.code() {
                ErrorCode::NotFound => NotFound,
                _ => Failed,
            };
            self.describe().error(
                kind,
                &format!(
                    "revision {} is not a commit in the cache of {} (refresh, or check the revision): {}",
                    revision.short(),
                    self.options.remote,
                    error.message().trim_end_matches('.')
                ),
            )
        })
    }

    /// The root tree of `revision`, the commit looked up only when it is not the one read
    /// from last.
    fn root_tree(&self, revision: &CommitId) -> Result<Tree<'_>, RepositoryError> {
        if let (Some((commit, tree)), Ok(asked)) =
            (self.last_root.get(), Oid::from_str(revision.as_str()))
            && commit == asked
            && let Ok(tree) = self.repo.find_tree(tree)
        {
            return Ok(tree);
        }
        let commit = self.commit(revision)?;
        let tree = self.tree(&commit)?;
        self.last_root.set(Some((commit.id(), tree.id())));
        Ok(tree)
    }

    fn tree<'r>(&'r self, commit: &Commit<'r>) -> Result<Tree<'r>, RepositoryError> {
        commit.tree().map_err(|error| {
            self.describe().local(
                &format!(
                    "the tree of commit {} in the cache of {} cannot be read",
                    commit.id(),
                    self.options.remote
                ),
                &error,
            )
        })
    }

    /// Fetches, and when the fetch failed and the cache turns out broken, rebuilds the cache
    /// and fetches once more. Every failure is checked, not only local ones: libgit2 reports
    /// some local file errors in the same class as a refused connection.
    fn fetch_repairing(&mut self) -> Result<Fetched, RepositoryError> {
        let doing = format!(
            "cannot fetch branch `{}` and its state from {}",
            self.options.branch, self.options.remote
        );
        let error = match self.fetch() {
            Ok(fetched) => return Ok(fetched),
            Err(error) => self.describe().remote(&doing, &error),
        };
        // A failed fetch is rare and the cache may be why: look at all of it.
        let Err(reason) = cache::diagnose(&self.location.git_dir, cache::Depth::Thorough) else {
            return Err(error);
        };
        let rebuilt = self.location.rebuild().map_err(|rebuild| {
            self.describe().error(
                Failed,
                &format!(
                    "the cache of {} is unusable: {rebuild}",
                    self.options.remote
                ),
            )
        })?;
        self.replace_repo(rebuilt);
        self.rebuilt = Some(reason);
        // A rebuilt cache holds only what the next fetch brings: nothing read before counts.
        self.last_root.set(None);
        self.fetch()
            .map_err(|error| self.describe().remote(&doing, &error))
    }

    fn fetch(&self) -> Result<Fetched, git2::Error> {
        // libgit2 calls a path that does not exist an "unsupported URL protocol".
        if self.options.remote.transport() == Transport::Local {
            let path = self.options.remote.redacted().trim_start_matches("file://");
            if std::fs::symlink_metadata(path).is_err() {
                return Err(git2::Error::new(
                    git2::ErrorCode::NotFound,
                    git2::ErrorClass::Net,
                    format!("there is no repository at {path} (no such file or directory)"),
                ));
            }
        }
        remote::fetch(
            &self.repo,
            &self.options.remote,
            &self.options.credentials,
            &self.options.branch,
        )
    }

    /// The tree of `parent` with `change` applied, built in the object store alone.
    ///
    /// The deletions are applied first, in a tree of their own, and the writes on top of it:
    /// libgit2 applies one batch in path order and refuses a write through or over an entry
    /// of another kind ("D/F conflict"), even one the same change deletes, so a change that
    /// replaces a file by a directory (or a directory by a file) and deletes the old entries
    /// could never be built.
    fn build_tree(&self, parent: &Tree<'_>, change: &Change) -> Result<Oid, git2::Error> {
        let mut removals = TreeUpdateBuilder::new();
        let mut removed = false;
        let mut writes = TreeUpdateBuilder::new();
        for (path, file) in &change.files {
            let existing = parent.get_path(Path::new(path.as_str())).ok();
            match file {
                FileChange::Write(content) => {
                    let blob = self.repo.blob(content)?;
                    let mode = match existing.map(|entry| entry.filemode()) {
                        Some(mode) if mode == i32::from(FileMode::BlobExecutable) => {
                            FileMode::BlobExecutable
                        }
                        _ => FileMode::Blob,
                    };
                    writes.upsert(path.as_str(), blob, mode);
                }
                // Removing what is not there is no change, and libgit2 would refuse it.
                FileChange::Delete if existing.is_some() => {
                    removals.remove(path.as_str());
                    removed = true;
                }
                FileChange::Delete => {}
            }
        }
        if !removed {
            return writes.create_updated(&self.repo, parent);
        }
        let without = removals.create_updated(&self.repo, parent)?;
        let without = self.repo.find_tree(without)?;
        writes.create_updated(&self.repo, &without)
    }

    /// Who cfgupdate's commits are by, dated now.
    fn signature(&self) -> Result<Signature<'static>, git2::Error> {
        Signature::now(self.options.author.name(), self.options.author.email())
    }

    fn commit_id(&self, id: Oid) -> Result<CommitId, RepositoryError> {
        CommitId::parse(&id.to_string())
            .map_err(|error| self.describe().error(Failed, &error.to_string()))
    }
}

impl GitRepository {
    /// The object id of a commit id.
    fn oid(&self, commit: &CommitId) -> Result<Oid, RepositoryError> {
        Oid::from_str(commit.as_str()).map_err(|error| {
            self.describe()
                .local(&format!("cannot read the commit id {commit}"), &error)
        })
    }

    /// Builds the commit of `change` on `parent` in the cache and points the outgoing ref at
    /// it. The caller holds the cache's lock.
    fn build_commit(&self, parent: &CommitId, change: &Change) -> Result<Oid, RepositoryError> {
        let branch = &self.options.branch;
        let target = format!("branch `{branch}` of {}", self.options.remote);
        self.build_commit_at(
            parent,
            change,
            &target,
            &remote::outgoing_ref(branch),
            "cfgupdate: outgoing",
        )
    }

    /// Builds the commit of `change` on `parent` in the cache (never an empty one) and points
    /// `reference` at it, so it stays reachable; `target` names what it is for in errors
    /// ("branch `main` of URL"). The caller holds the cache's lock.
    pub(super) fn build_commit_at(
        &self,
        parent: &CommitId,
        change: &Change,
        target: &str,
        reference: &str,
        log: &str,
    ) -> Result<Oid, RepositoryError> {
        let parent_commit = self.commit(parent)?;
        let parent_tree = self.tree(&parent_commit)?;
        let building = |error: git2::Error| {
            self.describe().local(
                &format!("cannot build the commit on {} for {target}", parent.short()),
                &error,
            )
        };
        let tree_id = self.build_tree(&parent_tree, change).map_err(building)?;
        if tree_id == parent_tree.id() {
            return Err(self.describe().error(
                Failed,
                &format!(
                    "the change for {target} leaves {} as it is, and an empty commit is never made",
                    parent.short()
                ),
            ));
        }
        let tree = self.repo.find_tree(tree_id).map_err(building)?;
        let signature = self.signature().map_err(building)?;
        let id = self
            .repo
            .commit(
                None,
                &signature,
                &signature,
                &change.message.render(),
                &tree,
                &[&parent_commit],
            )
            .map_err(building)?;
        self.repo
            .reference(reference, id, true, log)
            .map_err(building)?;
        drop(tree);
        drop(parent_tree);
        drop(parent_commit);
        Ok(id)
    }

    /// Writes the outline of `parent` for a push of `change` on it into the scratch backend
    /// (attached now if it is not yet), and returns the outline commit; see
    /// `repository/outline.rs`. Reads the parent's directories on the changed paths, hash
    /// verified like every read. The caller holds the cache's lock and clears the outline
    /// after the push ([`GitRepository::clear_outline`]).
    fn write_outline(
        &mut self,
        parent: &CommitId,
        change: &Change,
    ) -> Result<Oid, RepositoryError> {
        let failed = |this: &Self, error: git2::Error| {
            this.describe().local(
                &format!(
                    "cannot outline {} for the push to branch `{}` of {}",
                    parent.short(),
                    this.options.branch,
                    this.options.remote
                ),
                &error,
            )
        };
        if self.scratch.is_none() {
            let scratch =
                outline::Scratch::attach(&self.repo).map_err(|error| failed(self, error))?;
            self.scratch = Some(scratch);
        }
        let parent_commit = self.commit(parent)?;
        let parent_tree = self.tree(&parent_commit)?;
        let written = outline::kept_entries(&self.repo, &parent_tree, change).and_then(|kept| {
            match &self.scratch {
                Some(scratch) => outline::write(scratch, &parent_commit, &kept),
                None => Err(git2::Error::from_str("no scratch backend")),
            }
        });
        written.map_err(|error| {
            self.clear_outline();
            failed(self, error)
        })
    }

    /// Forgets the outline of the last push.
    fn clear_outline(&self) {
        if let Some(scratch) = &self.scratch {
            scratch.clear();
        }
    }

    /// What a push of the branch commit `id` and the state commit `state_id` together came to
    /// (`pushed` reports on the branch, then on the state); each ref's tracking ref follows
    /// what became of it before any error is returned (a transport failure: whether the remote
    /// took either ref is unknown).
    fn pair_pushed(
        &mut self,
        id: Oid,
        state_id: Oid,
        pushed: Result<Vec<Pushed>, git2::Error>,
    ) -> Result<PairOutcome, RepositoryError> {
        let (branch_pushed, state_pushed) = match pushed {
            Ok(mut pushed) if pushed.len() == 2 => {
                let state = pushed.pop().map(Ok);
                let branch = pushed.pop().map(Ok);
                (branch, state)
            }
            Ok(_) => (None, None),
            Err(error) => (Some(Err(error)), None),
        };
        let Some(branch_pushed) = branch_pushed else {
            return Err(self.describe().error(
                Failed,
                &format!(
                    "the push to branch `{}` of {} reported on neither ref",
                    self.options.branch, self.options.remote
                ),
            ));
        };
        let state = state_pushed.map(|state_pushed| self.state_pushed(state_id, state_pushed));
        let branch = self.branch_pushed(id, branch_pushed)?;
        let state = state.transpose()?;
        Ok(match (state, branch) {
            (Some(PushOutcome::Pushed(state)), PushOutcome::Pushed(commit)) => {
                PairOutcome::Pushed { commit, state }
            }
            (Some(PushOutcome::Pushed(state)), PushOutcome::Rejected) => {
                PairOutcome::StateOnly(state)
            }
            // Never from a push the remote applied atomically; said as it is.
            (_, PushOutcome::Pushed(commit)) => PairOutcome::BranchOnly(commit),
            (_, PushOutcome::Rejected) => PairOutcome::Rejected,
        })
    }

    /// What a push of the commit `id` to the branch came to; the tracking ref and freshness
    /// follow it.
    fn branch_pushed(
        &mut self,
        id: Oid,
        pushed: Result<Pushed, git2::Error>,
    ) -> Result<PushOutcome, RepositoryError> {
        let branch = &self.options.branch;
        let url = &self.options.remote;
        match pushed {
            Ok(Pushed::Accepted) => {
                // The remote's branch is our commit now: no fetch needed to know it. Should
                // the local update fail, the next read must not trust the cache.
                let tracked = self.repo.reference(
                    &remote::tracking_ref(branch),
                    id,
                    true,
                    "cfgupdate: pushed",
                );
                self.fresh = tracked.is_ok();
                Ok(PushOutcome::Pushed(self.commit_id(id)?))
            }
            Ok(Pushed::Moved(reason)) => {
                self.fresh = false;
                self.last_rejection = Some(self.describe().redact(&reason));
                Ok(PushOutcome::Rejected)
            }
            Ok(Pushed::Missing) => {
                self.fresh = false;
                Err(self.describe().error(
                    Unavailable,
                    &format!(
                        "branch `{branch}` no longer exists on {url}: nothing was pushed, and cfgupdate never creates a branch (restore it, or choose another with --branch)"
                    ),
                ))
            }
            Ok(Pushed::Declined(reason)) => {
                self.last_rejection = Some(self.describe().redact(&reason));
                Err(declined(
                    self.describe(),
                    &reason,
                    &format!("refs/heads/{branch}"),
                ))
            }
            Err(error) => {
                // Whether the remote took the commit before the failure is unknown.
                self.fresh = false;
                Err(self.describe().remote(
                    &format!("cannot push {} to branch `{branch}` of {url}", id),
                    &error,
                ))
            }
        }
    }
}

/// The error for a push the remote declined with `reason` (its own words, already escaped
/// and bounded), naming the ref: the sentence docs/http.md#status-codes fixes, then where.
fn declined(describe: Describe<'_>, reason: &str, destination: &str) -> RepositoryError {
    describe.error(
        Declined,
        &format!(
            "the remote refused the push: {reason} (pushing to `{destination}` of {})",
            describe.url
        ),
    )
}

fn lock(location: &CacheLocation, describe: Describe<'_>) -> Result<WriteLock, RepositoryError> {
    location.lock().map_err(|error| {
        describe.io(
            &format!(
                "cannot lock the cache {} of {}",
                location.lock_file.display(),
                describe.url
            ),
            &error,
        )
    })
}

impl ConfigRepository for GitRepository {
    fn tip(&self) -> Result<CommitId, RepositoryError> {
        let name = remote::tracking_ref(&self.options.branch);
        match self.repo.find_reference(&name) {
            Ok(reference) => match reference.target() {
                Some(id) => self.commit_id(id),
                None => Err(self.describe().error(
                    Failed,
                    &format!(
                        "the ref `{name}` in the cache of {} is symbolic",
                        self.options.remote
                    ),
                )),
            },
            Err(error) if error.code() == ErrorCode::NotFound => Err(self.describe().error(
                NotFound,
                &format!(
                    "the cache of {} holds no branch `{}` yet; refresh first",
                    self.options.remote, self.options.branch
                ),
            )),
            Err(error) => Err(self.describe().local(
                &format!(
                    "cannot read the ref `{name}` in the cache of {}",
                    self.options.remote
                ),
                &error,
            )),
        }
    }

    fn refresh(&mut self) -> Result<CommitId, RepositoryError> {
        if self.branch_origin == crate::head::BranchOrigin::Pending {
            self.branch_origin = crate::head::resolve(&self.repo, &mut self.options)?;
        }
        let _lock = lock(&self.location, self.describe())?;
        let Fetched { tip, state: _ } = self.fetch_repairing()?;
        self.now_and_then_maintain();
        match tip {
            Some(id) => {
                self.fresh = true;
                self.commit_id(id)
            }
            None => {
                self.fresh = false;
                Err(self.describe().error(
                    NotFound,
                    &format!(
                        "the remote {} has no branch `{}`",
                        self.options.remote, self.options.branch
                    ),
                ))
            }
        }
    }

    fn is_fresh(&self) -> bool {
        self.fresh
    }

    fn read_file(
        &self,
        revision: &CommitId,
        path: &RepoPath,
    ) -> Result<Option<Vec<u8>>, RepositoryError> {
        let tree = self.root_tree(revision)?;
        let entry = match tree.get_path(Path::new(path.as_str())) {
            Ok(entry) => entry,
            Err(error) if error.code() == ErrorCode::NotFound => return Ok(None),
            Err(error) => {
                return Err(self.describe().local(
                    &format!(
                        "cannot look up `{path}` at {} in the cache of {}",
                        revision.short(),
                        self.options.remote
                    ),
                    &error,
                ));
            }
        };
        if entry.kind() != Some(ObjectType::Blob) {
            return Ok(None);
        }
        let blob = self.repo.find_blob(entry.id()).map_err(|error| {
            // libgit2 checks every object's hash as it reads it: a corrupt object is an
            // error, never other content.
            let what = match error.code() {
                ErrorCode::HashsumMismatch => "is corrupt (its object does not hash to its name)",
                ErrorCode::NotFound => {
                    "is missing although its tree names it (the remote sent an incomplete or corrupt pack, or the cache lost it)"
                }
                _ => "cannot be read",
            };
            self.describe().error(
                Failed,
                &format!(
                    "the content of `{path}` at {} in the cache of {} {what}: {}",
                    revision.short(),
                    self.options.remote,
                    error.message().trim_end_matches('.')
                ),
            )
        })?;
        Ok(Some(blob.content().to_vec()))
    }

    /// Regular and executable files only: symbolic links and submodules are not config
    /// files. A name that is not a valid [`RepoPath`] (a backslash in it, say) is left out,
    /// since no caller could ask for it.
    fn list_files(
        &self,
        revision: &CommitId,
        under: &str,
    ) -> Result<Vec<RepoPath>, RepositoryError> {
        let root = self.root_tree(revision)?;
        let under = under.trim_start_matches("./").trim_matches('/');
        let start = if under.is_empty() || under == "." {
            root
        } else {
            match root.get_path(Path::new(under)) {
                Ok(entry) if entry.kind() == Some(ObjectType::Tree) => {
                    self.repo.find_tree(entry.id()).map_err(|error| {
                        self.describe().local(
                            &format!(
                                "cannot read `{under}` at {} in the cache of {}",
                                revision.short(),
                                self.options.remote
                            ),
                            &error,
                        )
                    })?
                }
                Ok(_) => return Ok(Vec::new()),
                Err(error) if error.code() == ErrorCode::NotFound => return Ok(Vec::new()),
                Err(error) => {
                    return Err(self.describe().local(
                        &format!(
                            "cannot look up `{under}` at {} in the cache of {}",
                            revision.short(),
                            self.options.remote
                        ),
                        &error,
                    ));
                }
            }
        };
        let mut files = Vec::new();
        let mut pending = vec![(under.to_owned(), start)];
        while let Some((prefix, tree)) = pending.pop() {
            for entry in tree.iter() {
                let Ok(name) = entry.name() else { continue };
                let path = if prefix.is_empty() {
                    name.to_owned()
                } else {
                    format!("{prefix}/{name}")
                };
                let mode = entry.filemode();
                if entry.kind() == Some(ObjectType::Tree) {
                    let subtree = self.repo.find_tree(entry.id()).map_err(|error| {
                        self.describe().local(
                            &format!(
                                "cannot read `{path}` at {} in the cache of {}",
                                revision.short(),
                                self.options.remote
                            ),
                            &error,
                        )
                    })?;
                    pending.push((path, subtree));
                } else if (mode == i32::from(FileMode::Blob)
                    || mode == i32::from(FileMode::BlobExecutable))
                    && let Ok(path) = RepoPath::parse(&path)
                {
                    files.push(path);
                }
            }
        }
        files.sort();
        Ok(files)
    }

    fn is_ancestor(
        &self,
        ancestor: &CommitId,
        descendant: &CommitId,
    ) -> Result<bool, RepositoryError> {
        let older = self.commit(ancestor)?.id();
        let newer = self.commit(descendant)?.id();
        if older == newer {
            return Ok(true);
        }
        self.repo
            .graph_descendant_of(newer, older)
            .map_err(|error| {
                self.describe().local(
                    &format!(
                        "cannot tell whether {} is an ancestor of {} in the cache of {}",
                        ancestor.short(),
                        descendant.short(),
                        self.options.remote
                    ),
                    &error,
                )
            })
    }

    fn log(&self, from: &CommitId, limit: usize) -> Result<Vec<CommitInfo>, RepositoryError> {
        let start = self.commit(from)?.id();
        let failed = |error: git2::Error| {
            self.describe().local(
                &format!(
                    "cannot walk the history from {} in the cache of {}",
                    from.short(),
                    self.options.remote
                ),
                &error,
            )
        };
        // Our own walk rather than libgit2's revwalk: with any sorting, libgit2 first walks
        // the whole history (`limit_list`, and `TOPOLOGICAL` on top): a third of every
        // publish on the benchmark's 20,000 commits, for a log of 200. This one reads only the
        // commits it returns and their parents: newest committer date first among the
        // commits whose child was already listed, ties in the order they were reached (git
        // log's default order). A linear history, which is all cfgupdate writes, comes out
        // exactly parent after child.
        let mut commits = Vec::new();
        let mut frontier = BinaryHeap::new();
        let mut reached = HashSet::from([start]);
        let first = self.repo.find_commit(start).map_err(failed)?;
        frontier.push((first.time().seconds(), Reverse(0_usize), start));
        let mut order = 1;
        while commits.len() < limit {
            let Some((_, _, id)) = frontier.pop() else {
                break;
            };
            let commit = self.repo.find_commit(id).map_err(failed)?;
            commits.push(CommitInfo {
                id: self.commit_id(id)?,
                message: String::from_utf8_lossy(commit.message_bytes()).into_owned(),
                parents: commit
                    .parent_ids()
                    .map(|parent| self.commit_id(parent))
                    .collect::<Result<_, _>>()?,
                time: commit.time().seconds(),
                author: author_line(&commit),
            });
            if commits.len() == limit {
                break;
            }
            for parent in commit.parent_ids() {
                if reached.insert(parent) {
                    let time = self
                        .repo
                        .find_commit(parent)
                        .map_err(failed)?
                        .time()
                        .seconds();
                    frontier.push((time, Reverse(order), parent));
                    order += 1;
                }
            }
        }
        Ok(commits)
    }

    fn commit_and_push(
        &mut self,
        parent: &CommitId,
        change: &Change,
    ) -> Result<PushOutcome, RepositoryError> {
        self.branch_known()?;
        let _lock = lock(&self.location, self.describe())?;
        self.now_and_then_maintain();
        let id = self.build_commit(parent, change)?;
        let outline = self.write_outline(parent, change)?;
        let branch = &self.options.branch;
        let pushed = remote::push(
            &self.repo,
            &self.options.remote,
            &self.options.credentials,
            &remote::outgoing_ref(branch),
            &format!("refs/heads/{branch}"),
            Expect::Existing(self.oid(parent)?),
            Some(outline),
        );
        self.clear_outline();
        self.last_rejection = None;
        self.branch_pushed(id, pushed)
    }

    /// One push of both refs over one connection, from the cache (the branch's push walks its
    /// tree anyway; the state adds a commit, a tree and a file). Not atomic: libgit2 cannot ask
    /// for it, so the server may take one ref and refuse the other, which the outcome says.
    fn push_with_state(
        &mut self,
        parent: &CommitId,
        change: &Change,
        state_parent: Option<&CommitId>,
        state_content: &[u8],
        state_message: &str,
    ) -> Result<PairOutcome, RepositoryError> {
        self.branch_known()?;
        let _lock = lock(&self.location, self.describe())?;
        self.now_and_then_maintain();
        let id = self.build_commit(parent, change)?;
        let (state_id, state_expected) =
            self.build_state_commit(state_parent, state_content, state_message)?;
        let outline = self.write_outline(parent, change)?;
        let branch = &self.options.branch;
        let (outgoing, destination) =
            (remote::outgoing_ref(branch), format!("refs/heads/{branch}"));
        let (state_outgoing, state_destination) = (
            remote::state_outgoing_ref(branch),
            remote::state_ref(branch),
        );
        let pushed = remote::push_refs(
            &self.repo,
            &self.options.remote,
            &self.options.credentials,
            &[
                (&outgoing, &destination, Expect::Existing(self.oid(parent)?)),
                (
                    &state_outgoing,
                    &state_destination,
                    Expect::Exactly(state_expected),
                ),
            ],
            Some(outline),
        );
        self.clear_outline();
        self.last_rejection = None;
        self.pair_pushed(id, state_id, pushed)
    }

    fn state(&self) -> Result<Option<StateVersion>, RepositoryError> {
        self.read_state()
    }

    fn push_state(
        &mut self,
        parent: Option<&CommitId>,
        content: &[u8],
        message: &str,
    ) -> Result<PushOutcome, RepositoryError> {
        self.branch_known()?;
        self.commit_and_push_state(parent, content, message)
    }

    fn state_anchor(&self) -> Result<Option<StateVersion>, RepositoryError> {
        self.read_state_anchor()
    }

    fn set_state_anchor(&self, commit: &CommitId) -> Result<(), RepositoryError> {
        self.write_state_anchor(commit)
    }

    fn side_tip(&self, branch: &str) -> Result<Option<CommitId>, RepositoryError> {
        self.read_side_tip(branch)
    }

    fn refresh_side(&mut self, branch: &str) -> Result<Option<CommitId>, RepositoryError> {
        self.fetch_side_branch(branch)
    }

    fn create_commit(
        &mut self,
        parent: &CommitId,
        change: &Change,
    ) -> Result<CommitId, RepositoryError> {
        self.make_commit(parent, change)
    }

    /// One push with a forced refspec whose old value is still checked, on the connection and
    /// by the server: a compare-and-swap that may move the auto branch anywhere.
    fn set_side(
        &mut self,
        branch: &str,
        expected: Option<&CommitId>,
        to: &CommitId,
    ) -> Result<PushOutcome, RepositoryError> {
        self.replace_side(branch, expected, to)
    }

    fn fast_forward(
        &mut self,
        expected: &CommitId,
        to: &CommitId,
    ) -> Result<PushOutcome, RepositoryError> {
        self.fast_forward_main(expected, to)
    }

    fn fast_forward_with_state(
        &mut self,
        expected: &CommitId,
        to: &CommitId,
        state_parent: Option<&CommitId>,
        state_content: &[u8],
        state_message: &str,
    ) -> Result<PairOutcome, RepositoryError> {
        self.fast_forward_main_with_state(expected, to, state_parent, state_content, state_message)
    }
}

/// `Name <email>` of a commit's author, as git shows it (lossy for names that are not UTF-8).
fn author_line(commit: &git2::Commit<'_>) -> String {
    let author = commit.author();
    format!(
        "{} <{}>",
        String::from_utf8_lossy(author.name_bytes()),
        String::from_utf8_lossy(author.email_bytes())
    )
}
