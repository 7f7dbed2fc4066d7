//! Strict mode simulated (docs/strict.md): random announcements, people's pushes to the main
//! branch and CI results (deterministic: a commit is red exactly when one of the changes it
//! holds beyond the main branch is bad), over the in-memory repository with a state key.
//! Invariants after every step: the main branch only moves forward, holds every person's
//! commit, and never holds a bad change; every bad change that reached CI is reported evicted
//! exactly once; no good change is lost (each is on main, on auto, or reported dropped).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use cfgupdate_core::strict::{CheckOutcome, CheckReport, CheckState, Strict};
use cfgupdate_core::testing::ManualClock;
use cfgupdate_core::{
    Announcement, CommitId, ConfigRepository, ImageRef, ImageSet, MemoryRepository, PublishError,
    PublishOutcome, RepoPath, ServiceName, StateKey, WriteOptions, publish,
};
use cfgupdate_tests::Rng;

const PIPELINE: &str = "[strict]\nbranch = \"auto\"\n\n[[wave]]\nname = \"staging\"\nimages = \"images.json\"\ntargets = [\"s\"]\n\n[target.s]\nentrypoint = \"s.jsonnet\"\n";
const APP: &str = "local i = import 'images.json';\n{ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'Pod', metadata: { name: s }, spec: { containers: [{ name: s, image: i[s] }] } } for s in std.objectFields(i)] }\n";
const SERVICES: [&str; 3] = ["api", "web", "worker"];

fn reference(service: &str, n: u64) -> String {
    format!("reg.example.com/{service}:v{n}@sha256:{n:064x}")
}

fn images_file(n: u64) -> String {
    let body: Vec<String> = SERVICES
        .iter()
        .map(|s| format!("  \"{s}\": \"{}\"", reference(s, n)))
        .collect();
    format!("{{\n{}\n}}\n", body.join(",\n"))
}

/// The app commit of announcement `n`: bad ones are told apart by it.
fn app(n: u64) -> CommitId {
    CommitId::parse(&format!("{n:040x}")).unwrap()
}

#[test]
fn strict_mode_keeps_bad_changes_off_main_and_reports_each_eviction_once() {
    let (mut rng, seed) = Rng::from_env("CFGUPDATE_STRICT_SEED", 14);
    let (mut evictions, mut accepted) = (0, 0);
    for sequence in 0..6 {
        let (e, a) = run(&mut rng, seed, sequence);
        evictions += e;
        accepted += a;
    }
    // The sequences exercised both outcomes.
    assert!(
        evictions > 0 && accepted > 0,
        "seed {seed}: {evictions} evictions, {accepted} acceptances"
    );
}

