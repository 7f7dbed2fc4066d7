//! The capturing repository: what it plans is what a real run pushes, and nothing it plans
//! reaches the repository it wraps.

use std::sync::{Arc, Mutex};

use super::*;
use crate::intent::WriteOptions;
use crate::key::StateKey;
use crate::memory::MemoryRepository;
use crate::names::{ServiceName, TargetName, WaveName};
use crate::promotion::{
    self, ApprovalOutcome, Approver, DeployReport, DeployStatus, PromoteOutcome, PromotionError,
    TargetSelector,
};
use crate::publish::{Announcement, PublishOutcome, publish};
use crate::reference::ImageRef;
use crate::repository::MockConfigRepository;
use crate::slots::ImageSet;
use crate::testing::ManualClock;

const PIPELINE: &str = r#"[[wave]]
name = "staging"
images = "images/staging.json"
targets = ["staging"]

[[wave]]
name = "internal"
images = "images/internal.json"
targets = ["internal"]

[[wave]]
name = "production"
images = "images/production.json"
targets = ["prod"]
approval = true

[target.staging]
entrypoint = "staging.jsonnet"

[target.internal]
entrypoint = "internal.jsonnet"

[target.prod]
entrypoint = "prod.jsonnet"
"#;

fn reference(n: u64) -> String {
    format!("reg.example.com/api:v{n}@sha256:{n:064x}")
}

fn image_file(n: u64) -> String {
    format!("{{\n  \"api\": \"{}\"\n}}\n", reference(n))
}

fn app(images: &str) -> String {
    format!(
        "local i = import '{images}';\n{{ apiVersion: 'v1', kind: 'Pod', metadata: {{ name: 'api' }}, spec: {{ containers: [{{ name: 'api', image: i.api }}] }} }}\n"
    )
}

fn repository() -> MemoryRepository {
    MemoryRepository::new(&[
        ("cfgupdate.toml", PIPELINE),
        ("images/staging.json", &image_file(0)),
        ("images/internal.json", &image_file(0)),
        ("images/production.json", &image_file(0)),
        ("staging.jsonnet", &app("images/staging.json")),
        ("internal.jsonnet", &app("images/internal.json")),
        ("prod.jsonnet", &app("images/production.json")),
    ])
}

fn clock() -> ManualClock {
    ManualClock::at_seconds(1_800_000_000)
}

fn announcement(n: u64) -> Announcement {
    let images = ImageSet::from([(
        ServiceName::parse("api").unwrap(),
        ImageRef::parse(&reference(n)).unwrap(),
    )]);
    Announcement::new(CommitId::parse(&format!("{n:040x}")).unwrap(), images).unwrap()
}

fn wave(name: &str) -> WaveName {
    WaveName::parse(name).unwrap()
}

fn keyed() -> WriteOptions {
    WriteOptions {
        key: Some(StateKey::new(b"a state key long enough for the tests, 32+").unwrap()),
        ..WriteOptions::default()
    }
}

/// What the remote holds: the branch's tip and the state's commit.
fn remote(repo: &MemoryRepository) -> (CommitId, Option<CommitId>) {
    (
        repo.remote_tip().clone(),
        repo.remote_state().map(|version| version.commit.clone()),
    )
}

fn commits(writes: &[PlannedWrite]) -> Vec<&PlannedCommit> {
    writes
        .iter()
        .filter_map(|write| match write {
            PlannedWrite::Commit(commit) => Some(commit),
            PlannedWrite::State(_) => None,
        })
        .collect()
}

fn states(writes: &[PlannedWrite]) -> Vec<&PlannedState> {
    writes
        .iter()
        .filter_map(|write| match write {
            PlannedWrite::State(state) => Some(state),
            PlannedWrite::Commit(_) => None,
        })
        .collect()
}

/// Staging holds images 1, published for real and deployed by its target; internal then
/// promoted for real and deployed, so production waits for approval.
fn waiting_for_approval(options: &WriteOptions) -> (MemoryRepository, CommitId) {
    let mut repo = repository();
    let clock = clock();
    let PublishOutcome::Committed { commit, .. } =
        publish(&mut repo, &clock, &announcement(1), options).unwrap()
    else {
        panic!("staging held other images");
    };
    let report = |target: &str, revision: &CommitId| DeployReport {
        target: TargetSelector::Name(TargetName::parse(target).unwrap()),
        revision: revision.clone(),
        status: DeployStatus::Succeeded,
    };
    let outcome =
        promotion::record_deployment(&mut repo, &clock, &report("staging", &commit), options)
            .unwrap();
    let (promoted, _) = outcome.landed().expect("internal has no gate");
    let promoted = promoted.clone();
    let outcome =
        promotion::record_deployment(&mut repo, &clock, &report("internal", &promoted), options)
            .unwrap();
    assert!(
        matches!(outcome, promotion::DeploymentOutcome::Pending { .. }),
        "{outcome:?}"
    );
    (repo, promoted)
}

