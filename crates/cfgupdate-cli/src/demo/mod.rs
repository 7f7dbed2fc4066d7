//! `cfgupdate demo`: the whole pipeline, end to end, on a throwaway local repository, told
//! step by step for a person who has never seen it.
//!
//! The story: an example config repository ([`example`]) is pushed to a bare repository; CI
//! announces a build; Argo CD deploys staging target by target and reports; a person pushes a
//! hand edit in between (a scripted [`Person`] of `cfgupdate_git::person`); the soak gate into internal opens; internal deploys; a person
//! approves production; production deploys; CI replays its announcement. CI, Argo CD and the
//! approver talk to the service through [`service::Service`]. At the end, the history and
//! where to look. With `--strict`, [`strict`] tells the story of strict mode instead.

pub mod ci;
pub mod example;
pub mod http;
pub mod service;
pub mod strict;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cfgupdate_core::ConfigRepository;
use cfgupdate_core::promotion::history;
use cfgupdate_git::person::{self, Identity, Person};
use cfgupdate_git::{Author, Branch, Credentials, GitOptions, GitRepository, RemoteUrl};

use self::example::{BRANCH, FIRST_APP_COMMIT, NEXT_APP_COMMIT};
use self::service::{Answer, Reporter, Service};
use crate::failure::Failure;
use crate::remote::classified;

/// The person who edits the repository by hand and approves production.
fn alice() -> Identity {
    Identity::new("Alice", "alice@example.com")
}

/// Who made the repository.
fn setup() -> Identity {
    Identity::new("Demo setup", "demo@example.com")
}

/// The longest the demo waits for a soak gate to open (it is 2 s).
const SOAK_LIMIT: Duration = Duration::from_secs(30);

/// The demo's working directory and what lives there.
pub struct Place {
    /// The directory everything is created in.
    pub root: PathBuf,
    /// The bare repository standing in for the Git server.
    pub remote: PathBuf,
}

impl Place {
    /// A fresh directory under `parent` (the system's temporary directory by default).
    pub fn create(parent: Option<&Path>) -> Result<Self, Failure> {
        let parent = parent.map_or_else(std::env::temp_dir, Path::to_path_buf);
        std::fs::create_dir_all(&parent).map_err(|error| {
            Failure::operational(format!("cannot create {}: {error}", parent.display()))
        })?;
        let root = tempfile_dir(&parent)?;
        let remote = root.join("cfg-app.git");
        Ok(Self { root, remote })
    }

    /// A cache directory for one git-backed repository of the remote.
    pub fn open_repository(&self, name: &str, author: &str) -> Result<GitRepository, Failure> {
        let url = self
            .remote
            .to_str()
            .ok_or_else(|| Failure::invalid("the demo directory's path is not UTF-8"))?;
        let options = GitOptions::new(
            RemoteUrl::parse(url).map_err(Failure::invalid)?,
            Branch::parse(BRANCH).map_err(Failure::invalid)?,
            self.root.join("cache").join(name),
        )
        .with_author(Author::new(author, "cfgupdate@localhost").map_err(Failure::invalid)?)
        .with_credentials(Credentials::none());
        GitRepository::open(options).map_err(|error| classified(&error))
    }
}

/// A new directory `cfgupdate-demo-N` under `parent` that did not exist before.
fn tempfile_dir(parent: &Path) -> Result<PathBuf, Failure> {
    let pid = std::process::id();
    for attempt in 0..1000 {
        let dir = parent.join(format!("cfgupdate-demo-{pid}-{attempt}"));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(error) => {
                return Err(Failure::operational(format!(
                    "cannot create {}: {error}",
                    dir.display()
                )));
            }
        }
    }
    Err(Failure::operational(format!(
        "cannot find a free directory name under {}",
        parent.display()
    )))
}

/// Prints the story as it happens.
pub struct Narrator<W: Write> {
    out: W,
    step: usize,
}

impl<W: Write> Narrator<W> {
    /// A narrator writing to `out`.
    pub fn new(out: W) -> Self {
        Self { out, step: 0 }
    }

    /// A numbered step's heading.
    pub fn step(&mut self, title: &str) -> Result<(), Failure> {
        self.step += 1;
        let step = self.step;
        self.line(&format!("\n{step}. {title}"))
    }

