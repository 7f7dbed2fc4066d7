//! `GitRepository` over real https (nginx + git http-backend, TLS from a test CA, a token
//! checked by the server) and real ssh (sshd with a deploy key and a known_hosts file).

use crate::common;

use std::fs;
use std::path::Path;

use cfgupdate_core::{ConfigRepository, PushOutcome, RepositoryError};
use cfgupdate_git::{Credentials, GitRepository, Secret};
use cfgupdate_tests::{
    HttpsGitServer, ServerCertificate, SshServer, install_hook, new_ed25519_key, rev_parse,
};
use common::{BRANCH, change, options};

const FILES: &[(&str, &str)] = &[("images/staging.json", "{}\n")];

fn https_credentials(server: &HttpsGitServer, token: &str) -> Credentials {
    Credentials::none()
        .with_https_token(None, Secret::new(token).unwrap())
        .with_ca_file(server.ca_file())
}

/// Refreshes and pushes one change; returns the commit pushed.
fn publish_once(repository: &mut GitRepository) -> Result<String, RepositoryError> {
    let tip = repository.refresh()?;
    let change = change(
        &[("images/staging.json", "{\"api\": 1}\n")],
        &[],
        "Publish api",
    );
    match repository.commit_and_push(&tip, &change)? {
        PushOutcome::Pushed(id) => Ok(id.as_str().to_owned()),
        PushOutcome::Rejected => panic!("rejected: {:?}", repository.last_rejection()),
    }
}

fn open(url: &str, cache: &Path, credentials: Credentials) -> GitRepository {
    GitRepository::open(options(url, cache).with_credentials(credentials)).unwrap()
}

fn assert_no_secret(message: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!message.contains(secret), "a secret was shown: {message}");
    }
}

#[test]
fn https_with_the_token_and_the_ca_file_fetches_and_pushes() {
    let server = HttpsGitServer::start(ServerCertificate::Valid).unwrap();
    let bare = server.create_remote("config.git", BRANCH, FILES);
    let cache = tempfile::tempdir().unwrap();
    let mut repository = open(
        &server.url("config.git"),
        cache.path(),
        https_credentials(&server, server.token()),
    );
    let pushed = publish_once(&mut repository).unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
    assert_eq!(rev_parse(&bare, BRANCH), pushed);
}

#[test]
fn https_sends_the_token_with_the_first_request_of_each_connection() {
    let server = HttpsGitServer::start(ServerCertificate::Valid).unwrap();
    let bare = server.create_remote("config.git", BRANCH, FILES);
    let cache = tempfile::tempdir().unwrap();
    let mut repository = open(
        &server.url("config.git"),
        cache.path(),
        https_credentials(&server, server.token()),
    );
    let pushed = publish_once(&mut repository).unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
    assert_eq!(rev_parse(&bare, BRANCH), pushed);
    // A fetch and a push, each one connection: the ref advertisement of each, then the push's
    // pack. None answered 401 (the token waited for one before).
    let requests = server.requests();
    assert!(requests.len() >= 3, "{requests:#?}");
    assert!(
        requests.iter().all(|line| line.contains("\" 200 ")),
        "{requests:#?}"
    );
}

#[test]
fn https_with_a_wrong_token_says_the_token_was_refused_and_shows_no_secret() {
    let server = HttpsGitServer::start(ServerCertificate::Valid).unwrap();
    let bare = server.create_remote("config.git", BRANCH, FILES);
    let before = rev_parse(&bare, BRANCH);
    let cache = tempfile::tempdir().unwrap();
    let wrong = "tok-wrong-0123456789";
    let mut repository = open(
        &server.url("config.git"),
        cache.path(),
        https_credentials(&server, wrong),
    );
    let error = repository.refresh().unwrap_err();
    assert!(
        error.message.contains("the remote refused the token"),
        "{error}"
    );
    assert_no_secret(&error.message, &[wrong, server.token()]);
    assert_eq!(rev_parse(&bare, BRANCH), before);
}

