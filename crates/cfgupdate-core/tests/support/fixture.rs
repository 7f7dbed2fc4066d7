//! The config repository a simulated sequence starts from: three waves, each in a different
//! image-set layout (JSON file, two-file, Jsonnet slots) in a seeded order, two targets per
//! wave whose entrypoints import their wave's images, one soak, one approval and one hold on
//! the later waves, and committed YAML in half of the sequences.
//!
//! The image sets are read here on their own terms (serde_json, and a line pattern for the
//! Jsonnet template this module writes), not with the engine's slot readers, so the checks do
//! not inherit a reader's mistake.

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;

use cfgupdate_tests::Rng;

/// The services of the app.
pub const SERVICES: [&str; 3] = ["api", "web", "worker"];
/// Where the images live.
pub const REGISTRY: &str = "reg.example.com";
/// The soak of the soak wave.
pub const SOAK: Duration = Duration::from_secs(600);
/// Where committed YAML goes, when a sequence keeps it.
pub const GENERATED: &str = "generated/";

/// Files people edit that automation must never touch.
pub const PEOPLE_FILES: [&str; 4] = [
    "README.md",
    "docs/runbook.md",
    "lib/settings.libsonnet",
    "envs/notes.jsonnet",
];

/// An image set as text: service to the whole reference.
pub type Set = BTreeMap<String, String>;

/// Where a wave's image set lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `images/<wave>.json`.
    Json,
    /// `images/<wave>/tags.json` and `images/<wave>/digests.json`.
    TwoFile,
    /// Fields of the object `images/<wave>.libsonnet` evaluates to.
    Jsonnet,
}

/// One wave as the fixture wrote it.
#[derive(Debug, Clone)]
pub struct WaveSpec {
    /// Its name.
    pub name: String,
    /// Its layout.
    pub layout: Layout,
    /// Its targets.
    pub targets: Vec<String>,
    /// Its soak gate.
    pub soak: Option<Duration>,
    /// Its approval gate.
    pub approval: bool,
    /// Its held services.
    pub hold: Vec<String>,
    /// Whether it has a freeze window: the first [`FREEZE_MINUTES`] of every hour.
    pub freeze: bool,
}

/// How many minutes of every hour a wave with a freeze window is frozen.
pub const FREEZE_MINUTES: u64 = 20;

impl WaveSpec {
    /// Whether the wave is frozen at `now`, by the model's own arithmetic: its window (written
    /// as a cron schedule in Europe/Berlin, whose offset is a whole number of hours) holds the
    /// first [`FREEZE_MINUTES`] of every hour.
    pub fn frozen_at(&self, now: std::time::SystemTime) -> bool {
        let seconds = now
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.freeze && seconds % 3600 < FREEZE_MINUTES * 60
    }
}

impl WaveSpec {
    /// The files of its image set.
    pub fn image_files(&self) -> Vec<String> {
        match self.layout {
            Layout::Json => vec![format!("images/{}.json", self.name)],
            Layout::TwoFile => vec![
                format!("images/{}/tags.json", self.name),
                format!("images/{}/digests.json", self.name),
            ],
            Layout::Jsonnet => vec![format!("images/{}.libsonnet", self.name)],
        }
    }

    /// `set` less this wave's held services.
    pub fn unheld(&self, set: &Set) -> Set {
        set.iter()
            .filter(|(service, _)| !self.hold.contains(service))
            .map(|(s, r)| (s.clone(), r.clone()))
            .collect()
    }
}

/// The pipeline of one sequence.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The waves, in order.
    pub waves: Vec<WaveSpec>,
    /// Whether `[render]` keeps committed YAML.
    pub render_output: bool,
    /// Targets with an `argocd_app` of their own.
    pub apps: BTreeMap<String, String>,
    /// Whether `[strict]` is on (docs/strict.md): automatic commits wait on the branch
    /// [`AUTO_BRANCH`] until the simulated CI passed them.
    pub strict: bool,
}

