//! The config repository as the core sees it: a branch on a remote, read at any revision and
//! advanced by pushing one commit at a time, never by force.
//!
//! The core never learns how this is done; `cfgupdate-git` implements it with libgit2, and
//! tests implement it in memory.

use std::collections::BTreeMap;
use std::fmt;

use crate::names::CommitId;
use crate::path::RepoPath;

/// What kind of failure a repository reported; adapters turn these into exit codes and
/// HTTP statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepositoryErrorKind {
    /// The remote could not be reached or refused us for a reason that may pass
    /// (network, server down, authentication). Retrying later may succeed.
    Unavailable,
    /// A revision or object that was asked for does not exist.
    NotFound,
    /// Anything else: local IO, a corrupt cache that could not be repaired.
    Failed,
    /// The remote refused a push for a reason of its own (a pre-receive hook, a protected
    /// branch): the message carries the server's own words. Trying again will not help until
    /// a person changes the remote, so a push that ends this way is never retried.
    Declined,
}

/// A failure of the repository, with a sentence that names what failed. It never contains a
/// credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RepositoryError {
    /// What kind of failure.
    pub kind: RepositoryErrorKind,
    /// One sentence for people.
    pub message: String,
}

impl RepositoryError {
    /// A failure of `kind` described by `message`.
    pub fn new(kind: RepositoryErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// What becomes of one file in a [`Change`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileChange {
    /// The file gets this content (created if missing).
    Write(Vec<u8>),
    /// The file is removed.
    Delete,
}

/// A commit message: a subject a person can read, an optional body, and git trailers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommitMessage {
    /// One line.
    pub subject: String,
    /// Paragraphs after the subject, may be empty.
    pub body: String,
    /// `Key: value` trailers, in order.
    pub trailers: Vec<(String, String)>,
}

impl CommitMessage {
    /// The message as git stores it: subject, blank line, body, blank line, trailers.
    pub fn render(&self) -> String {
        let mut text = self.subject.trim().to_owned();
        text.push('\n');
        if !self.body.trim().is_empty() {
            text.push('\n');
            text.push_str(self.body.trim());
            text.push('\n');
        }
        if !self.trailers.is_empty() {
            text.push('\n');
            for (key, value) in &self.trailers {
                text.push_str(key);
                text.push_str(": ");
                text.push_str(value);
                text.push('\n');
            }
        }
        text
    }

    /// The trailers of a commit message as git reads them: `Key: value` lines of the last
    /// paragraph, when every line of it is one.
    pub fn parse_trailers(message: &str) -> Vec<(String, String)> {
        let trimmed = message.trim_end();
        let last = match trimmed.rsplit_once("\n\n") {
            Some((_, last)) => last,
            None => return Vec::new(),
        };
        let mut trailers = Vec::new();
        for line in last.lines() {
            match line.split_once(": ") {
                Some((key, value))
                    if !key.is_empty()
                        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
                {
                    trailers.push((key.to_owned(), value.trim().to_owned()));
                }
                _ => return Vec::new(),
            }
        }
        trailers
    }
}

impl fmt::Display for CommitMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// One new commit's worth of file changes and its message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Change {
    /// The files it writes or removes.
    pub files: BTreeMap<RepoPath, FileChange>,
    /// Its message.
    pub message: CommitMessage,
}

/// What became of a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// The branch now points at this new commit.
    Pushed(CommitId),
    /// The remote's ref is no longer exactly the parent we built on (it moved on, or was
    /// rewound, or changed while the push was sent). Nothing changed; refresh and build again.
    /// A push the server declines for a reason of its own is no rejection but an error of
    /// kind [`RepositoryErrorKind::Declined`].
    Rejected,
}

/// What became of a push of a branch commit together with a state commit
/// ([`ConfigRepository::push_with_state`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairOutcome {
    /// Both refs landed: the branch's new commit and the state's.
    Pushed {
        /// The branch commit.
        commit: CommitId,
        /// The state commit.
        state: CommitId,
    },
    /// Only the state landed (this state commit); the branch was rejected.
    StateOnly(CommitId),
    /// Only the branch landed (this commit); the state was rejected.
    BranchOnly(CommitId),
    /// Neither landed: nothing changed on the remote.
    Rejected,
}

