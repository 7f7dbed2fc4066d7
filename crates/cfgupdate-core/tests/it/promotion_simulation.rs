//! A deterministic simulation of the pipeline over the in-memory repository (issue 5).
//!
//! Each sequence starts from a random three-wave pipeline (see `support/fixture.rs`) and runs
//! random steps: CI announcements (new ones, replays of earlier ones, immediate repeats, some
//! with build numbers, some of them older), deploy reports (at the tip, at older revisions,
//! repeated, delayed and delivered out of order, failed, at revisions that are not on the
//! branch), approvals, time passing, `advance` (with the publish of what a freeze deferred),
//! rollbacks and releases, and people's commits (whose image edits pin), some of them pushed in
//! the middle of an operation. Some waves have a freeze window (the first 20 minutes of every
//! hour): nothing automatic may write into them then, an announcement into a frozen first wave
//! is deferred, and `advance` publishes it once the window ended. Among the invariants: nothing
//! held or pinned is ever written automatically. After every step the model in
//! `support/model.rs` checks the
//! invariants; at the end every wave is drained to check that what was deployed moves on.
//!
//! `CFGUPDATE_SIM_RUNS` sets the number of sequences (default 150: about 17 s in a debug build
//! on two busy cores; the engine's renders dominate, and 2,000 take about 4.5 minutes),
//! `CFGUPDATE_SIM_STEPS` the steps per sequence (default 40), and `CFGUPDATE_SIM_SEED` runs one
//! seed alone, printing every step. A failure prints its seed and the steps that led to it.
//!
//! The same sequences run in strict mode too (issue 14, docs/strict.md; the second test):
//! automatic commits wait on the auto branch, random CI results (green, red, pending, stale)
//! decide what reaches the main branch, and each automatic commit is checked when it reaches
//! it, as it was made. Every sequence goes through `Strict`, as the commands and the service
//! do; without `[strict]` it passes everything through.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use cfgupdate_core::promotion::{
    self, ApprovalOutcome, DeployReport, DeployStatus, DeploymentOutcome, PromotionError,
    TargetSelector,
};
use cfgupdate_core::strict::{CheckOutcome, CheckReport, CheckState, Eviction, EvictionKind};
use cfgupdate_core::trailers::{BuildInfo, Record};
use cfgupdate_core::{
    Announcement, Clock, CommitId, ConfigRepository, ImageRef, ImageSet, PublishError,
    PublishOutcome, ServiceName, StateKey, TargetName, WaveName, WriteOptions, publish,
};

use cfgupdate_core::testing::ManualClock;
use cfgupdate_tests::Rng;
use support::fixture::{
    AUTO_BRANCH, Fixture, PEOPLE_FILES, SERVICES, SOAK, reference, settings_file,
};
use support::model::{
    self as model_mod, CiResult, Created, Model, Report, Stats, StepKind, millis, state_commit,
};
use support::racing::{HumanChange, HumanEdit, Racing};

/// The simulation's clock: a fixed start with sub-second digits, so that retry jitter varies.
fn sim_clock() -> ManualClock {
    ManualClock::at(SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789))
}

const DEFAULT_RUNS: u64 = 150;
/// Strict mode's sequences: fewer (each runs CI results and rebuilds besides), from seeds of
/// their own.
const DEFAULT_STRICT_RUNS: u64 = 100;
const STRICT_SEEDS: u64 = 1_000_000;
const DEFAULT_STEPS: usize = 40;

/// How an announcement's answer came out, for comparing a repeat with the original.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Committed,
    Unchanged,
    Stale,
    Deferred,
    /// Every service announced is held in the first wave.
    Held,
    /// Strict mode: CI failed the announcement's change before; it stays evicted.
    Evicted,
}

/// An announcement sent, and whether it ever landed.
struct Announced {
    announcement: Announcement,
    /// The publish commit's position on the branch, when it landed.
    landed_at: Option<usize>,
}

/// How an announcement is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Send {
    New,
    Replay,
    Repeat(Answer),
}

struct Sim {
    rng: Rng,
    repo: Racing,
    clock: Arc<ManualClock>,
    model: Model,
    options: WriteOptions,
    announced: Vec<Announced>,
    last_publish: Option<(usize, Answer)>,
    delayed: Vec<(String, CommitId, DeployStatus)>,
    builds: u64,
    edits: u64,
    log: Vec<String>,
    verbose: bool,
    /// No person pushes while the waves are drained, so that what moves can be predicted.
    draining: bool,
    /// Strict mode (docs/strict.md): automatic commits wait on the auto branch for the
    /// simulated CI's results.
    strict: bool,
    /// Strict mode: the commits waiting on the auto branch after the last step.
    waited: BTreeSet<CommitId>,
    /// Strict mode: the automatic commits the last step's operation made on the auto branch
    /// (a rebuild's replays left out).
    made: Vec<CommitId>,
    /// Strict mode: how many times each evicted or dropped change was reported, by commit.
    reported: BTreeMap<CommitId, usize>,
}

type Step = Result<(), String>;

impl Sim {
    fn new(seed: u64, verbose: bool, strict: bool) -> Self {
        // The seed is mixed as the simulation always did, so a seed names the same run as before.
        let mut rng = Rng::new(seed ^ 0x5DEE_CE66_D1CE_5EED);
        // Every other sequence runs with a state key: sealed commits, authenticated state.
        let key = seed
            .is_multiple_of(2)
            .then(|| StateKey::new(b"the simulation's state key").expect("long enough"));
        let mut fixture = Fixture::random(&mut rng);
        fixture.strict = strict;
        let clock = Arc::new(sim_clock());
        let options = WriteOptions {
            key,
            ..WriteOptions::default()
        };
        let repo = Racing::with(fixture.clone(), clock.clone(), options);
        let mut model = Model::new(fixture, &repo);
        model.strict = strict;
        Self {
            rng,
            repo,
            clock,
            model,
            options,
            announced: Vec::new(),
            last_publish: None,
            delayed: Vec::new(),
            builds: 100,
            edits: 0,
            log: Vec::new(),
            verbose,
            draining: false,
            strict,
            waited: BTreeSet::new(),
            made: Vec::new(),
            reported: BTreeMap::new(),
        }
    }

    fn note(&mut self, line: String) {
        if self.verbose {
            eprintln!("{line}");
        }
        self.log.push(line);
    }

    fn fixture(&self) -> &Fixture {
        &self.model.fixture
    }

    fn tip(&self) -> CommitId {
        self.repo.inner.remote_tip().clone()
    }

    fn short(&self, id: &CommitId) -> String {
        match self.model.position(id) {
            Some(position) => format!("#{position}"),
            None => format!("{}(not on the branch)", id.as_str()),
        }
    }

    /// Checks the invariants after a step; returns the commits it added.
    fn check(&mut self, kind: StepKind) -> Result<Vec<CommitId>, String> {
        if self.strict {
            self.track_auto(kind)?;
        }
        let new = self.model.check(&self.repo, self.clock.now(), kind)?;
        if self.strict {
            self.check_reported()?;
        }
        for id in &new {
            let message = model_mod::message_of(&self.repo, id);
            let subject = message.lines().next().unwrap_or_default().to_owned();
            let line = format!("    + {} {subject}", self.short(id));
            self.note(line);
        }
        Ok(new)
    }

    /// Automatic commits among `new`; in strict mode, those the step's operation made on the
    /// auto branch.
    fn automatic(&self, new: &[CommitId]) -> Vec<CommitId> {
        if self.strict {
            return self.made.clone();
        }
        let people = self.repo.people();
        new.iter()
            .filter(|id| !people.contains(id))
            .cloned()
            .collect()
    }

