//! cfgupdate's config repository on a real git remote, through libgit2.
//!
//! [`GitRepository`] implements the core's [`ConfigRepository`]: one branch of one remote,
//! read at any revision from a local bare cache and advanced by pushing one commit at a
//! time, never by force. New commits are built in the object store alone (no work tree, no
//! checkout), so a push costs one tree update and one small pack.
//!
//! ```no_run
//! use cfgupdate_core::repository::ConfigRepository;
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
//! # Ok(())
//! # }
//! ```
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
//!
//! Credentials written into the URL (`https://user:token@host/...`) work too. No credential
//! ever appears in a path, an error or a `Debug` output: URLs are shown with `***` in place
//! of their user information.
//!
//! # The cache
//!
//! Each remote has a bare repository under the cache directory ([`default_cache_dir`], or
//! what the caller chooses), named by a hash of its URL without credentials. Processes may
//! share a cache: whoever writes to it (fetch, push, repair) holds an exclusive lock on a
//! file beside it. The cache is only a copy, so when a crash leaves it broken (not a
//! repository, stale `*.lock` files, a corrupt ref, missing objects), it is thrown away and
//! fetched again; [`GitRepository::rebuilt_cache`] says when that happened and why.
//!
//! # Errors
//!
//! Failures reaching the remote (network, server, authentication) are
//! [`RepositoryErrorKind::Unavailable`](cfgupdate_core::repository::RepositoryErrorKind),
//! revisions missing from the cache `NotFound`, everything else `Failed`. A push the remote
//! refuses because its branch moved on is no error but
//! [`PushOutcome::Rejected`](cfgupdate_core::repository::PushOutcome).
//!
//! [`ConfigRepository`]: cfgupdate_core::repository::ConfigRepository

mod cache;
mod credentials;
mod errors;
mod options;
mod remote;
mod repository;
mod url;

pub use credentials::{
    Credentials, DEFAULT_TOKEN_USERNAME, SSH_KEY_PASSPHRASE_VAR, SSH_KEY_VAR, Secret, TOKEN_VAR,
    USERNAME_VAR,
};
pub use options::{Author, Branch, GitOptions, OptionsError, default_cache_dir};
pub use repository::GitRepository;
pub use url::{RemoteUrl, Transport, UrlError};
