//! Strict mode's bugs found by the promotion simulation and issue 14's review, each with the
//! test that would have caught it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::*;
use crate::intent::WriteOptions;
use crate::key::StateKey;
use crate::memory::MemoryRepository;
use crate::names::{CommitId, ServiceName, WaveName};
use crate::path::RepoPath;
use crate::promotion::{self, state};
use crate::publish::{Announcement, PublishOutcome, publish};
use crate::reference::ImageRef;
use crate::repository::ConfigRepository;
use crate::slots::ImageSet;
use crate::testing::{ManualClock, SharedRepository};

const PIPELINE: &str = r#"[strict]
branch = "auto"

[[wave]]
name = "staging"
images = "images/staging.json"
targets = ["staging"]

[target.staging]
entrypoint = "staging.jsonnet"
"#;

const APP: &str = "local i = import 'images/staging.json';\n{ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'Pod', metadata: { name: s }, spec: { containers: [{ name: s, image: i[s] }] } } for s in std.objectFields(i)] }\n";

fn reference(service: &str, n: u64) -> String {
    format!("reg.example.com/{service}:v{n}@sha256:{n:064x}")
}

fn image_file(api: u64, web: u64) -> String {
    format!(
        "{{\n  \"api\": \"{}\",\n  \"web\": \"{}\"\n}}\n",
        reference("api", api),
        reference("web", web)
    )
}

fn memory() -> MemoryRepository {
    MemoryRepository::new(&[
        ("cfgupdate.toml", PIPELINE),
        ("images/staging.json", &image_file(1, 1)),
        ("staging.jsonnet", APP),
    ])
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::at(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ))
}

fn options() -> WriteOptions {
    WriteOptions {
        key: Some(StateKey::new(b"a state key of the strict regressions").unwrap()),
        ..WriteOptions::default()
    }
}

fn announce<R: ConfigRepository>(repo: &mut Strict<R>, app: u8, service: &str, n: u64) -> CommitId {
    let images = ImageSet::from([(
        ServiceName::parse(service).unwrap(),
        ImageRef::parse(&reference(service, n)).unwrap(),
    )]);
    let announcement = Announcement::new(
        CommitId::parse(&format!("{app:02x}").repeat(20)).unwrap(),
        images,
    )
    .unwrap();
    let options = *repo.options();
    match publish(repo, &*clock(), &announcement, &options).unwrap() {
        PublishOutcome::Committed { commit, .. } => commit,
        other => panic!("not committed: {other:?}"),
    }
}

fn green<R: ConfigRepository>(repo: &mut Strict<R>, commit: &CommitId) {
    let outcome = repo
        .record_check(&CheckReport {
            commit: commit.clone(),
            state: CheckState::Success,
            context: "ci".into(),
        })
        .unwrap();
    assert!(
        matches!(outcome, CheckOutcome::Accepted { .. }),
        "{outcome:?}"
    );
}

fn staging() -> WaveName {
    WaveName::parse("staging").unwrap()
}

fn web_is_held(repo: &Strict<MemoryRepository>) -> bool {
    let tip = repo.tip().unwrap();
    let holds = state::load(repo.inner(), repo.options().key.as_ref(), &tip)
        .unwrap()
        .holds;
    holds
        .get(&staging(), &ServiceName::parse("web").unwrap())
        .is_some()
}

