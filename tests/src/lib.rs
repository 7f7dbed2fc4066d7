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

mod daemon;
mod delay;
mod git;
mod https;
mod person;
mod process;
mod python;
mod remote;
mod rng;
mod sshd;
mod tls;

pub use daemon::GitDaemon;
pub use delay::DelayProxy;
pub use git::{git, try_git};
pub use https::{HTTPS_USERNAME, HttpsGitServer};
pub use person::Person;
pub use python::python_venv;
pub use remote::{create_bare_remote, install_hook, rev_parse};
pub use rng::Rng;
pub use sshd::{SshServer, new_ed25519_key};
pub use tls::{ServerCertificate, TestPki};