    /// A person's commit drawn at random.
    fn random_edit(&mut self) -> HumanEdit {
        self.edits += 1;
        let n = self.edits;
        let mut changes = Vec::new();
        for _ in 0..self.rng.between(1, 2) {
            if self.rng.chance(50) {
                let path = self.rng.pick(&PEOPLE_FILES).to_string();
                let content = match path.as_str() {
                    "lib/settings.libsonnet" => settings_file(self.rng.between(1, 5)),
                    "envs/notes.jsonnet" => format!("{{ owner: 'team-{n}' }}\n"),
                    _ => format!("Edited by hand, edit {n}.\n"),
                };
                changes.push(HumanChange::File { path, content });
            } else {
                let wave = self.rng.below(3);
                let service = self.rng.pick(&SERVICES).to_string();
                // Sometimes a roll back or forward by hand: another wave's image.
                let image = if self.rng.chance(30) {
                    let other = self.rng.below(3);
                    self.model
                        .set_at(&self.repo, &self.tip(), other)
                        .unwrap()
                        .get(&service)
                        .cloned()
                        .unwrap()
                } else {
                    let digest = *self.rng.pick(&['6', '7', '8', '9']);
                    reference(&service, &format!("hand-{n}"), digest)
                };
                let style = self.rng.between(0, 5);
                changes.push(HumanChange::Image {
                    wave,
                    service,
                    image,
                    style,
                });
            }
        }
        HumanEdit {
            message: format!("Person's edit {n}"),
            changes,
        }
    }

    /// Sometimes a person will push in the middle of the next operation.
    fn maybe_race(&mut self) {
        if !self.draining && self.rng.chance(12) {
            let edit = self.random_edit();
            self.note(format!(
                "    (a person will push during it: {:?})",
                edit.changes
            ));
            self.repo.arm(edit);
        }
    }

    /// Clears a race that did not fire; counts one that did.
    fn end_race(&mut self, people_before: usize) {
        self.repo.inner.cancel_races();
        if self.repo.people().len() > people_before {
            self.model.stats.races += 1;
        }
    }

    /// With a key: on a copy of the remote, a person pushes a state document that reports
    /// every target deployed at the tip and approves what waits; the engine must refuse it
    /// and move nothing.
    fn forged_state_moves_nothing(&mut self) -> Step {
        if self.options.key.is_none() {
            return Ok(());
        }
        let mut forged = self.repo.inner.inner().clone();
        let Some(current) = forged.remote_state().cloned() else {
            return Ok(());
        };
        let mut doc: serde_json::Value =
            serde_json::from_slice(&current.content).map_err(|e| e.to_string())?;
        let tip = forged.remote_tip().clone();
        let at = self
            .clock
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        for wave in &self.fixture().waves {
            for target in &wave.targets {
                let reports = &mut doc["reports"][target.as_str()];
                if !reports.is_array() {
                    *reports = serde_json::json!([]);
                }
                if let Some(list) = reports.as_array_mut() {
                    list.push(
                        serde_json::json!({"revision": tip, "status": "succeeded", "at": at}),
                    );
                }
            }
        }
        forged.person_pushes_state(&serde_json::to_vec(&doc).map_err(|e| e.to_string())?);
        let result = promotion::advance(&mut forged, &*self.clock, &self.options);
        if !matches!(
            result,
            Err(PromotionError::State(
                promotion::StateProblem::Unauthenticated { .. }
            ))
        ) {
            return Err(format!("a forged state was acted on: {result:?}"));
        }
        if forged.remote_tip() != &tip {
            return Err("a forged state moved the branch".to_owned());
        }
        self.note(format!(
            "a forged state on a copy of the remote moved nothing: {result:?}"
        ));
        Ok(())
    }

    fn step(&mut self) -> Step {
        // Strict mode adds CI results: without them nothing automatic reaches the main branch.
        let weights: &[u64] = if self.strict {
            &[12, 4, 40, 7, 12, 10, 13, 4, 6, 30]
        } else {
            &[12, 4, 40, 7, 12, 10, 13, 4, 6]
        };
        match self.rng.weighted(weights) {
            9 => self.ci_step(),
            0 => self.publish_new(),
            1 => self.publish_replay(),
            2 => self.report_step(),
            3 => self.approve_step(),
            4 => {
                let seconds = if self.rng.chance(60) {
                    self.rng.between(1, 120)
                } else {
                    self.rng.between(180, 900)
                };
                self.clock.advance(Duration::from_secs(seconds));
                self.note(format!("time passes: {seconds}s"));
                self.check(StepKind::Quiet).map(drop)
            }
            5 => self.advance_step(),
            7 => self.rollback_step(),
            8 => self.release_step(),
            _ => {
                let edit = self.random_edit();
                let id = self.repo.person_pushes(&edit);
                self.note(format!("person pushes {}: {:?}", id.short(), edit.changes));
                self.check(StepKind::Quiet).map(drop)
            }
        }
    }

    fn publish_new(&mut self) -> Step {
        let app = CommitId::parse(&self.rng.hex(40)).unwrap();
        let mut images = ImageSet::new();
        for service in SERVICES {
            if self.rng.chance(60) {
                let digest = *self.rng.pick(&['1', '2', '3', '4', '5']);
                images.insert(
                    ServiceName::parse(service).unwrap(),
                    ImageRef::parse(&reference(service, app.as_str(), digest)).unwrap(),
                );
            }
        }
        if images.is_empty() {
            let service = *self.rng.pick(&SERVICES);
            images.insert(
                ServiceName::parse(service).unwrap(),
                ImageRef::parse(&reference(service, app.as_str(), '1')).unwrap(),
            );
        }
        let mut announcement = Announcement::new(app, images).unwrap();
        if self.rng.chance(30) {
            let number = if self.rng.chance(80) {
                self.builds += self.rng.between(1, 3);
                self.builds
            } else {
                self.builds - self.rng.between(1, 4)
            };
            announcement = announcement.with_build(BuildInfo {
                number: Some(number),
                created_at: None,
            });
        }
        self.announced.push(Announced {
            announcement,
            landed_at: None,
        });
        self.send(self.announced.len() - 1, Send::New)
    }

    fn publish_replay(&mut self) -> Step {
        if self.announced.is_empty() {
            return self.publish_new();
        }
        let index = self.rng.below(self.announced.len());
        self.send(index, Send::Replay)
    }