/// The look for people's edits since the state last looked restarted from the newest 2,000
/// commits when the commit it looked at last left the branch (as the auto branch's tip does
/// at every rebuild), found the person's edit again and pinned the released service again.
#[test]
fn a_released_pin_stays_released_after_the_auto_branch_is_rebuilt() {
    let clock = clock();
    let options = options();
    let mut repo = Strict::new(memory(), clock.clone(), options);
    let first = announce(&mut repo, 0xa1, "api", 2);
    green(&mut repo, &first);
    // A person sets web by hand on the main branch: the next look pins it.
    repo.inner_mut().person_pushes("Set web by hand", |tree| {
        tree.insert(
            RepoPath::parse("images/staging.json").unwrap(),
            image_file(2, 9).into_bytes(),
        );
    });
    repo.refresh().unwrap();
    announce(&mut repo, 0xa2, "api", 3);
    assert!(web_is_held(&repo), "the person's edit pins web");
    let released = promotion::release(
        &mut repo,
        &*clock,
        &staging(),
        &[ServiceName::parse("web").unwrap()],
        &options,
    )
    .unwrap();
    assert_eq!(released.released.len(), 1);
    assert!(!web_is_held(&repo));

    // A person's unrelated push moves main: the auto branch is rebuilt on it, and the tip the
    // holds were looked at from leaves the branch.
    repo.inner_mut().person_pushes("Docs", |tree| {
        tree.insert(RepoPath::parse("README.md").unwrap(), b"by hand\n".to_vec());
    });
    repo.refresh().unwrap();
    announce(&mut repo, 0xa3, "api", 4);
    let queue = repo.queue().unwrap().unwrap();
    assert_eq!(
        queue.changes.len(),
        2,
        "both changes wait, rebuilt: {queue:?}"
    );
    assert!(
        !web_is_held(&repo),
        "web was pinned again after the rebuild"
    );
    // Later edits still pin.
    repo.inner_mut().person_pushes("Set api by hand", |tree| {
        tree.insert(
            RepoPath::parse("images/staging.json").unwrap(),
            image_file(8, 9).into_bytes(),
        );
    });
    repo.refresh().unwrap();
    announce(&mut repo, 0xa4, "web", 5);
    let tip = repo.tip().unwrap();
    let holds = state::load(repo.inner(), options.key.as_ref(), &tip)
        .unwrap()
        .holds;
    assert!(
        holds
            .get(&staging(), &ServiceName::parse("api").unwrap())
            .is_some(),
        "{holds:?}"
    );
    assert!(!web_is_held(&repo));
}

/// A rebuild during an ordinary fetch (not one a red CI result caused) recorded the changes
/// it dropped but handed them to no one, so the service never sent `refused` for them.
#[test]
fn a_change_dropped_by_a_rebuild_during_a_fetch_is_handed_out_once_across_replicas() {
    let shared = SharedRepository::new(memory());
    let clock = clock();
    let mut one = Strict::new(shared.clone(), clock.clone(), options());
    let mut two = Strict::new(shared.clone(), clock.clone(), options());
    let moot = announce(&mut one, 0xb1, "api", 2);
    announce(&mut one, 0xb2, "web", 2);
    assert!(one.take_dropped().is_empty());
    shared.with(|remote| {
        remote.person_pushes("Set api by hand", |tree| {
            tree.insert(
                RepoPath::parse("images/staging.json").unwrap(),
                image_file(7, 1).into_bytes(),
            );
        })
    });
    // Both replicas fetch (as each request and the timer's pass does).
    two.refresh().unwrap();
    one.refresh().unwrap();
    two.refresh().unwrap();
    let mut handed: Vec<_> = one.take_dropped();
    handed.extend(two.take_dropped());
    assert_eq!(handed.len(), 1, "{handed:?}");
    assert_eq!(handed[0].commit, moot);
    assert_eq!(handed[0].kind, EvictionKind::Dropped);
    assert!(handed[0].reason.contains("a person set api"), "{handed:?}");
    // Never again.
    one.refresh().unwrap();
    two.refresh().unwrap();
    assert!(one.take_dropped().is_empty() && two.take_dropped().is_empty());
}

/// A CI result whose fetch found a change to drop answered only about the result: the drop
/// went nowhere. It is handed out by the next [`Strict::take_dropped`].
#[test]
fn a_change_dropped_by_the_fetch_a_green_result_starts_with_is_handed_out() {
    let mut repo = Strict::new(memory(), clock(), options());
    let moot = announce(&mut repo, 0xc1, "api", 2);
    announce(&mut repo, 0xc2, "web", 2);
    repo.inner_mut().person_pushes("Set api by hand", |tree| {
        tree.insert(
            RepoPath::parse("images/staging.json").unwrap(),
            image_file(7, 1).into_bytes(),
        );
    });
    // CI's green for the old commit arrives: stale, and the fetch before it drops `moot`.
    let outcome = repo
        .record_check(&CheckReport {
            commit: moot.clone(),
            state: CheckState::Success,
            context: "ci".into(),
        })
        .unwrap();
    assert!(matches!(outcome, CheckOutcome::Ignored(_)), "{outcome:?}");
    let handed = repo.take_dropped();
    assert_eq!(handed.len(), 1, "{handed:?}");
    assert_eq!(handed[0].commit, moot);
    assert!(repo.take_dropped().is_empty());
}

