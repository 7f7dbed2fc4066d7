//! What the `faults_*` and `hostile_*` tests need beyond the rest of the support: a `git
//! daemon` that can be stopped and started again on the same port, a raw HTTP/1.1 client that
//! sends exactly the bytes it is given, a snapshot of every ref of a remote, and a seeded
//! random number generator.

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cfgupdate_tests::{git, try_git};

use super::Answer;

/// A `git daemon` serving a temporary directory on a fixed loopback port, which can be
/// stopped (the remote becomes unreachable: connections are refused) and started again on the
/// same port, as a git server restarting would. Killed, with every process it forked, when
/// dropped.
pub struct RestartableDaemon {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl RestartableDaemon {
    /// Starts a daemon on a free port and waits until it accepts connections.
    pub fn start() -> RestartableDaemon {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("repos")).unwrap();
        let mut daemon = RestartableDaemon {
            child: None,
            port: 0,
            dir,
        };
        // Another process may take the free port before the daemon binds it: pick another.
        for _ in 0..5 {
            daemon.port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            if daemon.try_start(Duration::from_secs(10)) {
                return daemon;
            }
        }
        panic!("git daemon did not start on any of 5 free ports");
    }

    fn base(&self) -> PathBuf {
        self.dir.path().join("repos")
    }

    /// Spawns the daemon and waits up to `within` until it accepts connections.
    fn try_start(&mut self, within: Duration) -> bool {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("daemon.log"))
            .unwrap();
        let base = self.base();
        let mut command = Command::new("git");
        command
            .current_dir(&base)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("LC_ALL", "C")
            .args([
                "daemon",
                "--export-all",
                "--enable=receive-pack",
                "--reuseaddr",
                "--listen=127.0.0.1",
            ])
            .arg(format!("--port={}", self.port))
            .arg(format!("--base-path={}", base.display()))
            .arg(&base)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            // Its own group, so that stopping it stops the processes it forked as well.
            .process_group(0);
        let mut child = command.spawn().expect("git daemon starts");
        let deadline = Instant::now() + within;
        loop {
            if child.try_wait().unwrap().is_some() {
                return false;
            }
            if TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok() {
                self.child = Some(child);
                return true;
            }
            if Instant::now() > deadline {
                kill_group(&mut child);
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The port it listens on, whether running or not.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `git://127.0.0.1:<port>/<name>`.
    pub fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}", self.port)
    }

    /// Creates the bare repository `name` whose `branch` holds `files`; returns its path.
    pub fn create_remote(&self, name: &str, branch: &str, files: &[(&str, &str)]) -> PathBuf {
        let path = self.base().join(name);
        cfgupdate_tests::create_bare_remote(&path, branch, files);
        path
    }

    /// Kills the daemon and every connection it serves: from now on connections are refused.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_group(&mut child);
        }
        // The processes die a moment after the signal: wait until the port refuses.
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok() {
            assert!(
                Instant::now() < deadline,
                "something still listens on port {} after the daemon stopped",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the daemon again on the same port.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the daemon is running");
        // The port may linger a moment after the kill: try for a while.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.try_start(Duration::from_secs(5)) {
            assert!(
                Instant::now() < deadline,
                "git daemon did not start again on port {}: {}",
                self.port,
                fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for RestartableDaemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_group(&mut child);
        }
    }
}

fn kill_group(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

/// Every ref of a bare repository with the commit it points at: equal snapshots mean nothing
/// was pushed in between.
pub fn refs(bare: &Path) -> String {
    git(bare, &["for-each-ref", "--format=%(refname) %(objectname)"])
}

/// Asserts that `git fsck --strict` finds nothing wrong with `bare`.
pub fn assert_fsck_clean(bare: &Path) {
    let fsck = try_git(bare, &["fsck", "--strict"]);
    assert!(
        fsck.status.success(),
        "git fsck --strict: {}{}",
        String::from_utf8_lossy(&fsck.stdout),
        String::from_utf8_lossy(&fsck.stderr)
    );
}

/// The pipeline state document on the remote (`{}` when there is none yet).
pub fn state_document(bare: &Path) -> serde_json::Value {
    let shown = try_git(bare, &["show", "refs/cfgupdate/state/master:state.json"]);
    if !shown.status.success() {
        return serde_json::json!({});
    }
    serde_json::from_slice(&shown.stdout).expect("the state document is JSON")
}

/// `(wave, source revision)` of every promote commit on the branch, oldest first.
pub fn promotions(bare: &Path) -> Vec<(String, String)> {
    let format = "--format=%(trailers:key=Cfgupdate-Action,valueonly,separator=%x2C)|%(trailers:key=Cfgupdate-Wave,valueonly,separator=%x2C)|%(trailers:key=Cfgupdate-Source-Revision,valueonly,separator=%x2C)";
    git(bare, &["log", "--reverse", format, "master"])
        .lines()
        .filter_map(|line| {
            let mut parts = line.split('|');
            let (action, wave, source) = (parts.next()?, parts.next()?, parts.next()?);
            (action.trim() == "promote").then(|| (wave.trim().to_owned(), source.trim().to_owned()))
        })
        .collect()
}

/// Sends `request` (the whole HTTP/1.1 request, as bytes) to `url` (`http://host:port`) over a
/// fresh connection and reads the answer until the server closes it. Nothing is added,
/// normalised or checked, so duplicated headers, raw `..` in paths and bytes a client library
/// would refuse all reach the server as written. `None` when the server closed the connection
/// without answering.
pub fn raw(url: &str, request: &[u8]) -> Option<Answer> {
    let address = url.strip_prefix("http://").expect("an http:// URL");
    let mut stream = TcpStream::connect(address).expect("the server accepts connections");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    // The server may answer (and close) before it has read a large body: a failed write is
    // not an error of the test.
    let _ = stream.write_all(request);
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    parse_answer(&bytes)
}

fn parse_answer(bytes: &[u8]) -> Option<Answer> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = bytes[end + 4..].to_vec();
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Some(Answer {
        status,
        headers,
        text: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = bytes.windows(2).position(|w| w == b"\r\n") {
        let size = String::from_utf8_lossy(&bytes[..line_end]);
        let Ok(size) = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
        else {
            break;
        };
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        let Some(chunk) = bytes.get(start..start + size) else {
            break;
        };
        out.extend_from_slice(chunk);
        bytes = bytes.get(start + size + 2..).unwrap_or_default();
    }
    out
}

/// A small, seeded generator (SplitMix64): the same seed gives the same run.
pub struct Rng(u64);

impl Rng {
    /// The generator of `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The seed from `CFGUPDATE_FAULT_SEED`, or `default`: printed, so a failing run can be
    /// repeated.
    pub fn from_env(default: u64) -> (Rng, u64) {
        let seed = std::env::var("CFGUPDATE_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default);
        eprintln!("seed {seed} (set CFGUPDATE_FAULT_SEED to repeat another)");
        (Rng::new(seed), seed)
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `range`.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }

    /// A duration between `low` and `high` milliseconds.
    pub fn millis(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(low + self.below(high.saturating_sub(low) + 1))
    }
}
