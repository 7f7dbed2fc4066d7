//! The pipeline state beside the branch: a chain of commits of its own on the remote's
//! `refs/cfgupdate/state/<branch>`, each holding the document as its one file, and pushed
//! only on top of exactly the commit the remote's ref holds.

use cfgupdate_core::CommitId;
use cfgupdate_core::{PushOutcome, RepositoryError, StateVersion};
use git2::{Commit, ErrorCode, FileMode, ObjectType};

use super::{Failed, GitRepository, declined, lock};
use crate::remote::{self, Expect, Pushed};

/// The one file of a state commit.
pub(crate) const STATE_FILE: &str = "state.json";

impl GitRepository {
    /// The state as last fetched or pushed, read from the cache alone.
    pub(super) fn read_state(&self) -> Result<Option<StateVersion>, RepositoryError> {
        self.read_state_at(&remote::state_tracking_ref(&self.options.branch))
    }

    /// The state the core last anchored, read from the cache alone.
    pub(super) fn read_state_anchor(&self) -> Result<Option<StateVersion>, RepositoryError> {
        self.read_state_at(&remote::state_anchor_ref(&self.options.branch))
    }

    /// Points the anchor ref at the state commit `commit`, which the cache holds (the ref
    /// keeps it there). What the anchor means is the core's business. Under the cache's lock,
    /// like every other write to it: another process checking the cache must never find the
    /// ref's lock file of a write in progress (it would take the cache for broken).
    pub(super) fn write_state_anchor(&self, commit: &CommitId) -> Result<(), RepositoryError> {
        let _lock = lock(&self.location, self.describe())?;
        let name = remote::state_anchor_ref(&self.options.branch);
        let id = self.commit(commit)?.id();
        self.repo
            .reference(&name, id, true, "cfgupdate: state anchor")
            .map(drop)
            .map_err(|error| {
                self.describe().local(
                    &format!(
                        "cannot move `{name}` to {commit} in the cache of {}",
                        self.options.remote
                    ),
                    &error,
                )
            })
    }

    /// The state commit the local ref `tracking` points at, and its document.
    fn read_state_at(&self, tracking: &str) -> Result<Option<StateVersion>, RepositoryError> {
        let branch = &self.options.branch;
        let url = &self.options.remote;
        let on_remote = remote::state_ref(branch);
        let id = match self.repo.refname_to_id(tracking) {
            Ok(id) => id,
            Err(error) if error.code() == ErrorCode::NotFound => return Ok(None),
            Err(error) => {
                return Err(self.describe().local(
                    &format!("cannot read the ref `{tracking}` in the cache of {url}"),
                    &error,
                ));
            }
        };
        let missing = |error: git2::Error| {
            self.describe().local(
                &format!(
                    "the state commit {id} of `{on_remote}` is not whole in the cache of {url} (refresh)"
                ),
                &error,
            )
        };
        // Anyone who can push may point the ref at something else than a commit: say what
        // it is, not that the cache is broken.
        if let Ok(object) = self.repo.find_object(id, None)
            && object.kind() != Some(ObjectType::Commit)
        {
            let kind = object.kind().map_or("unknown object", |kind| kind.str());
            return Err(self.describe().error(
                Failed,
                &format!(
                    "`{on_remote}` on {url} points at a {kind} ({id}), not at a state commit; cfgupdate cannot read it: delete that ref (`git push <remote> :{on_remote}`), then `cfgupdate state reset`"
                ),
            ));
        }
        let commit = self.repo.find_commit(id).map_err(missing)?;
        let tree = commit.tree().map_err(missing)?;
        let entry = match tree.get_name(STATE_FILE) {
            Some(entry) if entry.kind() == Some(ObjectType::Blob) => entry,
            Some(_) => {
                return Err(self.describe().error(
                    Failed,
                    &format!(
                        "the state commit {id} of `{on_remote}` on {url} holds `{STATE_FILE}` as something other than a file"
                    ),
                ));
            }
            None => {
                return Err(self.describe().error(
                    Failed,
                    &format!(
                        "the state commit {id} of `{on_remote}` on {url} has no `{STATE_FILE}`"
                    ),
                ));
            }
        };
        let blob = self.repo.find_blob(entry.id()).map_err(missing)?;
        Ok(Some(StateVersion {
            commit: self.commit_id(id)?,
            parent: commit
                .parent_ids()
                .next()
                .map(|parent| self.commit_id(parent))
                .transpose()?,
            content: blob.content().to_vec(),
        }))
    }

