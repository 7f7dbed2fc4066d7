//! The effect check (issue 11): a publish or promotion whose image would reach no container of
//! its wave's rendered targets is refused, naming the slot and why, and nothing is pushed.
//!
//! Two waves: `staging` keeps its images in a Jsonnet file with marker slots and has two
//! targets (`staging-us`, `staging-eu`, one entrypoint read with an ext var); `production` keeps
//! them in a JSON file with one target. Each scenario runs with committed YAML (`[render]`) and
//! without it: the effect check runs either way.

use std::time::Duration;

use cfgupdate_core::MemoryRepository;
use cfgupdate_core::promotion::{
    self, DeployReport, DeployStatus, DeploymentOutcome, PromotionError, TargetSelector,
};
use cfgupdate_core::render::{EffectError, NoEffectReason, RenderCheckError};
use cfgupdate_core::testing::ManualClock;
use cfgupdate_core::{
    Announcement, Classify, Clock, CommitId, ErrorClass, ImageRef, ImageSet, PublishError,
    PublishOutcome, ServiceName, TargetName, WriteOptions, publish,
};

const PIPELINE: &str = r#"
[[wave]]
name = "staging"
images = { jsonnet = ["envs/staging/images.libsonnet"] }
targets = ["staging-us", "staging-eu"]

[[wave]]
name = "production"
images = "images/production.json"
targets = ["prod"]

[target.staging-us]
entrypoint = "envs/staging/main.jsonnet"
ext_vars = { region = "us" }

[target.staging-eu]
entrypoint = "envs/staging/main.jsonnet"
ext_vars = { region = "eu" }

[target.prod]
entrypoint = "envs/prod/main.jsonnet"
"#;

const RENDER: &str = "[render]\noutput = \"generated/{target}\"\n";

fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

fn old(service: &str) -> String {
    format!("reg.example.com/{service}:0@{}", digest('0'))
}

fn new(service: &str) -> String {
    format!("reg.example.com/{service}:1@{}", digest('1'))
}

/// The staging image file: one marked slot per service.
fn staging_images() -> String {
    format!(
        "{{\n  api: '{}',  // cfgupdate: api\n  web: '{}',  // cfgupdate: web\n}}\n",
        old("api"),
        old("web")
    )
}

/// An entrypoint with one Deployment per service in `services`, its image `images[s]`, after
/// `prelude` (which binds `images`).
fn entrypoint(prelude: &str, services: &str, namespace: &str) -> String {
    format!(
        "{prelude}\n[\n  {{ apiVersion: 'apps/v1', kind: 'Deployment', metadata: {{ name: s, namespace: {namespace} }},\n    spec: {{ template: {{ spec: {{ containers: [{{ name: s, image: images[s] }}] }} }} }} }}\n  for s in {services}\n]\n"
    )
}

fn staging_main() -> String {
    entrypoint(
        "local images = import 'images.libsonnet';",
        "['api', 'web']",
        "'staging-' + std.extVar('region')",
    )
}

fn prod_main() -> String {
    entrypoint(
        "local images = import '../../images/production.json';",
        "['api', 'web']",
        "'prod'",
    )
}

fn production_images() -> String {
    format!(
        "{{\n  \"api\": \"{}\",\n  \"web\": \"{}\"\n}}\n",
        old("api"),
        old("web")
    )
}

