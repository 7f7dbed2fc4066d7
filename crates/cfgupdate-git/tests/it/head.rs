//! The branch the remote's `HEAD` names, asked when the repository opens: followed when it is
//! a usable branch, `master` when it names none, refused when a server names something else.

use crate::common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::thread;

use cfgupdate_core::{ConfigRepository, RepositoryErrorKind};
use cfgupdate_git::{BranchOrigin, GitRepository, MAX_BRANCH_LEN};
use cfgupdate_tests::GitDaemon;
use common::options;

const FILES: &[(&str, &str)] = &[("images/staging.json", "{}\n")];

#[test]
fn the_branch_the_remote_head_names_is_worked_on() {
    let daemon = GitDaemon::start().unwrap();
    let bare = daemon.create_remote("config.git", "main", FILES);
    let cache = tempfile::tempdir().unwrap();
    for url in [daemon.url("config.git"), bare.display().to_string()] {
        let mut repository =
            GitRepository::open(options(&url, cache.path()).with_remote_head_branch()).unwrap();
        assert_eq!(repository.branch().as_str(), "main", "{url}");
        assert_eq!(repository.branch_origin(), BranchOrigin::RemoteHead);
        let tip = repository.refresh().unwrap();
        assert_eq!(tip.as_str(), cfgupdate_tests::rev_parse(&bare, "main"));
    }

    // Named, the remote is not asked: the given branch stays.
    let repository = GitRepository::open(options(&daemon.url("config.git"), cache.path())).unwrap();
    assert_eq!(repository.branch().as_str(), "master");
    assert_eq!(repository.branch_origin(), BranchOrigin::Given);
}

#[test]
fn a_remote_whose_head_names_no_branch_leaves_the_fallback() {
    let daemon = GitDaemon::start().unwrap();
    daemon.create_remote("empty.git", "main", &[]);
    let cache = tempfile::tempdir().unwrap();
    let repository = GitRepository::open(
        options(&daemon.url("empty.git"), cache.path()).with_remote_head_branch(),
    )
    .unwrap();
    assert_eq!(repository.branch().as_str(), "master");
    assert_eq!(repository.branch_origin(), BranchOrigin::Fallback);
}

#[test]
fn an_unreachable_remote_is_asked_again_at_each_refresh_and_says_to_pass_branch() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let url = format!(
        "git://bot:s3cret@127.0.0.1:{}/config.git",
        listener.local_addr().unwrap().port()
    );
    drop(listener);
    let cache = tempfile::tempdir().unwrap();
    let mut repository =
        GitRepository::open(options(&url, cache.path()).with_remote_head_branch()).unwrap();
    assert_eq!(repository.branch_origin(), BranchOrigin::Pending);
    let error = repository.refresh().unwrap_err();
    assert_eq!(error.kind, RepositoryErrorKind::Unavailable, "{error}");
    assert!(error.message.contains("--branch"), "{error}");
    assert!(error.message.contains("127.0.0.1"), "{error}");
    assert!(!error.message.contains("s3cret"), "{error}");
    assert_eq!(repository.branch_origin(), BranchOrigin::Pending);

    // A remote that appears later is asked at the refresh that reaches it.
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("later.git");
    let mut repository = GitRepository::open(
        options(bare.to_str().unwrap(), cache.path()).with_remote_head_branch(),
    )
    .unwrap();
    assert_eq!(repository.branch_origin(), BranchOrigin::Pending);
    assert!(repository.refresh().is_err());
    cfgupdate_tests::create_bare_remote(&bare, "main", FILES);
    let tip = repository.refresh().unwrap();
    assert_eq!(repository.branch().as_str(), "main");
    assert_eq!(repository.branch_origin(), BranchOrigin::RemoteHead);
    assert_eq!(tip.as_str(), cfgupdate_tests::rev_parse(&bare, "main"));
}

/// One pkt-line.
fn pkt(payload: &[u8]) -> Vec<u8> {
    let mut line = format!("{:04x}", payload.len() + 4).into_bytes();
    line.extend_from_slice(payload);
    line
}