    fn send(&mut self, index: usize, how: Send) -> Step {
        let announcement = self.announced[index].announcement.clone();
        // Whether it had landed before this send (a deferred announcement lands later).
        let landed_before = self.announced[index].landed_at;
        let tip_before = self.tip();
        let wave_before = self.model.set_at(&self.repo, &tip_before, 0)?;
        let people = self.repo.people().len();
        if !matches!(how, Send::Repeat(_)) {
            self.maybe_race();
        }
        let result = publish(
            &mut self.repo.inner,
            &*self.clock,
            &announcement,
            &self.options,
        );
        self.end_race(people);
        self.note(format!(
            "publish {how:?} app {} {:?} build {:?}: {result:?}",
            announcement.app_commit().short(),
            announcement
                .images()
                .iter()
                .map(|(s, i)| format!("{s}@{}", &i.digest().unwrap().hex()[..1]))
                .collect::<Vec<_>>(),
            announcement.build().number,
        ));
        let new = self.check(StepKind::Publish)?;
        let automatic = self.automatic(&new);
        let app = announcement.app_commit().clone();
        let answer = match &result {
            Ok(PublishOutcome::Committed {
                commit,
                wave,
                skipped,
            }) => {
                if wave.as_str() != self.fixture().waves[0].name
                    || automatic != vec![commit.clone()]
                {
                    return Err(format!(
                        "publish answered {commit} into {wave}, the branch got {automatic:?}"
                    ));
                }
                // Exactly the held services were skipped.
                let held = self.engine_holds(0);
                let expected: Vec<&ServiceName> = announcement
                    .images()
                    .keys()
                    .filter(|s| held.contains(s.as_str()))
                    .collect();
                if skipped.iter().collect::<Vec<_>>() != expected {
                    return Err(format!(
                        "publish skipped {skipped:?}, but {expected:?} of it are held"
                    ));
                }
                let partial = !skipped.is_empty();
                if partial {
                    self.model.stats.held_back += 1;
                }
                let again = self.model.partial_apps.contains(&app);
                let record = Record::parse(&model_mod::message_of(&self.repo, commit));
                if !record.app_commits.contains(&app) {
                    return Err("the publish commit does not name its app commit".into());
                }
                if partial {
                    self.model.partial_apps.insert(app.clone());
                }
                if !self.model.committed_apps.insert(app.clone()) && !again {
                    return Err(format!(
                        "app commit {} answered committed twice",
                        app.short()
                    ));
                }
                // In strict mode the commit waits on the auto branch: it lands (on the main
                // branch) later, or never. The stale protection is checked without it.
                let position = match self.model.position(commit) {
                    Some(position) => position,
                    None if self.strict => self.model.chain().len(),
                    None => return Err(format!("publish answered {commit}, not on the branch")),
                };
                // Stale protection: never a build older than the newest published one.
                if let Some(number) = announcement.build().number
                    && !self.strict
                {
                    for service in announcement.images().keys() {
                        if let Some(held) =
                            self.model
                                .latest_build(&self.repo, position, service.as_str())
                            && number < held
                        {
                            return Err(format!(
                                "build {number} of {service} was published over build {held}"
                            ));
                        }
                    }
                }
                self.announced[index].landed_at = Some(position);
                Answer::Committed
            }
            Ok(PublishOutcome::Unchanged) => {
                if !automatic.is_empty() {
                    return Err(format!(
                        "publish answered unchanged but committed {automatic:?}"
                    ));
                }
                if how == Send::New {
                    // In strict mode, the first wave as the auto branch holds it (what waits
                    // for CI counts), as the operation left it.
                    let wave_before = if self.strict {
                        let view = self.view_tip();
                        self.model.set_at(&self.repo, &view, 0)?
                    } else {
                        wave_before.clone()
                    };
                    let held = self.engine_holds(0);
                    let holds_all = announcement
                        .images()
                        .iter()
                        .filter(|(s, _)| !held.contains(s.as_str()))
                        .all(|(s, i)| wave_before.get(s.as_str()) == Some(&i.as_str().to_owned()));
                    if !holds_all {
                        return Err(format!(
                            "a new announcement was answered unchanged, but the first wave held {wave_before:?}"
                        ));
                    }
                }
                Answer::Unchanged
            }
            Ok(PublishOutcome::Deferred { until, .. }) => {
                let first = &self.fixture().waves[0];
                if !first.frozen_at(self.clock.now()) || !automatic.is_empty() {
                    return Err(format!(
                        "publish answered deferred until {until:?}, but the first wave is not frozen or the branch got {automatic:?}"
                    ));
                }
                if *until <= self.clock.now() {
                    return Err(format!("deferred until {until:?}, which has passed"));
                }
                let state = model_mod::load_state(&self.repo)?;
                let kept = state.deferred.iter().any(|record| {
                    &record.app == announcement.app_commit()
                        && record.images == *announcement.images()
                });
                if !kept {
                    return Err(format!(
                        "the deferred announcement is not in the state: {:?}",
                        state.deferred
                    ));
                }
                self.model.stats.deferred += 1;
                Answer::Deferred
            }
            Err(PublishError::Stale { .. }) => {
                let Some(number) = announcement.build().number else {
                    return Err("an announcement without a build was refused as stale".into());
                };
                // Newer than the newest build published, or than one a freeze deferred.
                let deferred = model_mod::load_state(&self.repo)?.deferred;
                let newer = announcement.images().keys().any(|s| {
                    self.model
                        .highest_build(&self.repo, s.as_str())
                        .is_some_and(|held| held > number)
                        || deferred.iter().any(|record| {
                            record.images.contains_key(s)
                                && record.build_number.is_some_and(|held| held > number)
                        })
                });
                if !newer || !automatic.is_empty() {
                    return Err(format!(
                        "build {number} was refused as stale with no newer build published, or committed anyway"
                    ));
                }
                self.model.stats.stale += 1;
                Answer::Stale
            }
            Err(PublishError::OnHold(_)) => {
                let held = self.engine_holds(0);
                let all_held = announcement
                    .images()
                    .keys()
                    .all(|s| held.contains(s.as_str()));
                if !all_held || !automatic.is_empty() {
                    return Err(format!(
                        "refused as held, but only {held:?} are held in the first wave, or committed {automatic:?}"
                    ));
                }
                self.model.stats.held_back += 1;
                Answer::Held
            }
            Err(PublishError::Evicted { .. }) if self.strict => {
                // Only an announcement whose change CI failed, reported so.
                let state = model_mod::load_state(&self.repo)?;
                let failed = state.strict.evicted.iter().any(|e| {
                    e.kind == EvictionKind::Failed
                        && e.app_commits.contains(&app)
                        && self.reported.get(&e.commit) == Some(&1)
                });
                if !failed || !automatic.is_empty() {
                    return Err(format!(
                        "refused as evicted, but CI never failed a change of app {} (or committed {automatic:?})",
                        app.short()
                    ));
                }
                Answer::Evicted
            }
            Err(error) => return Err(format!("publish failed: {error}")),
        };
        match how {
            Send::Repeat(original) => {
                let expected = match original {
                    Answer::Evicted => Answer::Evicted,
                    Answer::Stale => Answer::Stale,
                    Answer::Deferred => Answer::Deferred,
                    Answer::Held => Answer::Held,
                    Answer::Committed | Answer::Unchanged => Answer::Unchanged,
                };
                if answer != expected || !new.is_empty() {
                    return Err(format!(
                        "an immediate repeat of an announcement answered {original:?} was answered {answer:?} with commits {new:?}"
                    ));
                }
                self.model.stats.repeats += 1;
            }
            Send::Replay => {
                // A replay of an announcement that landed (and is still within the window in
                // which replays are recognised) makes no commit.
                // (One that left held services out may land again once they are released.)
                if let Some(landed) = landed_before
                    && self.model.chain().len() - landed < 150
                    && !self.model.partial_apps.contains(&app)
                {
                    if answer == Answer::Committed {
                        return Err(
                            "a replay of an announcement that landed was committed again".into(),
                        );
                    }
                    self.model.stats.repeats += 1;
                }
            }
            Send::New => {}
        }
        self.last_publish = Some((index, answer));
        if !matches!(how, Send::Repeat(_)) && self.rng.chance(15) {
            return self.send(index, Send::Repeat(answer));
        }
        Ok(())
    }

    fn report_step(&mut self) -> Step {
        let targets = self.fixture().targets();
        let target = self.rng.pick(&targets).clone();
        let status = if self.rng.chance(12) {
            DeployStatus::Failed
        } else {
            DeployStatus::Succeeded
        };
        match self.rng.weighted(&[35, 20, 10, 15, 15, 3]) {
            0 => {
                let tip = self.tip();
                self.report(&target, tip, status, true)
            }
            1 => {
                let chain = self.model.chain().to_vec();
                let revision = self.rng.pick(&chain).clone();
                self.report(&target, revision, status, true)
            }
            2 => {
                let last = self
                    .model
                    .reports
                    .iter()
                    .rev()
                    .find(|r| r.target == target)
                    .cloned();
                match last {
                    Some(last) => {
                        let status = if last.succeeded {
                            DeployStatus::Succeeded
                        } else {
                            DeployStatus::Failed
                        };
                        self.report(&target, last.revision, status, true)
                    }
                    None => {
                        let tip = self.tip();
                        self.report(&target, tip, status, true)
                    }
                }
            }
            3 if !self.delayed.is_empty() => {
                let index = self.rng.below(self.delayed.len());
                let (target, revision, status) = self.delayed.remove(index);
                self.note(format!("a delayed hook arrives for {target}"));
                self.report(&target, revision, status, true)
            }
            3 | 4 => {
                let tip = self.tip();
                self.note(format!(
                    "{target} deploys {} ({status:?}); its hook is delayed",
                    self.short(&tip)
                ));
                self.delayed.push((target, tip, status));
                self.check(StepKind::Quiet).map(drop)
            }
            _ => {
                // A revision that is not on the branch: the state ref's commit, or nothing.
                let revision = state_commit(&self.repo)
                    .unwrap_or_else(|| CommitId::parse(&"f".repeat(40)).unwrap());
                self.report(&target, revision, status, false)
            }
        }
    }

    /// Sends one report; `on_branch` says whether the revision is a commit of the branch.
    fn report(
        &mut self,
        target: &str,
        revision: CommitId,
        status: DeployStatus,
        on_branch: bool,
    ) -> Step {
        let by_app = self.rng.chance(50);
        let selector = match self.fixture().apps.get(target) {
            Some(app) if by_app => TargetSelector::App(app.clone()),
            _ => TargetSelector::Name(TargetName::parse(target).unwrap()),
        };
        let report = DeployReport {
            target: selector,
            revision: revision.clone(),
            status,
        };
        self.send_report(target, &report, on_branch, false)?;
        if on_branch && self.rng.chance(15) {
            // The hook fires again at once (a no-op sync).
            self.send_report(target, &report, on_branch, true)?;
        }
        Ok(())
    }

