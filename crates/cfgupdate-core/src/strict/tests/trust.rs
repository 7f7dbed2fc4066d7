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

/// Review of the merged code: a green result this process decided on what it last saw (no
/// fetch) found the commit missing from the record of built commits because another replica
/// had accepted it meanwhile; it took that for a forged commit, rebuilt the whole queue and
/// reported an incident. A refusal is now decided again on fetched branches.
#[test]
fn a_stale_green_for_a_commit_another_replica_accepted_is_no_incident_and_rebuilds_nothing() {
    use crate::testing::SharedRepository;
    let clock = clock();
    let shared = SharedRepository::new(memory(PIPELINE));
    let mut a = Strict::new(shared.clone(), clock.clone(), options(true));
    let mut b = Strict::new(shared.clone(), clock.clone(), options(true));
    let options = *b.options();
    // Replica B queues X; replica A queues Z on top of it and CI passes Z there first.
    let x = match publish(&mut b, &*clock, &announcement(0x71, "api", 2), &options).unwrap() {
        PublishOutcome::Committed { commit, .. } => commit,
        other => panic!("not committed: {other:?}"),
    };
    let z = match publish(&mut a, &*clock, &announcement(0x72, "web", 2), &options).unwrap() {
        PublishOutcome::Committed { commit, .. } => commit,
        other => panic!("not committed: {other:?}"),
    };
    let report = |commit: &CommitId| CheckReport {
        commit: commit.clone(),
        state: CheckState::Success,
        context: "ci/kubeconform".into(),
    };
    assert!(matches!(
        a.record_check(&report(&z)).unwrap(),
        CheckOutcome::Accepted { .. }
    ));
    let state_before = shared.with(|repo| repo.remote_state().map(|s| s.content.clone()));
    let auto_before = shared.with(|repo| repo.remote_side("auto").cloned());
    // CI's status for X arrives late at replica B, which still sees X waiting.
    assert_eq!(
        b.record_check(&report(&x)).unwrap(),
        CheckOutcome::Ignored(Ignored::Accepted)
    );
    assert_eq!(shared.with(|repo| repo.remote_tip().clone()), z);
    assert_eq!(
        shared.with(|repo| repo.remote_side("auto").cloned()),
        auto_before,
        "the auto branch was not rebuilt"
    );
    assert_eq!(
        shared.with(|repo| repo.remote_state().map(|s| s.content.clone())),
        state_before,
        "no incident recorded"
    );
    assert!(b.take_dropped().is_empty());
}

/// Review of the merged code: the record of built commits only shrank when a rebuild dropped
/// or made something, so the id of the last waiting change CI failed stayed in it for good.
#[test]
fn the_id_of_a_commit_a_rebuild_left_behind_is_forgotten_even_when_it_made_nothing() {
    let (mut repo, _) = strict(true);
    let x = announce(&mut repo, 0x81, "api", 2);
    let main = repo.main_tip().unwrap().clone();
    assert!(repo.state_at(&main).strict.is_built(&x));
    assert!(matches!(
        check(&mut repo, &x, CheckState::Failure),
        CheckOutcome::Evicted { .. }
    ));
    let main = repo.main_tip().unwrap().clone();
    assert!(!repo.state_at(&main).strict.is_built(&x));
}
