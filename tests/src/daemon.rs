//! A real `git daemon` on a free port, for the lifetime of one value.

use std::fs;
use std::io;
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::git;
use crate::process::{
    ATTEMPTS, READY_WITHIN, die_with_parent, free_port, kill_group, wait_until_ready,
};

/// A `git daemon` serving every repository under a temporary base directory over
/// `git://127.0.0.1:<port>/<name>`, with pushes enabled. It can be stopped (the remote becomes
/// unreachable: connections are refused) and started again on the same port, as a git server
/// restarting would.
///
/// Dropping it kills the daemon together with the processes it forked for connections (they
/// share its process group) and reaps it. Should the test process die without unwinding, the
/// kernel kills the daemon as well: it is started with a parent-death signal, which Linux
/// sends when the *thread* that started it ends, so keep a daemon on the thread that started
/// it (a test's own thread does that naturally).
pub struct GitDaemon {
    /// The running daemon (`None` while stopped).
    child: Option<Child>,
    /// The last daemon's process id.
    pid: u32,
    port: u16,
    base: PathBuf,
    /// Holds the base directory and the daemon's log; removed on drop, after the daemon.
    dir: TempDir,
}

impl GitDaemon {
    /// Starts a daemon and waits until it accepts connections.
    pub fn start() -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let base = dir.path().join("repos");
        fs::create_dir_all(&base)?;
        let log = dir.path().join("daemon.log");
        let mut last_error = None;
        for _ in 0..ATTEMPTS {
            let port = free_port()?;
            match start_on(&base, port, &log) {
                Ok(child) => {
                    return Ok(Self {
                        pid: child.id(),
                        child: Some(child),
                        port,
                        base,
                        dir,
                    });
                }
                Err(error) => last_error = Some(error),
            }
        }
        let log = fs::read_to_string(&log).unwrap_or_default();
        Err(io::Error::other(format!(
            "git daemon did not start after {ATTEMPTS} attempts ({}); its log: {log}",
            last_error.map(|e| e.to_string()).unwrap_or_default()
        )))
    }

    /// The port it listens on, whether running or not.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The daemon's process id (also its process group's); after [`GitDaemon::stop`], the
    /// stopped one's.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The directory it serves; `name` under it is `git://127.0.0.1:<port>/name`.
    pub fn base_dir(&self) -> &Path {
        &self.base
    }

    /// The `git://` URL of the repository `name` under the base directory.
    pub fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}", self.port)
    }

    /// Creates the bare repository `name` under the base directory, whose `branch` holds
    /// `files`, and returns its path (see [`crate::create_bare_remote`]).
    pub fn create_remote(&self, name: &str, branch: &str, files: &[(&str, &str)]) -> PathBuf {
        let path = self.base.join(name);
        crate::create_bare_remote(&path, branch, files);
        path
    }

    /// The file the daemon writes its messages to.
    pub fn log_file(&self) -> PathBuf {
        self.dir.path().join("daemon.log")
    }

    /// Kills the daemon and every connection it serves, and waits until the port refuses
    /// connections: from now on the remote is unreachable.
    pub fn stop(&mut self) -> io::Result<()> {
        if let Some(mut child) = self.child.take() {
            kill_group(&mut child);
        }
        // The processes die a moment after the signal.
        let deadline = Instant::now() + READY_WITHIN;
        while TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok() {
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "something still listens on port {} after the daemon stopped",
                    self.port
                )));
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Starts the daemon again on the same port, after [`GitDaemon::stop`]. The port may
    /// linger a moment after the kill: it tries for a while.
    pub fn restart(&mut self) -> io::Result<()> {
        if self.child.is_some() {
            return Err(io::Error::other("the daemon is running"));
        }
        let deadline = Instant::now() + 2 * READY_WITHIN;
        loop {
            match start_on(&self.base, self.port, &self.log_file()) {
                Ok(child) => {
                    self.pid = child.id();
                    self.child = Some(child);
                    return Ok(());
                }
                Err(error) if Instant::now() > deadline => {
                    let log = fs::read_to_string(self.log_file()).unwrap_or_default();
                    return Err(io::Error::other(format!(
                        "git daemon did not start again on port {} ({error}); its log: {log}",
                        self.port
                    )));
                }
                Err(_) => thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_group(&mut child);
        }
    }
}

/// Spawns a daemon on `port` and waits until it accepts connections; kills it when it does
/// not.
fn start_on(base: &Path, port: u16, log: &Path) -> io::Result<Child> {
    let mut child = spawn(base, port, log)?;
    match wait_until_ready(&mut child, port, "git daemon") {
        Ok(()) => Ok(child),
        Err(error) => {
            kill_group(&mut child);
            Err(error)
        }
    }
}

fn spawn(base: &Path, port: u16, log: &Path) -> io::Result<Child> {
    let log = fs::OpenOptions::new().create(true).append(true).open(log)?;
    let mut command = git::command(base);
    command
        .arg("daemon")
        .arg("--export-all")
        .arg("--enable=receive-pack")
        .arg("--reuseaddr")
        .arg("--listen=127.0.0.1")
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={}", base.display()))
        .arg(base)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    die_with_parent(&mut command);
    command.spawn()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every process whose process group is `group`, from /proc.
    fn members_of_group(group: u32) -> Vec<u32> {
        let mut members = Vec::new();
        for entry in fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // The command name may hold spaces and parentheses: fields start after the last `)`.
            let Some((_, rest)) = stat.rsplit_once(')') else {
                continue;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            if fields.get(2) == Some(&group.to_string().as_str()) {
                members.push(pid);
            }
        }
        members
    }

    #[test]
    fn a_daemon_serves_clones_and_pushes_and_leaves_no_process_behind() {
        let daemon = GitDaemon::start().unwrap();
        let remote = daemon.create_remote("config.git", "master", &[("a.txt", "one\n")]);
        let person = crate::Person::clone(&daemon.url("config.git"), "master", "Alice");
        let pushed = person.commit_and_push(&[("a.txt", "two\n")], "Change a");
        assert_eq!(crate::rev_parse(&remote, "master"), pushed);

        let pid = daemon.pid();
        assert!(members_of_group(pid).contains(&pid));
        let port = daemon.port();
        drop(daemon);
        // Forked children are reaped by whoever inherits them, which may take a moment.
        let deadline = Instant::now() + Duration::from_secs(2);
        while !members_of_group(pid).is_empty() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            members_of_group(pid),
            Vec::<u32>::new(),
            "processes of the daemon's group survived"
        );
        assert!(TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err());
    }

    #[test]
    fn a_stopped_daemon_refuses_connections_and_serves_again_on_the_same_port() {
        let mut daemon = GitDaemon::start().unwrap();
        let remote = daemon.create_remote("config.git", "master", &[("a.txt", "one\n")]);
        let port = daemon.port();
        let first = daemon.pid();
        daemon.stop().unwrap();
        assert!(TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err());
        daemon.restart().unwrap();
        assert_eq!(daemon.port(), port);
        assert_ne!(daemon.pid(), first);
        let person = crate::Person::clone(&daemon.url("config.git"), "master", "Alice");
        let pushed = person.commit_and_push(&[("a.txt", "two\n")], "Change a");
        assert_eq!(crate::rev_parse(&remote, "master"), pushed);
        assert!(
            daemon.restart().is_err(),
            "a running daemon is not started twice"
        );
    }

    #[test]
    fn two_daemons_run_side_by_side_on_different_ports() {
        let first = GitDaemon::start().unwrap();
        let second = GitDaemon::start().unwrap();
        assert_ne!(first.port(), second.port());
    }
}