#[test]
fn a_dry_run_publish_plans_exactly_the_commit_a_real_publish_pushes() {
    for options in [WriteOptions::default(), keyed()] {
        let mut repo = repository();
        let clock = clock();
        let before = remote(&repo);
        let (outcome, writes) = dry_run(&mut repo, &clock, |repo| {
            publish(repo, &clock, &announcement(1), &options)
        });
        assert!(matches!(outcome, Ok(PublishOutcome::Committed { .. })));
        assert_eq!(repo.pushes, 0, "nothing reached the remote");
        assert_eq!(remote(&repo), before);

        let planned = commits(&writes);
        let [planned] = planned.as_slice() else {
            panic!("{writes:?}")
        };
        assert_eq!(planned.parent, before.0);
        assert_eq!(
            planned.files,
            [PlannedFile {
                path: RepoPath::parse("images/staging.json").unwrap(),
                before: Some(image_file(0).into_bytes()),
                after: Some(image_file(1).into_bytes()),
            }]
        );
        // With a key, the state is created first, as a real publish creates it.
        assert_eq!(states(&writes).len(), usize::from(options.key.is_some()));

        // The real publish pushes the same message (trailers and seal) and the same files.
        let real = publish(&mut repo, &clock, &announcement(1), &options).unwrap();
        let (commit, _) = real.landed().unwrap();
        let log = repo.log(commit, 1).unwrap();
        assert_eq!(log[0].message, planned.message.render());
        assert_eq!(repo.remote_text("images/staging.json"), Some(image_file(1)));
    }
}

#[test]
fn a_dry_run_approval_records_the_approval_and_plans_the_promotion_it_lets_through() {
    let options = keyed();
    let (mut repo, _) = waiting_for_approval(&options);
    let clock = clock();
    let before = remote(&repo);
    let anchor = repo.state_anchor().unwrap();
    let pushes = repo.pushes;
    let alice = Approver::parse("alice").unwrap();
    let (outcome, writes) = dry_run(&mut repo, &clock, |repo| {
        promotion::approve(repo, &clock, &wave("production"), &alice, &options)
    });
    assert!(
        matches!(outcome, Ok(ApprovalOutcome::Promoted { .. })),
        "{outcome:?}"
    );
    assert_eq!(repo.pushes, pushes, "nothing reached the remote");
    assert_eq!(remote(&repo), before);
    assert_eq!(
        repo.state_anchor().unwrap(),
        anchor,
        "the cache's anchor never names a planned state"
    );

    // The approval goes into the state first; the promotion is decided with it.
    let [PlannedWrite::State(state), PlannedWrite::Commit(commit)] = writes.as_slice() else {
        panic!("{writes:?}")
    };
    assert_eq!(state.parent, before.1);
    assert!(
        state.message.contains("into production from revision")
            && state.message.ends_with("(by alice)"),
        "{}",
        state.message
    );
    assert!(
        commit
            .message
            .trailers
            .contains(&("Cfgupdate-Approved-By".into(), "alice".into())),
        "{:?}",
        commit.message.trailers
    );
    assert!(
        commit
            .message
            .trailers
            .contains(&("Cfgupdate-Action".into(), "approve".into()))
    );
    assert_eq!(commit.files.len(), 1);
    assert_eq!(commit.files[0].path.as_str(), "images/production.json");
    assert_eq!(commit.files[0].after, Some(image_file(1).into_bytes()));

    // The real approval then writes the same commit.
    let real =
        promotion::approve(&mut repo, &clock, &wave("production"), &alice, &options).unwrap();
    let (landed, _) = real.landed().unwrap();
    assert_eq!(
        repo.log(landed, 1).unwrap()[0].message,
        commit.message.render()
    );
}