    fn send_report(
        &mut self,
        target: &str,
        report: &DeployReport,
        on_branch: bool,
        repeat: bool,
    ) -> Step {
        let state_before = model_mod::load_state(&self.repo)?;
        let name = TargetName::parse(target).unwrap();
        let latest_before = state_before
            .reports
            .get(&name)
            .and_then(|r| r.last())
            .cloned();
        let state_commit_before = state_commit(&self.repo);
        let people = self.repo.people().len();
        if !repeat {
            self.maybe_race();
        }
        let at = millis(self.clock.now());
        let result =
            promotion::record_deployment(&mut self.repo.inner, &*self.clock, report, &self.options);
        self.end_race(people);
        let line = format!(
            "{}report {target} {} {:?}: {result:?}",
            if repeat { "repeated " } else { "" },
            self.short(&report.revision),
            report.status
        );
        self.note(line);
        if result.is_ok() {
            self.model.reports.push(Report {
                target: target.to_owned(),
                revision: report.revision.clone(),
                succeeded: report.status == DeployStatus::Succeeded,
                at,
            });
            self.model.stats.reports += 1;
        }
        let new = self.check(StepKind::Report)?;
        let automatic = self.automatic(&new);
        let state = model_mod::load_state(&self.repo)?;
        let latest = state.reports.get(&name).and_then(|r| r.last()).cloned();
        match result {
            Ok(outcome) if on_branch => {
                let latest = latest.ok_or("the report was not recorded")?;
                if latest.revision != report.revision || latest.status != report.status {
                    return Err(format!("the report was not recorded: latest is {latest:?}"));
                }
                let same = latest_before
                    .as_ref()
                    .is_some_and(|l| l.revision == report.revision && l.status == report.status);
                // (In strict mode the report's fetch may rebuild the auto branch, which records
                // what it dropped or made in the state: a state commit of strict mode's own.)
                if same
                    && state_commit(&self.repo) != state_commit_before
                    && state.strict == state_before.strict
                {
                    return Err("an identical repeated report made a new state commit".into());
                }
                if let DeploymentOutcome::Pending {
                    wave,
                    gate: promotion::Gate::Freeze { .. },
                } = &outcome
                {
                    let frozen = self
                        .fixture()
                        .wave_index(wave.as_str())
                        .is_some_and(|i| self.fixture().waves[i].frozen_at(self.clock.now()));
                    if !frozen {
                        return Err(format!(
                            "a promotion waits at a freeze of `{wave}`, which is not frozen"
                        ));
                    }
                    self.model.stats.frozen_waits += 1;
                }
                if let DeploymentOutcome::Promoted { commit, wave, .. } = &outcome {
                    let record = Record::parse(&model_mod::message_of(&self.repo, commit));
                    if !automatic.contains(commit) || record.wave.as_ref() != Some(wave) {
                        return Err(format!("promoted {commit} into {wave}, not on the branch"));
                    }
                }
                if repeat {
                    self.model.stats.repeats += 1;
                    // (A state commit of strict mode's own, from the fetch's rebuild, aside.)
                    let moved = state_commit(&self.repo) != state_commit_before
                        && state.strict == state_before.strict;
                    if !new.is_empty() || moved {
                        return Err(format!(
                            "an immediately repeated report made commits {new:?} (state moved: {})",
                            state_commit(&self.repo) != state_commit_before
                        ));
                    }
                }
                Ok(())
            }
            Err(PromotionError::UnknownRevision { .. }) if !on_branch => {
                // In strict mode the report's fetch brings the auto branch up to date, which
                // may write the state (drops, the commits it rebuilt): what a report could
                // change is its reports and approvals.
                let moved = if self.strict {
                    state.reports != state_before.reports
                        || state.approvals != state_before.approvals
                } else {
                    state_commit(&self.repo) != state_commit_before
                };
                if moved || !automatic.is_empty() {
                    return Err("a report of an unknown revision changed something".into());
                }
                Ok(())
            }
            Ok(outcome) => Err(format!(
                "a report of a revision not on the branch was accepted: {outcome:?}"
            )),
            Err(error) => Err(format!("the report failed: {error}")),
        }
    }

    fn approval_wave(&self) -> WaveName {
        let wave = self.fixture().waves.iter().find(|w| w.approval).unwrap();
        WaveName::parse(&wave.name).unwrap()
    }

    fn approve_step(&mut self) -> Step {
        let wave = self.approval_wave();
        let people = self.repo.people().len();
        self.maybe_race();
        let approver = promotion::Approver::parse("simulated admin").map_err(|e| e.to_string())?;
        let result = promotion::approve(
            &mut self.repo.inner,
            &*self.clock,
            &wave,
            &approver,
            &self.options,
        );
        self.end_race(people);
        self.note(format!("approve {wave}: {result:?}"));
        let new = self.check(StepKind::Approve)?;
        let automatic = self.automatic(&new);
        match result {
            Ok(ApprovalOutcome::Promoted { commit, .. }) if automatic != vec![commit.clone()] => {
                Err(format!(
                    "approval promoted {commit}, the branch got {automatic:?}"
                ))
            }
            Ok(ApprovalOutcome::Promoted { .. }) => Ok(()),
            Ok(_) if !automatic.is_empty() => Err(format!(
                "approval answered no promotion, the branch got {automatic:?}"
            )),
            Ok(_) => Ok(()),
            Err(error) => Err(format!("approve failed: {error}")),
        }
    }

    fn advance_step(&mut self) -> Step {
        let people = self.repo.people().len();
        self.maybe_race();
        // As the service's timer and `cfgupdate advance` do: promote what is due, then publish
        // what a freeze deferred once its window ended.
        let result = promotion::advance(&mut self.repo.inner, &*self.clock, &self.options);
        let deferred =
            cfgupdate_core::publish_deferred(&mut self.repo.inner, &*self.clock, &self.options);
        self.end_race(people);
        self.note(format!("advance: {result:?}; deferred: {deferred:?}"));
        let new = self.check(StepKind::Advance)?;
        let automatic = self.automatic(&new);
        let deferred = deferred
            .map_err(|error| format!("publishing deferred announcements failed: {error}"))?;
        if let Some(frozen) = &deferred.waiting
            && !self.fixture().waves[0].frozen_at(self.clock.now())
        {
            return Err(format!(
                "deferred announcements wait for a freeze that does not hold: {frozen:?}"
            ));
        }
        if deferred.waiting.is_none() && deferred.remaining > 0 {
            return Err(format!(
                "{} announcements are still deferred after the window",
                deferred.remaining
            ));
        }
        match result {
            Ok(advance) => {
                let mut promoted: Vec<CommitId> =
                    advance.promoted.iter().map(|p| p.commit.clone()).collect();
                promoted.extend(deferred.published.iter().map(|(commit, _)| commit.clone()));
                if promoted != automatic {
                    return Err(format!(
                        "advance answered {promoted:?}, the branch got {automatic:?}"
                    ));
                }
                Ok(())
            }
            Err(error) => Err(format!("advance failed: {error}")),
        }
    }

