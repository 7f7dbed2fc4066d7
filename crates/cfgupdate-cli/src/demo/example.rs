//! The example config repository the demo plays on: three waves, five targets, each image-set
//! layout of `docs/slots.md` once, Jsonnet entrypoints that use the project's own PostSync
//! hook library, and the committed YAML rendered by cfgupdate's renderer, so the repository
//! starts out passing `cfgupdate check`.

use std::collections::BTreeMap;

use cfgupdate_core::ConfigRepository;
use cfgupdate_core::MemoryRepository;
use cfgupdate_core::render::{RenderLimits, RevisionFiles, read_pipeline, render_target};

use crate::failure::Failure;

/// The branch Argo CD would watch.
pub const BRANCH: &str = "master";

/// The services the shop is made of.
pub const SERVICES: [&str; 3] = ["api", "billing", "web"];

/// The app commit every wave runs when the demo starts.
pub const FIRST_APP_COMMIT: &str = "5f3e2d1c0b9a8f7e6d5c4b3a29180706f5e4d3c2";

/// The app commit CI builds during the demo.
pub const NEXT_APP_COMMIT: &str = "9d8c7b6a5f4e3d2c1b0a99887766554433221100";

/// The image CI builds for `service` from `app_commit`: tagged with the app commit, pinned by a
/// digest. The demo pushes no image, so the digest is made up, but stable: the same service
/// and commit always give the same digest, as a reproducible build would.
pub fn image(service: &str, app_commit: &str) -> String {
    let salt: String = service.bytes().map(|b| format!("{b:02x}")).collect();
    let digest: String = format!("{app_commit}{salt}{}", "0".repeat(64))
        .chars()
        .take(64)
        .collect();
    format!("registry.example.com/shop/{service}:{app_commit}@sha256:{digest}")
}

/// The images of every service built from `app_commit`.
pub fn images(app_commit: &str) -> BTreeMap<String, String> {
    SERVICES
        .iter()
        .map(|service| ((*service).to_owned(), image(service, app_commit)))
        .collect()
}

const PIPELINE: &str = r#"# The pipeline cfgupdate runs on this repository (docs/config.md).
[render]
output = "generated/{target}"
jpath = ["lib"]

[[wave]]
name = "staging"
images = "images/staging.json"
targets = ["staging-us", "staging-eu"]

[[wave]]
name = "internal"
images = { tags = "images/internal/tags.json", digests = "images/internal/digests.json" }
targets = ["internal"]
soak = "2s"
hold = ["billing"]

[[wave]]
name = "production"
images = { jsonnet = ["envs/production/images.libsonnet"] }
targets = ["prod-us", "prod-eu"]
approval = true
"#;

/// Each target: its name, region, and the entrypoint's body after the shared prelude.
const TARGETS: [(&str, &str, &str); 5] = [
    (
        "staging-us",
        "us-east-1",
        "shop.target(import '../../images/staging.json', std.extVar('region'))\n",
    ),
    (
        "staging-eu",
        "eu-west-1",
        "shop.target(import '../../images/staging.json', std.extVar('region'))\n",
    ),
    (
        "internal",
        "us-east-1",
        "// The original design's two files, joined into one pinned reference per service.\n\
         local tags = import '../../images/internal/tags.json';\n\
         local digests = import '../../images/internal/digests.json';\n\
         local images = { [s]: tags[s] + '@' + std.split(digests[s], '@')[1] for s in std.objectFields(tags) };\n\
         shop.target(images, std.extVar('region'))\n",
    ),
    (
        "prod-us",
        "us-east-1",
        "shop.target(import '../production/images.libsonnet', std.extVar('region'), replicas={ api: 3, web: 3 })\n",
    ),
    (
        "prod-eu",
        "eu-west-1",
        "shop.target(import '../production/images.libsonnet', std.extVar('region'), replicas={ api: 3, web: 2 })\n",
    ),
];