/// The version of the pipeline state (deploy reports and approvals) last fetched: the state
/// ref's commit and the document it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateVersion {
    /// The commit the state ref points at.
    pub commit: CommitId,
    /// That commit's parent, the state it was written on (`None` for the first): a state
    /// document's authentication covers it, so a document copied onto another place of the
    /// chain no longer passes.
    pub parent: Option<CommitId>,
    /// The document (cfgupdate's own JSON; the repository only stores the bytes).
    pub content: Vec<u8>,
}

/// A commit as history shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    /// Its id.
    pub id: CommitId,
    /// Its whole message.
    pub message: String,
    /// Its parents, in order (a commit's seal covers them).
    pub parents: Vec<CommitId>,
    /// Commit time, seconds since the Unix epoch.
    pub time: i64,
    /// Who wrote it, `Name <email>` as the commit's author line says (people's edits that pin a
    /// service are named by it: docs/promotion.md#peoples-edits).
    pub author: String,
}

/// The config repository: one branch of one remote.
///
/// Reads are served from what was last fetched; [`ConfigRepository::refresh`] fetches. A
/// push never forces: [`ConfigRepository::commit_and_push`] either advances the branch by
/// exactly one commit on top of `parent`, or reports [`PushOutcome::Rejected`] and changes
/// nothing on the remote.
#[cfg_attr(any(test, feature = "testing"), mockall::automock)]
pub trait ConfigRepository {
    /// The branch tip as last fetched (no network).
    fn tip(&self) -> Result<CommitId, RepositoryError>;

    /// Fetches the branch (and the state ref beside it) from the remote and returns the
    /// branch's tip.
    fn refresh(&mut self) -> Result<CommitId, RepositoryError>;

    /// Whether the last fetch is known to be current (a fetch or a successful push
    /// happened in this process and nothing since told us otherwise).
    fn is_fresh(&self) -> bool;

    /// A file's content at `revision`, or `None` when it has no such file.
    fn read_file(
        &self,
        revision: &CommitId,
        path: &RepoPath,
    ) -> Result<Option<Vec<u8>>, RepositoryError>;

    /// Every file at `revision` below the directory `under` (the whole tree when `under` is
    /// empty).
    fn list_files(
        &self,
        revision: &CommitId,
        under: &str,
    ) -> Result<Vec<RepoPath>, RepositoryError>;

    /// Whether `ancestor` is `descendant` or one of its ancestors.
    fn is_ancestor(
        &self,
        ancestor: &CommitId,
        descendant: &CommitId,
    ) -> Result<bool, RepositoryError>;

    /// Up to `limit` commits reachable from `from`, newest first.
    fn log(&self, from: &CommitId, limit: usize) -> Result<Vec<CommitInfo>, RepositoryError>;

    /// Builds one commit with `change` on top of `parent` and pushes it to the branch
    /// without force, as a compare-and-swap: it lands only if the remote's branch still is
    /// exactly `parent` ([`PushOutcome::Rejected`] otherwise, also when the branch was moved
    /// back). A branch gone from the remote is an error; it is never created. A push the remote
    /// declines for a reason of its own is an error of kind
    /// [`RepositoryErrorKind::Declined`], which callers must not retry.
    fn commit_and_push(
        &mut self,
        parent: &CommitId,
        change: &Change,
    ) -> Result<PushOutcome, RepositoryError>;

    /// The pipeline state as last fetched, or `None` when the remote has none yet.
    ///
    /// It lives on the remote under a ref outside `refs/heads/` (Argo CD never sees it), one
    /// per branch, so that every process working on the branch shares it.
    fn state(&self) -> Result<Option<StateVersion>, RepositoryError>;

