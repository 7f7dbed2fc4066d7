//! A real smart-HTTP git server over TLS: nginx in front of `git http-backend` (through
//! fcgiwrap), with a token checked by the server, for the lifetime of one value.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::git;
use crate::process::{
    ATTEMPTS, READY_WITHIN, die_with_parent, free_port, is_root, kill_group, run, wait_until_ready,
};
use crate::tls::{ServerCertificate, TestPki};

/// The user name the server expects with the token: what cfgupdate sends by default.
pub const HTTPS_USERNAME: &str = "x-access-token";

/// nginx (TLS, HTTP basic authentication against an htpasswd holding one random token) in
/// front of `git http-backend`, serving every bare repository under a temporary directory as
/// `https://127.0.0.1:<port>/<name>`, with pushes enabled.
///
/// Dropping it kills nginx and fcgiwrap with the CGI processes they started (each runs in a
/// process group of its own) and removes the directory. Both are started with a
/// parent-death signal, like [`crate::GitDaemon`]: keep the value on the thread that
/// started it.
pub struct HttpsGitServer {
    nginx: Child,
    fcgiwrap: Child,
    port: u16,
    token: String,
    pki: TestPki,
    dir: TempDir,
}

impl HttpsGitServer {
    /// Starts a server presenting the certificate `certificate` and waits until it accepts
    /// connections.
    pub fn start(certificate: ServerCertificate) -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let root = dir.path();
        for sub in ["repos", "logs", "tmp"] {
            fs::create_dir_all(root.join(sub))?;
        }
        let pki = TestPki::create(&root.join("pki"))?;
        let token = format!("tok-{}", random_hex(16)?);
        let hash = run(Command::new("openssl").args(["passwd", "-apr1", &token]))?;
        fs::write(
            root.join("htpasswd"),
            format!("{HTTPS_USERNAME}:{}\n", hash.trim()),
        )?;

        let socket = root.join("fcgiwrap.sock");
        let mut fcgiwrap = spawn_fcgiwrap(&socket, &root.join("logs/fcgiwrap.log"))?;
        if let Err(error) = wait_for_file(&mut fcgiwrap, &socket) {
            kill_group(&mut fcgiwrap);
            return Err(error);
        }
        let backend = PathBuf::from(run(Command::new("git").arg("--exec-path"))?.trim())
            .join("git-http-backend");
        let mut last_error = None;
        for _ in 0..ATTEMPTS {
            let port = free_port()?;
            let config = root.join("nginx.conf");
            fs::write(
                &config,
                nginx_config(root, port, &pki, certificate, &socket, &backend),
            )?;
            let mut nginx = spawn_nginx(root, &config)?;
            match wait_until_ready(&mut nginx, port, "nginx") {
                Ok(()) => {
                    return Ok(Self {
                        nginx,
                        fcgiwrap,
                        port,
                        token,
                        pki,
                        dir,
                    });
                }
                Err(error) => {
                    kill_group(&mut nginx);
                    last_error = Some(error);
                }
            }
        }
        kill_group(&mut fcgiwrap);
        let log = fs::read_to_string(root.join("logs/error.log")).unwrap_or_default();
        Err(io::Error::other(format!(
            "nginx did not start after {ATTEMPTS} attempts ({}); its log: {log}",
            last_error.map(|e| e.to_string()).unwrap_or_default()
        )))
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory whose bare repositories it serves.
    pub fn base_dir(&self) -> PathBuf {
        self.dir.path().join("repos")
    }

    /// The `https://` URL of the repository `name`, without credentials.
    pub fn url(&self, name: &str) -> String {
        format!("https://127.0.0.1:{}/{name}", self.port)
    }

    /// The URL of `name` with the user name and token in it, for the git CLI.
    pub fn authenticated_url(&self, name: &str) -> String {
        format!(
            "https://{HTTPS_USERNAME}:{}@127.0.0.1:{}/{name}",
            self.token, self.port
        )
    }

    /// The token the server accepts (with [`HTTPS_USERNAME`]).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The CA that signed the valid and the expired certificate: `CFGUPDATE_GIT_CA_FILE`.
    pub fn ca_file(&self) -> PathBuf {
        self.pki.ca_file()
    }

    /// Creates the bare repository `name` whose `branch` holds `files`, with pushes over
    /// http enabled, and returns its path (see [`crate::create_bare_remote`]).
    pub fn create_remote(&self, name: &str, branch: &str, files: &[(&str, &str)]) -> PathBuf {
        let path = self.base_dir().join(name);
        crate::create_bare_remote(&path, branch, files);
        git(&path, &["config", "http.receivepack", "true"]);
        path
    }

    /// Runs `git args...` in `dir` trusting the test CA (through `GIT_SSL_CAINFO`, which
    /// wins over any configuration), and returns what it did.
    pub fn git(&self, dir: &Path, args: &[&str]) -> Output {
        crate::git::command(dir)
            .env("GIT_SSL_CAINFO", self.ca_file())
            .args(args)
            .output()
            .unwrap_or_else(|error| panic!("cannot run git {args:?}: {error}"))
    }

    /// nginx's access log: one line per request, with its status.
    pub fn access_log(&self) -> PathBuf {
        self.dir.path().join("logs/access.log")
    }