#[test]
fn a_refused_promotion_is_refused_by_its_dry_run_with_the_same_error() {
    let options = WriteOptions::default();
    let (mut repo, promoted) = waiting_for_approval(&options);
    let clock = clock();
    let before = remote(&repo);
    let (dry, writes) = dry_run(&mut repo, &clock, |repo| {
        promotion::promote(repo, &clock, &wave("internal"), &promoted, &options)
    });
    assert!(writes.is_empty(), "{writes:?}");
    let real = promotion::promote(&mut repo, &clock, &wave("internal"), &promoted, &options);
    assert!(matches!(dry, Err(PromotionError::Gated { .. })), "{dry:?}");
    assert_eq!(dry, real);
    assert_eq!(remote(&repo), before);
}

#[test]
fn a_dry_run_promotion_plans_the_commit_on_what_the_remote_holds_now() {
    let options = WriteOptions::default();
    let mut repo = repository();
    let clock = clock();
    let Ok(PublishOutcome::Committed { commit, .. }) =
        publish(&mut repo, &clock, &announcement(1), &options)
    else {
        panic!("nothing published")
    };
    // A person pushes after this process last fetched: the plan is built on their commit, as
    // a real push would be after its rejection.
    let theirs = repo.person_pushes("A person's note", |tree| {
        tree.insert(RepoPath::parse("NOTES.md").unwrap(), b"hello\n".to_vec());
    });
    let pushes = repo.pushes;
    let (outcome, writes) = dry_run(&mut repo, &clock, |repo| {
        promotion::promote(repo, &clock, &wave("staging"), &commit, &options)
    });
    assert!(
        matches!(outcome, Ok(PromoteOutcome::Promoted { .. })),
        "{outcome:?}"
    );
    assert_eq!(repo.pushes, pushes);
    assert_eq!(repo.remote_tip(), &theirs);
    let [PlannedWrite::Commit(planned)] = writes.as_slice() else {
        panic!("{writes:?}")
    };
    assert_eq!(planned.parent, theirs);
    assert_eq!(planned.files[0].path.as_str(), "images/internal.json");
    assert_eq!(
        planned.message.trailers[..2],
        [
            ("Cfgupdate-Action".to_owned(), "promote".to_owned()),
            ("Cfgupdate-Wave".to_owned(), "internal".to_owned())
        ]
    );
}

#[test]
fn a_stale_parent_is_rejected_as_the_remote_would_reject_it() {
    let mut repo = repository();
    let old = repo.refresh().unwrap();
    repo.person_pushes("A person's edit", |_| {});
    let clock = clock();
    let mut dry = DryRun::new(&mut repo, &clock);
    let change = Change::default();
    assert_eq!(
        dry.commit_and_push(&old, &change).unwrap(),
        PushOutcome::Rejected
    );
    assert_eq!(
        dry.push_state(Some(&old), b"{}", "m").unwrap(),
        PushOutcome::Rejected
    );
    assert!(dry.writes().is_empty());
}