    /// Builds the state commit in the object store alone and pushes it to the remote's state
    /// ref, provided that ref holds exactly `parent` (or nothing, for `None`).
    ///
    /// Freshness is about the branch, so a state push leaves
    /// [`ConfigRepository::is_fresh`] alone unless the local state ref could not follow a push
    /// that landed.
    ///
    /// [`ConfigRepository::is_fresh`]: cfgupdate_core::ConfigRepository::is_fresh
    pub(super) fn commit_and_push_state(
        &mut self,
        parent: Option<&CommitId>,
        content: &[u8],
        message: &str,
    ) -> Result<PushOutcome, RepositoryError> {
        let _lock = lock(&self.location, self.describe())?;
        self.now_and_then_maintain();
        let (id, expected) = self.build_state_commit(parent, content, message)?;
        let branch = &self.options.branch;
        let url = &self.options.remote;
        let destination = remote::state_ref(branch);
        let outgoing = remote::state_outgoing_ref(branch);
        // From a small repository of the state's own objects when it can be made: a push from
        // the cache would walk the whole tree of the branch too (an advertised ref the cache
        // holds), which on a large repository costs more than the state push itself.
        let side = self.state_side_repository(id, expected).ok().flatten();
        let pushed = remote::push(
            side.as_ref().map_or(&self.repo, |side| &side.repo),
            url,
            &self.options.credentials,
            &outgoing,
            &destination,
            Expect::Exactly(expected),
            None,
        );
        drop(side);
        self.last_rejection = None;
        self.state_pushed(id, pushed)
    }

    /// Builds the state commit of `content` on `parent` in the cache and points the outgoing
    /// state ref at it; returns it and the commit the remote's state ref must hold. The caller
    /// holds the cache's lock.
    pub(super) fn build_state_commit(
        &self,
        parent: Option<&CommitId>,
        content: &[u8],
        message: &str,
    ) -> Result<(git2::Oid, Option<git2::Oid>), RepositoryError> {
        let branch = &self.options.branch;
        let url = &self.options.remote;
        let destination = remote::state_ref(branch);
        let outgoing = remote::state_outgoing_ref(branch);
        let parent_commit: Option<Commit<'_>> = parent.map(|id| self.commit(id)).transpose()?;
        let expected = parent_commit.as_ref().map(Commit::id);
        let building = |error: git2::Error| {
            self.describe().local(
                &format!("cannot build the state commit for `{destination}` of {url}"),
                &error,
            )
        };
        let blob = self.repo.blob(content).map_err(building)?;
        let mut builder = self.repo.treebuilder(None).map_err(building)?;
        builder
            .insert(STATE_FILE, blob, i32::from(FileMode::Blob))
            .map_err(building)?;
        let tree_id = builder.write().map_err(building)?;
        let tree = self.repo.find_tree(tree_id).map_err(building)?;
        let signature = self.signature().map_err(building)?;
        let parents: Vec<&Commit<'_>> = parent_commit.iter().collect();
        let id = self
            .repo
            .commit(None, &signature, &signature, message, &tree, &parents)
            .map_err(building)?;
        self.repo
            .reference(&outgoing, id, true, "cfgupdate: outgoing state")
            .map_err(building)?;
        drop(parents);
        drop(tree);
        drop(builder);
        drop(parent_commit);

        Ok((id, expected))
    }