/// Strict mode's auto branch, when the fixture turns it on.
pub const AUTO_BRANCH: &str = "auto";

/// A reference of `service` with this tag and digest character.
pub fn reference(service: &str, tag: &str, digest: char) -> String {
    format!(
        "{REGISTRY}/{service}:{tag}@sha256:{}",
        digest.to_string().repeat(64)
    )
}

impl Fixture {
    /// A pipeline drawn from `rng`.
    pub fn random(rng: &mut Rng) -> Self {
        let orders = [
            [Layout::Json, Layout::TwoFile, Layout::Jsonnet],
            [Layout::Json, Layout::Jsonnet, Layout::TwoFile],
            [Layout::TwoFile, Layout::Json, Layout::Jsonnet],
            [Layout::TwoFile, Layout::Jsonnet, Layout::Json],
            [Layout::Jsonnet, Layout::Json, Layout::TwoFile],
            [Layout::Jsonnet, Layout::TwoFile, Layout::Json],
        ];
        let layouts = *rng.pick(&orders);
        let names = ["staging", "internal", "production"];
        let targets = [
            ["staging-us", "staging-eu"],
            ["internal-a", "internal-b"],
            ["prod-us", "prod-eu"],
        ];
        let soak_wave = 1 + rng.below(2);
        let hold_wave = 1 + rng.below(2);
        let held = rng.pick(&SERVICES).to_string();
        let frozen: Vec<bool> = (0..3).map(|_| rng.chance(30)).collect();
        let waves = (0..3)
            .map(|i| WaveSpec {
                name: names[i].to_owned(),
                layout: layouts[i],
                targets: targets[i].iter().map(|t| t.to_string()).collect(),
                soak: (i == soak_wave).then_some(SOAK),
                approval: i != 0 && i != soak_wave,
                hold: if i == hold_wave {
                    vec![held.clone()]
                } else {
                    Vec::new()
                },
                freeze: frozen[i],
            })
            .collect();
        let mut apps = BTreeMap::new();
        apps.insert("staging-eu".to_owned(), "cfg-app-staging-eu".to_owned());
        apps.insert("prod-us".to_owned(), "cfg-app-prod-us".to_owned());
        Self {
            waves,
            render_output: rng.chance(50),
            apps,
            strict: false,
        }
    }

    /// The wave `name`, by index.
    pub fn wave_index(&self, name: &str) -> Option<usize> {
        self.waves.iter().position(|w| w.name == name)
    }

    /// The wave of a target, by index.
    pub fn wave_of(&self, target: &str) -> usize {
        self.waves
            .iter()
            .position(|w| w.targets.iter().any(|t| t == target))
            .unwrap()
    }

    /// Every target.
    pub fn targets(&self) -> Vec<String> {
        self.waves.iter().flat_map(|w| w.targets.clone()).collect()
    }

    /// Whether automation owns `path`: an image file of a wave, or committed YAML.
    pub fn owns(&self, path: &str) -> bool {
        path.starts_with(GENERATED)
            || self
                .waves
                .iter()
                .any(|w| w.image_files().iter().any(|f| f == path))
    }

    /// The wave (by index) whose image files include `path`.
    pub fn wave_of_file(&self, path: &str) -> Option<usize> {
        self.waves
            .iter()
            .position(|w| w.image_files().iter().any(|f| f == path))
    }