const SHOP: &str = r#"// The shop's services as Kubernetes objects. Every target deploys them with its own images,
// plus cfgupdate's deploy-report hooks (lib/cfgupdate.libsonnet, from integrations/jsonnet).
local cfgupdate = import 'cfgupdate.libsonnet';

{
  deployment(service, image, region, replicas):: {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: service, namespace: 'shop', labels: { app: service } },
    spec: {
      replicas: replicas,
      selector: { matchLabels: { app: service } },
      template: {
        metadata: { labels: { app: service } },
        spec: {
          containers: [{
            name: service,
            image: image,
            env: [{ name: 'REGION', value: region }],
          }],
        },
      },
    },
  },

  target(images, region, replicas={})::
    [
      $.deployment(service, images[service], region, std.get(replicas, service, 1))
      for service in std.objectFields(images)
    ]
    + cfgupdate.fromExtVars('http://cfgupdate.cfgupdate.svc:8080', { namespace: 'shop' }),
}
"#;

const README: &str = "# cfg-app (cfgupdate demo)\n\n\
The Kubernetes configuration of the shop, in Jsonnet. `cfgupdate.toml` says how images move:\n\
staging, then internal, then production. `generated/` holds each target's rendered YAML;\n\
regenerate it with `cfgupdate render --write` after changing Jsonnet.\n";

/// The repository's hand-written files: everything but the rendered YAML.
pub fn source_files() -> BTreeMap<String, String> {
    let first = images(FIRST_APP_COMMIT);
    let mut files = BTreeMap::new();
    let mut pipeline = PIPELINE.to_owned();
    for (target, region, _) in TARGETS {
        pipeline.push_str(&format!(
            "\n[target.{target}]\nentrypoint = \"envs/{target}/main.jsonnet\"\n\
             ext_vars = {{ region = \"{region}\", cfgupdate_target = \"{target}\", cfgupdate_revision = \"$ARGOCD_APP_REVISION\" }}\n\
             argocd_app = \"cfg-app-{target}\"\n"
        ));
    }
    files.insert("cfgupdate.toml".to_owned(), pipeline);
    files.insert("README.md".to_owned(), README.to_owned());
    files.insert("lib/shop.libsonnet".to_owned(), SHOP.to_owned());
    files.insert(
        "lib/cfgupdate.libsonnet".to_owned(),
        include_str!("../../../../integrations/jsonnet/cfgupdate.libsonnet").to_owned(),
    );
    for (target, _, body) in TARGETS {
        files.insert(
            format!("envs/{target}/main.jsonnet"),
            format!("local shop = import 'shop.libsonnet';\n\n{body}"),
        );
    }

    // staging: a JSON image file, whole references.
    files.insert("images/staging.json".to_owned(), json_object(&first));
    // internal: the original design's two files.
    let split = |part: fn(&str) -> String| -> BTreeMap<String, String> {
        first
            .iter()
            .map(|(service, image)| (service.clone(), part(image)))
            .collect()
    };
    files.insert(
        "images/internal/tags.json".to_owned(),
        json_object(&split(|image| {
            image
                .split_once('@')
                .map_or(image, |(tag, _)| tag)
                .to_owned()
        })),
    );
    files.insert(
        "images/internal/digests.json".to_owned(),
        json_object(&split(|image| match image.split_once('@') {
            Some((name_tag, digest)) => {
                let name = name_tag.rsplit_once(':').map_or(name_tag, |(name, _)| name);
                format!("{name}@{digest}")
            }
            None => image.to_owned(),
        })),
    );
    // production: image slots in Jsonnet, one field per service.
    let mut production = String::from(
        "// Production's images. cfgupdate writes the strings below (Jsonnet slots) and nothing else.\n{\n",
    );
    for (service, image) in &first {
        production.push_str(&format!("  {service}: '{image}',\n"));
    }
    production.push_str("}\n");
    files.insert("envs/production/images.libsonnet".to_owned(), production);
    files
}