    /// Writes a new state document as one commit on top of `parent` (`None` when there is no
    /// state yet) and pushes it to the state ref without force: like
    /// [`ConfigRepository::commit_and_push`], it is rejected when the remote's state moved on.
    // The named lifetime is for mockall, which cannot mock an elided one inside `Option`.
    #[allow(clippy::needless_lifetimes)]
    fn push_state<'a>(
        &mut self,
        parent: Option<&'a CommitId>,
        content: &[u8],
        message: &str,
    ) -> Result<PushOutcome, RepositoryError>;

    /// Pushes a branch commit (`change` on top of `parent`, as
    /// [`ConfigRepository::commit_and_push`]) and a state commit (`state_content` on top of
    /// `state_parent`, as [`ConfigRepository::push_state`]) together, each a compare-and-swap
    /// on what it was built on. An adapter that can sends both in one push; whether one ref
    /// can land without the other is said by the [`PairOutcome`].
    ///
    /// The default makes the two pushes in order, the state first, and pushes the branch
    /// only once the state landed.
    #[allow(clippy::needless_lifetimes)]
    fn push_with_state<'a>(
        &mut self,
        parent: &CommitId,
        change: &Change,
        state_parent: Option<&'a CommitId>,
        state_content: &[u8],
        state_message: &str,
    ) -> Result<PairOutcome, RepositoryError> {
        let state = match self.push_state(state_parent, state_content, state_message)? {
            PushOutcome::Pushed(state) => state,
            PushOutcome::Rejected => return Ok(PairOutcome::Rejected),
        };
        Ok(match self.commit_and_push(parent, change)? {
            PushOutcome::Pushed(commit) => PairOutcome::Pushed { commit, state },
            PushOutcome::Rejected => PairOutcome::StateOnly(state),
        })
    }

    /// The anchor: the newest authentic state seen through this repository's cache, as the
    /// core last set it with [`ConfigRepository::set_state_anchor`], or `None`. It is kept with
    /// the cache (it outlives the process), so that a state ref moved back to an older document
    /// cfgupdate really wrote is recognised; a fresh cache has none.
    fn state_anchor(&self) -> Result<Option<StateVersion>, RepositoryError>;

    /// Moves the anchor to the state commit `commit` (one that [`ConfigRepository::state`]
    /// returned or [`ConfigRepository::push_state`] pushed): the repository stores it and keeps
    /// that commit, and decides nothing about it. Only the core moves it, and only forward.
    fn set_state_anchor(&self, commit: &CommitId) -> Result<(), RepositoryError>;

    // Strict mode's second branch (docs/strict.md): the auto branch, where automatic commits
    // wait for the config repository's CI. A repository that cannot hold one answers every
    // call below with an error of kind `Failed` that says so.

    /// The tip of the side branch `branch` as last fetched, or `None` when the remote has no
    /// such branch (or it was never fetched).
    fn side_tip(&self, branch: &str) -> Result<Option<CommitId>, RepositoryError> {
        Err(no_side_branch(branch))
    }

    /// Fetches the side branch `branch` and returns its tip, `None` when the remote has none.
    fn refresh_side(&mut self, branch: &str) -> Result<Option<CommitId>, RepositoryError> {
        Err(no_side_branch(branch))
    }

    /// Builds one commit with `change` on top of `parent` and keeps it locally, pushing
    /// nothing: [`ConfigRepository::set_side`] then puts it on the side branch. Reads
    /// ([`ConfigRepository::read_file`], [`ConfigRepository::log`], ...) see it at once.
    fn create_commit(
        &mut self,
        parent: &CommitId,
        change: &Change,
    ) -> Result<CommitId, RepositoryError> {
        let _ = (parent, change);
        Err(no_side_branch("auto"))
    }

    /// Points the side branch `branch` at `to` (a commit this repository holds), by force if
    /// need be, as a compare-and-swap: only when the remote's branch still is `expected`
    /// (`None`: the branch must not exist yet); [`PushOutcome::Rejected`] otherwise. Never
    /// used on the main branch: the side branch is cfgupdate's own.
    #[allow(clippy::needless_lifetimes)]
    fn set_side<'a>(
        &mut self,
        branch: &str,
        expected: Option<&'a CommitId>,
        to: &CommitId,
    ) -> Result<PushOutcome, RepositoryError> {
        let _ = (expected, to);
        Err(no_side_branch(branch))
    }

    /// Fast-forwards the main branch from `expected` to `to`, a descendant of `expected` that
    /// this repository holds (from the side branch), without force and as a compare-and-swap:
    /// [`PushOutcome::Rejected`] when the remote's main branch is no longer `expected`. A `to`
    /// that does not descend from `expected` is an error of kind `Failed`: no push is made.
    fn fast_forward(
        &mut self,
        expected: &CommitId,
        to: &CommitId,
    ) -> Result<PushOutcome, RepositoryError> {
        let _ = (expected, to);
        Err(no_side_branch("auto"))
    }

    /// Fast-forwards the main branch from `expected` to `to` (as
    /// [`ConfigRepository::fast_forward`]) together with a state commit (`state_content` on
    /// top of `state_parent`, as [`ConfigRepository::push_state`]), each a compare-and-swap on
    /// what it was built on. The branch never lands without the state: the answer is never
    /// [`PairOutcome::BranchOnly`]. An adapter that can sends both as one atomic push (both
    /// land, or neither: [`PairOutcome::Pushed`] or [`PairOutcome::Rejected`]).
    ///
    /// The default (and an adapter whose remote cannot take an atomic push) makes the two
    /// pushes in order, [`state_then_fast_forward`]: the state first, and the branch only once
    /// the state landed ([`PairOutcome::StateOnly`] when the branch was then rejected).
    #[allow(clippy::needless_lifetimes)]
    fn fast_forward_with_state<'a>(
        &mut self,
        expected: &CommitId,
        to: &CommitId,
        state_parent: Option<&'a CommitId>,
        state_content: &[u8],
        state_message: &str,
    ) -> Result<PairOutcome, RepositoryError> {
        state_then_fast_forward(
            self,
            expected,
            to,
            state_parent,
            state_content,
            state_message,
        )
    }
}