    /// A heading without a number.
    pub fn heading(&mut self, title: &str) -> Result<(), Failure> {
        self.line(&format!("\n{title}"))
    }

    /// One indented paragraph line.
    pub fn say(&mut self, text: &str) -> Result<(), Failure> {
        self.line(&format!("   {text}"))
    }

    /// What came of an action.
    pub fn outcome(&mut self, text: &str) -> Result<(), Failure> {
        self.line(&format!("   -> {text}"))
    }

    fn line(&mut self, text: &str) -> Result<(), Failure> {
        writeln!(self.out, "{text}")
            .and_then(|()| self.out.flush())
            .map_err(|error| Failure::operational(format!("cannot write to stdout: {error}")))
    }
}

/// The first seven characters of a commit id, as people quote them.
fn short(commit: &str) -> &str {
    commit.get(..7).unwrap_or(commit)
}

fn expect(answer: &Answer, result: &str, what: &str) -> Result<(), Failure> {
    if answer.result == result {
        return Ok(());
    }
    Err(Failure::operational(format!(
        "the demo expected {what} to be answered `{result}`, but the service answered `{}`{}",
        answer.result,
        answer
            .reason
            .as_ref()
            .map(|reason| format!(": {reason}"))
            .unwrap_or_default()
    )))
}

fn commit_of(answer: &Answer) -> Result<&str, Failure> {
    answer
        .commit
        .as_deref()
        .ok_or_else(|| Failure::operational("the service answered without the commit it made"))
}

/// Reads the remote as a by-stander: the tip, a file at the tip, the history.
pub struct Observer {
    repo: GitRepository,
}

impl Observer {
    /// The newest automatic commit: its id, action and wave.
    pub fn last_automatic(&mut self) -> Result<Option<(String, String, String)>, Failure> {
        let entries = history(&mut self.repo, 1, None).map_err(|error| classified(&error))?;
        Ok(entries.into_iter().next().map(|entry| {
            let wave = entry.wave.map(|w| w.to_string()).unwrap_or_default();
            (entry.commit.to_string(), entry.action, wave)
        }))
    }

