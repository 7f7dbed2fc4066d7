//! The effect check through the real binary against a real `git daemon` (issue 11): a publish
//! or promotion whose image would reach no rendered container of its wave exits 2 with one
//! sentence naming the slot and why, and the remote is left as it was.

use std::path::PathBuf;
use std::process::{Command, Output};

use cfgupdate_tests::{GitDaemon, git};

const PIPELINE: &str = r#"[[wave]]
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

fn reference(service: &str, i: usize) -> String {
    format!("reg.example.com/{service}:{i}@sha256:{i:064x}")
}

fn deployments(prelude: &str, services: &str, namespace: &str) -> String {
    format!(
        "{prelude}\n[\n  {{ apiVersion: 'apps/v1', kind: 'Deployment', metadata: {{ name: s, namespace: {namespace} }},\n    spec: {{ template: {{ spec: {{ containers: [{{ name: s, image: images[s] }}] }} }} }} }}\n  for s in {services}\n]\n"
    )
}

/// The config repository, with `edits` laid over it.
fn files(edits: &[(&str, String)]) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = vec![
        ("cfgupdate.toml".into(), PIPELINE.into()),
        (
            "envs/staging/images.libsonnet".into(),
            format!(
                "{{\n  api: '{}',  // cfgupdate: api\n}}\n",
                reference("api", 0)
            ),
        ),
        (
            "envs/staging/main.jsonnet".into(),
            deployments(
                "local images = import 'images.libsonnet';",
                "['api']",
                "'staging-' + std.extVar('region')",
            ),
        ),
        (
            "images/production.json".into(),
            format!("{{\n  \"api\": \"{}\"\n}}\n", reference("api", 0)),
        ),
        (
            "envs/prod/main.jsonnet".into(),
            deployments(
                "local images = import '../../images/production.json';",
                "['api']",
                "'prod'",
            ),
        ),
    ];
    for (path, text) in edits {
        match files.iter_mut().find(|(p, _)| p == path) {
            Some(file) => file.1 = text.clone(),
            None => files.push(((*path).to_owned(), text.clone())),
        }
    }
    files
}

struct Remote {
    bare: PathBuf,
    url: String,
    cache: tempfile::TempDir,
}

