//! Strict mode's second branch (docs/strict.md): the auto branch, fetched into its own
//! tracking ref, replaced by a compare-and-swap push (it is cfgupdate's own), and the main
//! branch fast-forwarded to one of its commits, never by force.

use cfgupdate_core::{
    Change, CommitId, PairOutcome, PushOutcome, RepositoryError, state_then_fast_forward,
};
use git2::Oid;

use super::{Failed, GitRepository, NotFound, declined, lock};
use crate::options::Branch;
use crate::remote::{self, Expect, Pushed};

/// The local ref that keeps the newest commit made for the auto branch and not yet pushed
/// (each made on the one before, so the whole chain stays reachable in the cache).
const CREATED_REF: &str = "refs/cfgupdate-local/created";

impl GitRepository {
    /// `name` as a branch other than the main one.
    fn side_branch(&self, name: &str) -> Result<Branch, RepositoryError> {
        let branch = Branch::parse(name).map_err(|error| {
            self.describe()
                .error(Failed, &format!("the auto branch: {error}"))
        })?;
        if branch == self.options.branch {
            return Err(self.describe().error(
                Failed,
                &format!(
                    "the auto branch `{branch}` of [strict] is the branch Argo CD watches; name another one in cfgupdate.toml"
                ),
            ));
        }
        Ok(branch)
    }

    pub(super) fn read_side_tip(&self, name: &str) -> Result<Option<CommitId>, RepositoryError> {
        let branch = self.side_branch(name)?;
        match self.repo.refname_to_id(&remote::tracking_ref(&branch)) {
            Ok(id) => Ok(Some(self.commit_id(id)?)),
            Err(error) if error.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(error) => Err(self.describe().local(
                &format!("cannot read the auto branch `{branch}` in the cache"),
                &error,
            )),
        }
    }

    pub(super) fn fetch_side_branch(
        &mut self,
        name: &str,
    ) -> Result<Option<CommitId>, RepositoryError> {
        let branch = self.side_branch(name)?;
        let _lock = lock(&self.location, self.describe())?;
        let tip = remote::fetch_side(
            &self.repo,
            &self.options.remote,
            &self.options.credentials,
            &branch,
        )
        .map_err(|error| {
            self.describe().remote(
                &format!(
                    "cannot fetch the auto branch `{branch}` from {}",
                    self.options.remote
                ),
                &error,
            )
        })?;
        tip.map(|id| self.commit_id(id)).transpose()
    }

    pub(super) fn make_commit(
        &mut self,
        parent: &CommitId,
        change: &Change,
    ) -> Result<CommitId, RepositoryError> {
        let _lock = lock(&self.location, self.describe())?;
        let target = format!("the auto branch of {}", self.options.remote);
        let id = self.build_commit_at(
            parent,
            change,
            &target,
            CREATED_REF,
            "cfgupdate: made for the auto branch",
        )?;
        self.commit_id(id)
    }

    pub(super) fn replace_side(
        &mut self,
        name: &str,
        expected: Option<&CommitId>,
        to: &CommitId,
    ) -> Result<PushOutcome, RepositoryError> {
        let branch = self.side_branch(name)?;
        let _lock = lock(&self.location, self.describe())?;
        let id = self.commit(to)?.id();
        let expected = expected.map(|e| self.oid(e)).transpose()?;
        let (destination, pushed) = self.push_to(&branch, id, Expect::Replacing(expected))?;
        self.landed(&branch, &destination, id, pushed)
    }

    pub(super) fn fast_forward_main(
        &mut self,
        expected: &CommitId,
        to: &CommitId,
    ) -> Result<PushOutcome, RepositoryError> {
        self.branch_known()?;
        let _lock = lock(&self.location, self.describe())?;
        let (old, id) = self.fast_forward_ids(expected, to)?;
        let branch = self.options.branch.clone();
        let (_, pushed) = self.push_to(&branch, id, Expect::Existing(old))?;
        self.last_rejection = None;
        self.branch_pushed(id, pushed)
    }

    /// [`ConfigRepository::fast_forward_with_state`]: one atomic push of the main branch's
    /// fast-forward and the state commit when the remote takes one (see `crate::atomic`),
    /// else the two pushes in order ([`state_then_fast_forward`]), and from then on for this
    /// handle.
    ///
    /// [`ConfigRepository::fast_forward_with_state`]: cfgupdate_core::ConfigRepository::fast_forward_with_state
    pub(super) fn fast_forward_main_with_state(
        &mut self,
        expected: &CommitId,
        to: &CommitId,
        state_parent: Option<&CommitId>,
        state_content: &[u8],
        state_message: &str,
    ) -> Result<PairOutcome, RepositoryError> {
        if !self.atomic_refused {
            let atomic =
                self.atomic_fast_forward(expected, to, state_parent, state_content, state_message)?;
            if let Some(outcome) = atomic {
                return Ok(outcome);
            }
            self.atomic_refused = true;
        }
        state_then_fast_forward(
            self,
            expected,
            to,
            state_parent,
            state_content,
            state_message,
        )
    }