#[test]
fn later_reads_see_the_planned_commits_and_states_and_the_remote_never_does() {
    let mut repo = repository();
    let base = repo.refresh().unwrap();
    let clock = clock();
    let mut dry = DryRun::new(&mut repo, &clock);
    let path = |p: &str| RepoPath::parse(p).unwrap();
    let mut change = Change::default();
    change.message.subject = "Plan".into();
    change
        .files
        .insert(path("images/new.json"), FileChange::Write(b"{}\n".to_vec()));
    change
        .files
        .insert(path("images/internal.json"), FileChange::Delete);
    // Written with the bytes it has: no change, not listed.
    change.files.insert(
        path("images/staging.json"),
        FileChange::Write(image_file(0).into_bytes()),
    );
    let PushOutcome::Pushed(first) = dry.commit_and_push(&base, &change).unwrap() else {
        panic!("rejected")
    };
    assert_eq!(dry.tip().unwrap(), first);
    assert_eq!(
        dry.refresh().unwrap(),
        first,
        "a fetch keeps what was planned"
    );
    assert_eq!(
        dry.read_file(&first, &path("images/new.json")).unwrap(),
        Some(b"{}\n".to_vec())
    );
    assert_eq!(
        dry.read_file(&first, &path("images/internal.json"))
            .unwrap(),
        None
    );
    assert_eq!(
        dry.read_file(&first, &path("cfgupdate.toml")).unwrap(),
        Some(PIPELINE.as_bytes().to_vec())
    );
    let listed: Vec<String> = dry
        .list_files(&first, "images")
        .unwrap()
        .iter()
        .map(|p| p.as_str().to_owned())
        .collect();
    assert_eq!(
        listed,
        [
            "images/new.json",
            "images/production.json",
            "images/staging.json"
        ]
    );
    let log = dry.log(&first, 2).unwrap();
    assert_eq!(log[0].id, first);
    assert_eq!(log[0].parents, std::slice::from_ref(&base));
    assert_eq!(log[0].message, "Plan\n");
    assert_eq!(log[1].id, base);
    assert!(dry.is_ancestor(&base, &first).unwrap());
    assert!(!dry.is_ancestor(&first, &base).unwrap());

    // A second commit on the first, and a state on none.
    let mut second = Change::default();
    second.message.subject = "Again".into();
    second
        .files
        .insert(path("images/new.json"), FileChange::Write(b"[]\n".to_vec()));
    let PushOutcome::Pushed(second) = dry.commit_and_push(&first, &second).unwrap() else {
        panic!("rejected")
    };
    assert!(dry.is_ancestor(&base, &second).unwrap());
    assert!(dry.is_ancestor(&first, &second).unwrap());
    let PushOutcome::Pushed(state) = dry.push_state(None, b"{\"v\":1}", "Start").unwrap() else {
        panic!("rejected")
    };
    assert_eq!(dry.state().unwrap().unwrap().commit, state);
    dry.set_state_anchor(&state).unwrap();
    assert_eq!(dry.state_anchor().unwrap().unwrap().commit, state);
    let writes = dry.into_writes();
    let planned = commits(&writes);
    assert_eq!(planned.len(), 2);
    assert_eq!(
        planned[0]
            .files
            .iter()
            .map(|f| f.path.as_str())
            .collect::<Vec<_>>(),
        ["images/internal.json", "images/new.json"]
    );
    assert_eq!(planned[1].parent, first);
    assert_eq!(planned[1].files[0].before, Some(b"{}\n".to_vec()));

    assert_eq!(repo.pushes, 0);
    assert_eq!(repo.remote_tip(), &base);
    assert_eq!(repo.remote_state(), None);
    assert_eq!(repo.state_anchor().unwrap(), None);
}

/// A repository whose reads are a memory repository's and whose every push fails the test.
fn no_pushes(memory: MemoryRepository) -> MockConfigRepository {
    let memory = Arc::new(Mutex::new(memory));
    let mut mock = MockConfigRepository::new();
    let m = memory.clone();
    mock.expect_tip().returning(move || m.lock().unwrap().tip());
    let m = memory.clone();
    mock.expect_refresh()
        .returning(move || m.lock().unwrap().refresh());
    let m = memory.clone();
    mock.expect_is_fresh()
        .returning(move || m.lock().unwrap().is_fresh());
    let m = memory.clone();
    mock.expect_read_file()
        .returning(move |revision, path| m.lock().unwrap().read_file(revision, path));
    let m = memory.clone();
    mock.expect_list_files()
        .returning(move |revision, under| m.lock().unwrap().list_files(revision, under));
    let m = memory.clone();
    mock.expect_is_ancestor()
        .returning(move |a, d| m.lock().unwrap().is_ancestor(a, d));
    let m = memory.clone();
    mock.expect_log()
        .returning(move |from, limit| m.lock().unwrap().log(from, limit));
    let m = memory.clone();
    mock.expect_state()
        .returning(move || m.lock().unwrap().state());
    let m = memory.clone();
    mock.expect_state_anchor()
        .returning(move || m.lock().unwrap().state_anchor());
    let m = memory;
    mock.expect_set_state_anchor()
        .returning(move |commit| m.lock().unwrap().set_state_anchor(commit));
    mock.expect_commit_and_push().never();
    mock.expect_push_state().never();
    mock.expect_push_with_state().never();
    mock
}

#[test]
fn no_push_of_any_kind_reaches_the_wrapped_repository() {
    let options = keyed();
    let (memory, _) = waiting_for_approval(&options);
    let mut mock = no_pushes(memory);
    let clock = clock();
    let alice = Approver::parse("alice").unwrap();
    let (approved, writes) = dry_run(&mut mock, &clock, |repo| {
        promotion::approve(repo, &clock, &wave("production"), &alice, &options)
    });
    assert!(matches!(approved, Ok(ApprovalOutcome::Promoted { .. })));
    assert_eq!(writes.len(), 2);
    let (published, writes) = dry_run(&mut mock, &clock, |repo| {
        publish(repo, &clock, &announcement(2), &options)
    });
    assert!(matches!(published, Ok(PublishOutcome::Committed { .. })));
    assert_eq!(commits(&writes).len(), 1);
    // The mock's `never()` expectations are checked when it is dropped.
    mock.checkpoint();
}