#[test]
fn https_to_a_server_signed_by_an_unknown_ca_is_refused_with_one_sentence() {
    let server = HttpsGitServer::start(ServerCertificate::UnknownCa).unwrap();
    server.create_remote("config.git", BRANCH, FILES);
    let cache = tempfile::tempdir().unwrap();
    let mut repository = open(
        &server.url("config.git"),
        cache.path(),
        https_credentials(&server, server.token()),
    );
    let error = repository.refresh().unwrap_err();
    assert!(
        error.message.contains(
            "the TLS certificate of 127.0.0.1 is not signed by the CA in CFGUPDATE_GIT_CA_FILE"
        ),
        "{error}"
    );
    assert_no_secret(&error.message, &[server.token()]);
    // Refused before any credential went out: no request reached nginx.
    assert!(server.requests().is_empty(), "{:?}", server.requests());
}

#[test]
fn https_to_a_server_with_an_expired_certificate_says_when_it_expired() {
    let server = HttpsGitServer::start(ServerCertificate::Expired).unwrap();
    server.create_remote("config.git", BRANCH, FILES);
    let cache = tempfile::tempdir().unwrap();
    let mut repository = open(
        &server.url("config.git"),
        cache.path(),
        https_credentials(&server, server.token()),
    );
    let error = repository.refresh().unwrap_err();
    assert!(
        error
            .message
            .contains("the TLS certificate of 127.0.0.1 expired on "),
        "{error}"
    );
    assert!(server.requests().is_empty(), "{:?}", server.requests());
}

#[test]
fn a_ca_file_that_holds_no_certificate_is_named() {
    let server = HttpsGitServer::start(ServerCertificate::Valid).unwrap();
    server.create_remote("config.git", BRANCH, FILES);
    let cache = tempfile::tempdir().unwrap();
    let bad = cache.path().join("not-a-ca.pem");
    fs::write(&bad, "hello\n").unwrap();
    let credentials = Credentials::none()
        .with_https_token(None, Secret::new(server.token()).unwrap())
        .with_ca_file(&bad);
    let mut repository = open(&server.url("config.git"), cache.path(), credentials);
    let error = repository.refresh().unwrap_err();
    assert!(
        error.message.contains("CFGUPDATE_GIT_CA_FILE") && error.message.contains("not-a-ca.pem"),
        "{error}"
    );
}

#[test]
fn https_fast_forwards_main_with_the_state_in_one_atomic_push() {
    let server = HttpsGitServer::start(ServerCertificate::Valid).unwrap();
    let bare = server.create_remote("config.git", BRANCH, FILES);
    let cache = tempfile::tempdir().unwrap();
    let mut repository = open(
        &server.url("config.git"),
        cache.path(),
        https_credentials(&server, server.token()),
    );
    common::fast_forward_with_state_lands_both_or_neither(&mut repository, &bare, true, true);
}