/// A write planned on the main branch as last fetched went onto the auto branch even when a
/// person had pushed to the main branch since (a push there is never rejected for it): the
/// next rebuild then took the person's earlier edit for one made since the change, and
/// dropped a change announced after it.
#[test]
fn a_change_announced_after_a_persons_push_is_written_on_it_not_dropped() {
    let shared = SharedRepository::new(memory());
    let mut repo = Strict::new(shared.clone(), clock(), options());
    announce(&mut repo, 0xd1, "web", 2);
    // A person sets api by hand; cfgupdate has not fetched since.
    let person = shared.with(|r| {
        r.person_pushes("Set api by hand", |tree| {
            tree.insert(
                RepoPath::parse("images/staging.json").unwrap(),
                image_file(7, 1).into_bytes(),
            );
        })
    });
    // The edit pins api; someone releases it from another process.
    let mut other = Strict::new(shared.clone(), clock(), options());
    let options = *other.options();
    let released = promotion::release(
        &mut other,
        &*clock(),
        &staging(),
        &[ServiceName::parse("api").unwrap()],
        &options,
    )
    .unwrap();
    assert_eq!(released.released.len(), 1);
    // Then api is announced: it is written on the person's commit.
    let commit = announce(&mut repo, 0xd2, "api", 3);
    assert!(repo.is_ancestor(&person, &commit).unwrap());
    repo.refresh().unwrap();
    let queue = repo.queue().unwrap().unwrap();
    assert!(queue.evicted.is_empty(), "{:?}", queue.evicted);
    assert!(repo.take_dropped().is_empty());
    assert_eq!(queue.changes.len(), 2);
    let auto = queue.auto.unwrap();
    let images = shared.with(|r| r.text_at(&auto, "images/staging.json").unwrap());
    assert!(images.contains(&reference("api", 3)), "{images}");
}

/// Whether a person's edit pins a service depended on whether the state happened to be
/// written between cfgupdate's first change (still waiting on the auto branch) and the edit:
/// the look across the rebuild took the old auto branch's commits for commits of cfgupdate's
/// before the edit, though the rebuilt history puts them after it.
#[test]
fn whether_an_edit_pins_does_not_depend_on_a_state_write_before_it() {
    let held_api = |report_between: bool| {
        let clock = clock();
        let options = options();
        let mut repo = Strict::new(memory(), clock.clone(), options);
        announce(&mut repo, 0xe1, "web", 2);
        if report_between {
            let main = repo.inner().remote_tip().clone();
            promotion::record_deployment(
                &mut repo,
                &*clock,
                &promotion::DeployReport {
                    target: promotion::TargetSelector::Name(
                        crate::names::TargetName::parse("staging").unwrap(),
                    ),
                    revision: main,
                    status: promotion::DeployStatus::Succeeded,
                },
                &options,
            )
            .unwrap();
        }
        repo.inner_mut().person_pushes("Set api by hand", |tree| {
            tree.insert(
                RepoPath::parse("images/staging.json").unwrap(),
                image_file(7, 1).into_bytes(),
            );
        });
        repo.refresh().unwrap();
        let tip = repo.tip().unwrap();
        state::load(repo.inner(), options.key.as_ref(), &tip)
            .unwrap()
            .holds
            .get(&staging(), &ServiceName::parse("api").unwrap())
            .is_some()
    };
    assert_eq!(held_api(true), held_api(false));
}

/// Removing `[strict]` from the main branch's `cfgupdate.toml` left the changes waiting on the
/// auto branch there, silently: strict mode off means automatic commits go to the main branch,
/// so they land there as ordinary automatic commits.
#[test]
fn turning_strict_mode_off_lands_the_waiting_changes_on_main() {
    let mut repo = Strict::new(memory(), clock(), options());
    let first = announce(&mut repo, 0xf1, "api", 2);
    announce(&mut repo, 0xf2, "web", 3);
    let person = repo
        .inner_mut()
        .person_pushes("Turn strict mode off", |tree| {
            tree.insert(
                RepoPath::parse("cfgupdate.toml").unwrap(),
                PIPELINE
                    .replace("[strict]\nbranch = \"auto\"\n", "")
                    .into_bytes(),
            );
        });
    repo.refresh().unwrap();
    assert_eq!(repo.auto_branch(), None);
    assert!(repo.queue().unwrap().is_none());
    let main = repo.inner().remote_tip().clone();
    assert!(repo.is_ancestor(&person, &main).unwrap());
    assert!(
        !repo.is_ancestor(&first, &main).unwrap(),
        "replayed, not merged"
    );
    let images = repo.inner().remote_text("images/staging.json").unwrap();
    assert!(images.contains(&reference("api", 2)), "{images}");
    assert!(images.contains(&reference("web", 3)), "{images}");
    let log = repo.log(&main, 3).unwrap();
    assert_eq!(log[2].id, person);
    assert!(
        log[..2]
            .iter()
            .all(|c| c.message.contains("Cfgupdate-Action: publish"))
    );
    assert_eq!(repo.inner().remote_side("auto"), Some(&main));
    assert!(repo.take_dropped().is_empty());
    // Fetching again changes nothing.
    repo.refresh().unwrap();
    assert_eq!(repo.inner().remote_tip(), &main);
}