fn json_object(entries: &BTreeMap<String, String>) -> String {
    let lines: Vec<String> = entries
        .iter()
        .map(|(key, value)| format!("  \"{key}\": \"{value}\""))
        .collect();
    format!("{{\n{}\n}}\n", lines.join(",\n"))
}

/// The whole example repository: its source files and every target's rendered YAML.
pub fn example_files() -> Result<BTreeMap<String, String>, Failure> {
    let mut files = source_files();
    render_into(&mut files)?;
    Ok(files)
}

/// The auto branch of the strict mode demo (`cfgupdate demo --strict`).
pub const AUTO_BRANCH: &str = "auto";

/// The table that turns strict mode on (docs/strict.md).
const STRICT_TABLE: &str = "\n# Strict mode: automatic commits wait on branch `auto` until this repository's CI passed them.\n\
[strict]\nbranch = \"auto\"\n";

/// The example repository with strict mode on: the same files, and `[strict]` in
/// `cfgupdate.toml`.
pub fn strict_example_files() -> Result<BTreeMap<String, String>, Failure> {
    let mut files = example_files()?;
    let pipeline = files
        .get_mut("cfgupdate.toml")
        .ok_or_else(|| Failure::invalid("the example repository has no cfgupdate.toml"))?;
    // After the comment line, before [render]: a table of its own like every other.
    let at = pipeline.find("\n[render]").unwrap_or(0);
    pipeline.insert_str(at, STRICT_TABLE);
    Ok(files)
}