/// Runs one sequence; returns how many changes were evicted and how many green results moved
/// the main branch.
fn run(rng: &mut Rng, seed: u64, sequence: usize) -> (usize, usize) {
    let mut moved = 0;
    let clock = Arc::new(ManualClock::at(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ));
    let options = WriteOptions {
        key: Some(StateKey::new(b"the strict simulation's state key").unwrap()),
        ..WriteOptions::default()
    };
    let memory = MemoryRepository::new(&[
        ("cfgupdate.toml", PIPELINE),
        ("images.json", &images_file(1)),
        ("s.jsonnet", APP),
    ]);
    let mut repo = Strict::new(memory, clock.clone(), options);
    let mut bad: BTreeSet<CommitId> = BTreeSet::new();
    let mut published: BTreeMap<CommitId, (String, String)> = BTreeMap::new();
    let mut evicted: BTreeMap<CommitId, usize> = BTreeMap::new();
    let mut people: Vec<CommitId> = Vec::new();
    let mut main = repo.inner().remote_tip().clone();
    let mut next = 100;
    for step in 0..40 {
        let at = format!("seed {seed}, sequence {sequence}, step {step}");
        match rng.weighted(&[5, 1, 6]) {
            0 => {
                next += 1;
                let service = *rng.pick(&SERVICES);
                let image = reference(service, next);
                if rng.chance(30) {
                    bad.insert(app(next));
                }
                let images = ImageSet::from([(
                    ServiceName::parse(service).unwrap(),
                    ImageRef::parse(&image).unwrap(),
                )]);
                let announcement = Announcement::new(app(next), images).unwrap();
                match publish(&mut repo, &*clock, &announcement, &options) {
                    Ok(PublishOutcome::Committed { .. }) => {
                        published.insert(app(next), (service.to_owned(), image));
                    }
                    // A person's earlier edit of that service pins it (holds): nothing written,
                    // nothing to wait for.
                    Err(PublishError::OnHold(_)) => {}
                    other => panic!("{at}: {other:?}"),
                }
            }
            1 => {
                let service = *rng.pick(&SERVICES);
                next += 1;
                let n = next;
                let commit = repo.inner_mut().person_pushes("A person's edit", |tree| {
                    let path = RepoPath::parse("images.json").unwrap();
                    let text = String::from_utf8(tree[&path].clone()).unwrap();
                    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
                    value[service] = serde_json::Value::from(reference(service, n));
                    let mut text = serde_json::to_string_pretty(&value).unwrap();
                    text.push('\n');
                    tree.insert(path, text.into_bytes());
                });
                people.push(commit);
            }
            _ => {
                repo.refresh().unwrap();
                let queue = repo.queue().unwrap().unwrap();
                if queue.changes.is_empty() {
                    continue;
                }
                let pick = rng.below(queue.changes.len());
                let change = &queue.changes[pick];
                // CI is deterministic: red when any change up to this one is bad.
                let red = queue.changes[..=pick].iter().any(|c| {
                    let apps = cfgupdate_core::trailers::Record::parse(
                        &repo.log(&c.commit, 1).unwrap()[0].message,
                    )
                    .app_commits;
                    apps.iter().any(|a| bad.contains(a))
                });
                let state = if red {
                    CheckState::Failure
                } else {
                    CheckState::Success
                };
                let outcome = repo
                    .record_check(&CheckReport {
                        commit: change.commit.clone(),
                        state,
                        context: "sim".into(),
                    })
                    .unwrap();
                if matches!(outcome, CheckOutcome::Accepted { .. }) {
                    moved += 1;
                }
                if let CheckOutcome::Evicted {
                    eviction, dropped, ..
                } = &outcome
                {
                    for e in std::iter::once(&**eviction).chain(dropped) {
                        for app in &e.app_commits {
                            *evicted.entry(app.clone()).or_default() += 1;
                        }
                    }
                }
            }
        }
        // Invariants.
        let now = repo.inner().remote_tip().clone();
        assert!(
            repo.is_ancestor(&main, &now).unwrap(),
            "{at}: main went back"
        );
        main = now;
        for person in &people {
            assert!(
                repo.is_ancestor(person, &main).unwrap(),
                "{at}: a person's commit was lost"
            );
        }
        let on_main: BTreeSet<CommitId> = repo
            .log(&main, 1000)
            .unwrap()
            .iter()
            .flat_map(|c| cfgupdate_core::trailers::Record::parse(&c.message).app_commits)
            .collect();
        for app in &on_main {
            assert!(!bad.contains(app), "{at}: bad change {app} reached main");
        }
        for (app, count) in &evicted {
            assert_eq!(*count, 1, "{at}: {app} was reported {count} times");
        }
    }
    // Every CI result comes in: what is still pending passes or fails until nothing waits.
    for _ in 0..200 {
        repo.refresh().unwrap();
        let queue = repo.queue().unwrap().unwrap();
        let Some(first) = queue.changes.first() else {
            break;
        };
        let apps = cfgupdate_core::trailers::Record::parse(
            &repo.log(&first.commit, 1).unwrap()[0].message,
        )
        .app_commits;
        let state = if apps.iter().any(|a| bad.contains(a)) {
            CheckState::Failure
        } else {
            CheckState::Success
        };
        let outcome = repo
            .record_check(&CheckReport {
                commit: first.commit.clone(),
                state,
                context: "sim".into(),
            })
            .unwrap();
        if matches!(outcome, CheckOutcome::Accepted { .. }) {
            moved += 1;
        }
        if let CheckOutcome::Evicted {
            eviction, dropped, ..
        } = outcome
        {
            for e in std::iter::once(&*eviction).chain(&dropped) {
                for app in &e.app_commits {
                    *evicted.entry(app.clone()).or_default() += 1;
                }
            }
        }
    }
    repo.refresh().unwrap();
    let queue = repo.queue().unwrap().unwrap();
    assert!(
        queue.changes.is_empty(),
        "seed {seed}: the queue never drained"
    );
    let main = repo.inner().remote_tip().clone();
    let on_main: BTreeSet<CommitId> = repo
        .log(&main, 1000)
        .unwrap()
        .iter()
        .flat_map(|c| cfgupdate_core::trailers::Record::parse(&c.message).app_commits)
        .collect();
    let reported: BTreeSet<CommitId> = queue
        .evicted
        .iter()
        .flat_map(|e| e.app_commits.clone())
        .collect();
    for app in published.keys() {
        if bad.contains(app) {
            assert!(!on_main.contains(app), "seed {seed}: bad {app} on main");
            assert!(
                reported.contains(app),
                "seed {seed}: bad {app} never reported"
            );
        } else {
            assert!(
                on_main.contains(app) || reported.contains(app),
                "seed {seed}: good change {app} lost"
            );
        }
    }
    for (app, count) in &evicted {
        assert_eq!(*count, 1, "seed {seed}: {app} reported {count} times");
    }
    (evicted.len(), moved)
}