    /// The atomic push of [`GitRepository::fast_forward_main_with_state`]; `None` when the
    /// remote cannot take one (nothing was sent).
    fn atomic_fast_forward(
        &mut self,
        expected: &CommitId,
        to: &CommitId,
        state_parent: Option<&CommitId>,
        state_content: &[u8],
        state_message: &str,
    ) -> Result<Option<PairOutcome>, RepositoryError> {
        self.branch_known()?;
        let _lock = lock(&self.location, self.describe())?;
        let (old, id) = self.fast_forward_ids(expected, to)?;
        self.now_and_then_maintain();
        let (state_id, state_expected) =
            self.build_state_commit(state_parent, state_content, state_message)?;
        let main = self.options.branch.clone();
        let (outgoing, destination) = (remote::outgoing_ref(&main), format!("refs/heads/{main}"));
        let (state_outgoing, state_destination) =
            (remote::state_outgoing_ref(&main), remote::state_ref(&main));
        self.point(&outgoing, id)?;
        let pushed = remote::push_refs_atomic(
            &self.repo,
            &self.options.remote,
            &self.options.credentials,
            &[
                (&outgoing, &destination, Expect::Existing(old)),
                (
                    &state_outgoing,
                    &state_destination,
                    Expect::Exactly(state_expected),
                ),
            ],
            None,
        );
        self.last_rejection = None;
        match pushed {
            // Nothing was sent: the remote cannot take an atomic push.
            Ok(None) => Ok(None),
            pushed => self
                .pair_pushed(id, state_id, pushed.map(Option::unwrap_or_default))
                .map(Some),
        }
    }

    /// The commits of a fast-forward of the main branch from `expected` to `to`, checked to
    /// be one (`to` descends from `expected`): no push is made otherwise.
    fn fast_forward_ids(
        &self,
        expected: &CommitId,
        to: &CommitId,
    ) -> Result<(Oid, Oid), RepositoryError> {
        let id = self.commit(to)?.id();
        let old = self.commit(expected)?.id();
        let descends = id == old
            || self.repo.graph_descendant_of(id, old).map_err(|error| {
                self.describe()
                    .local("cannot tell whether the move is a fast-forward", &error)
            })?;
        if !descends {
            return Err(self.describe().error(
                Failed,
                &format!(
                    "refusing to move branch `{}` to {}: it does not descend from {}, and the branch is never forced",
                    self.options.branch,
                    to.short(),
                    expected.short()
                ),
            ));
        }
        Ok((old, id))
    }

    /// Pushes `id` to the remote's `refs/heads/<branch>` (from its outgoing ref, pointed at
    /// `id`) as `expect` requires; returns the destination and what became of the push.
    fn push_to(
        &self,
        branch: &Branch,
        id: Oid,
        expect: Expect,
    ) -> Result<(String, Result<Pushed, git2::Error>), RepositoryError> {
        let outgoing = remote::outgoing_ref(branch);
        let destination = format!("refs/heads/{branch}");
        self.point(&outgoing, id)?;
        let pushed = remote::push(
            &self.repo,
            &self.options.remote,
            &self.options.credentials,
            &outgoing,
            &destination,
            expect,
            None,
        );
        Ok((destination, pushed))
    }

    /// Points the local ref `name` at `id`.
    fn point(&self, name: &str, id: Oid) -> Result<(), RepositoryError> {
        self.repo
            .reference(name, id, true, "cfgupdate: outgoing")
            .map(drop)
            .map_err(|error| {
                self.describe().local(
                    &format!("cannot point `{name}` at {id} in the cache"),
                    &error,
                )
            })
    }

    /// What became of a push of `id` to the auto branch; its tracking ref follows.
    fn landed(
        &mut self,
        branch: &Branch,
        destination: &str,
        id: Oid,
        pushed: Result<Pushed, git2::Error>,
    ) -> Result<PushOutcome, RepositoryError> {
        let url = &self.options.remote;
        match pushed {
            Ok(Pushed::Accepted) => {
                let _ = self.repo.reference(
                    &remote::tracking_ref(branch),
                    id,
                    true,
                    "cfgupdate: pushed the auto branch",
                );
                Ok(PushOutcome::Pushed(self.commit_id(id)?))
            }
            Ok(Pushed::Moved(reason)) => {
                self.last_rejection = Some(self.describe().redact(&reason));
                Ok(PushOutcome::Rejected)
            }
            Ok(Pushed::Missing) => Err(self.describe().error(
                NotFound,
                &format!("the auto branch `{branch}` of {url} is gone"),
            )),
            Ok(Pushed::Declined(reason)) => {
                self.last_rejection = Some(self.describe().redact(&reason));
                Err(declined(self.describe(), &reason, destination))
            }
            Err(error) => Err(self.describe().remote(
                &format!("cannot push {id} to the auto branch `{branch}` of {url}"),
                &error,
            )),
        }
    }
}
