//! `cfgupdate publish` through the real binary against a real `git daemon`, while a person
//! pushes to the same branch with the git CLI.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::thread;

use cfgupdate_tests::{GitDaemon, Person, git};

const PIPELINE: &str = r#"[render]
output = "generated/{target}"

[[wave]]
name = "staging"
images = "images/staging.json"
targets = ["staging"]

[[wave]]
name = "production"
images = { jsonnet = ["envs/prod/images.libsonnet"] }
targets = ["prod"]

[target.staging]
entrypoint = "envs/staging/main.jsonnet"

[target.prod]
entrypoint = "envs/prod/main.jsonnet"
"#;

const STAGING: &str = "{\n  \"api\": \"reg.example.com/api:0@sha256:0000000000000000000000000000000000000000000000000000000000000000\"\n}\n";
const PROD: &str = "{\n  api: 'reg.example.com/api:0@sha256:0000000000000000000000000000000000000000000000000000000000000000',  // cfgupdate: api\n}\n";

const STAGING_MAIN: &str = "local images = import '../../images/staging.json';\n[\n  { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: s, namespace: 'staging' },\n    spec: { template: { spec: { containers: [{ name: s, image: std.get(images, s, 'reg.example.com/' + s + ':none') }] } } } }\n  for s in ['api', 'web']\n]\n";
const PROD_MAIN: &str = "local images = import 'images.libsonnet';\n{ api: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'api', namespace: 'prod' },\n  spec: { template: { spec: { containers: [{ name: 'api', image: images.api }] } } } } }\n";

fn files() -> Vec<(&'static str, &'static str)> {
    vec![
        ("cfgupdate.toml", PIPELINE),
        ("images/staging.json", STAGING),
        ("envs/prod/images.libsonnet", PROD),
        ("envs/staging/main.jsonnet", STAGING_MAIN),
        ("envs/prod/main.jsonnet", PROD_MAIN),
        ("README.md", "config\n"),
    ]
}

fn app(i: usize) -> String {
    format!("{i:040x}")
}

fn reference(service: &str, i: usize) -> String {
    format!("reg.example.com/{service}:{}@sha256:{:064x}", app(i), i)
}

fn cfgupdate(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cfgupdate"))
        .args(args)
        .env("CFGUPDATE_CACHE_DIR", cache)
        .output()
        .expect("the binary runs")
}

