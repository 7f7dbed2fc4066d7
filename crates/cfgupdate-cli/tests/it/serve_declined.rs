//! `cfgupdate serve` against a remote whose pre-receive hook says no (issue 10, finding 4):
//! 502 with the server's words after one attempt, `/readyz` not ready until a push lands.

use crate::serve_support;

use cfgupdate_tests::{GitDaemon, git, install_hook};
use serve_support::*;

#[test]
fn a_declined_push_is_502_in_the_servers_words_once_and_readyz_says_so_until_one_lands() {
    let daemon = GitDaemon::start().unwrap();
    let files = files();
    let bare = daemon.create_remote("config.git", "master", &file_refs(&files));
    install_hook(
        &bare,
        "pre-receive",
        // A protected branch: pushes to branches are declined (and counted), the state ref is not.
        "#!/bin/sh\nwhile read old new ref; do\n  case \"$ref\" in refs/heads/*)\n    echo push >> \"$GIT_DIR/pushes.log\"\n    echo 'GL-HOOK-ERR: pushes to master need a merge request' >&2; exit 1;;\n  esac\ndone\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let url = daemon.url("config.git");
    let server = Server::start(Options {
        repo: &url,
        cache: &dir.path().join("cache"),
        log: dir.path().join("serve.log"),
        env: all_credentials(),
        args: vec![],
    });
    let before = git(&bare, &["rev-parse", "master"]);

    let answer = post_as(&server.at("/v1/images"), CI_TOKEN, &announcement(1, "api"));

    assert_eq!(answer.status, 502, "{}", answer.text);
    assert!(answer.header("retry-after").is_none());
    let said = answer.error();
    assert!(
        said.starts_with(
            "the remote refused the push: GL-HOOK-ERR: pushes to master need a merge request"
        ),
        "{said}"
    );
    let pushes = std::fs::read_to_string(bare.join("pushes.log")).unwrap();
    assert_eq!(pushes.lines().count(), 1, "one attempt");
    assert_eq!(git(&bare, &["rev-parse", "master"]), before);
    let ready = get(&server.at("/readyz"));
    assert_eq!(ready.status, 503, "{}", ready.text);
    assert!(ready.error().contains("merge request"), "{}", ready.text);

    // A person lifts the rule; the next announcement lands and the service is ready again.
    std::fs::remove_file(bare.join("hooks/pre-receive")).unwrap();
    let answer = post_as(&server.at("/v1/images"), CI_TOKEN, &announcement(2, "api"));
    assert_eq!(answer.status, 200, "{}", answer.text);
    let ready = get(&server.at("/readyz"));
    assert_eq!(ready.status, 200, "{}", ready.text);
}