/// Renders every target of the repository in `files` with cfgupdate's renderer and makes each
/// output directory hold exactly its render, as `cfgupdate render --write` would.
pub fn render_into(files: &mut BTreeMap<String, String>) -> Result<(), Failure> {
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(path, text)| (path.as_str(), text.as_str()))
        .collect();
    let mut repo = MemoryRepository::new(&borrowed);
    let tip = repo.refresh().map_err(Failure::operational)?;
    let none = BTreeMap::new();
    let source = RevisionFiles::new(&repo, &tip, &none);
    let pipeline = read_pipeline(&source, "in the example repository").map_err(Failure::invalid)?;
    let Some(render) = &pipeline.render else {
        return Err(Failure::invalid(
            "the example repository's cfgupdate.toml has no [render] table",
        ));
    };
    let mut outputs = BTreeMap::new();
    for target in pipeline.targets.values() {
        let rendered = render_target(&source, &pipeline, target, &RenderLimits::default())
            .map_err(Failure::invalid)?;
        let dir = render.output_dir(&target.name);
        let written = rendered.output_files(&dir).map_err(Failure::invalid)?;
        outputs.insert(dir.to_string(), written);
    }
    for (dir, written) in outputs {
        let prefix = format!("{dir}/");
        files.retain(|path, _| !path.starts_with(&prefix));
        files.extend(
            written
                .into_iter()
                .map(|(path, text)| (path.to_string(), text)),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cfgupdate_core::render::check_repository;

    fn check(files: &BTreeMap<String, String>) -> Vec<String> {
        let borrowed: Vec<(&str, &str)> = files
            .iter()
            .map(|(path, text)| (path.as_str(), text.as_str()))
            .collect();
        let mut repo = MemoryRepository::new(&borrowed);
        let tip = repo.refresh().unwrap();
        let none = BTreeMap::new();
        let report = check_repository(
            &RevisionFiles::new(&repo, &tip, &none),
            &RenderLimits::default(),
        )
        .unwrap();
        report.problems.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_generated_repository_passes_cfgupdate_check() {
        let files = example_files().unwrap();
        assert_eq!(check(&files), Vec::<String>::new());
    }

    #[test]
    fn the_strict_repository_turns_strict_mode_on_and_passes_cfgupdate_check() {
        let files = strict_example_files().unwrap();
        assert_eq!(check(&files), Vec::<String>::new());
        let borrowed: Vec<(&str, &str)> = files
            .iter()
            .map(|(path, text)| (path.as_str(), text.as_str()))
            .collect();
        let mut repo = MemoryRepository::new(&borrowed);
        let tip = repo.refresh().unwrap();
        let none = BTreeMap::new();
        let pipeline = read_pipeline(&RevisionFiles::new(&repo, &tip, &none), "test").unwrap();
        assert_eq!(
            pipeline.strict.map(|strict| strict.branch),
            Some(AUTO_BRANCH.to_owned())
        );
        assert_eq!(pipeline.waves.len(), 3);
    }

    #[test]
    fn the_check_would_catch_yaml_left_stale_by_a_jsonnet_edit() {
        let mut files = example_files().unwrap();
        let entrypoint = files.get_mut("envs/prod-eu/main.jsonnet").unwrap();
        *entrypoint = entrypoint.replace("web: 2", "web: 4");
        let problems = check(&files);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("generated/prod-eu/deployment-shop-web.yaml is stale"));

        render_into(&mut files).unwrap();
        assert_eq!(check(&files), Vec::<String>::new());
        assert!(files["generated/prod-eu/deployment-shop-web.yaml"].contains("replicas: 4"));
    }

    #[test]
    fn every_target_renders_its_services_and_both_hooks() {
        let files = example_files().unwrap();
        for target in ["staging-us", "staging-eu", "internal", "prod-us", "prod-eu"] {
            let dir = format!("generated/{target}");
            let names: Vec<&str> = files
                .keys()
                .filter_map(|path| path.strip_prefix(&format!("{dir}/")))
                .collect();
            let deployed = format!("job-shop-cfgupdate-deployed-{target}.yaml");
            let failed = format!("job-shop-cfgupdate-sync-failed-{target}.yaml");
            assert_eq!(
                names,
                [
                    "deployment-shop-api.yaml",
                    "deployment-shop-billing.yaml",
                    "deployment-shop-web.yaml",
                    deployed.as_str(),
                    failed.as_str(),
                ],
                "{target}"
            );
            let hook = &files[&format!("{dir}/{deployed}")];
            assert!(
                hook.contains(&format!("\\\"target\\\":\\\"{target}\\\"")),
                "{hook}"
            );
        }
    }

    #[test]
    fn every_wave_starts_at_the_first_app_commits_images_in_its_own_layout() {
        let files = example_files().unwrap();
        let api = image("api", FIRST_APP_COMMIT);
        let (name_tag, digest) = api.split_once('@').unwrap();
        assert!(files["images/staging.json"].contains(&format!("\"api\": \"{api}\"")));
        assert!(files["images/internal/tags.json"].contains(&format!("\"api\": \"{name_tag}\"")));
        assert!(files["images/internal/digests.json"].contains(&format!(
            "\"api\": \"registry.example.com/shop/api@{digest}\""
        )));
        assert!(files["envs/production/images.libsonnet"].contains(&format!("api: '{api}'")));
        for target in ["staging-us", "internal", "prod-eu"] {
            let yaml = &files[&format!("generated/{target}/deployment-shop-api.yaml")];
            assert!(yaml.contains(&format!("image: {api}")), "{target}: {yaml}");
        }
    }

    #[test]
    fn images_are_pinned_by_a_digest_that_differs_per_service_and_commit() {
        let parse = |text: String| cfgupdate_core::ImageRef::parse(&text).unwrap();
        let api = parse(image("api", NEXT_APP_COMMIT));
        assert_eq!(api.tag(), Some(NEXT_APP_COMMIT));
        let digest = api.digest().unwrap().clone();
        assert_ne!(parse(image("web", NEXT_APP_COMMIT)).digest(), Some(&digest));
        assert_ne!(
            parse(image("api", FIRST_APP_COMMIT)).digest(),
            Some(&digest)
        );
    }
}