/// The repository, with `edits` laid over the default files; `render` adds `[render]`.
fn repo(render: bool, edits: &[(&str, &str)]) -> MemoryRepository {
    let pipeline = if render {
        format!("{RENDER}{PIPELINE}")
    } else {
        PIPELINE.to_owned()
    };
    let mut files: Vec<(String, String)> = vec![
        ("cfgupdate.toml".into(), pipeline),
        ("envs/staging/images.libsonnet".into(), staging_images()),
        ("envs/staging/main.jsonnet".into(), staging_main()),
        ("images/production.json".into(), production_images()),
        ("envs/prod/main.jsonnet".into(), prod_main()),
    ];
    for (path, text) in edits {
        match files.iter_mut().find(|(p, _)| p == path) {
            Some(file) => file.1 = (*text).to_owned(),
            None => files.push(((*path).to_owned(), (*text).to_owned())),
        }
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    MemoryRepository::new(&refs)
}

fn clock() -> ManualClock {
    ManualClock::at_seconds(1_800_000_000)
}

fn announcement(app: char, services: &[&str]) -> Announcement {
    let images: ImageSet = services
        .iter()
        .map(|s| {
            (
                ServiceName::parse(s).unwrap(),
                ImageRef::parse(&new(s)).unwrap(),
            )
        })
        .collect();
    Announcement::new(
        CommitId::parse(&app.to_string().repeat(40)).unwrap(),
        images,
    )
    .unwrap()
}

fn run(repo: &mut MemoryRepository, services: &[&str]) -> Result<PublishOutcome, PublishError> {
    publish(
        repo,
        &clock(),
        &announcement('a', services),
        &WriteOptions::default(),
    )
}

/// The effect error inside a refused publish, after checking its class and that nothing was
/// pushed.
fn refused(repo: &mut MemoryRepository, services: &[&str]) -> (EffectError, String) {
    let tip = repo.remote_tip().clone();
    let pushes = repo.pushes;
    let error = run(repo, services).unwrap_err();
    assert_eq!(error.class(), ErrorClass::Invalid, "{error}");
    assert_eq!(repo.pushes, pushes, "nothing is pushed: {error}");
    assert_eq!(repo.remote_tip(), &tip);
    let message = error.to_string();
    let PublishError::Render { source, .. } = error else {
        panic!("not a render refusal: {message}")
    };
    let RenderCheckError::NoEffect(effect) = *source else {
        panic!("not an effect refusal: {message}")
    };
    (*effect, message)
}

/// The service, slot and reason of a `NoEffect` refusal.
fn no_effect(effect: &EffectError) -> (&str, String, &NoEffectReason) {
    let EffectError::NoEffect {
        service,
        slot,
        reason,
        wave,
        reference,
    } = effect
    else {
        panic!("{effect}")
    };
    assert_eq!(wave.as_str(), "staging");
    assert_eq!(reference.as_str(), new(service.as_str()));
    (service.as_str(), slot.to_string(), reason)
}

fn both_ways(test: impl Fn(bool)) {
    test(true);
    test(false);
}

#[test]
fn an_ordinary_marked_slot_publishes_and_promotes() {
    both_ways(|render| {
        let mut repo = repo(render, &[]);
        let clock = clock();
        let outcome = publish(
            &mut repo,
            &clock,
            &announcement('a', &["api"]),
            &WriteOptions::default(),
        )
        .unwrap();
        let PublishOutcome::Committed { commit, .. } = outcome else {
            panic!("{outcome:?}")
        };
        for target in ["staging-us", "staging-eu"] {
            let report = DeployReport {
                target: TargetSelector::Name(TargetName::parse(target).unwrap()),
                revision: commit.clone(),
                status: DeployStatus::Succeeded,
            };
            let outcome =
                promotion::record_deployment(&mut repo, &clock, &report, &WriteOptions::default())
                    .unwrap();
            if target == "staging-eu" {
                assert!(
                    matches!(outcome, DeploymentOutcome::Promoted { .. }),
                    "{outcome:?}"
                );
            }
        }
        assert!(
            repo.remote_text("images/production.json")
                .unwrap()
                .contains(&new("api"))
        );
    });
}

#[test]
fn a_marker_on_a_local_nothing_uses_is_refused_as_unused() {
    let images = format!(
        "local spare = '{}';  // cfgupdate: api\n{{\n  api: '{}',\n  web: '{}',  // cfgupdate: web\n}}\n",
        old("api"),
        old("api"),
        old("web")
    );
    both_ways(|render| {
        let mut repo = repo(render, &[("envs/staging/images.libsonnet", &images)]);
        let (effect, message) = refused(&mut repo, &["api"]);
        let (service, slot, reason) = no_effect(&effect);
        assert_eq!(service, "api");
        assert_eq!(slot, "envs/staging/images.libsonnet:1");
        assert_eq!(reason.kind(), "unused", "{message}");
        assert!(
            message.contains("the local `spare` it sets is used nowhere"),
            "{message}"
        );
    });
}

#[test]
fn a_marker_on_the_branch_of_an_if_that_is_not_taken_is_refused_as_such() {
    let images = format!(
        "{{\n  api:\n    if std.extVar('region') == 'mars' then\n      '{}'  // cfgupdate: api\n    else\n      '{}',\n  web: '{}',  // cfgupdate: web\n}}\n",
        old("api"),
        old("api"),
        old("web")
    );
    both_ways(|render| {
        let mut repo = repo(render, &[("envs/staging/images.libsonnet", &images)]);
        let (effect, message) = refused(&mut repo, &["api"]);
        let (service, slot, reason) = no_effect(&effect);
        assert_eq!(service, "api");
        assert_eq!(slot, "envs/staging/images.libsonnet:4");
        assert_eq!(reason.kind(), "branch not taken", "{message}");
    });
}

#[test]
fn a_field_that_a_later_plus_overrides_is_refused_as_overridden_showing_the_value() {
    let pinned = format!("reg.example.com/api:pinned@{}", digest('9'));
    let images = format!(
        "{{\n  api: '{}',  // cfgupdate: api\n  web: '{}',  // cfgupdate: web\n}} + {{\n  api: '{pinned}',\n}}\n",
        old("api"),
        old("web")
    );
    both_ways(|render| {
        let mut repo = repo(render, &[("envs/staging/images.libsonnet", &images)]);
        let (effect, message) = refused(&mut repo, &["api"]);
        let (_, slot, reason) = no_effect(&effect);
        assert_eq!(slot, "envs/staging/images.libsonnet:2");
        let NoEffectReason::Overridden { target, container } = reason else {
            panic!("{message}")
        };
        assert_eq!(target.as_str(), "staging-us");
        assert_eq!(container.image, pinned);
        assert!(
            message.contains(&format!(
                "Deployment/staging-us/api container `api` runs `{pinned}`"
            )),
            "{message}"
        );
    });
}

#[test]
fn an_import_that_overrides_the_slot_in_one_target_is_refused_naming_that_target() {
    // staging-eu lays a pin file over the wave's images: it keeps running the old image.
    let main = entrypoint(
        "local images = (import 'images.libsonnet') + (if std.extVar('region') == 'eu' then import 'pins.json' else {});",
        "['api', 'web']",
        "'staging-' + std.extVar('region')",
    );
    let pins = format!("{{ \"api\": \"{}\" }}\n", old("api"));
    both_ways(|render| {
        let mut repo = repo(
            render,
            &[
                ("envs/staging/main.jsonnet", &main),
                ("envs/staging/pins.json", &pins),
            ],
        );
        let (effect, message) = refused(&mut repo, &["api"]);
        let (_, slot, reason) = no_effect(&effect);
        assert_eq!(slot, "envs/staging/images.libsonnet:2");
        assert_eq!(reason.kind(), "overridden", "{message}");
        assert_eq!(effect.target().map(TargetName::as_str), Some("staging-eu"));
        assert!(
            message.contains(&format!("runs `{}`", old("api"))),
            "{message}"
        );
    });
}

#[test]
fn a_wave_whose_target_does_not_render_refuses_naming_the_target() {
    let main = "local images = import 'images.libsonnet';\nif std.extVar('region') == 'eu' then error 'eu is broken' else []\n";
    both_ways(|render| {
        let mut repo = repo(render, &[("envs/staging/main.jsonnet", main)]);
        let (effect, message) = refused(&mut repo, &["api"]);
        let EffectError::NotRenderable { target, wave, .. } = &effect else {
            panic!("{message}")
        };
        assert_eq!((wave.as_str(), target.as_str()), ("staging", "staging-eu"));
        assert!(
            message.contains("eu is broken")
                && message.contains("target `staging-eu` of wave `staging` cannot be rendered"),
            "{message}"
        );
    });
}

#[test]
fn an_image_that_reaches_no_container_is_refused_as_unused() {
    // The entrypoint deploys web only: api's slot reaches nothing.
    let main = entrypoint(
        "local images = import 'images.libsonnet';",
        "['web']",
        "'staging-' + std.extVar('region')",
    );
    both_ways(|render| {
        let mut repo = repo(render, &[("envs/staging/main.jsonnet", &main)]);
        let (effect, message) = refused(&mut repo, &["api"]);
        let (_, slot, reason) = no_effect(&effect);
        assert_eq!(slot, "envs/staging/images.libsonnet:2");
        assert_eq!(reason.kind(), "unused", "{message}");
        assert!(
            message.contains("none runs an image of `reg.example.com/api`"),
            "{message}"
        );
    });
}

#[test]
fn a_service_deployed_to_only_some_targets_of_the_wave_publishes() {
    // Only staging-us deploys web: the targets that ran its old image now run the new one.
    let main = entrypoint(
        "local images = import 'images.libsonnet';",
        "(if std.extVar('region') == 'us' then ['api', 'web'] else ['api'])",
        "'staging-' + std.extVar('region')",
    );
    both_ways(|render| {
        let mut repo = repo(render, &[("envs/staging/main.jsonnet", &main)]);
        let outcome = run(&mut repo, &["web"]).unwrap();
        assert!(
            matches!(outcome, PublishOutcome::Committed { .. }),
            "{outcome:?}"
        );
        assert!(
            repo.remote_text("envs/staging/images.libsonnet")
                .unwrap()
                .contains(&new("web"))
        );
    });
}

#[test]
fn a_promotion_into_a_wave_where_the_slot_is_unused_is_refused_and_nothing_is_pushed() {
    // Production deploys web only: its image file's api reaches no container.
    let prod = entrypoint(
        "local images = import '../../images/production.json';",
        "['web']",
        "'prod'",
    );
    both_ways(|render| {
        let mut repo = repo(render, &[("envs/prod/main.jsonnet", &prod)]);
        let clock = clock();
        let PublishOutcome::Committed { commit, .. } = publish(
            &mut repo,
            &clock,
            &announcement('a', &["api"]),
            &WriteOptions::default(),
        )
        .unwrap() else {
            panic!("the publish into staging is committed")
        };
        let report = |target: &str| DeployReport {
            target: TargetSelector::Name(TargetName::parse(target).unwrap()),
            revision: commit.clone(),
            status: DeployStatus::Succeeded,
        };
        promotion::record_deployment(
            &mut repo,
            &clock,
            &report("staging-us"),
            &WriteOptions::default(),
        )
        .unwrap();
        let tip = repo.remote_tip().clone();
        let error = promotion::record_deployment(
            &mut repo,
            &clock,
            &report("staging-eu"),
            &WriteOptions::default(),
        )
        .unwrap_err();
        assert_eq!(error.class(), ErrorClass::Invalid, "{error}");
        assert_eq!(repo.remote_tip(), &tip, "nothing is pushed: {error}");
        let message = error.to_string();
        let PromotionError::Render { wave, source } = &error else {
            panic!("{message}")
        };
        assert_eq!(wave.as_str(), "production");
        let RenderCheckError::NoEffect(effect) = source.as_ref() else {
            panic!("{message}")
        };
        let EffectError::NoEffect { slot, reason, .. } = effect.as_ref() else {
            panic!("{message}")
        };
        assert_eq!(slot.to_string(), "images/production.json:2");
        assert_eq!(reason.kind(), "unused", "{message}");
        assert!(
            repo.remote_text("images/production.json")
                .unwrap()
                .contains(&old("api"))
        );
    });
}

#[test]
fn the_effect_check_reads_the_renders_the_render_check_made() {
    // A target of another wave that does not render is no reason to refuse, and the commit
    // says it was not rendered; the wave's own targets still pass the effect check.
    let mut repo = repo(
        true,
        &[("envs/prod/main.jsonnet", "error 'prod is broken'\n")],
    );
    let outcome = run(&mut repo, &["api"]).unwrap();
    assert!(
        matches!(outcome, PublishOutcome::Committed { .. }),
        "{outcome:?}"
    );
    let (_, message) = &repo.remote_history()[0];
    assert!(message.contains("Not rendered: target prod"), "{message}");
    assert!(
        repo.remote_text("generated/staging-eu/deployment-staging-eu-api.yaml")
            .unwrap()
            .contains(&new("api"))
    );
}

const THREE_WAVES: &str = r#"
[[wave]]
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
soak = "10m"

[target.staging]
entrypoint = "envs/staging/main.jsonnet"

[target.internal]
entrypoint = "envs/internal/main.jsonnet"

[target.prod]
entrypoint = "envs/prod/main.jsonnet"
"#;

#[test]
fn a_refused_promotion_into_one_wave_does_not_hold_up_advance_out_of_the_others() {
    let image_file = format!("{{\n  \"api\": \"{}\"\n}}\n", old("api"));
    let main = |wave: &str| {
        entrypoint(
            &format!("local images = import '../../images/{wave}.json';"),
            "['api']",
            &format!("'{wave}'"),
        )
    };
    let files = [
        ("cfgupdate.toml", THREE_WAVES.to_owned()),
        ("images/staging.json", image_file.clone()),
        ("images/internal.json", image_file.clone()),
        ("images/production.json", image_file.clone()),
        ("envs/staging/main.jsonnet", main("staging")),
        ("envs/internal/main.jsonnet", main("internal")),
        ("envs/prod/main.jsonnet", main("production")),
    ];
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    let mut repo = MemoryRepository::new(&refs);
    let clock = clock();
    let options = WriteOptions::default();
    let report = |target: &str, revision: &CommitId| DeployReport {
        target: TargetSelector::Name(TargetName::parse(target).unwrap()),
        revision: revision.clone(),
        status: DeployStatus::Succeeded,
    };
    let published = |repo: &mut MemoryRepository, app: char, tag: &str| {
        let reference = format!("reg.example.com/api:{tag}@{}", digest(app));
        let images: ImageSet = [(
            ServiceName::parse("api").unwrap(),
            ImageRef::parse(&reference).unwrap(),
        )]
        .into();
        let announcement = Announcement::new(
            CommitId::parse(&app.to_string().repeat(40)).unwrap(),
            images,
        )
        .unwrap();
        match publish(repo, &clock, &announcement, &options).unwrap() {
            PublishOutcome::Committed { commit, .. } => commit,
            other => panic!("{other:?}"),
        }
    };

    // v1 reaches internal; production waits for its soak.
    let first = published(&mut repo, '1', "v1");
    let outcome =
        promotion::record_deployment(&mut repo, &clock, &report("staging", &first), &options)
            .unwrap();
    let DeploymentOutcome::Promoted {
        commit: into_internal,
        ..
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    let outcome = promotion::record_deployment(
        &mut repo,
        &clock,
        &report("internal", &into_internal),
        &options,
    )
    .unwrap();
    assert!(
        matches!(outcome, DeploymentOutcome::Pending { .. }),
        "{outcome:?}"
    );

    // v2 is published, and a person makes internal's target run a fixed image: promoting v2
    // into internal would change nothing there.
    published(&mut repo, '2', "v2");
    let fixed = entrypoint(
        &format!(
            "local images = {{ api: 'reg.example.com/api:fixed@{}' }};",
            digest('f')
        ),
        "['api']",
        "'internal'",
    );
    let person = repo.person_pushes("Run a fixed api in internal", |tree| {
        tree.insert(
            cfgupdate_core::RepoPath::parse("envs/internal/main.jsonnet").unwrap(),
            fixed.into_bytes(),
        );
    });
    let error =
        promotion::record_deployment(&mut repo, &clock, &report("staging", &person), &options)
            .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Invalid, "{error}");

    // When production's soak has passed, advance promotes v1 into it and reports the refusal
    // into internal beside it.
    clock.sleep(Duration::from_secs(11 * 60));
    let advance = promotion::advance(&mut repo, &clock, &options).unwrap();
    let promoted: Vec<&str> = advance
        .promoted
        .iter()
        .map(|promotion| promotion.wave.as_str())
        .collect();
    assert_eq!(promoted, ["production"]);
    assert_eq!(advance.refused.len(), 1);
    let PromotionError::Render { wave, source } = &advance.refused[0] else {
        panic!("{:?}", advance.refused)
    };
    assert_eq!(wave.as_str(), "internal");
    assert!(
        matches!(source.as_ref(), RenderCheckError::NoEffect(_)),
        "{source}"
    );
    assert!(
        repo.remote_text("images/production.json")
            .unwrap()
            .contains(&format!("api:v1@{}", digest('1')))
    );
    assert!(
        repo.remote_text("images/internal.json")
            .unwrap()
            .contains(&format!("api:v1@{}", digest('1')))
    );
}

#[test]
fn two_services_built_from_one_image_are_published_one_at_a_time() {
    // `migrate` runs the same image as `api` (its own slot): when api moves on alone, the
    // container still on the old image is migrate's, not an override of api's slot.
    let images = format!(
        "{{\n  api: '{}',  // cfgupdate: api\n  web: '{}',  // cfgupdate: web\n  migrate: '{}',  // cfgupdate: migrate\n}}\n",
        old("api"),
        old("web"),
        old("api")
    );
    let main = entrypoint(
        "local images = import 'images.libsonnet';",
        "['api', 'web', 'migrate']",
        "'staging-' + std.extVar('region')",
    );
    both_ways(|render| {
        let mut repo = repo(
            render,
            &[
                ("envs/staging/images.libsonnet", &images),
                ("envs/staging/main.jsonnet", &main),
            ],
        );
        let outcome = run(&mut repo, &["api"]).unwrap();
        assert!(
            matches!(outcome, PublishOutcome::Committed { .. }),
            "{outcome:?}"
        );
    });
}

#[test]
fn a_refusal_is_believed_only_from_a_fresh_fetch() {
    // The cache still shows staging-eu broken; a person fixed it on the remote since. The
    // refusal the cached tip would give is not the answer: the fetched tip publishes.
    let broken = "local images = import 'images.libsonnet';\nif std.extVar('region') == 'eu' then error 'eu is broken' else []\n";
    both_ways(|render| {
        let mut repo = repo(render, &[("envs/staging/main.jsonnet", broken)]);
        cfgupdate_core::ConfigRepository::refresh(&mut repo).unwrap();
        let fixed = staging_main();
        repo.person_pushes("Fix staging-eu", |tree| {
            tree.insert(
                cfgupdate_core::RepoPath::parse("envs/staging/main.jsonnet").unwrap(),
                fixed.into_bytes(),
            );
        });
        let fetches = repo.fetches;
        let outcome = run(&mut repo, &["api"]).unwrap();
        assert!(
            matches!(outcome, PublishOutcome::Committed { .. }),
            "{outcome:?}"
        );
        assert_eq!(repo.fetches, fetches + 1);
    });
}