    /// The request lines of the access log so far (`GET /x.git/info/refs?... 200`), oldest
    /// first.
    pub fn requests(&self) -> Vec<String> {
        fs::read_to_string(self.access_log())
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// nginx's error log and fcgiwrap's messages, for a failing test to show.
    pub fn logs(&self) -> String {
        let read = |name: &str| fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!(
            "nginx: {}\nfcgiwrap: {}",
            read("logs/error.log"),
            read("logs/fcgiwrap.log")
        )
    }
}

impl Drop for HttpsGitServer {
    fn drop(&mut self) {
        kill_group(&mut self.nginx);
        kill_group(&mut self.fcgiwrap);
    }
}

fn nginx_config(
    root: &Path,
    port: u16,
    pki: &TestPki,
    certificate: ServerCertificate,
    socket: &Path,
    backend: &Path,
) -> String {
    let root = root.display();
    // As root, nginx would switch to `nobody`, who cannot read the temporary directory.
    let user = if is_root() { "user root;" } else { "" };
    format!(
        r#"daemon off;
master_process off;
{user}
pid {root}/nginx.pid;
error_log {root}/logs/error.log info;
events {{ worker_connections 256; }}
http {{
  access_log {root}/logs/access.log;
  client_body_temp_path {root}/tmp/body;
  proxy_temp_path {root}/tmp/proxy;
  fastcgi_temp_path {root}/tmp/fastcgi;
  uwsgi_temp_path {root}/tmp/uwsgi;
  scgi_temp_path {root}/tmp/scgi;
  client_max_body_size 0;
  keepalive_requests 1000;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {certificate};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {{
      auth_basic "git";
      auth_basic_user_file {root}/htpasswd;
      fastcgi_pass unix:{socket};
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME {backend};
      fastcgi_param GIT_PROJECT_ROOT {root}/repos;
      fastcgi_param GIT_HTTP_EXPORT_ALL "";
      fastcgi_param PATH_INFO $uri;
      fastcgi_param REMOTE_USER $remote_user;
      fastcgi_request_buffering off;
      fastcgi_buffering off;
    }}
  }}
}}
"#,
        certificate = pki.server_certificate(certificate).display(),
        key = pki.server_key().display(),
        socket = socket.display(),
        backend = backend.display(),
    )
}

fn spawn_nginx(root: &Path, config: &Path) -> io::Result<Child> {
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(root.join("logs/nginx.out"))?;
    let mut command = Command::new("nginx");
    command
        .arg("-p")
        .arg(root)
        .arg("-e")
        .arg(root.join("logs/error.log"))
        .arg("-c")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    die_with_parent(&mut command);
    command
        .spawn()
        .map_err(|error| io::Error::other(format!("cannot start nginx: {error}")))
}

fn spawn_fcgiwrap(socket: &Path, log: &Path) -> io::Result<Child> {
    let log = fs::OpenOptions::new().create(true).append(true).open(log)?;
    let mut command = Command::new("fcgiwrap");
    command
        .arg("-c")
        .arg("4")
        .arg("-s")
        .arg(format!("unix:{}", socket.display()))
        // git http-backend runs with this environment: no developer's configuration.
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    die_with_parent(&mut command);
    command
        .spawn()
        .map_err(|error| io::Error::other(format!("cannot start fcgiwrap: {error}")))
}

fn wait_for_file(child: &mut Child, path: &Path) -> io::Result<()> {
    let deadline = Instant::now() + READY_WITHIN;
    while !path.exists() {
        if let Some(status) = child.try_wait()? {
            return Err(io::Error::other(format!("fcgiwrap exited with {status}")));
        }
        if Instant::now() > deadline {
            return Err(io::Error::other(format!(
                "fcgiwrap did not create {} within {READY_WITHIN:?}",
                path.display()
            )));
        }
        thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// `bytes` random bytes from the kernel, as hex.
pub(crate) fn random_hex(bytes: usize) -> io::Result<String> {
    let mut buffer = vec![0u8; bytes];
    fs::File::open("/dev/urandom")?.read_exact(&mut buffer)?;
    Ok(buffer.iter().map(|byte| format!("{byte:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_takes_pushes_with_the_token_and_refuses_a_wrong_one() {
        let server = HttpsGitServer::start(ServerCertificate::Valid).unwrap();
        let remote = server.create_remote("config.git", "master", &[("a.txt", "one\n")]);
        let work = tempfile::tempdir().unwrap();
        let url = server.authenticated_url("config.git");
        let clone = server.git(work.path(), &["clone", "--quiet", &url, "c"]);
        assert!(clone.status.success(), "{clone:?}\n{}", server.logs());
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
        let push = server.git(&dir, &["push", "--quiet", "origin", "HEAD:master"]);
        assert!(push.status.success(), "{push:?}");
        assert_eq!(
            crate::rev_parse(&remote, "master"),
            git(&dir, &["rev-parse", "HEAD"])
        );

        let wrong = server
            .url("config.git")
            .replace("https://", "https://x-access-token:nope@");
        let refused = server.git(work.path(), &["ls-remote", &wrong]);
        assert!(!refused.status.success());
        assert!(
            server
                .requests()
                .iter()
                .any(|line| line.contains("\" 401 "))
        );
    }
}