    /// An admin rolls a wave back to what it held at an earlier commit (all of its services or
    /// some), which writes exactly those images and holds them.
    fn rollback_step(&mut self) -> Step {
        let wave = self.rng.below(3);
        let chain = self.model.chain().to_vec();
        let to = chain[self.rng.below(chain.len())].clone();
        // What the pipeline file holds there stays out of it.
        let then = self.fixture().waves[wave].unheld(&self.model.set_at(&self.repo, &to, wave)?);
        let mut services: Vec<String> = Vec::new();
        if self.rng.chance(60) {
            for service in then.keys() {
                if self.rng.chance(50) {
                    services.push(service.clone());
                }
            }
        }
        let held: Vec<String> = if services.is_empty() {
            then.keys().cloned().collect()
        } else {
            services.clone()
        };
        let request = promotion::RollbackRequest {
            wave: WaveName::parse(&self.fixture().waves[wave].name).unwrap(),
            to_revision: to.clone(),
            services: services
                .iter()
                .map(|s| ServiceName::parse(s).unwrap())
                .collect(),
        };
        let people = self.repo.people().len();
        self.maybe_race();
        let result =
            promotion::rollback(&mut self.repo.inner, &*self.clock, &request, &self.options);
        self.end_race(people);
        self.note(format!(
            "rollback {} to {} {services:?}: {result:?}",
            request.wave,
            self.short(&to)
        ));
        let new = self.check(StepKind::Rollback)?;
        let automatic = self.automatic(&new);
        let answered: Vec<String> = match &result {
            Ok(promotion::RollbackOutcome::RolledBack { commit, held, .. }) => {
                if automatic != vec![commit.clone()] {
                    return Err(format!(
                        "rollback answered {commit}, the branch got {automatic:?}"
                    ));
                }
                held.iter().map(|s| s.to_string()).collect()
            }
            Ok(promotion::RollbackOutcome::Unchanged { held, .. }) => {
                if !automatic.is_empty() {
                    return Err(format!(
                        "rollback answered unchanged, the branch got {automatic:?}"
                    ));
                }
                held.iter().map(|s| s.to_string()).collect()
            }
            Err(error) => return Err(format!("rollback failed: {error}")),
        };
        if answered != held {
            return Err(format!("rollback held {answered:?}, asked for {held:?}"));
        }
        // The wave holds what it held then, for those services (unless a person changed one
        // in the middle of the rollback, which then pins it).
        let view = self.view_tip();
        let now = self.model.set_at(&self.repo, &view, wave)?;
        let raced = self.repo.people().len() > people;
        for service in held.iter().filter(|_| !raced) {
            if now.get(service) != then.get(service) {
                return Err(format!(
                    "after the rollback `{service}` is {:?}, it was {:?} at {}",
                    now.get(service),
                    then.get(service),
                    self.short(&to)
                ));
            }
        }
        for service in &held {
            self.model.pinned_by.remove(&(wave, service.clone()));
        }
        self.model.holds.entry(wave).or_default().extend(held);
        Ok(())
    }

    /// An admin releases a wave's holds (all, or one service); the engine releases exactly
    /// what the model knows to be held there, and refuses a wave where nothing is.
    fn release_step(&mut self) -> Step {
        let wave = self.rng.below(3);
        let held = self.model.holds.get(&wave).cloned().unwrap_or_default();
        let one = (!held.is_empty() && self.rng.chance(40))
            .then(|| held.iter().nth(self.rng.below(held.len())).cloned())
            .flatten();
        let services: Vec<ServiceName> =
            one.iter().map(|s| ServiceName::parse(s).unwrap()).collect();
        let name = WaveName::parse(&self.fixture().waves[wave].name).unwrap();
        let result = promotion::release(
            &mut self.repo.inner,
            &*self.clock,
            &name,
            &services,
            &self.options,
        );
        self.note(format!("release {name} {one:?}: {result:?}"));
        let new = self.check(StepKind::Release)?;
        if !new.is_empty() {
            return Err(format!("a release changed the branch: {new:?}"));
        }
        match result {
            Ok(outcome) => {
                let released: BTreeSet<String> = outcome
                    .released
                    .iter()
                    .map(|(s, _)| s.to_string())
                    .collect();
                let expected: BTreeSet<String> = match &one {
                    Some(service) => [service.clone()].into(),
                    None => held.clone(),
                };
                if released != expected {
                    return Err(format!(
                        "released {released:?} in `{name}`, but the model holds {held:?} there and asked for {one:?}"
                    ));
                }
                let holds = self.model.holds.entry(wave).or_default();
                holds.retain(|s| !released.contains(s));
                self.model.stats.releases += released.len() as u64;
                Ok(())
            }
            Err(promotion::HoldError::NothingHeld { .. }) if held.is_empty() => Ok(()),
            Err(error) => Err(format!(
                "release failed with {held:?} held in `{name}`: {error}"
            )),
        }
    }

    /// Every wave's targets deploy the tip, the gates open, and what they deployed must move on
    /// unless exactly it was promoted already.
    fn drain(&mut self) -> Step {
        self.note("drain".into());
        self.draining = true;
        // Out of every freeze window, for the whole drain (two soaks and a little).
        let seconds = self
            .clock
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let out_of_freeze = (25 * 60 + 3600 - seconds % 3600) % 3600;
        self.clock.advance(Duration::from_secs(out_of_freeze));
        self.advance_step()?;
        self.settle()?;
        for source in 0..2 {
            let into = source + 1;
            let tip = self.tip();
            let deployed = self.model.set_at(&self.repo, &tip, source)?;
            let spec = self.fixture().waves[into].clone();
            let already = self.last_promoted_images(into);
            let _ = &spec;
            for target in self.fixture().waves[source].targets.clone() {
                let report = DeployReport {
                    target: TargetSelector::Name(TargetName::parse(&target).unwrap()),
                    revision: tip.clone(),
                    status: DeployStatus::Succeeded,
                };
                self.send_report(&target, &report, true, false)?;
            }
            self.clock.advance(SOAK + Duration::from_secs(1));
            if spec.approval {
                self.approve_step()?;
            }
            self.advance_step()?;
            self.settle()?;
            let now = self.model.set_at(&self.repo, &self.tip(), into)?;
            let expected = self.model.free(into, &deployed);
            let already = already.map(|set| self.model.free(into, &set));
            if self.model.free(into, &now) != expected && already.as_ref() != Some(&expected) {
                return Err(format!(
                    "after every target of `{}` deployed {:?} and the gates opened, `{}` holds {now:?}",
                    self.fixture().waves[source].name,
                    deployed,
                    spec.name
                ));
            }
        }
        Ok(())
    }

    /// What holds services in wave `wave` as the engine could know it: in strict mode a push
    /// to the auto branch is never rejected because the main branch moved, so an operation
    /// decides on the main branch as it last fetched it, and a pin by a person's commit pushed
    /// since counts only from its next fetch (the rebuild then leaves that service out).
    fn engine_holds(&self, wave: usize) -> BTreeSet<String> {
        let held = self.model.holds.get(&wave).cloned().unwrap_or_default();
        let Some(seen) = self.repo.inner.main_tip().filter(|_| self.strict).cloned() else {
            return held;
        };
        held.into_iter()
            .filter(
                |service| match self.model.pinned_by.get(&(wave, service.clone())) {
                    Some(commit) => self.repo.is_ancestor(commit, &seen).unwrap_or(false),
                    None => true,
                },
            )
            .collect()
    }

    /// Strict mode: the commits waiting on the auto branch as the remote holds it, oldest
    /// first (after a person's push, on a main branch the next fetch rebuilds it on).
    fn waiting(&self) -> Vec<CommitId> {
        let Some(auto) = self.repo.remote_side(AUTO_BRANCH).cloned() else {
            return Vec::new();
        };
        let main = self.tip();
        let mut waiting = Vec::new();
        for commit in self.repo.log(&auto, 1000).unwrap() {
            if self.repo.is_ancestor(&commit.id, &main).unwrap() {
                break;
            }
            waiting.push(commit.id);
        }
        waiting.reverse();
        waiting
    }

    /// The tip automatic writes see: in strict mode the auto branch's while it is built on
    /// the main branch, else the main branch's.
    fn view_tip(&self) -> CommitId {
        let main = self.tip();
        match self.repo.remote_side(AUTO_BRANCH) {
            Some(auto) if self.strict && self.repo.is_ancestor(&main, auto).unwrap() => {
                auto.clone()
            }
            _ => main,
        }
    }

    /// What identifies a change across a rebuild's replay (which keeps subject and trailers,
    /// less the images a person set since).
    fn signature(&self, id: &CommitId) -> String {
        let message = model_mod::message_of(&self.repo, id);
        let record = Record::parse(&message);
        format!(
            "{}\n{:?} {:?} {:?} {:?}",
            message.lines().next().unwrap_or_default(),
            record.action,
            record.wave,
            record.app_commits,
            record.source_revision
        )
    }

