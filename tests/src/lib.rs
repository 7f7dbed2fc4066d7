//! Test support for cfgupdate: real git, as the config repository's other users see it.
//!
//! - [`GitDaemon`] serves bare repositories over `git://` on 127.0.0.1 from a throwaway
//!   directory, with pushes enabled, and is killed when dropped.
//! - [`create_bare_remote`] makes a bare repository whose branch holds some files, and
//!   [`install_hook`] gives it a server-side hook.
//! - [`Person`] is someone with a clone who commits and pushes with the git CLI, pulling with
//!   rebase when their push is rejected, as a person would.
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
mod git;
mod person;
mod python;
mod remote;

pub use daemon::GitDaemon;
pub use git::{git, try_git};
pub use person::Person;
pub use python::python_venv;
pub use remote::{create_bare_remote, install_hook, rev_parse};
