//! Holds and freeze windows placed after a change was queued on the auto branch: a green
//! result does not bring it onto the main branch, and a rebuild does not write it again.

use super::*;
use crate::promotion::{RollbackOutcome, RollbackRequest, rollback};
use crate::publish::publish_deferred;
use crate::testing::ManualClock;

fn staging() -> crate::names::WaveName {
    crate::names::WaveName::parse("staging").unwrap()
}

/// Rolls staging's `services` back to `to` through strict mode (a commit on auto, holds in
/// the state).
fn roll_back(repo: &mut Strict<MemoryRepository>, to: &CommitId, services: &[&str]) -> CommitId {
    let options = *repo.options();
    let request = RollbackRequest {
        wave: staging(),
        to_revision: to.clone(),
        services: services
            .iter()
            .map(|s| ServiceName::parse(s).unwrap())
            .collect(),
    };
    match rollback(repo, &*clock(), &request, &options).unwrap() {
        RollbackOutcome::RolledBack { commit, .. } => commit,
        other => panic!("no rollback commit: {other:?}"),
    }
}

#[test]
fn a_green_result_does_not_bring_a_change_held_since_it_was_queued_onto_main() {
    let (mut repo, _) = strict(true);
    let main = repo.inner().remote_tip().clone();
    let publish = announce(&mut repo, 0x41, "api", 2);
    // Someone rolls api back in staging while the publish waits for CI: api is held there.
    let rolled_back = roll_back(&mut repo, &main, &["api"]);
    assert_eq!(repo.inner().remote_side("auto"), Some(&rolled_back));

    // CI passed the publish's commit (it checked it before the rollback).
    let outcome = check(&mut repo, &publish, CheckState::Success);
    assert!(
        matches!(
            outcome,
            CheckOutcome::Ignored(Ignored::Evicted | Ignored::Held)
        ),
        "{outcome:?}"
    );
    assert_eq!(repo.inner().remote_tip(), &main, "main did not move");
    assert!(main_text(&repo, "images/staging.json").contains(&reference("api", 1)));
    // The auto branch no longer writes api v2, and status says why the publish left.
    assert!(!auto_text(&repo, "images/staging.json").contains(&reference("api", 2)));
    let queue = repo.queue().unwrap().unwrap();
    let dropped = queue
        .evicted
        .iter()
        .find(|e| e.commit == publish)
        .expect("the publish is reported dropped");
    assert_eq!(dropped.kind, EvictionKind::Dropped);
    assert!(
        dropped.reason.contains("held in wave `staging`")
            && dropped
                .reason
                .contains(&format!("rolled back to {}", main.short())),
        "{}",
        dropped.reason
    );
    // The green for the rollback's old commit is stale too: main never gets api v2.
    check(&mut repo, &rolled_back, CheckState::Success);
    assert!(!main_text(&repo, "images/staging.json").contains(&reference("api", 2)));
}

#[test]
fn a_rebuild_writes_a_partly_held_change_without_its_held_services() {
    let (mut repo, _) = strict(true);
    let main = repo.inner().remote_tip().clone();
    let images = ImageSet::from([
        (
            ServiceName::parse("api").unwrap(),
            ImageRef::parse(&reference("api", 3)).unwrap(),
        ),
        (
            ServiceName::parse("web").unwrap(),
            ImageRef::parse(&reference("web", 3)).unwrap(),
        ),
    ]);
    let announcement =
        Announcement::new(CommitId::parse(&"42".repeat(20)).unwrap(), images).unwrap();
    let options = *repo.options();
    let PublishOutcome::Committed { commit: both, .. } =
        publish(&mut repo, &*clock(), &announcement, &options).unwrap()
    else {
        panic!("not committed");
    };
    roll_back(&mut repo, &main, &["api"]);
    // Any fetch rebuilds the auto branch: the publish goes on with web alone.
    repo.refresh().unwrap();
    let queue = repo.queue().unwrap().unwrap();
    let publish = queue
        .changes
        .iter()
        .find(|c| c.action == "publish")
        .expect("the publish still waits");
    assert_ne!(publish.commit, both, "replayed");
    assert_eq!(
        publish
            .images
            .keys()
            .map(|s| s.as_str())
            .collect::<Vec<_>>(),
        ["web"]
    );
    let staging = auto_text(&repo, "images/staging.json");
    assert!(
        staging.contains(&reference("web", 3)) && staging.contains(&reference("api", 1)),
        "{staging}"
    );
    let tip = queue.changes.last().unwrap().commit.clone();
    assert!(matches!(
        check(&mut repo, &tip, CheckState::Success),
        CheckOutcome::Accepted { .. }
    ));
    let staging = main_text(&repo, "images/staging.json");
    assert!(staging.contains(&reference("web", 3)) && staging.contains(&reference("api", 1)));
}

