//! The wire shape of the status and the history, fixed byte for byte: the documents below were
//! recorded from the service and the CLI before the core's status became typed, and every
//! change to the core's types must leave them as they are. `CFGUPDATE_BLESS=1` rewrites them
//! (only for a deliberate change of the wire shape, which the contract forbids).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use cfgupdate_core::promotion::{
    self, Approver, DeployReport, DeployStatus, DeploymentOutcome, TargetSelector,
};
use cfgupdate_core::{
    Announcement, Clock, CommitId, ImageRef, ImageSet, MemoryRepository, PublishOutcome,
    ServiceName, StateKey, TargetName, WaveName, WriteOptions, publish,
};

use super::{history_json, status_json};

const PIPELINE: &str = r#"
[[wave]]
name = "staging"
images = "images/staging.json"
targets = ["staging-us", "staging-eu"]

[[wave]]
name = "internal"
images = "images/internal.json"
targets = ["internal"]
soak = "1h"
hold = ["billing"]

[[wave]]
name = "production"
images = { jsonnet = ["envs/prod/images.libsonnet"] }
targets = ["prod"]
approval = true
pin = "tag"

[[wave]]
name = "edge"
images = "images/edge.json"
targets = ["edge"]

[target.staging-us]
entrypoint = "envs/staging/main.jsonnet"

[target.staging-eu]
entrypoint = "envs/staging/main.jsonnet"
argocd_app = "cfg-staging-eu"

[target.internal]
entrypoint = "envs/internal/main.jsonnet"

[target.prod]
entrypoint = "envs/prod/main.jsonnet"

[target.edge]
entrypoint = "envs/edge/main.jsonnet"
"#;

const SERVICES: [&str; 3] = ["api", "web", "billing"];

fn reference(service: &str, n: u64) -> String {
    format!("reg.example.com/{service}:v{n}@sha256:{n:064x}")
}

fn deployments(image: &str) -> String {
    format!(
        "local image(s) = {image};\n[\n  {{ apiVersion: 'apps/v1', kind: 'Deployment', metadata: {{ name: s }},\n    spec: {{ template: {{ spec: {{ containers: [{{ name: s, image: image(s) }}] }} }} }} }}\n  for s in ['api', 'web', 'billing']\n]\n"
    )
}

fn files() -> Vec<(&'static str, String)> {
    let json = format!(
        "{{\n{}\n}}\n",
        SERVICES
            .iter()
            .map(|s| format!("  \"{s}\": \"{}\"", reference(s, 0)))
            .collect::<Vec<_>>()
            .join(",\n")
    );
    // `web` in production is split into name and tag with no digest: digestless, written by
    // tag under `pin = "tag"`.
    let prod = format!(
        "{{\n  api: '{}',\n  web: {{ name: 'reg.example.com/web', tag: 'v0' }},\n  billing: '{}',\n}}\n",
        reference("api", 0),
        reference("billing", 0)
    );
    vec![
        ("cfgupdate.toml", PIPELINE.to_owned()),
        ("images/staging.json", json.clone()),
        ("images/internal.json", json),
        ("envs/prod/images.libsonnet", prod),
        // Not an image file: the wave's images cannot be read.
        ("images/edge.json", "{ \"api\": 7 }\n".to_owned()),
        (
            "envs/staging/main.jsonnet",
            deployments("(import '../../images/staging.json')[s]"),
        ),
        (
            "envs/internal/main.jsonnet",
            deployments("(import '../../images/internal.json')[s]"),
        ),
        (
            "envs/prod/main.jsonnet",
            deployments(
                "local i = (import 'images.libsonnet')[s]; if std.isString(i) then i else i.name + ':' + i.tag",
            ),
        ),
        (
            "envs/edge/main.jsonnet",
            "{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'edge' } }\n".to_owned(),
        ),
    ]
}

/// A clock the scenario moves.
struct Manual(AtomicU64);

impl Clock for Manual {
    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(self.0.load(Ordering::SeqCst))
    }
    fn sleep(&self, duration: Duration) {
        self.0.fetch_add(duration.as_secs(), Ordering::SeqCst);
    }
}

struct Scenario {
    repo: MemoryRepository,
    clock: Manual,
    options: WriteOptions,
}