    /// The pipeline file.
    pub fn pipeline_toml(&self) -> String {
        let mut text = String::new();
        if self.strict {
            text.push_str(&format!("[strict]\nbranch = \"{AUTO_BRANCH}\"\n\n"));
        }
        if self.render_output {
            text.push_str("[render]\noutput = \"generated/{target}\"\njpath = [\"lib\"]\n\n");
        }
        for wave in &self.waves {
            text.push_str(&format!("[[wave]]\nname = \"{}\"\n", wave.name));
            let files = wave.image_files();
            match wave.layout {
                Layout::Json => text.push_str(&format!("images = \"{}\"\n", files[0])),
                Layout::TwoFile => text.push_str(&format!(
                    "images = {{ tags = \"{}\", digests = \"{}\" }}\n",
                    files[0], files[1]
                )),
                Layout::Jsonnet => {
                    text.push_str(&format!("images = {{ jsonnet = [\"{}\"] }}\n", files[0]))
                }
            }
            let targets: Vec<String> = wave.targets.iter().map(|t| format!("\"{t}\"")).collect();
            text.push_str(&format!("targets = [{}]\n", targets.join(", ")));
            if wave.soak.is_some() {
                text.push_str("soak = \"10m\"\n");
            }
            if wave.approval {
                text.push_str("approval = true\n");
            }
            if !wave.hold.is_empty() {
                let held: Vec<String> = wave.hold.iter().map(|s| format!("\"{s}\"")).collect();
                text.push_str(&format!("hold = [{}]\n", held.join(", ")));
            }
            if wave.freeze {
                text.push_str(&format!(
                    "freeze = [{{ cron = \"0 * * * *\", duration = \"{FREEZE_MINUTES}m\", timezone = \"Europe/Berlin\", reason = \"simulated freeze\" }}]\n"
                ));
            }
            text.push('\n');
        }
        for wave in &self.waves {
            for target in &wave.targets {
                text.push_str(&format!(
                    "[target.{target}]\nentrypoint = \"envs/{target}/main.jsonnet\"\n"
                ));
                if let Some(app) = self.apps.get(target) {
                    text.push_str(&format!("argocd_app = \"{app}\"\n"));
                }
                text.push('\n');
            }
        }
        text
    }

    /// A target's entrypoint: one Deployment per image of its wave.
    pub fn entrypoint(&self, wave: &WaveSpec, target: &str) -> String {
        let files = wave.image_files();
        let images = match wave.layout {
            Layout::Json | Layout::Jsonnet => {
                format!("local images = import '../../{}';\n", files[0])
            }
            Layout::TwoFile => format!(
                "local tags = import '../../{}';\nlocal digests = import '../../{}';\n\
                 local images = {{ [s]: tags[s] + '@' + std.split(digests[s], '@')[1] for s in std.objectFields(tags) }};\n",
                files[0], files[1]
            ),
        };
        format!(
            "{images}local settings = import '../../lib/settings.libsonnet';\n[\n  {{\n    apiVersion: 'apps/v1',\n    kind: 'Deployment',\n    metadata: {{ name: s, namespace: '{target}' }},\n    spec: {{ replicas: settings.replicas, template: {{ spec: {{ containers: [{{ name: s, image: images[s] }}] }} }} }},\n  }}\n  for s in std.objectFields(images)\n]\n"
        )
    }

    /// Every file of the first commit.
    pub fn files(&self) -> Vec<(String, String)> {
        let mut files = vec![
            ("cfgupdate.toml".to_owned(), self.pipeline_toml()),
            (
                "README.md".to_owned(),
                "The config of the app.\n".to_owned(),
            ),
            ("docs/runbook.md".to_owned(), "# Runbook\n".to_owned()),
            ("lib/settings.libsonnet".to_owned(), settings_file(2)),
            (
                "envs/notes.jsonnet".to_owned(),
                "{ owner: 'team' }\n".to_owned(),
            ),
        ];
        let initial: Set = SERVICES
            .iter()
            .map(|s| (s.to_string(), reference(s, "init", '0')))
            .collect();
        for wave in &self.waves {
            files.extend(write_set(wave, &initial, 0));
            for target in &wave.targets {
                files.push((
                    format!("envs/{target}/main.jsonnet"),
                    self.entrypoint(wave, target),
                ));
            }
        }
        files
    }
}

/// The settings every entrypoint imports: people change the replica count.
pub fn settings_file(replicas: u64) -> String {
    format!("// Shared settings, edited by people.\n{{ replicas: {replicas} }}\n")
}