/// A `git://` server that advertises `HEAD` as a symref to `target` (plus `refs/heads/main`)
/// to each of `clients` clients, then hangs up. Returns its URL.
fn hostile_server(target: Vec<u8>, clients: usize) -> (String, thread::JoinHandle<()>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let url = format!(
        "git://127.0.0.1:{}/config.git",
        listener.local_addr().unwrap().port()
    );
    let server = thread::spawn(move || {
        for _ in 0..clients {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let oid = b"1111111111111111111111111111111111111111";
            let mut first = oid.to_vec();
            first.extend_from_slice(b" HEAD\0multi_ack ofs-delta symref=HEAD:");
            first.extend_from_slice(&target);
            first.extend_from_slice(b" agent=git/2.45.0\n");
            let mut second = oid.to_vec();
            second.extend_from_slice(b" refs/heads/main\n");
            let mut answer = pkt(&first);
            answer.extend(pkt(&second));
            answer.extend_from_slice(b"0000");
            let _ = stream.write_all(&answer);
            // Until the client hangs up.
            let _ = stream.read_to_end(&mut Vec::new());
        }
    });
    (url, server)
}

#[test]
fn a_server_naming_no_usable_branch_is_refused_with_a_short_sentence() {
    let huge = format!("refs/heads/{}", "x".repeat(60_000));
    // libgit2 itself refuses a symref that is not a valid ref name as an "invalid response"
    // of the server; what it lets through, cfgupdate checks.
    let invalid = RepositoryErrorKind::Unavailable;
    let ours = RepositoryErrorKind::Failed;
    let cases: Vec<(Vec<u8>, &str, RepositoryErrorKind)> = vec![
        (b"refs/heads/../../x".to_vec(), "invalid response", invalid),
        (
            b"refs/heads/a\x1b[31mred".to_vec(),
            "invalid response",
            invalid,
        ),
        (b"refs/tags/v1".to_vec(), "is not a branch", ours),
        (b"refs/heads/\xff\xfe".to_vec(), "not UTF-8", ours),
        (huge.into_bytes(), "more than the 255 allowed", ours),
    ];
    for (target, reason, kind) in cases {
        // What libgit2 refuses counts as an unreachable remote: opening leaves the branch
        // pending, and the refresh asks again and fails.
        let clients = if kind == invalid { 2 } else { 1 };
        let (url, server) = hostile_server(target.clone(), clients);
        let cache = tempfile::tempdir().unwrap();
        let opened = GitRepository::open(options(&url, cache.path()).with_remote_head_branch());
        let error = match opened {
            Err(error) => error,
            Ok(mut repository) => {
                assert_eq!(repository.branch_origin(), BranchOrigin::Pending);
                repository.refresh().unwrap_err()
            }
        };
        server.join().unwrap();
        let said = error.message.clone();
        assert_eq!(
            error.kind,
            kind,
            "{:?}: {said}",
            String::from_utf8_lossy(&target[..target.len().min(40)])
        );
        assert!(said.contains(reason), "{target:?}: {said}");
        assert!(said.contains("--branch") && said.contains(&url), "{said}");
        assert!(said.len() < 1500, "{} bytes: {said}", said.len());
        assert!(!said.contains('\x1b'), "{said}");
    }
    const { assert!(MAX_BRANCH_LEN < 60_000) };
}

