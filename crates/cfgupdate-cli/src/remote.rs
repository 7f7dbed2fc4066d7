//! The arguments every command that changes the config repository takes, and the git-backed
//! repository and real clock they build: the composition root's wiring.

use std::path::PathBuf;

use cfgupdate_core::strict::Strict;
use cfgupdate_git::{Author, Branch, Credentials, GitOptions, GitRepository, RemoteUrl};

use crate::failure::Failure;

/// The repository a command works on ([`RemoteArgs::open`]): strict mode's view of the git
/// repository. When the command ends, whatever way, it says on stderr which waiting automatic
/// changes its fetches dropped from the auto branch (a person set the image, removed the
/// service, held or froze it). Each drop is recorded once in the pipeline state, and only the
/// process that recorded it hands it out: the service sends its `refused` notification for the
/// drops it records, and the CLI, which sends none, says so here (`status` shows them too).
pub struct Opened(Strict<GitRepository>);

impl std::ops::Deref for Opened {
    type Target = Strict<GitRepository>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Opened {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for Opened {
    fn drop(&mut self) {
        for dropped in self.0.take_dropped() {
            eprintln!("cfgupdate: {}", dropped_line(&dropped));
        }
    }
}

/// One line about a change dropped from the auto branch; what came from a commit message is
/// escaped.
fn dropped_line(dropped: &cfgupdate_core::strict::Eviction) -> String {
    use cfgupdate_core::adapter::shown;
    format!(
        "dropped from the auto branch: \"{}\" (commit {}): {}",
        shown(&dropped.subject),
        dropped.commit.short(),
        shown(&dropped.reason)
    )
}

/// Which remote, which branch, and where the local cache lives.
#[derive(Debug, Clone, clap::Args)]
pub struct RemoteArgs {
    /// The config repository: a local path, file://, git://, ssh:// or https:// URL.
    /// Credentials come from the environment (CFGUPDATE_GIT_TOKEN and CFGUPDATE_GIT_CA_FILE
    /// for https, CFGUPDATE_SSH_KEY or ssh-agent and CFGUPDATE_SSH_KNOWN_HOSTS for ssh), never
    /// from the URL's log lines.
    #[arg(long = "repo", value_name = "URL", env = "CFGUPDATE_REPO")]
    pub repo: String,
    /// The branch Argo CD watches [default: the branch the remote's HEAD names, else master]
    #[arg(long, value_name = "NAME", env = "CFGUPDATE_BRANCH")]
    pub branch: Option<String>,
    /// Where cfgupdate keeps its cache of the remote (default: $XDG_CACHE_HOME/cfgupdate or
    /// ~/.cache/cfgupdate).
    #[arg(long, value_name = "DIR", env = "CFGUPDATE_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// The name automatic commits are authored by.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "cfgupdate",
        env = "CFGUPDATE_AUTHOR_NAME"
    )]
    pub author_name: String,
    /// The email automatic commits are authored by.
    #[arg(
        long,
        value_name = "EMAIL",
        default_value = "cfgupdate@localhost",
        env = "CFGUPDATE_AUTHOR_EMAIL"
    )]
    pub author_email: String,
}

impl RemoteArgs {
    /// Opens the cache of the remote (cloning it on first use), wrapped so that every
    /// automatic commit goes through strict mode's auto branch when the main branch's
    /// `cfgupdate.toml` turns it on (docs/strict.md); it dereferences to the git repository.
    pub fn open(&self) -> Result<Opened, Failure> {
        let git = self.open_git()?;
        let options = cfgupdate_core::WriteOptions {
            key: crate::commands::state::state_key()?,
            ..crate::isolate::write_options()?
        };
        Ok(Opened(Strict::new(
            git,
            std::sync::Arc::new(SystemClock),
            options,
        )))
    }