/// A known_hosts file in `dir` holding `lines`.
fn known_hosts(dir: &Path, lines: &[String]) -> std::path::PathBuf {
    let path = dir.join("known_hosts");
    fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn ssh_credentials(server: &SshServer, known_hosts: &Path) -> Credentials {
    Credentials::none()
        .with_ssh_key(server.deploy_key(), None)
        .with_known_hosts(known_hosts)
}

#[test]
fn ssh_with_the_deploy_key_and_a_known_host_fetches_and_pushes() {
    let server = SshServer::start().unwrap();
    let bare = server.create_remote("config.git", BRANCH, FILES);
    let cache = tempfile::tempdir().unwrap();
    let hosts = known_hosts(cache.path(), &[server.known_hosts_line()]);
    let mut repository = open(
        &server.url("config.git"),
        cache.path(),
        ssh_credentials(&server, &hosts),
    );
    let pushed = publish_once(&mut repository).unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    assert_eq!(rev_parse(&bare, BRANCH), pushed);
}

#[test]
fn ssh_fast_forwards_main_with_the_state_in_one_atomic_push() {
    let server = SshServer::start().unwrap();
    let bare = server.create_remote("config.git", BRANCH, FILES);
    let cache = tempfile::tempdir().unwrap();
    let hosts = known_hosts(cache.path(), &[server.known_hosts_line()]);
    let mut repository = open(
        &server.url("config.git"),
        cache.path(),
        ssh_credentials(&server, &hosts),
    );
    common::fast_forward_with_state_lands_both_or_neither(&mut repository, &bare, true, true);
}

#[test]
fn ssh_accepts_a_hashed_known_hosts_entry() {
    let server = SshServer::start().unwrap();
    let bare = server.create_remote("config.git", BRANCH, FILES);
    let cache = tempfile::tempdir().unwrap();
    let hosts = known_hosts(cache.path(), &[server.known_hosts_line()]);
    let hashed = std::process::Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(&hosts)
        .output()
        .unwrap();
    assert!(hashed.status.success(), "{hashed:?}");
    let text = fs::read_to_string(&hosts).unwrap();
    assert!(
        text.starts_with("|1|") && !text.contains("127.0.0.1"),
        "{text}"
    );
    let mut repository = open(
        &server.url("config.git"),
        cache.path(),
        ssh_credentials(&server, &hosts),
    );
    let pushed = publish_once(&mut repository).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rev_parse(&bare, BRANCH), pushed);
}

#[test]
fn ssh_to_an_unknown_host_is_refused_before_the_key_is_offered() {
    let server = SshServer::start().unwrap();
    server.create_remote("config.git", BRANCH, FILES);
    let cache = tempfile::tempdir().unwrap();
    // The same key, but for another port: that is another server.
    let other_port = server
        .known_hosts_line()
        .replace(&format!("]:{}", server.port()), "]:1");
    let hosts = known_hosts(cache.path(), &[other_port]);
    let mut repository = open(
        &server.url("config.git"),
        cache.path(),
        ssh_credentials(&server, &hosts),
    );
    let error = repository.refresh().unwrap_err();
    assert!(
        error.message.contains(&format!(
            "the ssh server 127.0.0.1 port {} is unknown: its host key (ssh-ed25519 SHA256:",
            server.port()
        )) && error.message.contains("CFGUPDATE_SSH_KNOWN_HOSTS"),
        "{error}"
    );
    assert_eq!(server.sessions(), 0, "{}", server.log());
}

#[test]
fn ssh_to_a_host_whose_key_changed_is_refused() {
    let server = SshServer::start().unwrap();
    server.create_remote("config.git", BRANCH, FILES);
    let cache = tempfile::tempdir().unwrap();
    let impostor = new_ed25519_key(&cache.path().join("old_host_key")).unwrap();
    let hosts = known_hosts(
        cache.path(),
        &[format!("[127.0.0.1]:{} {impostor}", server.port())],
    );
    let mut repository = open(
        &server.url("config.git"),
        cache.path(),
        ssh_credentials(&server, &hosts),
    );
    let error = repository.refresh().unwrap_err();
    assert!(
        error.message.contains(&format!(
            "the host key of the ssh server 127.0.0.1 port {} changed",
            server.port()
        )),
        "{error}"
    );
    assert_eq!(server.sessions(), 0, "{}", server.log());
}