#[test]
fn nothing_is_pushed_while_the_branch_is_pending() {
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("later.git");
    let cache = tempfile::tempdir().unwrap();
    // An earlier run on `master` left its copy in the cache.
    let master = cfgupdate_tests::create_bare_remote(&bare, "master", FILES);
    let mut earlier = GitRepository::open(options(bare.to_str().unwrap(), cache.path())).unwrap();
    earlier.refresh().unwrap();
    drop(earlier);
    std::fs::rename(&bare, dir.path().join("away.git")).unwrap();

    let mut repository = GitRepository::open(
        options(bare.to_str().unwrap(), cache.path()).with_remote_head_branch(),
    )
    .unwrap();
    assert_eq!(repository.branch_origin(), BranchOrigin::Pending);
    std::fs::rename(dir.path().join("away.git"), &bare).unwrap();
    cfgupdate_tests::git(&bare, &["branch", "main", "master"]);
    cfgupdate_tests::git(&bare, &["symbolic-ref", "HEAD", "refs/heads/main"]);
    let parent = common::id(&master);
    let change = common::change(&[("a.txt", "a")], &[], "Add a");
    let error = repository.commit_and_push(&parent, &change).unwrap_err();
    assert_eq!(error.kind, RepositoryErrorKind::Unavailable, "{error}");
    assert!(error.message.contains("--branch"), "{error}");
    let error = repository.push_state(None, b"{}", "State").unwrap_err();
    assert_eq!(error.kind, RepositoryErrorKind::Unavailable, "{error}");
    assert_eq!(cfgupdate_tests::rev_parse(&bare, "master"), master);
    assert_eq!(
        cfgupdate_tests::git(&bare, &["for-each-ref", "refs/cfgupdate/"]),
        ""
    );
}

/// A proxy in front of a real `git daemon` that adds `extra` (one advertised ref line) to the
/// ref advertisement, before its flush, and passes everything else through. Returns its URL.
fn injecting_proxy(daemon_url: &str, extra: Vec<u8>) -> String {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let address = daemon_url
        .trim_start_matches("git://")
        .split_once('/')
        .unwrap()
        .0
        .to_owned();
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let mut server = std::net::TcpStream::connect(&address).unwrap();
            let extra = extra.clone();
            thread::spawn(move || {
                // The client's request line names this proxy's host: pass it on as is.
                let mut request = [0u8; 4096];
                let n = client.read(&mut request).unwrap_or(0);
                server.write_all(&request[..n]).unwrap();
                // The advertisement: pkt-lines up to the first flush.
                let mut advertised = Vec::new();
                loop {
                    let mut length = [0u8; 4];
                    if server.read_exact(&mut length).is_err() {
                        return;
                    }
                    let size =
                        usize::from_str_radix(std::str::from_utf8(&length).unwrap(), 16).unwrap();
                    if size == 0 {
                        break;
                    }
                    let mut payload = vec![0u8; size - 4];
                    server.read_exact(&mut payload).unwrap();
                    advertised.extend_from_slice(&length);
                    advertised.extend_from_slice(&payload);
                }
                advertised.extend(pkt(&extra));
                advertised.extend_from_slice(b"0000");
                client.write_all(&advertised).unwrap();
                let (mut client_reader, mut server_writer) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                let upstream = thread::spawn(move || {
                    let _ = std::io::copy(&mut client_reader, &mut server_writer);
                    let _ = server_writer.shutdown(std::net::Shutdown::Write);
                });
                let _ = std::io::copy(&mut server, &mut client);
                let _ = client.shutdown(std::net::Shutdown::Write);
                let _ = upstream.join();
            });
        }
    });
    format!("git://127.0.0.1:{port}/config.git")
}

#[test]
fn a_ref_name_that_is_not_utf8_in_the_advertisement_is_ignored_not_a_crash() {
    let daemon = GitDaemon::start().unwrap();
    let bare = daemon.create_remote("config.git", "master", FILES);
    let tip = cfgupdate_tests::rev_parse(&bare, "master");
    let mut line = tip.clone().into_bytes();
    line.extend_from_slice(b" refs/heads/\xff\xfe\n");
    let url = injecting_proxy(&daemon.url("config.git"), line);
    let cache = tempfile::tempdir().unwrap();
    let mut repository = GitRepository::open(options(&url, cache.path())).unwrap();
    // git2's own `RemoteHead::name` panicked here on the name that is not UTF-8.
    let fetched = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| repository.refresh()));
    let fetched = fetched.expect("a hostile advertisement brought the process down");
    assert_eq!(fetched.unwrap().as_str(), tip);
}