const FROZEN_STAGING: &str = "freeze = [{ from = \"2027-01-15T09:00:00Z\", to = \"2027-01-15T10:00:00Z\", reason = \"release party\" }]\n";

#[test]
fn a_publish_queued_before_a_freeze_began_is_deferred_and_published_when_it_ends() {
    // The clock of these tests starts at 2027-01-15T08:00:00Z, an hour before the window.
    let pipeline = PIPELINE.replace(
        "targets = [\"staging\"]\n",
        &format!("targets = [\"staging\"]\n{FROZEN_STAGING}"),
    );
    let clock = clock();
    let mut repo = Strict::new(memory(&pipeline), clock.clone(), options(true));
    let main = repo.inner().remote_tip().clone();
    let options = *repo.options();
    let PublishOutcome::Committed { commit, .. } =
        publish(&mut repo, &*clock, &announcement(0x43, "api", 2), &options).unwrap()
    else {
        panic!("not committed before the window");
    };
    clock.advance(Duration::from_secs(90 * 60));
    // CI's green arrives inside the window: main does not move.
    let outcome = check(&mut repo, &commit, CheckState::Success);
    assert!(
        matches!(
            outcome,
            CheckOutcome::Ignored(Ignored::Evicted | Ignored::Held)
        ),
        "{outcome:?}"
    );
    assert_eq!(repo.inner().remote_tip(), &main);
    let queue = repo.queue().unwrap().unwrap();
    assert!(queue.changes.is_empty(), "{:?}", queue.changes);
    let dropped = &queue.evicted[0];
    assert_eq!(dropped.commit, commit);
    assert!(
        dropped
            .reason
            .contains("wave `staging` is frozen until 2027-01-15T10:00:00Z (release party)")
            && dropped.reason.contains("deferred"),
        "{}",
        dropped.reason
    );
    let state = repo.state_at(&main);
    assert_eq!(state.deferred.len(), 1, "deferred: {:?}", state.deferred);
    assert_eq!(
        state.deferred[0].app,
        announcement(0x43, "api", 2).app_commit().clone()
    );

    // While frozen, the deferred run waits; after the window it publishes, through auto.
    let run = publish_deferred(&mut repo, &*clock, &options).unwrap();
    assert!(run.published.is_empty() && run.waiting.is_some(), "{run:?}");
    clock.advance(Duration::from_secs(60 * 60));
    let run = publish_deferred(&mut repo, &*clock, &options).unwrap();
    assert_eq!(run.published.len(), 1, "{run:?}");
    let (again, _) = &run.published[0];
    assert_eq!(repo.inner().remote_side("auto"), Some(again));
    assert!(auto_text(&repo, "images/staging.json").contains(&reference("api", 2)));
    assert!(matches!(
        check(&mut repo, again, CheckState::Success),
        CheckOutcome::Accepted { .. }
    ));
    assert!(main_text(&repo, "images/staging.json").contains(&reference("api", 2)));
}

