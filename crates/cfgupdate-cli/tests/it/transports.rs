//! The real binary over real https (nginx + git http-backend, a test CA, a token checked by
//! the server) and real ssh (sshd, a deploy key, a known_hosts file): `publish`, `status`,
//! the failures a team meets first (wrong token, unknown CA, expired certificate, unknown or
//! changed host key), and `serve` answering an announcement over https.

use crate::serve_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cfgupdate_tests::{
    HttpsGitServer, ServerCertificate, SshServer, install_hook, new_ed25519_key, rev_parse,
};
use serve_support::{
    CI_TOKEN, Options, Server, all_credentials, announcement, file_refs, files, post_as, reference,
};

/// Every variable the binary reads for a remote, so the developer's own never leak in.
const REMOTE_VARS: [&str; 8] = [
    "CFGUPDATE_GIT_TOKEN",
    "CFGUPDATE_GIT_USERNAME",
    "CFGUPDATE_GIT_CA_FILE",
    "CFGUPDATE_SSH_KEY",
    "CFGUPDATE_SSH_KEY_PASSPHRASE",
    "CFGUPDATE_SSH_KNOWN_HOSTS",
    "CFGUPDATE_REPO",
    "CFGUPDATE_BRANCH",
];

fn cfgupdate(args: &[&str], cache: &Path, env: &[(&str, String)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cfgupdate"));
    command.args(args).env("CFGUPDATE_CACHE_DIR", cache);
    for name in REMOTE_VARS {
        command.env_remove(name);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("the binary runs")
}

fn publish(url: &str, cache: &Path, env: &[(&str, String)], i: usize) -> Output {
    let image = format!("api={}", reference("api", i));
    let app = format!("{i:040x}");
    cfgupdate(
        &[
            "publish",
            "--repo",
            url,
            "--app-commit",
            &app,
            "--image",
            &image,
        ],
        cache,
        env,
    )
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Exit 1, one line on stderr holding `expected`, nothing on stdout, no secret anywhere.
fn assert_fails_with(output: &Output, expected: &str, secrets: &[&str]) {
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(expected), "{stderr}");
    // One sentence, besides the warning that these remotes' state is not authenticated.
    let sentences = stderr
        .lines()
        .filter(|line| !line.contains("not authenticated (no CFGUPDATE_STATE_KEY)"))
        .count();
    assert_eq!(sentences, 1, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    for secret in secrets {
        assert!(
            !stderr.contains(secret) && !stdout.contains(secret),
            "a secret was shown: {stderr}"
        );
    }
}

fn https_env(server: &HttpsGitServer, token: &str) -> Vec<(&'static str, String)> {
    vec![
        ("CFGUPDATE_GIT_TOKEN", token.to_owned()),
        (
            "CFGUPDATE_GIT_CA_FILE",
            server.ca_file().display().to_string(),
        ),
    ]
}

fn https_remote(certificate: ServerCertificate) -> (HttpsGitServer, PathBuf) {
    let server = HttpsGitServer::start(certificate).unwrap();
    let files = files();
    let bare = server.create_remote("config.git", "master", &file_refs(&files));
    (server, bare)
}

#[test]
fn publish_and_status_over_https_with_the_token_and_the_ca_file() {
    let (server, bare) = https_remote(ServerCertificate::Valid);
    let cache = tempfile::tempdir().unwrap();
    let env = https_env(&server, server.token());
    let url = server.url("config.git");

    let output = publish(&url, cache.path(), &env, 1);
    assert!(
        output.status.success(),
        "{}\n{}",
        text(&output.stderr),
        server.logs()
    );
    let commit = text(&output.stdout).trim().to_owned();
    assert_eq!(rev_parse(&bare, "master"), commit);

    let status = cfgupdate(&["status", "--json", "--repo", &url], cache.path(), &env);
    assert!(status.status.success(), "{}", text(&status.stderr));
    assert!(text(&status.stdout).contains(&reference("api", 1)));
}

#[test]
fn the_https_token_may_come_from_a_file_as_a_mounted_secret_gives_it() {
    let (server, bare) = https_remote(ServerCertificate::Valid);
    let cache = tempfile::tempdir().unwrap();
    let secret = tempfile::tempdir().unwrap();
    let token_file = secret.path().join("git-token");
    // As `kubectl create secret --from-file` and editors write it: with a final newline.
    fs::write(&token_file, format!("{}\n", server.token())).unwrap();
    let env = vec![
        ("CFGUPDATE_GIT_TOKEN_FILE", token_file.display().to_string()),
        (
            "CFGUPDATE_GIT_CA_FILE",
            server.ca_file().display().to_string(),
        ),
    ];
    let output = publish(&server.url("config.git"), cache.path(), &env, 1);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        rev_parse(&bare, "master"),
        text(&output.stdout).trim().to_owned()
    );

    // Both ways at once is a usage error naming the variable, and pushes nothing.
    let mut both = env.clone();
    both.push(("CFGUPDATE_GIT_TOKEN", server.token().to_owned()));
    let before = rev_parse(&bare, "master");
    let output = publish(&server.url("config.git"), cache.path(), &both, 2);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("CFGUPDATE_GIT_TOKEN_FILE"),
        "{}",
        text(&output.stderr)
    );
    assert!(!text(&output.stderr).contains(server.token()));
    assert_eq!(rev_parse(&bare, "master"), before);
}

#[test]
fn a_wrong_token_is_one_sentence_and_exit_1_without_the_token() {
    let (server, bare) = https_remote(ServerCertificate::Valid);
    let before = rev_parse(&bare, "master");
    let cache = tempfile::tempdir().unwrap();
    let wrong = "tok-not-the-right-one-5e1f";
    let output = publish(
        &server.url("config.git"),
        cache.path(),
        &https_env(&server, wrong),
        1,
    );
    assert_fails_with(
        &output,
        "the remote refused the token (from CFGUPDATE_GIT_TOKEN",
        &[wrong, server.token()],
    );
    assert_eq!(rev_parse(&bare, "master"), before);
}

#[test]
fn a_token_in_the_url_that_is_refused_is_not_shown_either() {
    let (server, _bare) = https_remote(ServerCertificate::Valid);
    let cache = tempfile::tempdir().unwrap();
    let wrong = "tok-in-the-url-77aa";
    let url = server
        .url("config.git")
        .replace("https://", &format!("https://x-access-token:{wrong}@"));
    let env = vec![(
        "CFGUPDATE_GIT_CA_FILE",
        server.ca_file().display().to_string(),
    )];
    let output = publish(&url, cache.path(), &env, 1);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert!(
        !text(&output.stderr).contains(wrong),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_server_certificate_from_an_unknown_ca_is_one_sentence_and_exit_1() {
    let (server, _bare) = https_remote(ServerCertificate::UnknownCa);
    let cache = tempfile::tempdir().unwrap();
    let output = publish(
        &server.url("config.git"),
        cache.path(),
        &https_env(&server, server.token()),
        1,
    );
    assert_fails_with(
        &output,
        "the TLS certificate of 127.0.0.1 is not signed by the CA in CFGUPDATE_GIT_CA_FILE",
        &[server.token()],
    );
    assert!(server.requests().is_empty(), "{:?}", server.requests());
}

#[test]
fn an_expired_server_certificate_is_one_sentence_and_exit_1() {
    let (server, _bare) = https_remote(ServerCertificate::Expired);
    let cache = tempfile::tempdir().unwrap();
    let output = publish(
        &server.url("config.git"),
        cache.path(),
        &https_env(&server, server.token()),
        1,
    );
    assert_fails_with(
        &output,
        "the TLS certificate of 127.0.0.1 expired on ",
        &[server.token()],
    );
}

fn ssh_remote() -> (SshServer, PathBuf, tempfile::TempDir) {
    let server = SshServer::start().unwrap();
    let files = files();
    let bare = server.create_remote("config.git", "master", &file_refs(&files));
    let dir = tempfile::tempdir().unwrap();
    (server, bare, dir)
}

fn ssh_env(server: &SshServer, known_hosts: &Path) -> Vec<(&'static str, String)> {
    vec![
        (
            "CFGUPDATE_SSH_KEY",
            server.deploy_key().display().to_string(),
        ),
        (
            "CFGUPDATE_SSH_KNOWN_HOSTS",
            known_hosts.display().to_string(),
        ),
    ]
}

fn write_known_hosts(dir: &Path, line: &str) -> PathBuf {
    let path = dir.join("known_hosts");
    fs::write(&path, format!("{line}\n")).unwrap();
    path
}

#[test]
fn publish_and_status_over_ssh_with_the_deploy_key_and_known_hosts() {
    let (server, bare, dir) = ssh_remote();
    let hosts = write_known_hosts(dir.path(), &server.known_hosts_line());
    let env = ssh_env(&server, &hosts);
    let url = server.url("config.git");
    let cache = dir.path().join("cache");

    let output = publish(&url, &cache, &env, 1);
    assert!(
        output.status.success(),
        "{}\n{}",
        text(&output.stderr),
        server.log()
    );
    assert_eq!(rev_parse(&bare, "master"), text(&output.stdout).trim());

    // scp-like, with the port in brackets as git and libgit2 read it.
    let scp_like = format!(
        "[{}@127.0.0.1:{}]:{}/config.git",
        server.user(),
        server.port(),
        server.base_dir().display()
    );
    let output = publish(&scp_like, &dir.path().join("cache2"), &env, 2);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(rev_parse(&bare, "master"), text(&output.stdout).trim());

    let status = cfgupdate(&["status", "--json", "--repo", &url], &cache, &env);
    assert!(status.status.success(), "{}", text(&status.stderr));
    assert!(text(&status.stdout).contains(&reference("api", 2)));
}

#[test]
fn an_unknown_ssh_host_is_refused_with_one_sentence_and_exit_1() {
    let (server, bare, dir) = ssh_remote();
    let before = rev_parse(&bare, "master");
    // Known under its name on port 22 only: on this port it is another server.
    let line = format!("127.0.0.1 {}", server.host_public_key());
    let hosts = write_known_hosts(dir.path(), &line);
    let output = publish(
        &server.url("config.git"),
        &dir.path().join("cache"),
        &ssh_env(&server, &hosts),
        1,
    );
    assert_fails_with(
        &output,
        &format!("the ssh server 127.0.0.1 port {} is unknown", server.port()),
        &[],
    );
    assert_eq!(server.sessions(), 0);
    assert_eq!(rev_parse(&bare, "master"), before);
}

#[test]
fn a_changed_ssh_host_key_is_refused_with_one_sentence_and_exit_1() {
    let (server, _bare, dir) = ssh_remote();
    let old = new_ed25519_key(&dir.path().join("old_host_key")).unwrap();
    let hosts = write_known_hosts(dir.path(), &format!("[127.0.0.1]:{} {old}", server.port()));
    let output = publish(
        &server.url("config.git"),
        &dir.path().join("cache"),
        &ssh_env(&server, &hosts),
        1,
    );
    assert_fails_with(
        &output,
        &format!(
            "the host key of the ssh server 127.0.0.1 port {} changed",
            server.port()
        ),
        &[],
    );
    assert_eq!(server.sessions(), 0);
}

#[test]
fn serve_over_https_answers_an_announcement_with_the_commit_it_pushed() {
    let (server, bare) = https_remote(ServerCertificate::Valid);
    let dir = tempfile::tempdir().unwrap();
    let url = server.url("config.git");
    let mut env = all_credentials();
    env.extend(https_env(&server, server.token()));
    let service = Server::start(Options {
        repo: &url,
        cache: &dir.path().join("cache"),
        log: dir.path().join("serve.log"),
        env,
        args: vec![],
    });
    let answer = post_as(&service.at("/v1/images"), CI_TOKEN, &announcement(1, "api"));
    assert_eq!(answer.status, 200, "{}\n{}", answer.text, service.log());
    let commit = answer.json()["commit"].as_str().unwrap().to_owned();
    assert_eq!(rev_parse(&bare, "master"), commit);
    assert!(!service.log().contains(server.token()));
}

/// A pre-receive hook standing in for a protected branch: counts its runs, says why.
/// A protected branch: a push to a branch is declined (and counted); the state ref is not.
const DECLINE: &str = "#!/bin/sh\nwhile read old new ref; do\n  case \"$ref\" in refs/heads/*)\n    echo run >> \"$(dirname \"$0\")/../declines\"\n    echo 'protected branch: changes need a review' >&2; exit 1;;\n  esac\ndone\n";

fn declines(bare: &Path) -> usize {
    fs::read_to_string(bare.join("declines"))
        .unwrap_or_default()
        .lines()
        .count()
}

#[test]
fn a_push_declined_over_https_is_exit_1_with_the_servers_message_after_one_attempt() {
    let (server, bare) = https_remote(ServerCertificate::Valid);
    install_hook(&bare, "pre-receive", DECLINE);
    let cache = tempfile::tempdir().unwrap();
    let output = publish(
        &server.url("config.git"),
        cache.path(),
        &https_env(&server, server.token()),
        1,
    );
    assert_fails_with(
        &output,
        "protected branch: changes need a review",
        &[server.token()],
    );
    assert_eq!(declines(&bare), 1);
}

#[test]
fn a_push_declined_over_ssh_is_exit_1_with_the_servers_message_after_one_attempt() {
    let (server, bare, dir) = ssh_remote();
    install_hook(&bare, "pre-receive", DECLINE);
    let hosts = write_known_hosts(dir.path(), &server.known_hosts_line());
    let output = publish(
        &server.url("config.git"),
        &dir.path().join("cache"),
        &ssh_env(&server, &hosts),
        1,
    );
    assert_fails_with(&output, "protected branch: changes need a review", &[]);
    assert_eq!(declines(&bare), 1);
}

#[test]
fn serve_answers_502_with_the_servers_message_when_https_declines_the_push() {
    let (server, bare) = https_remote(ServerCertificate::Valid);
    install_hook(&bare, "pre-receive", DECLINE);
    let dir = tempfile::tempdir().unwrap();
    let url = server.url("config.git");
    let mut env = all_credentials();
    env.extend(https_env(&server, server.token()));
    let service = Server::start(Options {
        repo: &url,
        cache: &dir.path().join("cache"),
        log: dir.path().join("serve.log"),
        env,
        args: vec![],
    });
    let answer = post_as(&service.at("/v1/images"), CI_TOKEN, &announcement(1, "api"));
    assert_eq!(answer.status, 502, "{}", answer.text);
    assert!(
        answer
            .text
            .contains("protected branch: changes need a review"),
        "{}",
        answer.text
    );
    assert_eq!(declines(&bare), 1);
}

#[test]
fn an_empty_token_variable_beside_the_token_file_counts_as_unset() {
    let (server, bare) = https_remote(ServerCertificate::Valid);
    let cache = tempfile::tempdir().unwrap();
    let secret = tempfile::tempdir().unwrap();
    let token_file = secret.path().join("git-token");
    fs::write(&token_file, server.token()).unwrap();
    let env = vec![
        ("CFGUPDATE_GIT_TOKEN", String::new()),
        ("CFGUPDATE_GIT_TOKEN_FILE", token_file.display().to_string()),
        (
            "CFGUPDATE_GIT_CA_FILE",
            server.ca_file().display().to_string(),
        ),
    ];
    let output = publish(&server.url("config.git"), cache.path(), &env, 1);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        rev_parse(&bare, "master"),
        text(&output.stdout).trim().to_owned()
    );
}
