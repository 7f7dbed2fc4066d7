//! What a push sends: exactly the objects the new commit adds, whatever the repository holds
//! and however its trees resemble one another: never an object the remote has, never one left
//! out.

use crate::common;

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

use cfgupdate_core::{ConfigRepository, PushOutcome};
use common::{BOTH, Remote, Served, change, id, path, unpack_all};

/// Two directories with the same content (so the same tree id), one that differs from them
/// in one file, and nesting below them.
const FILES: &[(&str, &str)] = &[
    ("cfgupdate.toml", "[[wave]]\n"),
    ("images/staging.json", "{\"api\": \"a\"}\n"),
    ("apps/one/config.libsonnet", "{ replicas: 1 }\n"),
    ("apps/one/deep/values.json", "{}\n"),
    ("apps/two/config.libsonnet", "{ replicas: 1 }\n"),
    ("apps/two/deep/values.json", "{}\n"),
    ("apps/three/config.libsonnet", "{ replicas: 3 }\n"),
    ("apps/three/deep/values.json", "{}\n"),
    ("envs/prod/main.jsonnet", "{}\n"),
];

/// The remote, told to keep every pack it receives as it came (`receive.unpackLimit` 1;
/// a local-path push writes its pack as it is anyway), so that what a push sent can be
/// counted.
fn remote(served: Served) -> Remote {
    remote_of(served, FILES)
}

/// [`remote`] holding `files`.
fn remote_of(served: Served, files: &[(&str, &str)]) -> Remote {
    let remote = Remote::new(served, files);
    remote.git(&["config", "receive.unpackLimit", "1"]);
    remote
}