#[test]
fn a_rollback_waiting_on_auto_is_never_dropped_by_its_own_hold_or_a_freeze() {
    let pipeline = PIPELINE.replace(
        "targets = [\"staging\"]\n",
        &format!("targets = [\"staging\"]\n{FROZEN_STAGING}"),
    );
    let clock = Arc::new(ManualClock::at(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ));
    let mut repo = Strict::new(memory(&pipeline), clock.clone(), options(true));
    let first = repo.refresh().unwrap();
    let publish = {
        let options = *repo.options();
        match publish(&mut repo, &*clock, &announcement(0x44, "api", 2), &options).unwrap() {
            PublishOutcome::Committed { commit, .. } => commit,
            other => panic!("{other:?}"),
        }
    };
    assert!(matches!(
        check(&mut repo, &publish, CheckState::Success),
        CheckOutcome::Accepted { .. }
    ));
    // An admin rolls api back during the window (a person's command, not automation).
    clock.advance(Duration::from_secs(90 * 60));
    let rolled_back = roll_back(&mut repo, &first, &["api"]);
    repo.refresh().unwrap();
    assert_eq!(repo.inner().remote_side("auto"), Some(&rolled_back));
    assert!(matches!(
        check(&mut repo, &rolled_back, CheckState::Success),
        CheckOutcome::Accepted { .. }
    ));
    assert!(main_text(&repo, "images/staging.json").contains(&reference("api", 1)));
}

#[test]
fn a_hold_placed_while_a_green_result_is_being_accepted_keeps_the_change_off_main() {
    use crate::testing::{Push, SharedRepository};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    let shared = SharedRepository::new(memory(PIPELINE));
    // Another replica, which rolls api back at the worst moment: after this one read the
    // state to accept the publish, before its push of the decision.
    let other = Arc::new(Mutex::new(Strict::new(
        shared.clone(),
        clock(),
        options(true),
    )));
    let armed = Arc::new(AtomicBool::new(false));
    let hook = {
        let (other, armed) = (other.clone(), armed.clone());
        move |push: Push| {
            // The decision's push: alone, or with the fast-forward.
            if matches!(push, Push::State | Push::Both) && armed.swap(false, Ordering::SeqCst) {
                let mut other = other.lock().unwrap();
                other.refresh().unwrap();
                let main = other.main_tip().unwrap().clone();
                let options = *other.options();
                let request = RollbackRequest {
                    wave: staging(),
                    to_revision: main,
                    services: vec![ServiceName::parse("api").unwrap()],
                };
                rollback(&mut *other, &*clock(), &request, &options).unwrap();
            }
        }
    };
    let mut repo = Strict::new(
        shared.clone().before_each_push(hook),
        clock(),
        options(true),
    );
    let main = repo.refresh().unwrap();
    let options = *repo.options();
    let PublishOutcome::Committed { commit, .. } = publish(
        &mut repo,
        &*clock(),
        &announcement(0x45, "api", 2),
        &options,
    )
    .unwrap() else {
        panic!("not committed");
    };
    armed.store(true, Ordering::SeqCst);
    let outcome = repo
        .record_check(&CheckReport {
            commit: commit.clone(),
            state: CheckState::Success,
            context: "ci".into(),
        })
        .unwrap();
    assert!(
        !armed.load(Ordering::SeqCst),
        "the other replica rolled back"
    );
    // Found held on what this process last saw, the result is decided again after a fetch,
    // whose rebuild drops the change for the hold: the answer says it was dropped, and the
    // drop is handed out once, with its reason, for the `refused` notification.
    assert_eq!(outcome, CheckOutcome::Ignored(Ignored::Evicted));
    // (The other replica's rollback, queued behind it, is moot once it is gone: dropped too.)
    let dropped = repo.take_dropped();
    assert!(
        dropped
            .iter()
            .any(|d| d.commit == commit && d.reason.contains("held")),
        "{dropped:?}"
    );
    assert_eq!(
        shared.with(|r| r.remote_tip().clone()),
        main,
        "main did not move"
    );
    assert!(
        !shared
            .with(|r| r.remote_text("images/staging.json"))
            .unwrap()
            .contains(&reference("api", 2))
    );
}
