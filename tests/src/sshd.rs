//! A real OpenSSH server on a free port of 127.0.0.1 that serves git over ssh to one deploy
//! key, for the lifetime of one value.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

use crate::process::{
    ATTEMPTS, die_with_parent, free_port, is_root, kill_group, run, user_name, wait_until_ready,
};

/// `sshd` with a configuration, host key and `authorized_keys` of its own, accepting only
/// the current user with the deploy key, whose sessions can only run `git-upload-pack` and
/// `git-receive-pack` (the key's forced command is `git-shell`).
///
/// Repositories live under [`SshServer::base_dir`] and are reached by absolute path:
/// `ssh://<user>@127.0.0.1:<port>/<base>/<name>`. Dropping it kills sshd and the sessions
/// it forked (their process group) and removes the directory. sshd is started with a
/// parent-death signal: keep the value on the thread that started it.
///
/// Run as root, sshd needs its privilege separation directory `/run/sshd`, which Debian's
/// service scripts create when the system's sshd starts: [`SshServer::start`] creates it
/// (empty, mode 0755) when it is missing.
pub struct SshServer {
    child: Child,
    port: u16,
    user: String,
    host_key_line: String,
    dir: TempDir,
}

impl SshServer {
    /// Starts sshd and waits until it accepts connections.
    pub fn start() -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let root = dir.path();
        fs::create_dir_all(root.join("repos"))?;
        let host_key_line = new_ed25519_key(&root.join("host_key"))?;
        new_ed25519_key(&root.join("deploy_key"))?;
        let git_shell = find_program("git-shell")?;
        let deploy_public = fs::read_to_string(root.join("deploy_key.pub"))?;
        fs::write(
            root.join("authorized_keys"),
            format!(
                "restrict,command=\"{} -c \\\"$SSH_ORIGINAL_COMMAND\\\"\" {}",
                git_shell.display(),
                deploy_public.trim()
            ),
        )?;
        if is_root() && !Path::new("/run/sshd").exists() {
            fs::create_dir_all("/run/sshd")?;
        }
        let user = user_name()?;
        let sshd = find_program("sshd")?;
        let log = root.join("sshd.log");
        let mut last_error = None;
        for _ in 0..ATTEMPTS {
            let port = free_port()?;
            let config = root.join("sshd_config");
            fs::write(&config, sshd_config(root, port, &user))?;
            let mut child = spawn(&sshd, &config, &log)?;
            match wait_until_ready(&mut child, port, "sshd") {
                Ok(()) => {
                    return Ok(Self {
                        child,
                        port,
                        user,
                        host_key_line,
                        dir,
                    });
                }
                Err(error) => {
                    kill_group(&mut child);
                    last_error = Some(error);
                }
            }
        }
        let log = fs::read_to_string(&log).unwrap_or_default();
        Err(io::Error::other(format!(
            "sshd did not start after {ATTEMPTS} attempts ({}); its log: {log}",
            last_error.map(|e| e.to_string()).unwrap_or_default()
        )))
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The user the deploy key logs in as (whoever runs the tests).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The directory holding the repositories it serves.
    pub fn base_dir(&self) -> PathBuf {
        self.dir.path().join("repos")
    }