    /// A file at the tip.
    pub fn read(&mut self, path: &str) -> Result<String, Failure> {
        let tip = self.repo.refresh().map_err(|error| classified(&error))?;
        let path = cfgupdate_core::RepoPath::parse(path).map_err(Failure::invalid)?;
        let bytes = self
            .repo
            .read_file(&tip, &path)
            .map_err(|error| classified(&error))?
            .ok_or_else(|| Failure::operational(format!("{path} is missing at the tip")))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// Plays the whole story on `place` against `service`, narrating to `narrator`.
pub fn play<W: Write>(
    place: &Place,
    service: &mut dyn Service,
    observer: &mut Observer,
    narrator: &mut Narrator<W>,
) -> Result<(), Failure> {
    let n = narrator;

    n.step("CI announces a build")?;
    let images = example::images(NEXT_APP_COMMIT);
    n.say(&format!(
        "CI built app commit {} and pushed api, billing and web, tagged with the commit and pinned",
        short(NEXT_APP_COMMIT)
    ))?;
    n.say("by digest. It announces them to the service (POST /v1/images).")?;
    let published = service.announce(NEXT_APP_COMMIT, &images)?;
    expect(&published, "committed", "the announcement")?;
    let published_commit = commit_of(&published)?.to_owned();
    n.outcome(&format!(
        "committed {} into staging: images/staging.json, and the YAML of staging-us and staging-eu",
        short(&published_commit)
    ))?;
    n.say("   regenerated in the same commit, so the committed YAML never goes stale.")?;

    n.step("Argo CD deploys staging-us")?;
    n.say(&format!(
        "Argo CD syncs staging-us to {}. Its PostSync hook Job (lib/cfgupdate.libsonnet) reports",
        short(&published_commit)
    ))?;
    n.say("\"target staging-us is deployed at this revision\" (POST /v1/deployments).")?;
    let answer = service.report(&Reporter::Target("staging-us"), &published_commit, true)?;
    expect(&answer, "recorded", "staging-us's report")?;
    n.outcome("recorded; staging-eu has not reported these images yet, so nothing moves.")?;

    n.step("Alice edits the repository by hand")?;
    n.say(
        "Meanwhile Alice scales web to 4 replicas in prod-eu: she edits envs/prod-eu/main.jsonnet,",
    )?;
    n.say(
        "renders generated/prod-eu/ again (as `cfgupdate render --write` does), commits and pushes",
    )?;
    n.say("with plain git. cfgupdate never force-pushes: whatever it commits later goes on top.")?;
    let remote = place
        .remote
        .to_str()
        .ok_or_else(|| Failure::invalid("the demo directory's path is not UTF-8"))?;
    let clone = Person::clone(remote, BRANCH, place.root.join("alice"), alice())
        .map_err(|error| classified(&error))?;
    let mut files = clone.files().map_err(|error| classified(&error))?;
    let entrypoint = files.get_mut("envs/prod-eu/main.jsonnet").ok_or_else(|| {
        Failure::operational("envs/prod-eu/main.jsonnet is missing in Alice's clone")
    })?;
    *entrypoint = entrypoint.replace("web: 2", "web: 4");
    example::render_into(&mut files)?;
    clone
        .replace_files(&files)
        .map_err(|error| classified(&error))?;
    clone
        .commit("Scale web to 4 replicas in prod-eu")
        .map_err(|error| classified(&error))?;
    let alice_commit = clone.push().map_err(|error| classified(&error))?;
    n.outcome(&format!(
        "Alice pushed {} \"Scale web to 4 replicas in prod-eu\"; it is the branch's tip now.",
        short(&alice_commit)
    ))?;

    n.step("Argo CD deploys staging-eu")?;
    n.say(&format!(
        "Argo CD syncs staging-eu to the tip, {} (Alice's commit: staging's images are the same as at",
        short(&alice_commit)
    ))?;
    n.say(&format!(
        "{}). This Application reports through Argo CD Notifications, which name the",
        short(&published_commit)
    ))?;
    n.say("Application (\"app\": \"cfg-app-staging-eu\") instead of the target.")?;
    let answer = service.report(&Reporter::App("cfg-app-staging-eu"), &alice_commit, true)?;
    expect(&answer, "pending", "staging-eu's report")?;
    n.outcome(
        "every staging target runs the same images now, but internal has a soak gate: staging must",
    )?;
    n.say("   stay deployed for 2 s before its images may move on. The promotion is pending.")?;

    n.step("The soak time passes")?;
    n.say("Nobody has to come back: the service promotes on its own when the gate opens.")?;
    let waited = Instant::now();
    let answer = service.await_soak("internal", SOAK_LIMIT)?;
    expect(&answer, "promoted", "the soak gate into internal")?;
    let internal_commit = commit_of(&answer)?.to_owned();
    if observer.last_automatic()?
        != Some((
            internal_commit.clone(),
            "promote".to_owned(),
            "internal".to_owned(),
        ))
    {
        return Err(Failure::operational(format!(
            "the branch's tip {} is not the promotion into internal the soak gate should have made",
            short(&internal_commit)
        )));
    }
    n.outcome(&format!(
        "after {:.1} s: promoted {} into internal, exactly the images staging deployed at {}",
        waited.elapsed().as_secs_f64(),
        short(&internal_commit),
        short(&alice_commit)
    ))?;
    n.say("   (written in the original design's two files, images/internal/tags.json and digests.json).")?;
    let tags = observer.read("images/internal/tags.json")?;
    if tags.contains(&format!("billing:{FIRST_APP_COMMIT}")) {
        n.say(&format!(
            "   billing stays at {} in internal: it is on hold there (`hold` in cfgupdate.toml).",
            short(FIRST_APP_COMMIT)
        ))?;
    }

    n.step("Argo CD deploys internal")?;
    n.say(&format!(
        "Argo CD syncs internal to {} and its hook reports.",
        short(&internal_commit)
    ))?;
    let answer = service.report(&Reporter::Target("internal"), &internal_commit, true)?;
    expect(&answer, "pending", "internal's report")?;
    n.outcome("production has an approval gate: the promotion waits for a person.")?;

    n.step("Alice approves production")?;
    n.say("Alice approves what waits to enter production (POST /v1/approvals, admin scope).")?;
    let answer = service.approve("production")?;
    expect(&answer, "promoted", "the approval")?;
    let production_commit = commit_of(&answer)?.to_owned();
    n.outcome(&format!(
        "promoted {} into production: the image slots of envs/production/images.libsonnet,",
        short(&production_commit)
    ))?;
    n.say("   only the strings inside the quotes changed, and the YAML of prod-us and prod-eu regenerated.")?;
    let web = observer.read("generated/prod-eu/deployment-shop-web.yaml")?;
    if web.contains("replicas: 4") && web.contains(NEXT_APP_COMMIT) {
        n.say(
            "   generated/prod-eu/deployment-shop-web.yaml has the new image and Alice's replicas: 4.",
        )?;
    } else {
        return Err(Failure::operational(
            "generated/prod-eu/deployment-shop-web.yaml lost Alice's replicas or the new image",
        ));
    }

    n.step("Argo CD deploys production")?;
    n.say(&format!(
        "Argo CD syncs prod-us and prod-eu to {}; their hooks report.",
        short(&production_commit)
    ))?;
    for target in ["prod-us", "prod-eu"] {
        let answer = service.report(&Reporter::Target(target), &production_commit, true)?;
        expect(&answer, "recorded", "production's reports")?;
    }
    n.outcome(
        "prod-us and prod-eu reported; production is the last wave, so the journey ends here.",
    )?;

    n.step("CI retries its announcement")?;
    n.say("CI systems retry. The same announcement again:")?;
    let answer = service.announce(NEXT_APP_COMMIT, &images)?;
    expect(&answer, "unchanged", "the replayed announcement")?;
    n.outcome("unchanged: no second commit.")?;
    Ok(())
}

/// The history of the branch, newest first, and where to look. In strict mode `kept_off` are
/// the changes CI evicted (as `status` shows them).
pub fn epilogue<W: Write>(
    place: &Place,
    observer: &mut Observer,
    kept_off: Option<&[String]>,
    narrator: &mut Narrator<W>,
) -> Result<(), Failure> {
    let automatic: BTreeMap<String, (String, String)> = history(&mut observer.repo, 100, None)
        .map_err(|error| classified(&error))?
        .into_iter()
        .map(|entry| {
            let wave = entry.wave.map(|w| w.to_string()).unwrap_or_default();
            (entry.commit.to_string(), (entry.action, wave))
        })
        .collect();
    let log = person::git(
        &place.root,
        None,
        &[
            "--git-dir",
            "cfg-app.git",
            "log",
            "--format=%H%x09%an%x09%s",
            BRANCH,
        ],
    )
    .map_err(|error| classified(&error))?;
    narrator.heading("History of the branch Argo CD watches (newest first)")?;
    for line in log.lines() {
        let mut fields = line.splitn(3, '\t');
        let (Some(commit), Some(author), Some(subject)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let who = match automatic.get(commit) {
            Some((action, wave)) => format!("{action} {wave}"),
            None => format!("by {author}"),
        };
        narrator.say(&format!("{} {who:<20} {subject}", short(commit)))?;
    }
    narrator
        .say("Each automatic commit carries Cfgupdate-* trailers: the action, the wave, the app")?;
    narrator.say("commits, and for promotions the wave and revision the images came from.")?;
    if let Some(kept_off) = kept_off {
        narrator.heading("Kept off the branch by the config repository's CI (strict mode)")?;
        for line in kept_off {
            narrator.say(line)?;
        }
    }

    let remote = place.remote.display();
    narrator.heading("Where to look")?;
    narrator.say(&format!(
        "the config repository: {remote} (bare; branch {BRANCH})"
    ))?;
    narrator.say(&format!("git --git-dir {remote} log --stat {BRANCH}"))?;
    narrator.say(&format!(
        "git --git-dir {remote} show {BRANCH}      (a promotion and its trailers)"
    ))?;
    if kept_off.is_some() {
        narrator.say(&format!(
            "git --git-dir {remote} log {}      (strict mode's auto branch)",
            example::AUTO_BRANCH
        ))?;
    }
    narrator.say(&format!("cfgupdate history --repo {remote}"))?;
    narrator.say(&format!("cfgupdate status --repo {remote}"))?;
    narrator.say(&format!("git clone {remote} && cfgupdate check -C cfg-app"))?;
    narrator.say(&format!(
        "Everything is in {}; remove it when you are done.",
        place.root.display()
    ))?;
    Ok(())
}

/// The prologue: the repository made and pushed, and the service described.
pub fn prologue<W: Write>(
    place: &Place,
    initial: &str,
    service: &dyn Service,
    strict: bool,
    narrator: &mut Narrator<W>,
) -> Result<(), Failure> {
    let n = narrator;
    n.line(
        "cfgupdate demo: CI, Argo CD and a person working on one config repository, start to end.",
    )?;
    n.heading("The config repository")?;
    n.say(&format!(
        "A bare repository stands in for your Git server: {}",
        place.remote.display()
    ))?;
    n.say(&format!(
        "Its first commit, {}, holds the Kubernetes configuration in Jsonnet and cfgupdate.toml,",
        short(initial)
    ))?;
    n.say("which describes three waves, each with its image set in another layout:")?;
    n.say("  staging     staging-us, staging-eu  images/staging.json (a JSON image file)")?;
    n.say("  internal    internal                images/internal/{tags,digests}.json (the original two files)")?;
    n.say("              soak 2s: entered only after staging stayed deployed that long; billing on hold")?;
    n.say(
        "  production  prod-us, prod-eu        Jsonnet slots in envs/production/images.libsonnet",
    )?;
    n.say("              approval: entered only when a person approves")?;
    n.say(
        "Each target's YAML, rendered by cfgupdate's own renderer, is committed under generated/,",
    )?;
    n.say(&format!(
        "so reviewers see the real manifests. Every wave runs app commit {}.",
        short(FIRST_APP_COMMIT)
    ))?;
    if strict {
        n.heading("Strict mode")?;
        n.say(&format!(
            "cfgupdate.toml says `[strict] branch = \"{}\"`: every automatic commit (publish, promote,",
            example::AUTO_BRANCH
        ))?;
        n.say(&format!(
            "approve) lands on branch `{}` first, which is {BRANCH} plus the changes not yet accepted.",
            example::AUTO_BRANCH
        ))?;
        n.say("The config repository's own CI checks each of its commits and reports the result")?;
        n.say(&format!(
            "(POST /v1/checks, or `cfgupdate checked`): green fast-forwards {BRANCH}, red evicts the change."
        ))?;
        n.say(&format!(
            "The demo plays that CI: a policy check that every Deployment runs an image of {}.",
            ci::ADMITTED
        ))?;
    }
    n.heading("The service")?;
    for line in format!("CI and Argo CD talk to {}", service.describe()).lines() {
        n.say(line)?;
    }
    Ok(())
}

/// The whole demo under `parent` (the system's temporary directory by default); with
/// `strict`, the story of strict mode.
pub fn run(parent: Option<&Path>, strict: bool) -> Result<(), Failure> {
    let started = Instant::now();
    let place = Place::create(parent)?;
    let files = if strict {
        example::strict_example_files()?
    } else {
        example::example_files()?
    };
    let initial = person::create_remote(
        &place.remote,
        BRANCH,
        files
            .iter()
            .map(|(path, text)| (path.as_str(), text.as_str())),
        &setup(),
        "Shop configuration: three waves, five targets, rendered YAML",
    )
    .map_err(|error| classified(&error))?
    .ok_or_else(|| Failure::operational("the example configuration has no files"))?;
    let mut service = http::HttpService::start(place.open_repository("service", "cfgupdate")?)?;
    let mut observer = Observer {
        repo: place.open_repository("observer", "observer")?,
    };
    let stdout = std::io::stdout();
    let mut narrator = Narrator::new(stdout.lock());
    prologue(&place, &initial, &service, strict, &mut narrator)?;
    let kept_off = if strict {
        Some(strict::play(&mut service, &mut observer, &mut narrator)?)
    } else {
        play(&place, &mut service, &mut observer, &mut narrator)?;
        None
    };
    service.stop()?;
    epilogue(&place, &mut observer, kept_off.as_deref(), &mut narrator)?;
    narrator.line(&format!(
        "\nThe demo took {:.1} s.",
        started.elapsed().as_secs_f64()
    ))?;
    Ok(())
}
