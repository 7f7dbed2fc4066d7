//! Reading the config repository at any revision, through a real remote.

use crate::common;

use cfgupdate_core::{CommitMessage, ConfigRepository, RepositoryErrorKind};
use common::{BOTH, Remote, Served, id, path};

const FILES: &[(&str, &str)] = &[
    ("cfgupdate.toml", "[[wave]]\n"),
    ("images/staging.json", "{\"api\": \"a\"}\n"),
    ("images/prod/images.libsonnet", "{}\n"),
    ("envs/staging-us/main.jsonnet", "{}\n"),
    ("imagesx/not-under-images.json", "{}\n"),
];

#[test]
fn files_are_read_at_the_revision_asked_for_not_the_tip() {
    for served in BOTH {
        let remote = Remote::new(served, FILES);
        let person = remote.person("Alice");
        person.write("images/staging.json", "{\"api\": \"b\"}\n");
        person.remove("cfgupdate.toml");
        let second = person.commit("Change staging");
        person.push();
        let repository = remote.open();
        let first = id(&remote.initial);

        assert_eq!(repository.tip().unwrap(), id(&second), "{served:?}");
        let staging = path("images/staging.json");
        assert_eq!(
            repository.read_file(&first, &staging).unwrap().unwrap(),
            b"{\"api\": \"a\"}\n"
        );
        assert_eq!(
            repository
                .read_file(&id(&second), &staging)
                .unwrap()
                .unwrap(),
            b"{\"api\": \"b\"}\n"
        );
        let pipeline = path("cfgupdate.toml");
        assert!(repository.read_file(&first, &pipeline).unwrap().is_some());
        assert_eq!(repository.read_file(&id(&second), &pipeline).unwrap(), None);
        assert_eq!(
            repository.read_file(&first, &path("images")).unwrap(),
            None,
            "a directory is not a file"
        );
    }
}

#[test]
fn listing_under_a_directory_sees_only_that_subtree() {
    for served in BOTH {
        let remote = Remote::new(served, FILES);
        let repository = remote.open();
        let tip = repository.tip().unwrap();
        let list = |under: &str| -> Vec<String> {
            repository
                .list_files(&tip, under)
                .unwrap()
                .iter()
                .map(|p| p.as_str().to_owned())
                .collect()
        };
        assert_eq!(
            list("images"),
            ["images/prod/images.libsonnet", "images/staging.json"],
            "{served:?}"
        );
        assert_eq!(list("images/"), list("images"));
        assert_eq!(list("images/prod"), ["images/prod/images.libsonnet"]);
        assert_eq!(list("").len(), FILES.len());
        assert!(list("nowhere").is_empty());
        assert!(
            list("cfgupdate.toml").is_empty(),
            "a file has nothing below it"
        );
    }
}

#[test]
fn ancestry_follows_the_history_one_way_only() {
    let remote = Remote::new(common::Served::Daemon, FILES);
    let person = remote.person("Alice");
    let second = person.commit_and_push(&[("a.txt", "1\n")], "Second");
    let third = person.commit_and_push(&[("a.txt", "2\n")], "Third");
    let repository = remote.open();
    let (first, second, third) = (id(&remote.initial), id(&second), id(&third));

    assert!(repository.is_ancestor(&first, &third).unwrap());
    assert!(repository.is_ancestor(&second, &third).unwrap());
    assert!(repository.is_ancestor(&third, &third).unwrap());
    assert!(!repository.is_ancestor(&third, &first).unwrap());

    let unknown = id(&"1".repeat(40));
    let error = repository.is_ancestor(&unknown, &third).unwrap_err();
    assert_eq!(error.kind, RepositoryErrorKind::NotFound, "{error}");
    assert!(error.message.contains("111111111111"), "{error}");
}

#[test]
fn the_log_lists_newest_first_up_to_the_limit_with_whole_messages() {
    for served in BOTH {
        let remote = Remote::new(served, FILES);
        let person = remote.person("Alice");
        let mut ids = vec![remote.initial.clone()];
        for n in 1..=3 {
            person.write("a.txt", &format!("{n}\n"));
            person.git(&[
                "commit",
                "--quiet",
                "--all",
                "--allow-empty",
                "-m",
                &format!("Change {n}"),
                "-m",
                "Cfgupdate-Action: publish",
            ]);
            ids.push(person.push());
        }
        let repository = remote.open();
        let tip = repository.tip().unwrap();

        let log = repository.log(&tip, 2).unwrap();
        let got: Vec<&str> = log.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(got, [ids[3].as_str(), ids[2].as_str()], "{served:?}");
        assert_eq!(log[0].message, "Change 3\n\nCfgupdate-Action: publish\n");
        assert_eq!(
            CommitMessage::parse_trailers(&log[0].message),
            [("Cfgupdate-Action".to_owned(), "publish".to_owned())]
        );
        assert!(log[0].time > 1_600_000_000);

        let all = repository.log(&tip, 100).unwrap();
        assert_eq!(all.len(), 4);
        assert_eq!(all[3].id.as_str(), remote.initial);
        assert!(repository.log(&id(&ids[1]), 0).unwrap().is_empty());
    }
}

#[test]
fn a_revision_the_cache_lacks_is_not_found_and_says_to_refresh() {
    let remote = Remote::new(common::Served::Path, FILES);
    let repository = remote.open();
    let error = repository
        .read_file(&id(&"ab".repeat(20)), &path("cfgupdate.toml"))
        .unwrap_err();
    assert_eq!(error.kind, RepositoryErrorKind::NotFound);
    assert!(error.message.contains("refresh"), "{error}");
}

/// A commit whose message is over libgit2's 4 KiB cache limit for commits (a publish's, listing
/// a thousand regenerated targets) is looked up once for all the files read at it, not once
/// per file (issue 12: every read inflated and hashed it again). Shown by taking its object
/// away after the first read: the files at it are still read, and listed.
#[test]
fn files_at_a_commit_with_a_long_message_are_read_without_looking_the_commit_up_again() {
    let remote = Remote::new(Served::Path, FILES);
    let mut repository = remote.open();
    let tip = repository.refresh().unwrap();
    let cache = git2::Repository::open_bare(repository.cache_path()).unwrap();
    let parent = cache
        .find_commit(git2::Oid::from_str(tip.as_str()).unwrap())
        .unwrap();
    let tree = parent.tree().unwrap();
    let signature = git2::Signature::now("Bench", "bench@localhost").unwrap();
    let message = format!(
        "Publish api\n\n{}",
        "Regenerated: target s-0001\n".repeat(400)
    );
    assert!(message.len() > 4096);
    let long = cache
        .commit(None, &signature, &signature, &message, &tree, &[&parent])
        .unwrap()
        .to_string();
    let revision = id(&long);
    assert_eq!(
        repository
            .read_file(&revision, &path("images/staging.json"))
            .unwrap(),
        Some(b"{\"api\": \"a\"}\n".to_vec())
    );

    let object = cache
        .path()
        .join("objects")
        .join(&long[..2])
        .join(&long[2..]);
    std::fs::remove_file(&object).unwrap();
    assert_eq!(
        repository
            .read_file(&revision, &path("cfgupdate.toml"))
            .unwrap(),
        Some(b"[[wave]]\n".to_vec())
    );
    assert_eq!(
        repository.list_files(&revision, "images").unwrap(),
        vec![
            path("images/prod/images.libsonnet"),
            path("images/staging.json")
        ]
    );
}