    /// Strict mode, after every step: the commits new on the auto branch (each either made by
    /// the step's operation, or a rebuild's replay of a change that left it in the step), what
    /// each was made under, and the drops the fetches handed out.
    fn track_auto(&mut self, kind: StepKind) -> Step {
        let dropped = self.repo.inner.take_dropped();
        for drop in &dropped {
            self.note(format!(
                "    dropped {}: {}",
                drop.commit.short(),
                drop.reason
            ));
        }
        self.count_reported(dropped.iter())?;
        let waiting = self.waiting();
        let main = self.tip();
        // Changes with the same signature (two rollbacks to the same revision) may wait at
        // once: each signature keeps its originals in order.
        let mut originals: BTreeMap<String, std::collections::VecDeque<(Created, CommitId)>> =
            BTreeMap::new();
        for id in &self.waited {
            // A change that left without a replay (evicted or dropped) has none.
            if !waiting.contains(id)
                && !self.reported.contains_key(id)
                && !self.repo.is_ancestor(id, &main).unwrap()
                && let Some(created) = self.model.created.get(id)
            {
                originals
                    .entry(self.signature(id))
                    .or_default()
                    .push_back((created.clone(), id.clone()));
            }
        }
        self.made.clear();
        let mut approvals = None;
        for id in &waiting {
            if self.model.created.contains_key(id) {
                continue;
            }
            let original = originals
                .get_mut(&self.signature(id))
                .and_then(|queue| queue.pop_front());
            let created = match original {
                Some((mut original, was)) => {
                    self.model.stats.replayed += 1;
                    // Replayed without services a person set on the main branch since: like
                    // held ones, they are left alone (checked so when it lands), and, like a
                    // publish that left held services out, a replay of its announcement may
                    // land what was left out.
                    let now = Record::parse(&model_mod::message_of(&self.repo, id));
                    let then = Record::parse(&model_mod::message_of(&self.repo, &was));
                    let left: BTreeSet<String> = then
                        .images
                        .keys()
                        .filter(|s| !now.images.contains_key(*s))
                        .map(|s| s.to_string())
                        .collect();
                    let wave = now
                        .wave
                        .as_ref()
                        .and_then(|w| self.fixture().wave_index(w.as_str()));
                    if let (false, Some(wave)) = (left.is_empty(), wave) {
                        original.holds.entry(wave).or_default().extend(left);
                        self.model.partial_apps.extend(now.app_commits);
                    }
                    original
                }
                None => {
                    self.made.push(id.clone());
                    if approvals.is_none() {
                        approvals = Some(model_mod::load_state(&self.repo)?.approvals);
                    }
                    Created {
                        kind,
                        now: self.clock.now(),
                        reports: self.model.reports.len(),
                        holds: self.model.holds.clone(),
                        approvals: approvals.clone().unwrap_or_default(),
                    }
                }
            };
            self.model.created.insert(id.clone(), created);
        }
        self.waited = waiting.into_iter().collect();
        Ok(())
    }

    /// Counts evictions and drops reported; one reported twice is an error.
    fn count_reported<'a>(&mut self, reported: impl Iterator<Item = &'a Eviction>) -> Step {
        for eviction in reported {
            let count = self.reported.entry(eviction.commit.clone()).or_default();
            *count += 1;
            if *count > 1 {
                return Err(format!(
                    "the eviction of {} was reported {count} times",
                    eviction.commit.short()
                ));
            }
            match eviction.kind {
                EvictionKind::Failed => self.model.stats.evicted += 1,
                EvictionKind::Dropped => {
                    self.model.stats.dropped += 1;
                    // Dropped, not refused: a replay of its announcement may land it.
                    self.model
                        .partial_apps
                        .extend(eviction.app_commits.iter().cloned());
                }
            }
        }
        Ok(())
    }

    /// Strict mode: every change the state records as evicted or dropped was reported, once.
    fn check_reported(&self) -> Step {
        let state = model_mod::load_state(&self.repo)?;
        for eviction in &state.strict.evicted {
            let count = self.reported.get(&eviction.commit).copied().unwrap_or(0);
            if count != 1 {
                return Err(format!(
                    "{} ({}) is recorded {:?} ({}) but was reported {count} times",
                    eviction.commit.short(),
                    eviction.subject,
                    eviction.kind,
                    eviction.reason
                ));
            }
        }
        Ok(())
    }

    /// Strict mode: CI reports a result: mostly for a commit waiting on the auto branch, now
    /// and then for one that no longer waits (a stale result); success, failure or pending.
    fn ci_step(&mut self) -> Step {
        let waiting = self.waiting();
        let commit = if !waiting.is_empty() && self.rng.chance(85) {
            waiting[self.rng.below(waiting.len())].clone()
        } else if !self.model.created.is_empty() {
            let seen: Vec<CommitId> = self.model.created.keys().cloned().collect();
            self.rng.pick(&seen).clone()
        } else {
            self.note("CI has nothing to check".into());
            return self.check(StepKind::Quiet).map(drop);
        };
        let state = match self.rng.weighted(&[55, 25, 20]) {
            0 => CheckState::Success,
            1 => CheckState::Failure,
            _ => CheckState::Pending,
        };
        let people = self.repo.people().len();
        self.maybe_race();
        let result = self.send_check(&commit, state);
        self.end_race(people);
        result
    }

    /// Sends one CI result and checks its answer.
    fn send_check(&mut self, commit: &CommitId, state: CheckState) -> Step {
        let main_before = self.tip();
        let waited = self.waiting().contains(commit);
        self.model.ci.push(CiResult {
            commit: commit.clone(),
            state,
            main_before: main_before.clone(),
        });
        let result = self.repo.inner.record_check(&CheckReport {
            commit: commit.clone(),
            state,
            context: "simulated-ci".into(),
        });
        self.note(format!(
            "CI says {state} for {}: {result:?}",
            commit.short()
        ));
        let outcome = result.map_err(|error| format!("the CI result failed: {error}"))?;
        if let CheckOutcome::Evicted {
            eviction, dropped, ..
        } = &outcome
        {
            self.count_reported(std::iter::once(&**eviction).chain(dropped))?;
        }
        let new = self.check(StepKind::Ci)?;
        let people = self.repo.people();
        let automatic: Vec<&CommitId> = new.iter().filter(|id| !people.contains(id)).collect();
        match &outcome {
            CheckOutcome::Accepted { main, changes } => {
                if state != CheckState::Success || !waited {
                    return Err(format!(
                        "a {state} result for a commit that did not wait moved main to {main}"
                    ));
                }
                if main != commit
                    || !self.repo.is_ancestor(main, &self.tip()).unwrap()
                    || changes.is_empty()
                {
                    return Err(format!(
                        "accepted {changes:?} up to {main}, but main is at {}",
                        self.tip()
                    ));
                }
                self.model.stats.ci_accepted += 1;
            }
            CheckOutcome::Evicted { eviction, .. } => {
                if state != CheckState::Failure || &eviction.commit != commit || !waited {
                    return Err(format!("a {state} result evicted {}", eviction.commit));
                }
                if !automatic.is_empty() {
                    return Err(format!("an eviction moved main to {automatic:?}"));
                }
            }
            CheckOutcome::Recorded => {
                if state != CheckState::Pending || !automatic.is_empty() {
                    return Err(format!("a {state} result was only recorded, or moved main"));
                }
            }
            CheckOutcome::Ignored(why) => {
                if !automatic.is_empty() {
                    return Err(format!("an ignored result ({why:?}) moved main"));
                }
                self.model.stats.stale_results += 1;
            }
        }
        Ok(())
    }

    /// Strict mode: CI passes whatever waits, so that what the engine wrote reaches the main
    /// branch (the drain's checks read it there).
    fn settle(&mut self) -> Step {
        if !self.strict {
            return Ok(());
        }
        for _ in 0..10 {
            let Some(last) = self.waiting().last().cloned() else {
                return Ok(());
            };
            self.send_check(&last, CheckState::Success)?;
        }
        Err("the auto branch never drained".into())
    }

    /// The images of the last promotion into wave `into`, from the branch's trailers.
    fn last_promoted_images(&self, into: usize) -> Option<support::fixture::Set> {
        let name = &self.fixture().waves[into].name;
        self.model.chain().iter().rev().find_map(|id| {
            let record = Record::parse(&model_mod::message_of(&self.repo, id));
            let promoted = matches!(record.action.as_deref(), Some("promote" | "approve"));
            (promoted && record.wave.as_ref().map(WaveName::as_str) == Some(name.as_str())).then(
                || {
                    record
                        .images
                        .iter()
                        .map(|(s, i)| (s.to_string(), i.as_str().to_owned()))
                        .collect()
                },
            )
        })
    }
}