/// The packs the remote holds.
fn packs(remote: &Remote) -> BTreeSet<PathBuf> {
    fs::read_dir(remote.bare.join("objects/pack"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|file| file.extension().is_some_and(|ext| ext == "idx"))
        .collect()
}

/// How many objects the packs the remote received since `before` hold.
fn sent(remote: &Remote, before: &BTreeSet<PathBuf>) -> usize {
    let after = packs(remote);
    let new: Vec<&PathBuf> = after.difference(before).collect();
    assert_eq!(new.len(), 1, "one push, one pack: {new:?}");
    let index = fs::File::open(new[0]).unwrap();
    let listed = Command::new("git")
        .arg("show-index")
        .stdin(index)
        .output()
        .unwrap();
    assert!(listed.status.success());
    String::from_utf8(listed.stdout).unwrap().lines().count()
}

fn assert_whole(remote: &Remote, served: Served) {
    let fsck = cfgupdate_tests::try_git(&remote.bare, &["fsck", "--strict", "--no-dangling"]);
    assert!(
        fsck.status.success() && fsck.stderr.is_empty(),
        "{served:?}: fsck: {}{}",
        String::from_utf8_lossy(&fsck.stdout),
        String::from_utf8_lossy(&fsck.stderr)
    );
}

fn pushed(outcome: PushOutcome) -> String {
    match outcome {
        PushOutcome::Pushed(id) => id.as_str().to_owned(),
        PushOutcome::Rejected => panic!("the push was rejected"),
    }
}

#[test]
fn a_push_sends_exactly_the_commit_the_trees_on_its_path_and_its_new_blob() {
    for served in BOTH {
        let remote = remote(served);
        let mut repository = remote.open();
        let before = packs(&remote);
        let parent = repository.tip().unwrap();

        let commit = pushed(
            repository
                .commit_and_push(
                    &parent,
                    &change(
                        &[("apps/one/deep/values.json", "{\"x\": 1}\n")],
                        &[],
                        "Tune",
                    ),
                )
                .unwrap(),
        );

        // The commit, the root, apps/, apps/one/, apps/one/deep/ and the blob: nothing of
        // the untouched directories.
        assert_eq!(sent(&remote, &before), 6, "{served:?}");
        assert_whole(&remote, served);
        assert_eq!(
            remote.git(&["show", &format!("{commit}:apps/two/deep/values.json")]),
            "{}"
        );
    }
}

#[test]
fn changing_one_of_two_identical_directories_keeps_the_other_whole() {
    for served in BOTH {
        let remote = remote(served);
        let mut repository = remote.open();
        let before = packs(&remote);
        let parent = repository.tip().unwrap();

        let commit = pushed(
            repository
                .commit_and_push(
                    &parent,
                    &change(
                        &[("apps/two/config.libsonnet", "{ replicas: 2 }\n")],
                        &[],
                        "Scale",
                    ),
                )
                .unwrap(),
        );

        // The commit, the root, apps/, apps/two/ and the blob: apps/two/deep/ is the
        // remote's already, though its old parent stood in for apps/one/ as well.
        assert_eq!(sent(&remote, &before), 5, "{served:?}");
        assert_whole(&remote, served);
        assert_eq!(
            remote.git(&[
                "ls-tree",
                "-r",
                "--name-only",
                &commit,
                "apps/one",
                "apps/two"
            ]),
            "apps/one/config.libsonnet\napps/one/deep/values.json\n\
             apps/two/config.libsonnet\napps/two/deep/values.json",
            "{served:?}"
        );
        assert_eq!(
            remote.git(&["show", &format!("{commit}:apps/two/config.libsonnet")]),
            "{ replicas: 2 }"
        );
    }
}

#[test]
fn a_directory_made_equal_to_an_untouched_one_costs_no_new_tree() {
    for served in BOTH {
        let remote = remote(served);
        let mut repository = remote.open();
        let before = packs(&remote);
        let parent = repository.tip().unwrap();

        // apps/three becomes what apps/one is: its new tree is a tree the remote holds.
        let commit = pushed(
            repository
                .commit_and_push(
                    &parent,
                    &change(
                        &[("apps/three/config.libsonnet", "{ replicas: 1 }\n")],
                        &[],
                        "Same",
                    ),
                )
                .unwrap(),
        );

        assert_eq!(
            remote.git(&["rev-parse", &format!("{commit}:apps/three")]),
            remote.git(&["rev-parse", &format!("{commit}:apps/one")])
        );
        // The commit, the root and apps/: the blob and apps/three's tree were there.
        assert_eq!(sent(&remote, &before), 3, "{served:?}");
        assert_whole(&remote, served);
    }
}

#[test]
fn removing_and_moving_directories_lands_whole() {
    for served in BOTH {
        let remote = remote(served);
        let mut repository = remote.open();
        let parent = repository.tip().unwrap();

        let commit = pushed(
            repository
                .commit_and_push(
                    &parent,
                    &change(
                        &[
                            ("moved/three/config.libsonnet", "{ replicas: 3 }\n"),
                            ("moved/three/deep/values.json", "{}\n"),
                        ],
                        &[
                            "apps/three/config.libsonnet",
                            "apps/three/deep/values.json",
                            "envs/prod/main.jsonnet",
                        ],
                        "Move",
                    ),
                )
                .unwrap(),
        );

        assert_whole(&remote, served);
        assert_eq!(
            remote.git(&["ls-tree", "-r", "--name-only", &commit]),
            "apps/one/config.libsonnet\napps/one/deep/values.json\n\
             apps/two/config.libsonnet\napps/two/deep/values.json\n\
             cfgupdate.toml\nimages/staging.json\n\
             moved/three/config.libsonnet\nmoved/three/deep/values.json",
            "{served:?}"
        );
    }
}

#[test]
fn a_file_and_a_directory_trade_places_when_the_change_deletes_the_old_entries() {
    for served in BOTH {
        let remote = remote(served);
        let mut repository = remote.open();
        let parent = repository.tip().unwrap();

        // `cfgupdate.toml` becomes a directory, `apps/one/deep/` a file: each old entry is
        // deleted by the same change (libgit2 refused such a change in one batch).
        let commit = pushed(
            repository
                .commit_and_push(
                    &parent,
                    &change(
                        &[
                            ("cfgupdate.toml/wave.toml", "[[wave]]\n"),
                            ("apps/one/deep", "flat\n"),
                        ],
                        &["cfgupdate.toml", "apps/one/deep/values.json"],
                        "Reshape",
                    ),
                )
                .unwrap(),
        );

        assert_whole(&remote, served);
        assert_eq!(
            remote.git(&["ls-tree", "-r", "--name-only", &commit]),
            "apps/one/config.libsonnet\napps/one/deep\n\
             apps/three/config.libsonnet\napps/three/deep/values.json\n\
             apps/two/config.libsonnet\napps/two/deep/values.json\n\
             cfgupdate.toml/wave.toml\nenvs/prod/main.jsonnet\nimages/staging.json",
            "{served:?}"
        );
        let reshaped = id(&commit);
        assert_eq!(
            repository
                .read_file(&reshaped, &path("apps/one/deep"))
                .unwrap(),
            Some(b"flat\n".to_vec())
        );
        // Without the deletion, a write through a file is still refused, and nothing is sent.
        let tip = repository.tip().unwrap();
        assert!(
            repository
                .commit_and_push(
                    &tip,
                    &change(&[("images/staging.json/x", "x\n")], &[], "Through")
                )
                .is_err(),
            "{served:?}"
        );
        assert_eq!(remote.tip(), commit, "{served:?}");
    }
}

#[test]
fn a_remote_reset_behind_the_cache_is_pushed_to_only_from_its_own_tip() {
    for served in BOTH {
        let remote = remote(served);
        let person = remote.person("Alice");
        let second = person.commit_and_push(&[("apps/one/extra.txt", "x\n")], "Extra");
        let mut repository = remote.open();
        assert_eq!(repository.tip().unwrap(), id(&second));
        // Someone moves the branch back to the first commit (as a force push would) after
        // our fetch, and the remote forgets the commit: our parent is ahead of its branch.
        remote.git(&["update-ref", "refs/heads/master", &remote.initial]);
        remote.git(&["reflog", "expire", "--expire=now", "--all"]);
        remote.git(&["gc", "--prune=now", "--quiet"]);
        let publish = change(
            &[("images/staging.json", "{\"api\": \"b\"}\n")],
            &[],
            "Publish",
        );

        assert_eq!(
            repository.commit_and_push(&id(&second), &publish).unwrap(),
            PushOutcome::Rejected,
            "{served:?}"
        );
        let tip = repository.refresh().unwrap();
        assert_eq!(tip, id(&remote.initial));
        let commit = pushed(repository.commit_and_push(&tip, &publish).unwrap());

        assert_whole(&remote, served);
        let missing = cfgupdate_tests::try_git(
            &remote.bare,
            &["cat-file", "-e", &format!("{commit}:apps/one/extra.txt")],
        );
        assert!(
            !missing.status.success(),
            "{served:?}: the rewound file came back"
        );
    }
}

#[test]
fn a_tag_on_an_old_commit_and_the_state_ref_change_nothing_that_is_sent() {
    for served in BOTH {
        let remote = remote(served);
        remote.git(&["tag", "v1", &remote.initial]);
        let person = remote.person("Alice");
        person.commit_and_push(&[("apps/two/deep/values.json", "{\"y\": 2}\n")], "Y");
        let mut repository = remote.open();
        repository
            .push_state(None, b"{\"reports\": []}\n", "Record")
            .unwrap();
        let before = packs(&remote);
        let parent = repository.tip().unwrap();

        let commit = pushed(
            repository
                .commit_and_push(
                    &parent,
                    &change(
                        &[("apps/one/deep/values.json", "{\"x\": 1}\n")],
                        &[],
                        "Tune",
                    ),
                )
                .unwrap(),
        );

        assert_eq!(sent(&remote, &before), 6, "{served:?}");
        assert_whole(&remote, served);
        assert_eq!(
            remote.git(&["show", &format!("{commit}:apps/two/deep/values.json")]),
            "{\"y\": 2}"
        );
    }
}

#[test]
fn the_cache_reads_real_trees_after_a_push() {
    let remote = remote(Served::Daemon);
    let mut repository = remote.open();
    let parent = repository.tip().unwrap();

    let commit = id(&pushed(
        repository
            .commit_and_push(
                &parent,
                &change(
                    &[("images/staging.json", "{\"api\": \"b\"}\n")],
                    &[],
                    "Publish",
                ),
            )
            .unwrap(),
    ));

    // The push changed nothing in how the cache reads its trees.
    assert_eq!(repository.list_files(&commit, "apps").unwrap().len(), 6);
    assert_eq!(
        repository
            .read_file(&commit, &path("apps/three/deep/values.json"))
            .unwrap(),
        Some(b"{}\n".to_vec())
    );
}

/// Teams of apps, each app a few directories deep.
const DEEP: &[(&str, &str)] = &[
    ("cfgupdate.toml", "[[wave]]\n"),
    ("images/staging.json", "{\"api\": \"a\"}\n"),
    (
        "apps/team-01/app-0001/deep/er/values.json",
        "{\"app\": 1}\n",
    ),
    (
        "apps/team-01/app-0002/deep/er/values.json",
        "{\"app\": 2}\n",
    ),
    (
        "apps/team-02/app-0003/deep/er/values.json",
        "{\"app\": 3}\n",
    ),
    (
        "apps/team-02/app-0004/config.libsonnet",
        "{ replicas: 4 }\n",
    ),
];

/// Removes from the cache at `git_dir` the trees of `directories` at `commit` (the cache's
/// packs unpacked first).
fn remove_trees(git_dir: &std::path::Path, commit: &str, directories: &[&str]) {
    unpack_all(git_dir);
    let trees: Vec<String> = directories
        .iter()
        .map(|directory| {
            cfgupdate_tests::git(git_dir, &["rev-parse", &format!("{commit}:{directory}")])
        })
        .collect();
    for tree in trees {
        fs::remove_file(git_dir.join("objects").join(&tree[..2]).join(&tree[2..])).unwrap();
    }
}

#[test]
fn a_push_reads_nothing_of_the_directories_its_change_leaves_alone() {
    // libgit2's pack builder walked the parent's whole tree (and that of every advertised ref
    // the cache holds: the remote's HEAD, an old tag) on every push. Shown by untouched
    // directories missing from the cache: the push still lands, whole, and sends the same.
    for served in BOTH {
        for with_state in [false, true] {
            let remote = remote_of(served, DEEP);
            remote.git(&["tag", "v1", &remote.initial]);
            let person = remote.person("Alice");
            person.commit_and_push(
                &[("apps/team-02/app-0004/config.libsonnet", "{}\n")],
                "Four",
            );
            let repository = remote.open();
            let parent = repository.tip().unwrap();
            let git_dir = repository.cache_path().to_owned();
            drop(repository);
            // Below a directory the change rewrites (team-01) and below one it does not
            // (team-02): the same trees at the tag's commit and at the parent.
            remove_trees(
                &git_dir,
                parent.as_str(),
                &[
                    "apps/team-01/app-0002/deep",
                    "apps/team-01/app-0002/deep/er",
                    "apps/team-02/app-0003",
                    "apps/team-02/app-0003/deep",
                    "apps/team-02/app-0003/deep/er",
                ],
            );
            let mut repository = cfgupdate_git::GitRepository::open(remote.options()).unwrap();
            let before = packs(&remote);
            let tune = change(
                &[(
                    "apps/team-01/app-0001/deep/er/values.json",
                    "{\"app\": 11}\n",
                )],
                &[],
                "Tune",
            );

            let commit = if with_state {
                match repository
                    .push_with_state(&parent, &tune, None, b"{\"reports\": []}\n", "Record")
                    .unwrap()
                {
                    cfgupdate_core::PairOutcome::Pushed { commit, .. } => {
                        commit.as_str().to_owned()
                    }
                    other => panic!("{served:?}: {other:?}"),
                }
            } else {
                pushed(repository.commit_and_push(&parent, &tune).unwrap())
            };

            // The commit, the root, apps/, team-01/, app-0001/, deep/, er/ and the blob; with
            // the state, its commit, tree and file too.
            let expected = if with_state { 11 } else { 8 };
            assert_eq!(sent(&remote, &before), expected, "{served:?} {with_state}");
            assert_whole(&remote, served);
            assert_eq!(remote.tip(), commit);
            assert_eq!(
                remote.git(&[
                    "show",
                    &format!("{commit}:apps/team-02/app-0003/deep/er/values.json")
                ]),
                "{\"app\": 3}"
            );
            assert_eq!(
                remote.git(&[
                    "show",
                    &format!("{commit}:apps/team-01/app-0001/deep/er/values.json")
                ]),
                "{\"app\": 11}"
            );
        }
    }
}