    /// The `ssh://` URL of the repository `name`.
    pub fn url(&self, name: &str) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}/{name}",
            self.user,
            self.port,
            self.base_dir().display()
        )
    }

    /// The scp-like address (`user@host:path`) of the repository `name`. It has no port, so
    /// it names port 22, not this server's.
    pub fn scp_like_url(&self, name: &str) -> String {
        format!(
            "{}@127.0.0.1:{}/{name}",
            self.user,
            self.base_dir().display()
        )
    }

    /// Creates the bare repository `name` whose `branch` holds `files`, and returns its path
    /// (see [`crate::create_bare_remote`]).
    pub fn create_remote(&self, name: &str, branch: &str, files: &[(&str, &str)]) -> PathBuf {
        let path = self.base_dir().join(name);
        crate::create_bare_remote(&path, branch, files);
        path
    }

    /// The private key `authorized_keys` accepts: `CFGUPDATE_SSH_KEY`.
    pub fn deploy_key(&self) -> PathBuf {
        self.dir.path().join("deploy_key")
    }

    /// The server's host key as a known_hosts line: `[127.0.0.1]:<port> ssh-ed25519 AAAA...`.
    pub fn known_hosts_line(&self) -> String {
        format!("[127.0.0.1]:{} {}", self.port, self.host_key_line)
    }

    /// The server's public host key: `ssh-ed25519 AAAA...`.
    pub fn host_public_key(&self) -> &str {
        &self.host_key_line
    }

    /// sshd's log, for a failing test to show.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// How many sessions sshd accepted so far (one per fetch or push).
    pub fn sessions(&self) -> usize {
        self.log().matches("Accepted publickey").count()
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// The server's configuration. sshd runs the forced command through the user's login shell,
/// and Debian's bash reads `~/.bashrc` when sshd starts it at shell level 1: a developer's or
/// a CI machine's rc file (pyenv's setup on this project's machines: about 0.2 s of CPU) ran
/// for every fetch and push: two thirds of the ssh tests' CPU. `SHLVL=1` in the session's
/// environment makes the shell's level 2, where bash reads no rc file; other shells ignore it.
fn sshd_config(root: &Path, port: u16, user: &str) -> String {
    let root = root.display();
    format!(
        "Port {port}
ListenAddress 127.0.0.1
HostKey {root}/host_key
AuthorizedKeysFile {root}/authorized_keys
PidFile none
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
AllowUsers {user}
LogLevel VERBOSE
SetEnv SHLVL=1
"
    )
}

fn spawn(sshd: &Path, config: &Path, log: &Path) -> io::Result<Child> {
    let log = fs::OpenOptions::new().create(true).append(true).open(log)?;
    let mut command = Command::new(sshd);
    command
        .arg("-D")
        .arg("-e")
        .arg("-f")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    die_with_parent(&mut command);
    command
        .spawn()
        .map_err(|error| io::Error::other(format!("cannot start {}: {error}", sshd.display())))
}

/// Makes a new ed25519 key pair at `path` (private) and `path.pub`, without passphrase, and
/// returns the public key as `ssh-ed25519 AAAA...` (without comment).
pub fn new_ed25519_key(path: &Path) -> io::Result<String> {
    run(Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "cfgupdate-test",
            "-f",
        ])
        .arg(path))?;
    let public = fs::read_to_string(format!("{}.pub", path.display()))?;
    Ok(public
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" "))
}

/// `name` in the directories sshd and git-shell are usually installed in, or on `PATH`.
fn find_program(name: &str) -> io::Result<PathBuf> {
    let exec_path = run(Command::new("git").arg("--exec-path"))
        .map(|path| PathBuf::from(path.trim()))
        .ok();
    let path_dirs = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    ["/usr/sbin", "/usr/local/sbin"]
        .iter()
        .map(PathBuf::from)
        .chain(exec_path)
        .chain(path_dirs)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| io::Error::other(format!("`{name}` is not installed (openssh-server, git)")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::{git, try_git};

    #[test]
    fn the_deploy_key_pushes_and_cannot_open_a_shell() {
        let server = SshServer::start().unwrap();
        let remote = server.create_remote("config.git", "master", &[("a.txt", "one\n")]);
        let work = tempfile::tempdir().unwrap();
        let known_hosts = work.path().join("known_hosts");
        fs::write(&known_hosts, format!("{}\n", server.known_hosts_line())).unwrap();
        let ssh = format!(
            "core.sshCommand=ssh -i {} -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes",
            server.deploy_key().display(),
            known_hosts.display()
        );
        let clone = try_git(
            work.path(),
            &[
                "-c",
                &ssh,
                "clone",
                "--quiet",
                &server.url("config.git"),
                "c",
            ],
        );
        assert!(clone.status.success(), "{clone:?}\n{}", server.log());
        let dir = work.path().join("c");
        git(
            &dir,
            &[
                "-c",
                "user.name=A",
                "-c",
                "user.email=a@b",
                "commit",
                "--quiet",
                "--allow-empty",
                "-m",
                "x",
            ],
        );
        git(
            &dir,
            &["-c", &ssh, "push", "--quiet", "origin", "HEAD:master"],
        );
        assert_eq!(
            crate::rev_parse(&remote, "master"),
            git(&dir, &["rev-parse", "HEAD"])
        );

        let shell = Command::new("ssh")
            .args(["-i"])
            .arg(server.deploy_key())
            .args(["-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o"])
            .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
            .args(["-p", &server.port().to_string()])
            .arg(format!("{}@127.0.0.1", server.user()))
            .arg("id")
            .output()
            .unwrap();
        assert!(!shell.status.success());
        assert!(!String::from_utf8_lossy(&shell.stdout).contains("uid="));
    }
}