/// Review of the merged code: when strict mode was turned off in the same commit that froze
/// the first wave, the waiting publish was dropped for the freeze (as every rebuild drops it)
/// but, unlike every rebuild, never deferred: it was reported as waiting for the window's end
/// and then never published.
#[test]
fn a_waiting_publish_dropped_by_a_freeze_when_strict_mode_is_turned_off_is_deferred() {
    let clock = clock();
    let mut repo = Strict::new(memory(), clock.clone(), options());
    announce(&mut repo, 0xf3, "api", 2);
    let until = "2027-03-01T00:00:00Z";
    repo.inner_mut()
        .person_pushes("Turn strict mode off and freeze staging", |tree| {
            let pipeline = PIPELINE.replace("[strict]\nbranch = \"auto\"\n", "").replace(
                "targets = [\"staging\"]\n",
                &format!(
                    "targets = [\"staging\"]\nfreeze = [{{ from = \"2000-01-01T00:00:00Z\", to = \"{until}\", reason = \"audit\" }}]\n"
                ),
            );
            tree.insert(RepoPath::parse("cfgupdate.toml").unwrap(), pipeline.into_bytes());
        });
    repo.refresh().unwrap();
    let dropped = repo.take_dropped();
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    let main = repo.inner().remote_tip().clone();
    let state = repo.state_at(&main);
    assert_eq!(state.deferred.len(), 1, "{:?}", state.deferred);
    assert!(
        !repo
            .inner()
            .remote_text("images/staging.json")
            .unwrap()
            .contains(&reference("api", 2))
    );
    // When the window ends, the deferred publish lands.
    let after =
        ManualClock::at(SystemTime::try_from(until.parse::<jiff::Timestamp>().unwrap()).unwrap());
    let options = *repo.options();
    let run = crate::publish_deferred(&mut repo, &after, &options).unwrap();
    assert_eq!(run.published.len(), 1, "{run:?}");
    assert!(
        repo.inner()
            .remote_text("images/staging.json")
            .unwrap()
            .contains(&reference("api", 2))
    );
}

/// Review of issue 14: a drop recorded in the state by a rebuild whose push to the auto
/// branch then failed was handed out by nobody (the record made the other replicas skip it,
/// and the error lost it here).
#[test]
fn a_drop_recorded_before_the_auto_branch_push_failed_is_still_handed_out_once() {
    use crate::testing::Push;
    use std::sync::atomic::{AtomicBool, Ordering};
    let shared = SharedRepository::new(memory());
    let armed = Arc::new(AtomicBool::new(false));
    let hook = {
        let (shared, armed) = (shared.clone(), armed.clone());
        move |push: Push| {
            // The rebuild's record landed; the network goes before its auto branch push.
            if push == Push::Branch && armed.swap(false, Ordering::SeqCst) {
                shared.with(|r| r.offline = true);
            }
        }
    };
    let mut repo = Strict::new(shared.clone().before_each_push(hook), clock(), options());
    repo.refresh().unwrap();
    announce(&mut repo, 0x71, "api", 2);
    announce(&mut repo, 0x72, "web", 2);
    // A person sets api themselves: the next rebuild drops that change.
    shared.with(|r| {
        r.person_pushes("Pin api by hand", |tree| {
            tree.insert(
                RepoPath::parse("images/staging.json").unwrap(),
                image_file(7, 1).into_bytes(),
            );
        })
    });
    armed.store(true, Ordering::SeqCst);
    assert!(repo.refresh().is_err(), "the auto branch push failed");
    let dropped = repo.take_dropped();
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert!(
        dropped[0].reason.contains("a person set api"),
        "{dropped:?}"
    );
    // Recorded once: back online, nobody hands it out again.
    shared.with(|r| r.offline = false);
    repo.refresh().unwrap();
    assert!(repo.take_dropped().is_empty());
    let mut other = Strict::new(shared.clone(), clock(), options());
    other.refresh().unwrap();
    assert!(other.take_dropped().is_empty());
}