/// Implements the calls of [`ConfigRepository`] that only read (`read_file`, `list_files`,
/// `is_ancestor`, `log`, `state`, `state_anchor`, `side_tip`) and `set_state_anchor` by passing
/// them to the repository in the field `$inner`, inside an `impl ConfigRepository` block: for
/// a wrapper that changes how a repository writes or fetches, not what it reads (strict mode's
/// view, the service's metrics). The wrapper writes the other calls itself.
///
/// ```
/// use cfgupdate_core::{
///     Change, CommitId, ConfigRepository, MemoryRepository, PushOutcome, RepositoryError,
///     forward_reads,
/// };
///
/// /// Counts the pushes of the repository it wraps.
/// struct Counting {
///     inner: MemoryRepository,
///     pushes: usize,
/// }
///
/// impl ConfigRepository for Counting {
///     forward_reads!(inner);
///
///     fn tip(&self) -> Result<CommitId, RepositoryError> {
///         self.inner.tip()
///     }
///     fn refresh(&mut self) -> Result<CommitId, RepositoryError> {
///         self.inner.refresh()
///     }
///     fn is_fresh(&self) -> bool {
///         self.inner.is_fresh()
///     }
///     fn commit_and_push(
///         &mut self,
///         parent: &CommitId,
///         change: &Change,
///     ) -> Result<PushOutcome, RepositoryError> {
///         self.pushes += 1;
///         self.inner.commit_and_push(parent, change)
///     }
///     fn push_state(
///         &mut self,
///         parent: Option<&CommitId>,
///         content: &[u8],
///         message: &str,
///     ) -> Result<PushOutcome, RepositoryError> {
///         self.pushes += 1;
///         self.inner.push_state(parent, content, message)
///     }
/// }
///
/// let mut counting = Counting { inner: MemoryRepository::new(&[("a.txt", "a\n")]), pushes: 0 };
/// let tip = counting.refresh().unwrap();
/// assert!(counting.log(&tip, 1).unwrap().len() == 1);
/// assert_eq!(counting.pushes, 0);
/// ```
#[macro_export]
macro_rules! forward_reads {
    ($inner:ident) => {
        fn read_file(
            &self,
            revision: &$crate::CommitId,
            path: &$crate::RepoPath,
        ) -> ::std::result::Result<
            ::std::option::Option<::std::vec::Vec<u8>>,
            $crate::RepositoryError,
        > {
            self.$inner.read_file(revision, path)
        }

        fn list_files(
            &self,
            revision: &$crate::CommitId,
            under: &str,
        ) -> ::std::result::Result<::std::vec::Vec<$crate::RepoPath>, $crate::RepositoryError> {
            self.$inner.list_files(revision, under)
        }

        fn is_ancestor(
            &self,
            ancestor: &$crate::CommitId,
            descendant: &$crate::CommitId,
        ) -> ::std::result::Result<bool, $crate::RepositoryError> {
            self.$inner.is_ancestor(ancestor, descendant)
        }

        fn log(
            &self,
            from: &$crate::CommitId,
            limit: usize,
        ) -> ::std::result::Result<::std::vec::Vec<$crate::CommitInfo>, $crate::RepositoryError> {
            self.$inner.log(from, limit)
        }

        fn state(
            &self,
        ) -> ::std::result::Result<
            ::std::option::Option<$crate::StateVersion>,
            $crate::RepositoryError,
        > {
            self.$inner.state()
        }

        fn state_anchor(
            &self,
        ) -> ::std::result::Result<
            ::std::option::Option<$crate::StateVersion>,
            $crate::RepositoryError,
        > {
            self.$inner.state_anchor()
        }

        fn set_state_anchor(
            &self,
            commit: &$crate::CommitId,
        ) -> ::std::result::Result<(), $crate::RepositoryError> {
            self.$inner.set_state_anchor(commit)
        }

        fn side_tip(
            &self,
            branch: &str,
        ) -> ::std::result::Result<::std::option::Option<$crate::CommitId>, $crate::RepositoryError>
        {
            self.$inner.side_tip(branch)
        }
    };
}