impl Remote {
    fn new(daemon: &GitDaemon, name: &str, files: &[(String, String)]) -> Self {
        let borrowed: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        let repo = format!("{name}.git");
        let bare = daemon.create_remote(&repo, "master", &borrowed);
        Self {
            bare,
            url: daemon.url(&repo),
            cache: tempfile::tempdir().unwrap(),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_cfgupdate"))
            .args(args)
            .args(["--repo", &self.url])
            .env("CFGUPDATE_CACHE_DIR", self.cache.path())
            .output()
            .expect("the binary runs")
    }

    fn publish(&self, i: usize) -> Output {
        self.run(&[
            "publish",
            "--app-commit",
            &format!("{i:040x}"),
            "--image",
            &format!("api={}", reference("api", i)),
        ])
    }

    fn tip(&self) -> String {
        git(&self.bare, &["rev-parse", "master"])
    }

    fn show(&self, path: &str) -> String {
        git(&self.bare, &["show", &format!("master:{path}")])
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Runs a publish that must be refused with exit 2, nothing pushed; returns the sentence.
fn refused_publish(remote: &Remote) -> String {
    let tip = remote.tip();
    let output = remote.publish(1);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert_eq!(stdout(&output), "", "nothing is printed on stdout");
    assert_eq!(remote.tip(), tip, "nothing is pushed");
    assert!(
        remote
            .show("envs/staging/images.libsonnet")
            .contains(&reference("api", 0))
    );
    stderr(&output)
}

#[test]
fn each_shape_of_a_write_without_effect_exits_2_naming_the_slot_and_why() {
    let daemon = GitDaemon::start().unwrap();
    let old = reference("api", 0);
    let pinned = format!("reg.example.com/api:pinned@sha256:{}", "9".repeat(64));
    let shapes = [
        (
            "unused-local",
            format!("local spare = '{old}';  // cfgupdate: api\n{{\n  api: '{old}',\n}}\n"),
            "envs/staging/images.libsonnet:1:",
            "the slot is unused: the local `spare` it sets is used nowhere",
        ),
        (
            "branch",
            format!(
                "{{\n  api:\n    if std.extVar('region') == 'mars' then\n      '{old}'  // cfgupdate: api\n    else\n      '{old}',\n}}\n"
            ),
            "envs/staging/images.libsonnet:4:",
            "the slot is in a branch of an `if` that is not taken",
        ),
        (
            "overridden",
            format!("{{\n  api: '{old}',  // cfgupdate: api\n}} + {{\n  api: '{pinned}',\n}}\n"),
            "envs/staging/images.libsonnet:2:",
            "the slot is overridden: in target `staging-us`, Deployment/staging-us/api container `api` runs",
        ),
    ];
    for (name, images, place, why) in shapes {
        let remote = Remote::new(
            &daemon,
            name,
            &files(&[("envs/staging/images.libsonnet", images)]),
        );
        let message = refused_publish(&remote);
        assert!(
            message.contains(place) && message.contains(why),
            "{name}: {message}"
        );
        assert!(
            message.contains(&format!(
                "the write of `{}` for service `api` does not reach the rendered containers of wave `staging`",
                reference("api", 1)
            )),
            "{name}: {message}"
        );
        // One sentence (besides the warning that the state is not authenticated).
        let sentences = message
            .lines()
            .filter(|line| !line.trim().is_empty() && !line.starts_with("cfgupdate: warning:"))
            .count();
        assert_eq!(sentences, 1, "one sentence: {message}");
    }
}

#[test]
fn a_wave_with_a_target_that_cannot_render_exits_2_naming_the_target() {
    let daemon = GitDaemon::start().unwrap();
    let main = "local images = import 'images.libsonnet';\nif std.extVar('region') == 'eu' then error 'eu is broken' else []\n";
    // With and without committed YAML.
    for (name, pipeline) in [
        ("plain", PIPELINE.to_owned()),
        (
            "rendered",
            format!("[render]\noutput = \"generated/{{target}}\"\n\n{PIPELINE}"),
        ),
    ] {
        let remote = Remote::new(
            &daemon,
            name,
            &files(&[
                ("envs/staging/main.jsonnet", main.to_owned()),
                ("cfgupdate.toml", pipeline),
            ]),
        );
        let message = refused_publish(&remote);
        assert!(
            message.contains("target `staging-eu` of wave `staging` cannot be rendered")
                && message.contains("eu is broken"),
            "{name}: {message}"
        );
    }
}

#[test]
fn an_ordinary_slot_publishes_and_promotes_and_an_unused_one_in_the_next_wave_refuses_the_promotion()
 {
    let daemon = GitDaemon::start().unwrap();
    // Production's target no longer reads its image file: the promotion would change nothing.
    let unused = "{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'prod' }, data: { mode: 'calm' } }\n".to_owned();
    for (name, prod, promotes) in [("ordinary", None, true), ("unused", Some(unused), false)] {
        let edits: Vec<(&str, String)> = prod
            .map(|text| vec![("envs/prod/main.jsonnet", text)])
            .unwrap_or_default();
        let remote = Remote::new(&daemon, name, &files(&edits));
        let output = remote.publish(1);
        assert!(output.status.success(), "{name}: {}", stderr(&output));
        let commit = stdout(&output);
        assert_eq!(commit, remote.tip());
        let output = remote.run(&["deployed", "--target", "staging-us", "--revision", &commit]);
        assert!(output.status.success(), "{name}: {}", stderr(&output));
        let tip = remote.tip();
        let output = remote.run(&["deployed", "--target", "staging-eu", "--revision", &commit]);
        let production = remote.show("images/production.json");
        if promotes {
            assert!(output.status.success(), "{name}: {}", stderr(&output));
            assert!(production.contains(&reference("api", 1)), "{production}");
        } else {
            assert_eq!(output.status.code(), Some(2), "{name}: {}", stderr(&output));
            let message = stderr(&output);
            assert!(
                message.contains("wave `production`: images/production.json:2: the write of")
                    && message.contains(
                        "the slot is unused: rendering the wave's targets never reads its file"
                    ),
                "{message}"
            );
            assert_eq!(remote.tip(), tip, "nothing is pushed");
            assert!(production.contains(&reference("api", 0)), "{production}");
        }
    }
}
