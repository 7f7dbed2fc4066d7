//! A long queue: every waiting change is read and replayed, however many there are (the auto
//! branch was read 256 commits deep, and a rebuild lost the older ones beyond).

use super::*;
use crate::repository::{Change, CommitMessage, FileChange};
use crate::trailers;

/// Puts `count` publishes of api (v2, v3, ...) on the auto branch as cfgupdate writes them
/// (sealed trailers), without the render checks of a real publish: what is under test is
/// reading and replaying them. Returns their commits, oldest first.
fn queue_publishes(repo: &mut Strict<MemoryRepository>, count: u64) -> Vec<CommitId> {
    let key = repo.options().key;
    let main = repo.refresh().unwrap();
    let mut tip = main;
    let mut made = Vec::new();
    for n in 2..2 + count {
        let app = format!("{n:040x}");
        let mut change = Change {
            files: [(
                RepoPath::parse("images/staging.json").unwrap(),
                FileChange::Write(image_file(n, 1).into_bytes()),
            )]
            .into(),
            message: CommitMessage {
                subject: format!("Publish api v{n} to staging"),
                body: String::new(),
                trailers: vec![
                    (trailers::ACTION.to_owned(), trailers::PUBLISH.to_owned()),
                    (trailers::WAVE.to_owned(), "staging".to_owned()),
                    (trailers::APP_COMMIT.to_owned(), app.clone()),
                    (
                        trailers::IMAGE.to_owned(),
                        format!("api={} {app}", reference("api", n)),
                    ),
                ],
            },
        };
        crate::intent::seal(repo.inner(), key.as_ref(), &tip, &mut change);
        tip = repo.inner_mut().create_commit(&tip, &change).unwrap();
        made.push(tip.clone());
    }
    repo.inner_mut().set_side("auto", None, &tip).unwrap();
    made
}

#[test]
fn three_hundred_waiting_changes_are_all_replayed_when_a_person_moves_main() {
    let (mut repo, _) = strict(true);
    let made = queue_publishes(&mut repo, 300);
    repo.refresh().unwrap();
    let queue = repo.queue().unwrap().unwrap();
    assert_eq!(queue.changes.len(), 300, "every waiting change is read");
    assert_eq!(queue.changes[0].commit, made[0], "oldest first");

    let person = repo.inner_mut().person_pushes("A person's note", |tree| {
        tree.insert(RepoPath::parse("README.md").unwrap(), b"by hand\n".to_vec());
    });
    repo.refresh().unwrap();
    let queue = repo.queue().unwrap().unwrap();
    assert_eq!(queue.main, person);
    assert_eq!(queue.changes.len(), 300, "no change lost");
    assert!(queue.evicted.is_empty(), "{:?}", queue.evicted.first());
    assert_ne!(
        queue.changes[0].commit, made[0],
        "replayed on the person's commit"
    );
    assert_eq!(
        queue.changes[0].images[&ServiceName::parse("api").unwrap()].to_string(),
        reference("api", 2)
    );
    let tip = queue.changes[299].commit.clone();
    assert!(matches!(
        check(&mut repo, &tip, CheckState::Success),
        CheckOutcome::Accepted { .. }
    ));
    assert!(main_text(&repo, "images/staging.json").contains(&reference("api", 301)));
    assert_eq!(main_text(&repo, "README.md"), "by hand\n");
}