/// [`ConfigRepository::fast_forward_with_state`] as two pushes in order: the state, then,
/// only once it landed, the fast-forward. What the default does, and what an adapter falls
/// back to when its remote cannot take an atomic push.
pub fn state_then_fast_forward<R: ConfigRepository + ?Sized>(
    repo: &mut R,
    expected: &CommitId,
    to: &CommitId,
    state_parent: Option<&CommitId>,
    state_content: &[u8],
    state_message: &str,
) -> Result<PairOutcome, RepositoryError> {
    let state = match repo.push_state(state_parent, state_content, state_message)? {
        PushOutcome::Pushed(state) => state,
        PushOutcome::Rejected => return Ok(PairOutcome::Rejected),
    };
    Ok(match repo.fast_forward(expected, to)? {
        PushOutcome::Pushed(commit) => PairOutcome::Pushed { commit, state },
        PushOutcome::Rejected => PairOutcome::StateOnly(state),
    })
}

/// The answer of a repository that cannot hold a side branch.
fn no_side_branch(branch: &str) -> RepositoryError {
    RepositoryError::new(
        RepositoryErrorKind::Failed,
        format!(
            "this repository cannot hold the side branch `{}` that strict mode needs",
            crate::shown::shown(branch)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rendered_message_has_its_trailers_in_the_last_paragraph() {
        let message = CommitMessage {
            subject: "Publish api to staging".into(),
            body: "Images from CI.".into(),
            trailers: vec![
                ("Cfgupdate-Action".into(), "publish".into()),
                ("Cfgupdate-Wave".into(), "staging".into()),
            ],
        };
        let text = message.render();
        assert_eq!(
            text,
            "Publish api to staging\n\nImages from CI.\n\nCfgupdate-Action: publish\nCfgupdate-Wave: staging\n"
        );
        assert_eq!(CommitMessage::parse_trailers(&text), message.trailers);
    }

    #[test]
    fn a_message_whose_last_paragraph_is_prose_has_no_trailers() {
        assert!(CommitMessage::parse_trailers("Fix\n\nThis: is prose\nand more").is_empty());
        assert!(CommitMessage::parse_trailers("Only a subject: here").is_empty());
    }
}