fn publish(url: &str, cache: &Path, i: usize, service: &str) -> Output {
    let image = format!("{service}={}", reference(service, i));
    cfgupdate(
        &[
            "publish",
            "--repo",
            url,
            "--app-commit",
            &app(i),
            "--image",
            &image,
        ],
        cache,
    )
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The values of one trailer over the whole branch, as the git CLI reads them.
fn trailer_values(bare: &Path, key: &str) -> Vec<String> {
    let format = format!("--format=%(trailers:key={key},valueonly,separator=%x2C)");
    git(bare, &["log", &format, "master"])
        .split([',', '\n'])
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn publishes_land_exactly_once_while_a_person_pushes_and_nothing_of_theirs_is_lost() {
    let daemon = GitDaemon::start().unwrap();
    let bare = daemon.create_remote("config.git", "master", &files());
    let url = daemon.url("config.git");
    let cache = tempfile::tempdir().unwrap();
    let min_rounds = 10;

    let person_url = url.clone();
    // The person starts pushing only once a first publish landed, and publishing goes on until
    // after their last push, so on a machine of any speed their commits land between ours.
    let (go, wait_for_go) = std::sync::mpsc::channel::<()>();
    let person = thread::spawn(move || {
        let alice = Person::clone(&person_url, "master", "Alice");
        wait_for_go.recv().unwrap();
        let mut mine = BTreeMap::new();
        for i in 0..8 {
            let path = format!("envs/team/note-{i}.libsonnet");
            let content = format!("{{ note: 'written by hand {i}' }}  // not an image\n");
            alice.commit_and_push(&[(&path, &content)], &format!("Hand edit {i}"));
            mine.insert(path, content);
        }
        mine
    });
    // Publish for as long as the person is still pushing, so the two really race.
    let mut published = Vec::new();
    let mut rounds = 0;
    let mut finished_seen = false;
    while rounds < min_rounds || !finished_seen {
        // Read before publishing: the round that sees the person done still publishes after
        // their last push.
        finished_seen = person.is_finished() || rounds >= 200;
        rounds += 1;
        let i = rounds;
        let output = publish(&url, cache.path(), i, "api");
        assert!(output.status.success(), "publish {i}: {}", stderr(&output));
        let commit = stdout(&output);
        assert_eq!(commit.len(), 40, "publish {i} printed {commit:?}");
        published.push(commit);
        if rounds == 1 {
            go.send(()).unwrap();
        }
        // CI announces builds, not a flood: leave the person a moment to get a push in.
        thread::sleep(std::time::Duration::from_millis(250));
    }
    let mine = person.join().unwrap();
    // Their commits and ours interleave on the branch: the race happened.
    let order = git(&bare, &["log", "--reverse", "--format=%s", "master"]);
    let kinds: String = order
        .lines()
        .filter_map(|s| match s {
            s if s.starts_with("Hand edit") => Some('h'),
            s if s.starts_with("Publish") => Some('p'),
            _ => None,
        })
        .collect();
    assert!(
        kinds
            .trim_start_matches('h')
            .trim_end_matches('h')
            .contains('h'),
        "no person commit between two publishes: {kinds}"
    );

    // Every person's change is on the tip, with its content intact.
    for (path, content) in &mine {
        assert_eq!(
            &git(&bare, &["show", &format!("master:{path}")]),
            content.trim_end()
        );
    }
    let subjects = git(&bare, &["log", "--format=%s", "master"]);
    for i in 0..8 {
        assert!(subjects.contains(&format!("Hand edit {i}")), "{subjects}");
    }
    // Every publish landed exactly once, and each printed commit is on the branch.
    let mut apps = trailer_values(&bare, "Cfgupdate-App-Commit");
    apps.sort();
    let mut expected: Vec<String> = (1..=rounds).map(app).collect();
    expected.sort();
    assert_eq!(apps, expected);
    for commit in &published {
        git(&bare, &["merge-base", "--is-ancestor", commit, "master"]);
    }
    // The final image set is the last one published.
    let staging = git(&bare, &["show", "master:images/staging.json"]);
    assert!(staging.contains(&reference("api", rounds)), "{staging}");
    // And the committed YAML went with it, in the same commits.
    let yaml = git(
        &bare,
        &[
            "show",
            "master:generated/staging/deployment-staging-api.yaml",
        ],
    );
    assert!(yaml.contains(&reference("api", rounds)), "{yaml}");
    git(&bare, &["fsck", "--strict", "--no-progress"]);
}

#[test]
fn a_publish_commit_has_trailers_that_the_git_cli_parses() {
    let daemon = GitDaemon::start().unwrap();
    let bare = daemon.create_remote("config.git", "master", &files());
    let cache = tempfile::tempdir().unwrap();
    let output = publish(&daemon.url("config.git"), cache.path(), 7, "api");
    assert!(output.status.success(), "{}", stderr(&output));
    let message = git(&bare, &["log", "-1", "--format=%B", "master"]);
    let parsed = Command::new("git")
        .args(["interpret-trailers", "--parse"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(message.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    let trailers = String::from_utf8(parsed.stdout).unwrap();
    assert!(trailers.contains("Cfgupdate-Action: publish"), "{trailers}");
    assert!(trailers.contains("Cfgupdate-Wave: staging"), "{trailers}");
    assert!(
        trailers.contains(&format!("Cfgupdate-App-Commit: {}", app(7))),
        "{trailers}"
    );
}

#[test]
fn a_repeated_publish_prints_unchanged_and_makes_no_commit() {
    let daemon = GitDaemon::start().unwrap();
    let bare = daemon.create_remote("config.git", "master", &files());
    let url = daemon.url("config.git");
    let cache = tempfile::tempdir().unwrap();
    assert!(publish(&url, cache.path(), 3, "api").status.success());
    let tip = git(&bare, &["rev-parse", "master"]);
    let again = publish(&url, cache.path(), 3, "api");
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(stdout(&again), "unchanged");
    assert_eq!(git(&bare, &["rev-parse", "master"]), tip);
}

#[test]
fn two_publishers_sharing_one_cache_both_land() {
    let daemon = GitDaemon::start().unwrap();
    let bare = daemon.create_remote("config.git", "master", &files());
    let url = daemon.url("config.git");
    let cache = tempfile::tempdir().unwrap();
    let handles: Vec<_> = ["api", "web"]
        .into_iter()
        .enumerate()
        .map(|(n, service)| {
            let (url, cache) = (url.clone(), cache.path().to_owned());
            thread::spawn(move || {
                for i in 0..4 {
                    let output = publish(&url, &cache, 100 * (n + 1) + i, service);
                    assert!(
                        output.status.success(),
                        "{service} {i}: {}",
                        stderr(&output)
                    );
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert_eq!(trailer_values(&bare, "Cfgupdate-App-Commit").len(), 8);
    let staging = git(&bare, &["show", "master:images/staging.json"]);
    assert!(
        staging.contains(&reference("api", 103)) && staging.contains(&reference("web", 203)),
        "{staging}"
    );
    git(&bare, &["fsck", "--strict", "--no-progress"]);
}

#[test]
fn publish_errors_exit_with_the_contract_codes_and_change_nothing() {
    let daemon = GitDaemon::start().unwrap();
    let held = PIPELINE.replace(
        "targets = [\"staging\"]",
        "targets = [\"staging\"]\nhold = [\"billing\"]",
    );
    let mut with_hold = files();
    with_hold[0] = ("cfgupdate.toml", &held);
    let bare = daemon.create_remote("config.git", "master", &with_hold);
    let url = daemon.url("config.git");
    let cache = tempfile::tempdir().unwrap();
    let tip = git(&bare, &["rev-parse", "master"]);

    // A reference without a digest: invalid input.
    let output = cfgupdate(
        &[
            "publish",
            "--repo",
            &url,
            "--app-commit",
            &app(1),
            "--image",
            "api=reg.example.com/api:v1",
        ],
        cache.path(),
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("reg.example.com/api:v1"));
    // A malformed app commit: invalid input, named.
    let output = cfgupdate(
        &[
            "publish",
            "--repo",
            &url,
            "--app-commit",
            "abc",
            "--image",
            &format!("api={}", reference("api", 1)),
        ],
        cache.path(),
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("`abc`"), "{}", stderr(&output));
    // A held service: refused by policy.
    let output = publish(&url, cache.path(), 2, "billing");
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(stderr(&output).contains("billing"));
    // An unreachable remote: operational failure.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!(
        "git://127.0.0.1:{}/config.git",
        closed.local_addr().unwrap().port()
    );
    drop(closed);
    let output = publish(&dead, cache.path(), 3, "api");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));

    assert_eq!(git(&bare, &["rev-parse", "master"]), tip);
}