#[test]
fn ssh_scp_like_address_with_a_port_in_brackets_pushes() {
    let server = SshServer::start().unwrap();
    let bare = server.create_remote("config.git", BRANCH, FILES);
    let cache = tempfile::tempdir().unwrap();
    let hosts = known_hosts(cache.path(), &[server.known_hosts_line()]);
    // `user@host:path` has no port; git and libgit2 both read `[user@host:port]:path`.
    let url = format!(
        "[{}@127.0.0.1:{}]:{}/config.git",
        server.user(),
        server.port(),
        server.base_dir().display()
    );
    let mut repository = open(&url, cache.path(), ssh_credentials(&server, &hosts));
    let pushed = publish_once(&mut repository).unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    assert_eq!(rev_parse(&bare, BRANCH), pushed);
    // The atomic push takes the same address (libgit2's ssh transport reads it either way).
    common::fast_forward_with_state_lands_both_or_neither(&mut repository, &bare, true, true);
}

#[test]
fn ssh_scp_like_address_without_a_port_goes_to_port_22_not_to_the_server() {
    let server = SshServer::start().unwrap();
    server.create_remote("config.git", BRANCH, FILES);
    let cache = tempfile::tempdir().unwrap();
    // Listed for this server's port only: for port 22 the host is unknown, whatever runs
    // there (and when nothing does, the connection fails before any key is seen).
    let hosts = known_hosts(cache.path(), &[server.known_hosts_line()]);
    let mut repository = open(
        &server.scp_like_url("config.git"),
        cache.path(),
        ssh_credentials(&server, &hosts),
    );
    let error = repository.refresh().unwrap_err();
    assert!(
        error.message.contains("is unknown") || error.message.contains("127.0.0.1"),
        "{error}"
    );
    assert!(
        !error.message.contains(&format!("port {}", server.port())),
        "{error}"
    );
    assert_eq!(server.sessions(), 0, "{}", server.log());
}

const DECLINE: &str = "#!/bin/sh\necho run >> \"$(dirname \"$0\")/../declines\"\necho 'protected branch: changes need a review' >&2\nexit 1\n";

fn declines(bare: &Path) -> usize {
    fs::read_to_string(bare.join("declines"))
        .unwrap_or_default()
        .lines()
        .count()
}

/// A push the server declines is `Rejected` after one attempt, with the server's message.
fn assert_declined_once(repository: &mut GitRepository, bare: &Path) {
    let before = rev_parse(bare, BRANCH);
    let tip = repository.refresh().unwrap();
    let change = change(
        &[("images/staging.json", "{\"api\": 2}\n")],
        &[],
        "Publish api",
    );
    let outcome = repository.commit_and_push(&tip, &change);
    assert!(
        matches!(outcome, Ok(PushOutcome::Rejected)) || outcome.is_err(),
        "{outcome:?}"
    );
    let said = match &outcome {
        Err(error) => error.message.clone(),
        Ok(_) => repository.last_rejection().unwrap_or_default().to_owned(),
    };
    assert!(
        said.contains("pre-receive hook declined") || said.contains("protected branch"),
        "{said}"
    );
    assert_eq!(declines(bare), 1);
    assert_eq!(rev_parse(bare, BRANCH), before);
}

#[test]
fn https_a_push_declined_by_the_server_is_refused_after_one_attempt() {
    let server = HttpsGitServer::start(ServerCertificate::Valid).unwrap();
    let bare = server.create_remote("config.git", BRANCH, FILES);
    install_hook(&bare, "pre-receive", DECLINE);
    let cache = tempfile::tempdir().unwrap();
    let mut repository = open(
        &server.url("config.git"),
        cache.path(),
        https_credentials(&server, server.token()),
    );
    assert_declined_once(&mut repository, &bare);
}

#[test]
fn ssh_a_push_declined_by_the_server_is_refused_after_one_attempt() {
    let server = SshServer::start().unwrap();
    let bare = server.create_remote("config.git", BRANCH, FILES);
    install_hook(&bare, "pre-receive", DECLINE);
    let cache = tempfile::tempdir().unwrap();
    let hosts = known_hosts(cache.path(), &[server.known_hosts_line()]);
    let mut repository = open(
        &server.url("config.git"),
        cache.path(),
        ssh_credentials(&server, &hosts),
    );
    assert_declined_once(&mut repository, &bare);
}