/// Review of issue 14: two replicas landing the waiting changes when strict mode is turned
/// off. One that fetched between the other's fast-forward of main and its move of the auto
/// branch replayed the changes again on the main branch that already held them, found them
/// moot, and reported them dropped: changes that landed, said to be refused.
#[test]
fn two_replicas_landing_the_waiting_changes_report_nothing_dropped_and_land_each_once() {
    use crate::testing::Push;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    // The other replica lands everything before this one's first, then second, push.
    for before in 1..=2 {
        let shared = SharedRepository::new(memory());
        let other = Arc::new(Mutex::new(Strict::new(shared.clone(), clock(), options())));
        let countdown = Arc::new(AtomicUsize::new(0));
        let hook = {
            let (other, countdown) = (other.clone(), countdown.clone());
            move |push: Push| {
                if push == Push::Branch
                    && countdown.load(Ordering::SeqCst) > 0
                    && countdown.fetch_sub(1, Ordering::SeqCst) == 1
                {
                    other.lock().unwrap().refresh().unwrap();
                }
            }
        };
        let mut repo = Strict::new(shared.clone().before_each_push(hook), clock(), options());
        repo.refresh().unwrap();
        announce(&mut repo, 0xa1, "api", 2);
        announce(&mut repo, 0xa2, "web", 3);
        other.lock().unwrap().refresh().unwrap();
        shared.with(|r| {
            r.person_pushes("Turn strict mode off", |tree| {
                tree.insert(
                    RepoPath::parse("cfgupdate.toml").unwrap(),
                    PIPELINE
                        .replace("[strict]\nbranch = \"auto\"\n", "")
                        .into_bytes(),
                );
            })
        });
        countdown.store(before, Ordering::SeqCst);
        repo.refresh().unwrap();
        assert_eq!(countdown.load(Ordering::SeqCst), 0, "the other replica ran");
        let context = format!("the other replica before push {before}");
        assert!(repo.take_dropped().is_empty(), "{context}");
        assert!(other.lock().unwrap().take_dropped().is_empty(), "{context}");
        let main = shared.with(|r| r.remote_tip().clone());
        let record = state::load(&shared, options().key.as_ref(), &main)
            .unwrap()
            .strict;
        assert!(record.evicted.is_empty(), "{context}: {:?}", record.evicted);
        let images = shared.with(|r| r.remote_text("images/staging.json").unwrap());
        assert!(images.contains(&reference("api", 2)), "{context}: {images}");
        assert!(images.contains(&reference("web", 3)), "{context}: {images}");
        // Each change landed once: two automatic commits after the person's.
        let log = shared.with(|r| r.log(&main, 3).unwrap());
        assert!(
            log[..2]
                .iter()
                .all(|c| c.message.contains("Cfgupdate-Action: publish")),
            "{context}: {log:?}"
        );
        assert!(
            log[2].message.starts_with("Turn strict mode off"),
            "{context}"
        );
        assert_eq!(shared.with(|r| r.remote_side("auto").cloned()), Some(main));
    }
}

/// Review of issue 14: people's edits count from the first commit of cfgupdate's on the
/// branch, and in strict mode cfgupdate's commits reach the main branch only once CI passed
/// them, so an edit made before the first did pinned nothing: the next publish wrote over an
/// image a person had set by hand.
#[test]
fn an_edit_made_before_cfgupdates_first_change_reached_main_pins_its_service() {
    let mut repo = Strict::new(memory(), clock(), options());
    repo.refresh().unwrap();
    // cfgupdate's first change waits on the auto branch; the state exists from now on.
    announce(&mut repo, 0xe5, "api", 2);
    let edit = repo
        .inner_mut()
        .person_pushes("Keep web at 7 by hand", |tree| {
            tree.insert(
                RepoPath::parse("images/staging.json").unwrap(),
                image_file(1, 7).into_bytes(),
            );
        });
    repo.refresh().unwrap();
    assert!(web_is_held(&repo), "the person's edit pins web");
    let images = ImageSet::from([(
        ServiceName::parse("web").unwrap(),
        ImageRef::parse(&reference("web", 3)).unwrap(),
    )]);
    let announcement =
        Announcement::new(CommitId::parse(&"e6".repeat(20)).unwrap(), images).unwrap();
    let options = *repo.options();
    let refused = publish(&mut repo, &*clock(), &announcement, &options);
    assert!(
        matches!(refused, Err(crate::publish::PublishError::OnHold(_))),
        "{refused:?}"
    );
    assert!(
        repo.inner()
            .text_at(&repo.tip().unwrap(), "images/staging.json")
            .unwrap()
            .contains(&reference("web", 7))
    );
    // The commits that set the pipeline up before cfgupdate's first state pin nothing.
    let _ = edit;
}