/// Runs one sequence; on failure, the error names the seed and lists the steps.
fn run(seed: u64, steps: usize, verbose: bool, strict: bool) -> Result<Stats, String> {
    let mut sim = Sim::new(seed, verbose, strict);
    let layouts: Vec<String> = sim
        .fixture()
        .waves
        .iter()
        .map(|w| {
            format!(
                "{} {:?}{}{}{}",
                w.name,
                w.layout,
                if w.soak.is_some() { " soak" } else { "" },
                if w.approval { " approval" } else { "" },
                if w.hold.is_empty() {
                    String::new()
                } else {
                    format!(" hold {:?}", w.hold)
                }
            )
        })
        .collect();
    let render = sim.fixture().render_output;
    sim.note(format!(
        "pipeline: {layouts:?}, committed YAML: {render}, strict: {strict}"
    ));
    let rejections = sim.repo.inner.rejections;
    let mut outcome = Ok(());
    for step in 0..steps {
        sim.note(format!("step {step}:"));
        outcome = sim.step();
        if outcome.is_ok() && step % 10 == 9 {
            outcome = sim.forged_state_moves_nothing();
        }
        if outcome.is_err() {
            break;
        }
    }
    if outcome.is_ok() {
        outcome = sim.drain();
    }
    if outcome.is_ok() {
        outcome = sim
            .settle()
            .and_then(|()| sim.check(StepKind::Quiet).map(drop));
    }
    match outcome {
        Ok(()) => {
            let mut stats = sim.model.stats.clone();
            stats.sequences = 1;
            stats.steps = steps as u64;
            stats.rejections = (sim.repo.inner.rejections - rejections) as u64;
            Ok(stats)
        }
        Err(error) if verbose => Err(format!("seed {seed} failed: {error}")),
        Err(error) => Err(format!(
            "seed {seed} failed (rerun with {}={seed}): {error}\nsteps:\n{}",
            if strict {
                "CFGUPDATE_STRICT_SIM_SEED"
            } else {
                "CFGUPDATE_SIM_SEED"
            },
            sim.log.join("\n")
        )),
    }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {v:?}"))
    })
}

