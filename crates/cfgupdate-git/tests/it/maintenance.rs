//! A long-running writer keeps its cache as small as what it holds (issue 12): the loose
//! objects every push leaves are packed now and then, without the git CLI, and every object
//! stays readable.

use crate::common;

use std::fs;
use std::path::Path;

use cfgupdate_core::{ConfigRepository, PushOutcome};
use common::{Remote, Served, change};

const FILES: &[(&str, &str)] = &[
    ("cfgupdate.toml", "[[wave]]\n"),
    ("images/staging.json", "{\"api\": \"0\"}\n"),
];

/// The loose objects of a bare repository.
fn loose(git_dir: &Path) -> usize {
    fs::read_dir(git_dir.join("objects"))
        .unwrap()
        .flatten()
        .filter(|dir| dir.file_name().len() == 2)
        .map(|dir| fs::read_dir(dir.path()).unwrap().count())
        .sum()
}

#[test]
fn many_pushes_from_one_process_leave_a_packed_cache_and_every_commit_readable() {
    let remote = Remote::new(Served::Path, FILES);
    let mut repository = remote.open();
    let first = repository.tip().unwrap();
    // Each push leaves a commit, two trees and a blob: 1,600 loose objects unpacked.
    let pushes = 400;
    let mut tip = first.clone();
    for i in 1..=pushes {
        let edit = format!("{{\"api\": \"{i}\"}}\n");
        let change = change(&[("images/staging.json", &edit)], &[], "Publish api");
        tip = match repository.commit_and_push(&tip, &change).unwrap() {
            PushOutcome::Pushed(id) => id,
            PushOutcome::Rejected => panic!("push {i} was rejected"),
        };
    }
    let cache = repository.cache_path().to_owned();
    let left = loose(&cache);
    assert!(left < 1024, "{left} loose objects after {pushes} pushes");
    // Every commit and file is still there, for this process and for a new one.
    let text = repository
        .read_file(&tip, &common::path("images/staging.json"))
        .unwrap()
        .unwrap();
    assert_eq!(text, format!("{{\"api\": \"{pushes}\"}}\n").into_bytes());
    assert_eq!(repository.log(&tip, 1000).unwrap().len(), pushes + 1);
    drop(repository);
    let mut again = remote.open();
    assert_eq!(again.refresh().unwrap(), tip);
    assert!(again.is_ancestor(&first, &tip).unwrap());
    let fsck = cfgupdate_tests::try_git(&cache, &["fsck", "--strict", "--no-dangling"]);
    assert!(
        fsck.status.success(),
        "{}",
        String::from_utf8_lossy(&fsck.stderr)
    );
}