impl Scenario {
    fn publish(&mut self, app: u64, images: &[(&str, u64)]) -> CommitId {
        let set: ImageSet = images
            .iter()
            .map(|(s, n)| {
                (
                    ServiceName::parse(s).unwrap(),
                    ImageRef::parse(&reference(s, *n)).unwrap(),
                )
            })
            .collect();
        let announcement =
            Announcement::new(CommitId::parse(&format!("{app:040x}")).unwrap(), set).unwrap();
        match publish(&mut self.repo, &self.clock, &announcement, &self.options).unwrap() {
            PublishOutcome::Committed { commit, .. } => commit,
            other => panic!("publish {app} changed nothing: {other:?}"),
        }
    }

    fn report(&mut self, target: &str, revision: &CommitId, status: DeployStatus) {
        let report = DeployReport {
            target: TargetSelector::Name(TargetName::parse(target).unwrap()),
            revision: revision.clone(),
            status,
        };
        promotion::record_deployment(&mut self.repo, &self.clock, &report, &self.options).unwrap();
    }
}

/// Every field of the status carries a value: a soak gate waiting with its opening time, a
/// held service, a digestless one under `pin = "tag"`, a failed report, a target without a
/// report, an unreadable image set, a blocked step, an approved promotion in the history, and
/// the state (authenticated with `keyed`, with its warning without).
fn rich(keyed: bool) -> Scenario {
    let files = files();
    let borrowed: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    let key = StateKey::new(b"the wire test's state key").unwrap();
    let mut world = Scenario {
        repo: MemoryRepository::new(&borrowed),
        clock: Manual(AtomicU64::new(1_800_000_000)),
        options: WriteOptions {
            key: keyed.then_some(key),
            ..WriteOptions::default()
        },
    };
    let first = world.publish(1, &[("api", 1), ("web", 1), ("billing", 1)]);
    world.report("staging-us", &first, DeployStatus::Succeeded);
    world.report("staging-eu", &first, DeployStatus::Succeeded);
    world.clock.sleep(Duration::from_secs(2 * 3600));
    let advanced = promotion::advance(&mut world.repo, &world.clock, &world.options).unwrap();
    let internal = advanced
        .promoted
        .first()
        .expect("promoted into internal")
        .commit
        .clone();
    world.report("internal", &internal, DeployStatus::Succeeded);
    let approved = promotion::approve(
        &mut world.repo,
        &world.clock,
        &WaveName::parse("production").unwrap(),
        &Approver::parse("alice").unwrap(),
        &world.options,
    )
    .unwrap();
    let promotion::ApprovalOutcome::Promoted {
        commit: production, ..
    } = approved
    else {
        panic!("the approval promoted nothing: {approved:?}")
    };
    world.report("prod", &production, DeployStatus::Failed);
    world.clock.sleep(Duration::from_secs(600));
    let second = world.publish(2, &[("api", 2)]);
    world.report("staging-us", &second, DeployStatus::Failed);
    world.report("staging-us", &second, DeployStatus::Succeeded);
    let report = DeployReport {
        target: TargetSelector::Name(TargetName::parse("staging-eu").unwrap()),
        revision: second,
        status: DeployStatus::Succeeded,
    };
    let outcome =
        promotion::record_deployment(&mut world.repo, &world.clock, &report, &world.options)
            .unwrap();
    assert!(
        !matches!(outcome, DeploymentOutcome::Promoted { .. }),
        "the soak gate holds it: {outcome:?}"
    );
    world
}

/// Compares `actual` with the recorded document `name` (or records it, when blessing).
fn recorded(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/wire")
        .join(name);
    if std::env::var_os("CFGUPDATE_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    assert!(
        expected == actual,
        "the wire shape of {name} changed:\n--- recorded\n{expected}\n--- now\n{actual}"
    );
}

#[test]
fn a_rich_status_keeps_its_json_byte_for_byte() {
    let mut world = rich(true);
    let key = world.options.key;
    let status = promotion::status(&mut world.repo, &world.clock, key.as_ref()).unwrap();
    recorded("status_keyed.json", &status_json(&status).unwrap());
}

#[test]
fn an_unauthenticated_status_keeps_its_json_byte_for_byte() {
    let mut world = rich(false);
    let status = promotion::status(&mut world.repo, &world.clock, None).unwrap();
    recorded("status_unkeyed.json", &status_json(&status).unwrap());
}

#[test]
fn the_history_keeps_its_json_byte_for_byte() {
    let mut world = rich(true);
    let key = world.options.key;
    let entries = promotion::history(&mut world.repo, 10, key.as_ref()).unwrap();
    recorded("history_keyed.json", &history_json(&entries).unwrap());
}
