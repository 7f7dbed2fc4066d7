//! Test support for cfgupdate: real git, as the config repository's other users see it.
//!
//! - [`GitDaemon`] serves bare repositories over `git://` on 127.0.0.1 from a throwaway
//!   directory, with pushes enabled, and is killed when dropped.
//! - [`HttpsGitServer`] serves them over `https://` (nginx, fcgiwrap and `git http-backend`,
//!   TLS from a [`TestPki`] made with `openssl`, a token checked by the server), and
//!   [`SshServer`] over `ssh://` (an unprivileged `sshd` with its own host key and a deploy
//!   key whose sessions can only run git).
//! - [`DelayProxy`] adds a fixed delay to each direction of a TCP connection, for a network
//!   that is not loopback (also as the program `cfgupdate-delay-proxy`, for benchmarks).
//! - [`create_bare_remote`] makes a bare repository whose branch holds some files, and
//!   [`install_hook`] gives it a server-side hook.
//! - [`Person`] is someone with a clone who commits and pushes with the git CLI, pulling with
//!   rebase when their push is rejected, as a person would.
//! - [`Rng`] is a seeded random source for simulations and fault tests.
//! - [`python_venv`] gives a tool from PyPI (a reference implementation, a validator) in a
//!   virtual environment of its own.
//!
//! Every git command runs with the user's and the system's git configuration ignored, so a
//! developer's `~/.gitconfig` can never change what a test sees.
//!
//! ```no_run
//! use cfgupdate_tests::{GitDaemon, Person};
//!
//! let daemon = GitDaemon::start().unwrap();
//! daemon.create_remote("config.git", "master", &[("images.json", "{}\n")]);
//! let alice = Person::clone(&daemon.url("config.git"), "master", "Alice");
//! alice.commit_and_push(&[("README.md", "hello\n")], "Add a README");
//! ```

mod delay;
mod python;
mod rng;

pub use delay::DelayProxy;
pub use python::python_venv;
pub use rng::Rng;

// The servers, remotes and the scripted person (feature `servers`, on by default): the core's
// tests need only the seeded random source and the Python tools above, and without this
// feature they build no git.
#[cfg(feature = "servers")]
mod daemon;
#[cfg(feature = "servers")]
mod git;
#[cfg(feature = "servers")]
mod https;
#[cfg(feature = "servers")]
mod person;
#[cfg(feature = "servers")]
mod process;
#[cfg(feature = "servers")]
mod remote;
#[cfg(feature = "servers")]
mod sshd;
#[cfg(feature = "servers")]
mod tls;
#[cfg(feature = "servers")]
pub use daemon::GitDaemon;
#[cfg(feature = "servers")]
pub use git::{git, try_git};
#[cfg(feature = "servers")]
pub use https::{HTTPS_USERNAME, HttpsGitServer};
#[cfg(feature = "servers")]
pub use person::Person;
#[cfg(feature = "servers")]
pub use remote::{create_bare_remote, install_hook, rev_parse};
#[cfg(feature = "servers")]
pub use sshd::{SshServer, new_ed25519_key};
#[cfg(feature = "servers")]
pub use tls::{ServerCertificate, TestPki};