    /// Opens the cache of the remote (cloning it on first use), as it is.
    pub fn open_git(&self) -> Result<GitRepository, Failure> {
        let remote = RemoteUrl::parse(&self.repo).map_err(Failure::invalid)?;
        if remote.has_credentials() {
            eprintln!("cfgupdate: warning: {}", credentials_warning(&remote));
        }
        // Without --branch, the remote's HEAD decides (asked when the repository opens), and
        // `master` stays for a remote whose HEAD names no branch (an empty repository).
        // An empty value (`CFGUPDATE_BRANCH=` in a manifest) counts as not given, as an empty
        // variable does for most tools.
        let given = match self.branch.as_deref() {
            Some(name) if !name.is_empty() => Some(Branch::parse(name).map_err(Failure::invalid)?),
            _ => None,
        };
        let author =
            Author::new(&self.author_name, &self.author_email).map_err(Failure::invalid)?;
        let cache = self
            .cache_dir
            .clone()
            .unwrap_or_else(cfgupdate_git::default_cache_dir);
        let options = match given {
            Some(branch) => GitOptions::new(remote, branch, cache),
            None => GitOptions::new(
                remote,
                Branch::parse(FALLBACK_BRANCH).map_err(Failure::invalid)?,
                cache,
            )
            .with_remote_head_branch(),
        }
        .with_author(author)
        .with_credentials(git_credentials()?);
        GitRepository::open(options).map_err(|error| classified(&error))
    }
}

/// The branch worked on when `--branch` is not given and the remote's HEAD names none.
const FALLBACK_BRANCH: &str = "master";

/// The git credentials from the environment, where each secret (the https token, the ssh key's
/// passphrase) may also be given as a file: `CFGUPDATE_GIT_TOKEN_FILE` (a mounted Kubernetes
/// Secret), a trailing newline not part of it; both ways at once is an error.
fn git_credentials() -> Result<Credentials, Failure> {
    // An empty variable counts as unset, as everywhere else.
    let lookup = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let read = |path: &str| std::fs::read_to_string(path).map_err(|error| error.to_string());
    let mut secrets = std::collections::BTreeMap::new();
    for name in [
        cfgupdate_git::TOKEN_VAR,
        cfgupdate_git::SSH_KEY_PASSPHRASE_VAR,
    ] {
        let value = cfgupdate_http::credentials::secret_variable(&lookup, &read, name)
            .map_err(Failure::invalid)?;
        secrets.insert(name, value);
    }
    Ok(Credentials::from_lookup(|name| match secrets.get(name) {
        Some(value) => value.clone(),
        None => lookup(name),
    }))
}

/// The one line said when `--repo` carries a credential: the command line of a process is
/// readable by every user of the machine (`ps`, `/proc/PID/cmdline`). cfgupdate overwrites it
/// there once started ([`crate::argv`]), but not before, and not in the shell's history.
fn credentials_warning(remote: &RemoteUrl) -> String {
    format!(
        "the --repo URL `{remote}` carries a credential: cfgupdate hides it from the process list once started, but anyone on this machine can read it there until then, and it stays in your shell history; give the token in {} or {} instead",
        cfgupdate_git::TOKEN_VAR,
        "CFGUPDATE_GIT_TOKEN_FILE"
    )
}

pub use crate::failure::classified;

/// The real clock: the core's own, the one type through which anything reads the system clock.
pub use cfgupdate_core::SystemClock;

#[cfg(test)]
mod tests {
    use super::*;
    use cfgupdate_core::CommitId;
    use cfgupdate_core::strict::{Eviction, EvictionKind};

    #[test]
    fn a_dropped_change_from_a_message_someone_else_wrote_is_shown_escaped_on_one_line() {
        let dropped = Eviction {
            commit: CommitId::parse(&"ab".repeat(20)).unwrap(),
            subject: "Publish api\u{1b}[2J\rnow".to_owned(),
            action: "publish".to_owned(),
            wave: None,
            images: Default::default(),
            app_commits: Vec::new(),
            kind: EvictionKind::Dropped,
            reason: "a person set api\nin staging".to_owned(),
            at: 0,
        };
        let line = dropped_line(&dropped);
        assert!(!line.chars().any(char::is_control), "{line:?}");
        assert!(
            line.starts_with("dropped from the auto branch: \"Publish api"),
            "{line}"
        );
        assert!(line.contains("(commit abababa"), "{line}");
    }
}