    /// What a push of the state commit `id` came to; the state's tracking ref follows it.
    pub(super) fn state_pushed(
        &mut self,
        id: git2::Oid,
        pushed: Result<Pushed, git2::Error>,
    ) -> Result<PushOutcome, RepositoryError> {
        let branch = &self.options.branch;
        let url = &self.options.remote;
        let destination = remote::state_ref(branch);
        match pushed {
            Ok(Pushed::Accepted) => {
                // The remote's state is our commit now: no fetch needed to know it. Should the
                // local update fail, the next read must not trust the cache.
                let tracked = self.repo.reference(
                    &remote::state_tracking_ref(branch),
                    id,
                    true,
                    "cfgupdate: pushed state",
                );
                if tracked.is_err() {
                    self.fresh = false;
                }
                Ok(PushOutcome::Pushed(self.commit_id(id)?))
            }
            Ok(Pushed::Moved(reason)) => {
                self.last_rejection = Some(self.describe().redact(&reason));
                Ok(PushOutcome::Rejected)
            }
            // Only a branch push can find its ref missing; for the state ref a missing ref
            // is a value like any other.
            Ok(Pushed::Missing) => Ok(PushOutcome::Rejected),
            Ok(Pushed::Declined(reason)) => {
                self.last_rejection = Some(self.describe().redact(&reason));
                Err(declined(self.describe(), &reason, &destination))
            }
            Err(error) => Err(self.describe().remote(
                &format!("cannot push the state commit {id} to `{destination}` of {url}"),
                &error,
            )),
        }
    }
}

/// The most objects copied into a [`SideRepository`]: a state commit's tree is one file, and a
/// state commit someone else pushed with a large tree is pushed from the cache instead.
const SIDE_OBJECT_LIMIT: usize = 64;

/// A throwaway bare repository beside the cache holding only a new state commit, its tree and
/// file, and the state commit it is built on (with its tree), cut off from that commit's
/// parents by a `shallow` entry. libgit2's pack builder marks the whole tree of every
/// advertised ref found in the repository it pushes from; here that is the old state commit's
/// one file, not the branch. Every object is copied by reading it from the cache (hash
/// verified) and writing it again, so the push sends only real objects. Removed when dropped.
pub(super) struct SideRepository {
    pub(super) repo: git2::Repository,
    dir: std::path::PathBuf,
}

impl Drop for SideRepository {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl GitRepository {
    /// A [`SideRepository`] to push the state commit `id` (built on `parent`) from, with the
    /// outgoing state ref pointing at it; `None` when the parent's tree is too large to copy.
    /// The caller holds the cache's write lock, so the one directory per cache is never shared.
    fn state_side_repository(
        &self,
        id: git2::Oid,
        parent: Option<git2::Oid>,
    ) -> Result<Option<SideRepository>, git2::Error> {
        let mut objects = vec![id];
        let mut trees = vec![self.repo.find_commit(id)?.tree_id()];
        if let Some(parent) = parent {
            objects.push(parent);
            trees.push(self.repo.find_commit(parent)?.tree_id());
        }
        while let Some(tree) = trees.pop() {
            objects.push(tree);
            for entry in self.repo.find_tree(tree)?.iter() {
                match entry.kind() {
                    Some(ObjectType::Tree) => trees.push(entry.id()),
                    Some(ObjectType::Blob) => objects.push(entry.id()),
                    _ => {}
                }
            }
            if objects.len() > SIDE_OBJECT_LIMIT {
                return Ok(None);
            }
        }
        let mut name = self.location.git_dir.as_os_str().to_owned();
        name.push(".state-push");
        let dir = std::path::PathBuf::from(name);
        let _ = std::fs::remove_dir_all(&dir);
        let made = (|| {
            let side = git2::Repository::init_bare(&dir)?;
            let source = self.repo.odb()?;
            let target = side.odb()?;
            for object in objects {
                let read = source.read(object)?;
                target.write(read.kind(), read.data())?;
            }
            drop(target);
            drop(side);
            if let Some(parent) = parent {
                std::fs::write(dir.join("shallow"), format!("{parent}\n"))
                    .map_err(|error| git2::Error::from_str(&error.to_string()))?;
            }
            // Opened again, so libgit2 reads the `shallow` file (`open`: `open_bare` does not).
            let repo = git2::Repository::open(&dir)?;
            repo.reference(
                &remote::state_outgoing_ref(&self.options.branch),
                id,
                true,
                "cfgupdate: outgoing state",
            )?;
            Ok(repo)
        })();
        match made {
            Ok(repo) => Ok(Some(SideRepository { repo, dir })),
            Err(error) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(error)
            }
        }
    }
}
