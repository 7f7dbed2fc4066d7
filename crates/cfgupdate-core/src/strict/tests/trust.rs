//! A commit on the auto branch is trusted by what cfgupdate recorded making, not by its
//! sealed message alone: someone who can push the auto branch could put there a commit with
//! the same message (its seal checks) and other files.

use std::collections::BTreeMap;

use super::*;
use crate::repository::{Change, CommitMessage, FileChange};

/// A commit on `parent` with exactly `message` (so its seal checks) and `files` written.
fn forge(
    repo: &mut Strict<MemoryRepository>,
    parent: &CommitId,
    message: &str,
    files: &[(&str, String)],
) -> CommitId {
    let (subject, rest) = message.split_once("\n\n").unwrap();
    let body = rest.rsplit_once("\n\n").map(|(body, _)| body).unwrap_or("");
    let message_parts = CommitMessage {
        subject: subject.to_owned(),
        body: body.to_owned(),
        trailers: CommitMessage::parse_trailers(message),
    };
    assert_eq!(message_parts.render(), message, "the very same message");
    let change = Change {
        files: files
            .iter()
            .map(|(path, text)| {
                (
                    RepoPath::parse(path).unwrap(),
                    FileChange::Write(text.clone().into_bytes()),
                )
            })
            .collect::<BTreeMap<_, _>>(),
        message: message_parts,
    };
    repo.inner_mut().create_commit(parent, &change).unwrap()
}

#[test]
fn a_green_result_for_a_commit_someone_else_put_on_auto_does_not_move_main() {
    let (mut repo, _) = strict(true);
    let main = repo.inner().remote_tip().clone();
    let publish = announce(&mut repo, 0x51, "api", 2);
    let made = repo.log(&publish, 1).unwrap().remove(0);
    // Someone who can push the auto branch replaces cfgupdate's commit: same parent, same
    // sealed message, another tree.
    let evil = "reg.example.com/api:evil@sha256:".to_owned() + &"e".repeat(64);
    let forged = forge(
        &mut repo,
        &main,
        &made.message,
        &[
            (
                "images/staging.json",
                format!(
                    "{{\n  \"api\": \"{evil}\",\n  \"web\": \"{}\"\n}}\n",
                    reference("web", 1)
                ),
            ),
            ("README.md", "not from cfgupdate\n".to_owned()),
        ],
    );
    let forged_info = repo.log(&forged, 1).unwrap().remove(0);
    assert!(
        crate::trailers::is_trusted(&forged_info, repo.options().key.as_ref()),
        "the copied seal checks: the message alone cannot tell"
    );
    assert!(matches!(
        repo.inner_mut()
            .set_side("auto", Some(&publish), &forged)
            .unwrap(),
        crate::repository::PushOutcome::Pushed(_)
    ));

    assert_eq!(
        check(&mut repo, &forged, CheckState::Success),
        CheckOutcome::Ignored(Ignored::Untrusted)
    );
    assert_eq!(repo.inner().remote_tip(), &main, "main did not move");
    assert!(!main_text(&repo, "images/staging.json").contains("evil"));
    // The auto branch was rebuilt from the change's trailers: api v2, nothing of the forgery.
    let queue = repo.queue().unwrap().unwrap();
    assert_eq!(queue.changes.len(), 1);
    let rebuilt = queue.changes[0].commit.clone();
    assert_ne!(rebuilt, forged);
    let staging = auto_text(&repo, "images/staging.json");
    assert!(
        staging.contains(&reference("api", 2)) && !staging.contains("evil"),
        "{staging}"
    );
    assert_eq!(
        repo.inner().text_at(&rebuilt, "README.md"),
        None,
        "nothing of the forged tree"
    );
    // Status names the commit.
    let incident = queue
        .evicted
        .iter()
        .find(|e| e.commit == forged)
        .expect("the incident is reported");
    assert!(
        incident.reason.contains(forged.short())
            && incident.reason.contains("not one cfgupdate made"),
        "{}",
        incident.reason
    );
    // The rebuilt commit is cfgupdate's: its green moves main.
    assert!(matches!(
        check(&mut repo, &rebuilt, CheckState::Success),
        CheckOutcome::Accepted { .. }
    ));
    assert!(main_text(&repo, "images/staging.json").contains(&reference("api", 2)));
}

#[test]
fn a_commit_cfgupdate_made_on_top_of_a_forged_one_is_not_accepted_either() {
    let (mut repo, _) = strict(true);
    let main = repo.inner().remote_tip().clone();
    let publish = announce(&mut repo, 0x52, "api", 2);
    let made = repo.log(&publish, 1).unwrap().remove(0);
    let forged = forge(
        &mut repo,
        &main,
        &made.message,
        &[("README.md", "not from cfgupdate\n".to_owned())],
    );
    repo.inner_mut()
        .set_side("auto", Some(&publish), &forged)
        .unwrap();
    // cfgupdate builds the next change on the auto branch as it finds it.
    let later = announce(&mut repo, 0x53, "web", 2);
    assert_eq!(
        repo.log(&later, 1).unwrap()[0].parents,
        vec![forged.clone()]
    );
    assert_eq!(
        check(&mut repo, &later, CheckState::Success),
        CheckOutcome::Ignored(Ignored::Untrusted)
    );
    assert_eq!(repo.inner().remote_tip(), &main);
    let auto = repo.inner().remote_side("auto").unwrap().clone();
    assert_eq!(repo.inner().text_at(&auto, "README.md"), None);
    assert_eq!(
        repo.queue().unwrap().unwrap().changes.len(),
        2,
        "both replayed"
    );
}

#[test]
fn the_ids_of_accepted_and_replaced_commits_leave_the_record() {
    let (mut repo, _) = strict(true);
    let bad = announce(&mut repo, 0x54, "api", 2);
    let good = announce(&mut repo, 0x55, "web", 2);
    let main = repo.inner().remote_tip().clone();
    assert_eq!(repo.record(&main).built, vec![bad.clone(), good.clone()]);
    check(&mut repo, &bad, CheckState::Failure);
    let replayed = repo.queue().unwrap().unwrap().changes[0].commit.clone();
    assert_eq!(repo.record(&main).built, vec![replayed.clone()]);
    check(&mut repo, &replayed, CheckState::Success);
    let main = repo.inner().remote_tip().clone();
    assert!(repo.record(&main).built.is_empty());
}