/// A wave's image files holding `set`, as a person would write them; `style` varies the
/// formatting (indentation, quotes, key order of the two files).
pub fn write_set(wave: &WaveSpec, set: &Set, style: u64) -> Vec<(String, String)> {
    let files = wave.image_files();
    let indent = if style.is_multiple_of(2) {
        "  "
    } else {
        "    "
    };
    let json = |entries: Vec<(String, String)>| {
        let body: Vec<String> = entries
            .iter()
            .map(|(k, v)| format!("{indent}\"{k}\": \"{v}\""))
            .collect();
        format!("{{\n{}\n}}\n", body.join(",\n"))
    };
    match wave.layout {
        Layout::Json => vec![(
            files[0].clone(),
            json(set.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        )],
        Layout::TwoFile => {
            let mut tags = Vec::new();
            let mut digests = Vec::new();
            for (service, image) in set {
                let (before, digest) = image.split_once('@').unwrap();
                let (name, _) = before.rsplit_once(':').unwrap();
                tags.push((service.clone(), before.to_owned()));
                digests.push((service.clone(), format!("{name}@{digest}")));
            }
            if style % 3 == 1 {
                tags.reverse();
            }
            vec![
                (files[0].clone(), json(tags)),
                (files[1].clone(), json(digests)),
            ]
        }
        Layout::Jsonnet => {
            let mut text = format!(
                "// Images of the {} wave. People edit this file too.\nlocal registry = '{REGISTRY}';  // not used by the slots\n{{\n",
                wave.name
            );
            for (i, (service, image)) in set.iter().enumerate() {
                let quote = if (i as u64 + style).is_multiple_of(2) {
                    '\''
                } else {
                    '"'
                };
                let key = if style % 3 == 2 {
                    format!("'{service}'")
                } else {
                    service.clone()
                };
                text.push_str(&format!(
                    "{indent}{key}: {quote}{image}{quote},  // service {service}\n"
                ));
            }
            text.push_str("}\n");
            vec![(files[0].clone(), text)]
        }
    }
}

static JSONNET_FIELD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(?m)^\s*'?([a-z]+)'?: (?:'([^']*)'|"([^"]*)"),"#).unwrap());

/// A wave's image set, from its files as `read` returns them.
pub fn read_set(wave: &WaveSpec, read: impl Fn(&str) -> Option<String>) -> Result<Set, String> {
    let files = wave.image_files();
    let json = |path: &str| -> Result<Set, String> {
        let text = read(path).ok_or_else(|| format!("{path} is missing"))?;
        serde_json::from_str(&text).map_err(|e| format!("{path} is not a JSON image file: {e}"))
    };
    match wave.layout {
        Layout::Json => json(&files[0]),
        Layout::TwoFile => {
            let tags = json(&files[0])?;
            let digests = json(&files[1])?;
            if tags.keys().ne(digests.keys()) {
                return Err(format!(
                    "{} and {} name different services",
                    files[0], files[1]
                ));
            }
            tags.into_iter()
                .map(|(service, tag)| {
                    let digest = digests[&service]
                        .split_once('@')
                        .ok_or_else(|| format!("{} has no digest for {service}", files[1]))?
                        .1;
                    Ok((service, format!("{tag}@{digest}")))
                })
                .collect()
        }
        Layout::Jsonnet => {
            let text = read(&files[0]).ok_or_else(|| format!("{} is missing", files[0]))?;
            let set: Set = JSONNET_FIELD
                .captures_iter(&text)
                .map(|c| {
                    let value = c.get(2).or_else(|| c.get(3)).unwrap().as_str();
                    (c[1].to_owned(), value.to_owned())
                })
                .collect();
            if set.len() != SERVICES.len() {
                return Err(format!("{} lost a slot:\n{text}", files[0]));
            }
            Ok(set)
        }
    }
}