/// Runs seeds `first..first + runs` on `threads` threads; returns the merged counts.
fn run_many(first: u64, runs: u64, steps: usize, threads: u64, strict: bool) -> Stats {
    let handles: Vec<_> = (0..threads)
        .map(|thread| {
            std::thread::spawn(move || {
                let mut stats = Stats::default();
                let mut seed = first + thread;
                while seed < first + runs {
                    match run(seed, steps, false, strict) {
                        Ok(one) => stats.add(&one),
                        Err(error) => panic!("{error}"),
                    }
                    seed += threads;
                }
                stats
            })
        })
        .collect();
    let mut stats = Stats::default();
    for handle in handles {
        match handle.join() {
            Ok(one) => stats.add(&one),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
    stats
}

#[test]
fn random_sequences_of_publishes_reports_approvals_and_peoples_commits_keep_every_invariant() {
    let steps = env_number("CFGUPDATE_SIM_STEPS").map_or(DEFAULT_STEPS, |s| s as usize);
    if let Some(seed) = env_number("CFGUPDATE_SIM_SEED") {
        if let Err(error) = run(seed, steps, true, false) {
            panic!("{error}");
        }
        return;
    }
    let runs = env_number("CFGUPDATE_SIM_RUNS").unwrap_or(DEFAULT_RUNS);
    let started = Instant::now();
    let stats = run_many(0, runs, steps, 2, false);
    eprintln!(
        "promotion simulation: {} sequences, {} steps in {:.1?}: {stats:?}",
        stats.sequences,
        stats.steps,
        started.elapsed()
    );
    // The sequences must actually reach what the invariants are about.
    assert!(stats.publishes > 0 && stats.promotions[1] > 0 && stats.promotions[2] > 0);
    assert!(stats.soaked > 0 && stats.approved > 0 && stats.races > 0 && stats.repeats > 0);
    assert!(stats.deferred > 0 && stats.deferred_published > 0 && stats.frozen_waits > 0);
    assert!(stats.rollbacks > 0 && stats.pins > 0 && stats.releases > 0 && stats.held_back > 0);
}

/// Strict mode (issue 14): the same random steps with `[strict]` on, plus CI results (green,
/// red, pending, for waiting commits and stale ones) and people's pushes while changes wait.
/// Every invariant above holds on the main branch, checked for each automatic commit as it was
/// made when it reaches it; and the main branch only ever holds automatic commits CI passed
/// (green for it or a commit built on it, before CI failed any change they hold), and every
/// evicted or dropped change is reported exactly once (by the CI result's answer or by
/// `Strict::take_dropped` after the fetch that dropped it).
///
/// `CFGUPDATE_STRICT_SIM_RUNS` sets the number of sequences (default 100),
/// `CFGUPDATE_STRICT_SIM_SEED` runs one seed alone, printing every step.
#[test]
fn strict_mode_sequences_keep_every_invariant_and_main_holds_only_what_ci_passed() {
    let steps = env_number("CFGUPDATE_SIM_STEPS").map_or(DEFAULT_STEPS, |s| s as usize);
    if let Some(seed) = env_number("CFGUPDATE_STRICT_SIM_SEED") {
        if let Err(error) = run(seed, steps, true, true) {
            panic!("{error}");
        }
        return;
    }
    let runs = env_number("CFGUPDATE_STRICT_SIM_RUNS").unwrap_or(DEFAULT_STRICT_RUNS);
    let started = Instant::now();
    let stats = run_many(STRICT_SEEDS, runs, steps, 2, true);
    eprintln!(
        "strict simulation: {} sequences, {} steps in {:.1?}: {stats:?}",
        stats.sequences,
        stats.steps,
        started.elapsed()
    );
    assert!(stats.publishes > 0 && stats.promotions[1] > 0 && stats.promotions[2] > 0);
    assert!(stats.ci_accepted > 0 && stats.evicted > 0 && stats.dropped > 0);
    assert!(stats.replayed > 0 && stats.stale_results > 0 && stats.races > 0);
    assert!(stats.pins > 0 && stats.rollbacks > 0 && stats.releases > 0);
}

/// The checks themselves must be able to fail: a commit that claims to be automatic but
/// breaks an invariant, pushed behind the engine's back, is caught.
mod the_model_catches {
    use super::*;
    use cfgupdate_core::CommitMessage;
    use support::fixture::{Layout, Set, WaveSpec, write_set};

    fn fixture() -> Fixture {
        let wave = |name: &str, layout, targets: [&str; 2]| WaveSpec {
            name: name.to_owned(),
            layout,
            targets: targets.iter().map(|t| t.to_string()).collect(),
            soak: None,
            approval: false,
            hold: Vec::new(),
            freeze: false,
        };
        let mut waves = vec![
            wave("staging", Layout::Json, ["staging-us", "staging-eu"]),
            wave("internal", Layout::TwoFile, ["internal-a", "internal-b"]),
            wave("production", Layout::Jsonnet, ["prod-us", "prod-eu"]),
        ];
        waves[1].soak = Some(SOAK);
        waves[2].approval = true;
        Fixture {
            waves,
            render_output: false,
            apps: Default::default(),
            strict: false,
        }
    }

    fn start() -> (Racing, Model, ManualClock) {
        let fixture = fixture();
        let repo = Racing::new(fixture.clone());
        let model = Model::new(fixture, &repo);
        (repo, model, sim_clock())
    }

    /// A commit with cfgupdate's trailers that cfgupdate did not make.
    fn rogue(repo: &mut Racing, wave: &WaveSpec, set: &Set, trailers: Vec<(&str, String)>) {
        let message = CommitMessage {
            subject: "Not really cfgupdate".into(),
            body: String::new(),
            trailers: trailers
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .chain(
                    set.iter()
                        .map(|(s, i)| ("Cfgupdate-Image".to_owned(), format!("{s}={i}"))),
                )
                .collect(),
        }
        .render();
        let files = write_set(wave, set, 0);
        repo.inner.person_pushes(message.trim_end(), |tree| {
            for (path, text) in files {
                tree.insert(
                    cfgupdate_core::RepoPath::parse(&path).unwrap(),
                    text.into_bytes(),
                );
            }
        });
    }

    fn promotion(into: &str, from: &str, source: &CommitId) -> Vec<(&'static str, String)> {
        vec![
            ("Cfgupdate-Action", "promote".into()),
            ("Cfgupdate-Wave", into.into()),
            ("Cfgupdate-Source-Wave", from.into()),
            ("Cfgupdate-Source-Revision", source.to_string()),
        ]
    }

    fn deployed(model: &mut Model, clock: &ManualClock, wave: usize, revision: &CommitId) {
        for target in model.fixture.waves[wave].targets.clone() {
            model.reports.push(Report {
                target,
                revision: revision.clone(),
                succeeded: true,
                at: millis(clock.now()),
            });
        }
    }

    #[test]
    fn a_promotion_of_images_no_target_deployed() {
        let (mut repo, mut model, clock) = start();
        let root = repo.inner.remote_tip().clone();
        let newer = repo.person_pushes(&HumanEdit {
            message: "Hand edit of staging".into(),
            changes: vec![HumanChange::Image {
                wave: 0,
                service: "api".into(),
                image: reference("api", "new", '1'),
                style: 0,
            }],
        });
        model.check(&repo, clock.now(), StepKind::Quiet).unwrap();
        deployed(&mut model, &clock, 0, &root);
        clock.advance(SOAK);
        let set = model.set_at(&repo, &newer, 0).unwrap();
        let spec = model.fixture.waves[1].clone();
        rogue(
            &mut repo,
            &spec,
            &set,
            promotion("internal", "staging", &newer),
        );
        let error = model
            .check(&repo, clock.now(), StepKind::Advance)
            .unwrap_err();
        assert!(
            error.contains("the targets of `staging` deployed"),
            "{error}"
        );
    }

    #[test]
    fn a_publish_into_a_wave_during_its_freeze_window() {
        let mut fixture = fixture();
        fixture.waves[0].freeze = true;
        let mut repo = Racing::new(fixture.clone());
        let mut model = Model::new(fixture, &repo);
        // The simulation's clock starts 13 minutes into an hour: inside the window.
        let clock = sim_clock();
        assert!(model.fixture.waves[0].frozen_at(clock.now()));
        let spec = model.fixture.waves[0].clone();
        let set: Set = [("api".to_owned(), reference("api", "new", '1'))].into();
        let publish = vec![
            ("Cfgupdate-Action", "publish".to_owned()),
            ("Cfgupdate-Wave", "staging".to_owned()),
            ("Cfgupdate-App-Commit", "a".repeat(40)),
        ];
        rogue(&mut repo, &spec, &set, publish);
        let error = model
            .check(&repo, clock.now(), StepKind::Publish)
            .unwrap_err();
        assert!(error.contains("during its freeze window"), "{error}");
    }

    #[test]
    fn a_promotion_into_a_soak_wave_before_the_soak() {
        let (mut repo, mut model, clock) = start();
        let root = repo.inner.remote_tip().clone();
        deployed(&mut model, &clock, 0, &root);
        clock.advance(SOAK - Duration::from_secs(1));
        let set = model.set_at(&repo, &root, 0).unwrap();
        let spec = model.fixture.waves[1].clone();
        rogue(
            &mut repo,
            &spec,
            &set,
            promotion("internal", "staging", &root),
        );
        let error = model
            .check(&repo, clock.now(), StepKind::Report)
            .unwrap_err();
        assert!(error.contains("before its soak"), "{error}");
    }

    #[test]
    fn a_promotion_that_moves_a_wave_backwards() {
        let (mut repo, mut model, clock) = start();
        let root = repo.inner.remote_tip().clone();
        let newer = repo.person_pushes(&HumanEdit {
            message: "Hand edit".into(),
            changes: vec![HumanChange::File {
                path: "README.md".into(),
                content: "x\n".into(),
            }],
        });
        deployed(&mut model, &clock, 0, &newer);
        clock.advance(SOAK);
        let set = model.set_at(&repo, &root, 0).unwrap();
        let spec = model.fixture.waves[1].clone();
        rogue(
            &mut repo,
            &spec,
            &set,
            promotion("internal", "staging", &newer),
        );
        model.check(&repo, clock.now(), StepKind::Advance).unwrap();
        rogue(
            &mut repo,
            &spec,
            &set,
            promotion("internal", "staging", &root),
        );
        let error = model
            .check(&repo, clock.now(), StepKind::Advance)
            .unwrap_err();
        assert!(error.contains("moved backwards"), "{error}");
    }

    #[test]
    fn an_automatic_commit_that_overwrites_a_persons_file() {
        let (mut repo, mut model, clock) = start();
        repo.person_pushes(&HumanEdit {
            message: "Hand edit".into(),
            changes: vec![HumanChange::File {
                path: "docs/runbook.md".into(),
                content: "mine\n".into(),
            }],
        });
        model.check(&repo, clock.now(), StepKind::Quiet).unwrap();
        let app = "1".repeat(40);
        let message = format!(
            "Publish\n\nCfgupdate-Action: publish\nCfgupdate-Wave: staging\nCfgupdate-App-Commit: {app}"
        );
        repo.inner.person_pushes(&message, |tree| {
            tree.insert(
                cfgupdate_core::RepoPath::parse("docs/runbook.md").unwrap(),
                b"# Runbook\n".to_vec(),
            );
        });
        let error = model
            .check(&repo, clock.now(), StepKind::Publish)
            .unwrap_err();
        assert!(error.contains("writes docs/runbook.md"), "{error}");
    }

    #[test]
    fn a_commit_on_main_in_strict_mode_that_ci_never_passed() {
        let mut fixture = fixture();
        fixture.strict = true;
        let clock = Arc::new(sim_clock());
        let mut repo = Racing::with(fixture.clone(), clock.clone(), WriteOptions::default());
        let mut model = Model::new(fixture, &repo);
        model.strict = true;
        let images = ImageSet::from([(
            ServiceName::parse("api").unwrap(),
            ImageRef::parse(&reference("api", "new", '1')).unwrap(),
        )]);
        let announcement =
            Announcement::new(CommitId::parse(&"a".repeat(40)).unwrap(), images).unwrap();
        let Ok(PublishOutcome::Committed { commit, .. }) = publish(
            &mut repo.inner,
            &*clock,
            &announcement,
            &WriteOptions::default(),
        ) else {
            panic!("not committed");
        };
        model.created.insert(
            commit.clone(),
            Created {
                kind: StepKind::Publish,
                now: clock.now(),
                reports: 0,
                holds: Default::default(),
                approvals: Default::default(),
            },
        );
        // CI failed it; main is moved to it anyway, behind the engine's back.
        let main = repo.inner.remote_tip().clone();
        model.ci.push(CiResult {
            commit: commit.clone(),
            state: CheckState::Failure,
            main_before: main.clone(),
        });
        repo.inner.inner_mut().fast_forward(&main, &commit).unwrap();
        let error = model.check(&repo, clock.now(), StepKind::Ci).unwrap_err();
        assert!(error.contains("CI passed neither"), "{error}");
    }

    #[test]
    fn a_change_to_a_held_service() {
        let (mut repo, mut model, clock) = start();
        model.fixture.waves[2].hold = vec!["worker".into()];
        let root = repo.inner.remote_tip().clone();
        let mut set = model.set_at(&repo, &root, 2).unwrap();
        set.insert("worker".into(), reference("worker", "sneaky", '2'));
        let spec = model.fixture.waves[2].clone();
        rogue(
            &mut repo,
            &spec,
            &set,
            promotion("production", "internal", &root),
        );
        let error = model
            .check(&repo, clock.now(), StepKind::Advance)
            .unwrap_err();
        assert!(error.contains("held service `worker`"), "{error}");
    }
}
