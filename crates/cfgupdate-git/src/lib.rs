//! cfgupdate's config repository on a real git remote, through libgit2.
//!
//! [`GitRepository`] implements the core's [`ConfigRepository`]: one branch of one remote,
//! read at any revision from a local bare cache and advanced by pushing one commit at a
//! time, never by force. New commits are built in the object store alone (no work tree, no
//! checkout), so a push costs one tree update and one small pack.
//!
//! ```no_run
//! use cfgupdate_core::ConfigRepository;
//! use cfgupdate_git::{Branch, Credentials, GitOptions, GitRepository, RemoteUrl};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let options = GitOptions::new(
//!     RemoteUrl::parse("git://git.example.com/config.git")?,
//!     Branch::parse("master")?,
//!     cfgupdate_git::default_cache_dir(),
//! )
//! .with_credentials(Credentials::from_env());
//! let mut repository = GitRepository::open(options)?;
//! let tip = repository.refresh()?;
//! let files = repository.list_files(&tip, "images")?;
//! let state = repository.state()?;
//! let parent = state.as_ref().map(|state| &state.commit);
//! repository.push_state(parent, br#"{"reports": []}"#, "Record a deploy report")?;
//! # Ok(())
//! # }
//! ```
//!
//! # A checkout on disk
//!
//! [`CheckoutFiles`] reads a checkout of the config repository in a directory (what
//! `cfgupdate render` and `cfgupdate check` work on) as the core's rendering reads a
//! revision, through its `SourceFiles` trait: every path confined below the checkout, a
//! symlink that leads out of it refused, `.git` never read.
//!
//! # The pipeline state
//!
//! Deploy reports and approvals (a JSON document the core owns; this crate only stores the
//! bytes) live on the remote beside the branch, under `refs/cfgupdate/state/<branch>`:
//! outside `refs/heads/` and `refs/tags/`, so Argo CD and a plain `git clone` never fetch
//! it. Its history is a chain of its own: each state commit holds one file, `state.json`,
//! and its parent is the previous state commit (the first has none).
//!
//! [`ConfigRepository::refresh`] fetches the branch and the state ref in one round trip;
//! [`ConfigRepository::state`] reads what was fetched (`None` when the remote has no state).
//! [`ConfigRepository::push_state`] pushes a new state commit without force, and only when
//! the remote's state ref holds exactly the parent it was built on (or, for `None`, no ref
//! at all): libgit2's advertisement is checked before anything is sent, and the server
//! checks the same old value when it applies the update. Anything else is
//! [`PushOutcome::Rejected`](cfgupdate_core::PushOutcome).
//!
//! In the cache, the refs fetched and the refs pushed from each have a prefix of their
//! own, so none can overwrite another whatever the branch is called:
//!
//! | ref in the cache | what it holds |
//! |---|---|
//! | `refs/remotes/origin/<branch>` | the branch as last fetched or pushed |
//! | `refs/cfgupdate-local/state/<branch>` | the remote's `refs/cfgupdate/state/<branch>` as last fetched or pushed |
//! | `refs/cfgupdate-local/outgoing/<branch>` | the last commit built for the branch |
//! | `refs/cfgupdate-local/outgoing-state/<branch>` | the last state commit built |
//!
//! # Remotes
//!
//! A local path, `file://` and `git://` always work. `https://` (and `http://`) need the
//! crate feature `https`, `ssh://` and `user@host:path` the feature `ssh`.
//!
//! # Credentials
//!
//! [`Credentials::from_env`] reads:
//!
//! | variable | used for |
//! |---|---|
//! | `CFGUPDATE_GIT_TOKEN` | the password sent to `https://` remotes (an access token) |
//! | `CFGUPDATE_GIT_USERNAME` | the user name sent with the token; default `x-access-token` |
//! | `CFGUPDATE_SSH_KEY` | the private key file for `ssh://` remotes; without it, the ssh-agent |
//! | `CFGUPDATE_SSH_KEY_PASSPHRASE` | that key's passphrase, when it has one |
//! | `CFGUPDATE_GIT_CA_FILE` | a PEM file of CAs trusted for `https://` remotes besides the system's (process-wide, see [`Credentials::with_ca_file`]) |
//! | `CFGUPDATE_SSH_KNOWN_HOSTS` | the OpenSSH known_hosts file `ssh://` host keys must be listed in; default `~/.ssh/known_hosts` |
//!
//! Credentials written into the URL (`https://user:token@host/...`) work too. No credential
//! ever appears in a path, an error or a `Debug` output: URLs are shown with `***` in place
//! of their user information.
//!
//! An ssh server whose host key is not in the known_hosts file, or whose key differs from
//! the one listed for it (plain or hashed `|1|` names, `[host]:port` for ports other than
//! 22, `@revoked` lines refuse a key), is refused before any credential is sent, with one
//! sentence saying which. A TLS certificate that expired, or that no trusted CA signed, is
//! refused likewise.
//!
//! # The cache
//!
//! Each remote has a bare repository under the cache directory ([`default_cache_dir`], or
//! what the caller chooses), named by a hash of its URL without credentials. Processes may
//! share a cache: whoever writes to it (fetch, push, repair) holds an exclusive lock on a
//! file beside it. The cache is only a copy, so when a crash leaves it broken (not a
//! repository, stale `*.lock` files, a corrupt ref, missing objects), it is thrown away and
//! fetched again; [`GitRepository::rebuilt_cache`] says when that happened and why. The
//! check covers every ref, the state's among them.
//!
//! # Errors
//!
//! Failures reaching the remote (network, server, authentication) are
//! [`RepositoryErrorKind::Unavailable`](cfgupdate_core::RepositoryErrorKind),
//! and so is a branch that is gone from the remote when a commit is pushed to it (a push
//! never creates a branch); revisions missing from the cache are `NotFound`; a push the
//! server declines for a reason of its own (a pre-receive hook, a protected branch) is
//! `Declined`, with the server's own words (what its hooks printed and the status it gave,
//! escaped and bounded); everything else is `Failed` (a state commit without `state.json`,
//! say).
//!
//! # Every push is a compare-and-swap
//!
//! A push, to the branch or to the state ref, lands only when the remote's ref still is
//! exactly the commit the new one was built on. The remote's advertisement is read on the
//! connection the push then uses; libgit2 sends the advertised value as the update's old
//! value, and the server applies the update only if its ref still holds it. A ref that moved
//! anywhere else (forward, or back: a person who force-pushed a leaked secret away) is
//! [`PushOutcome::Rejected`](cfgupdate_core::PushOutcome) with nothing sent, and
//! the core builds again on the new tip: a fast-forward from an older tip would bring removed
//! commits back as ancestors.
//!
//! [`ConfigRepository`]: cfgupdate_core::ConfigRepository
//! [`ConfigRepository::refresh`]: cfgupdate_core::ConfigRepository::refresh
//! [`ConfigRepository::state`]: cfgupdate_core::ConfigRepository::state
//! [`ConfigRepository::push_state`]: cfgupdate_core::ConfigRepository::push_state

#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

mod atomic;
mod cache;
mod checkout;
mod credentials;
mod errors;
mod head;
mod known_hosts;
mod options;
#[cfg(feature = "person")]
pub mod person;
mod remote;
mod repository;
mod trust;
mod url;
mod x509;

pub use checkout::{CheckoutError, CheckoutFiles};
pub use credentials::{
    CA_FILE_VAR, Credentials, DEFAULT_TOKEN_USERNAME, SSH_KEY_PASSPHRASE_VAR, SSH_KEY_VAR,
    SSH_KNOWN_HOSTS_VAR, Secret, TOKEN_VAR, USERNAME_VAR,
};
pub use head::{BranchOrigin, MAX_BRANCH_LEN};
pub use options::{Author, Branch, GitOptions, OptionsError, default_cache_dir};
pub use repository::GitRepository;
pub use url::{RemoteUrl, Transport, UrlError};
