//! What the simulation knows independently of the engine (the reports it sent, the people's
//! commits, the answers to its announcements) and the invariants it checks after every step
//! against the branch and the state the engine left.
//!
//! Nothing here predicts what the engine should decide; every check is a property that any
//! correct decision has.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cfgupdate_core::ConfigRepository;
use cfgupdate_core::promotion::{ApprovalRecord, PipelineState};
use cfgupdate_core::strict::CheckState;
use cfgupdate_core::trailers::{self, Record};
use cfgupdate_core::{CommitId, RepoPath, WaveName};

use super::fixture::{Fixture, Set, read_set};
use super::racing::Racing;

/// A deploy report the engine accepted.
#[derive(Debug, Clone)]
pub struct Report {
    /// The target's name.
    pub target: String,
    /// The revision reported.
    pub revision: CommitId,
    /// Whether it succeeded.
    pub succeeded: bool,
    /// When it was received, at the engine's precision (milliseconds).
    pub at: SystemTime,
}

/// Time at the precision the engine records.
pub fn millis(time: SystemTime) -> SystemTime {
    let since = time.duration_since(UNIX_EPOCH).unwrap();
    UNIX_EPOCH + Duration::from_millis(since.as_millis() as u64)
}

/// What the step that ran was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// An announcement.
    Publish,
    /// A deploy report.
    Report,
    /// `approve`.
    Approve,
    /// `advance`.
    Advance,
    /// `rollback` (a rollback commit may land only here).
    Rollback,
    /// `release` (a change of the state only).
    Release,
    /// Nothing the engine saw (time, a person's push, a delayed hook).
    Quiet,
    /// A CI result for a commit of the auto branch (strict mode): the only step in which an
    /// automatic commit reaches the main branch.
    Ci,
}

/// Strict mode: what an automatic commit seen on the auto branch was made under (a rebuild's
/// replay keeps its original's). Its checks run when it reaches the main branch, against
/// this: the step and time that made it, the reports and holds known then, the approvals the
/// state held then.
#[derive(Debug, Clone)]
pub struct Created {
    /// The step that made it.
    pub kind: StepKind,
    /// When.
    pub now: SystemTime,
    /// How many reports the engine had accepted.
    pub reports: usize,
    /// What rollbacks and people's edits held.
    pub holds: BTreeMap<usize, BTreeSet<String>>,
    /// The approvals in the state.
    pub approvals: BTreeMap<WaveName, Vec<ApprovalRecord>>,
}

/// Strict mode: a CI result the simulation sent.
#[derive(Debug, Clone)]
pub struct CiResult {
    /// The commit it is about.
    pub commit: CommitId,
    /// What CI said.
    pub state: CheckState,
    /// The main branch's tip when it was sent.
    pub main_before: CommitId,
}

/// How much happened, to show the simulation is not vacuous.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Sequences run.
    pub sequences: u64,
    /// Steps run.
    pub steps: u64,
    /// Publish commits.
    pub publishes: u64,
    /// Promotion commits, by the wave written.
    pub promotions: [u64; 3],
    /// Promotion commits into a soak wave.
    pub soaked: u64,
    /// Promotion commits an approval let through.
    pub approved: u64,
    /// Reports accepted.
    pub reports: u64,
    /// People's commits.
    pub people: u64,
    /// People's commits pushed in the middle of an operation.
    pub races: u64,
    /// Pushes the remote rejected.
    pub rejections: u64,
    /// Replays and repeats answered without a commit.
    pub repeats: u64,
    /// Announcements refused as stale.
    pub stale: u64,
    /// Announcements deferred by a freeze window of the first wave.
    pub deferred: u64,
    /// Publish commits of deferred announcements, once their window ended.
    pub deferred_published: u64,
    /// Promotions that waited at a freeze window.
    pub frozen_waits: u64,
    /// Rollback commits.
    pub rollbacks: u64,
    /// Services a person's edit pinned.
    pub pins: u64,
    /// Holds released.
    pub releases: u64,
    /// Services skipped, or announcements and promotions refused, because they were held.
    pub held_back: u64,
    /// Strict mode: green results that moved the main branch.
    pub ci_accepted: u64,
    /// Strict mode: changes CI failed (evicted).
    pub evicted: u64,
    /// Strict mode: changes a rebuild of the auto branch dropped.
    pub dropped: u64,
    /// Strict mode: changes a rebuild replayed onto a new main branch.
    pub replayed: u64,
    /// Strict mode: CI results about commits no longer waiting (changing nothing).
    pub stale_results: u64,
}

impl Stats {
    /// Adds another run's counts.
    pub fn add(&mut self, other: &Stats) {
        self.sequences += other.sequences;
        self.steps += other.steps;
        self.publishes += other.publishes;
        for i in 0..3 {
            self.promotions[i] += other.promotions[i];
        }
        self.soaked += other.soaked;
        self.approved += other.approved;
        self.reports += other.reports;
        self.people += other.people;
        self.races += other.races;
        self.rejections += other.rejections;
        self.repeats += other.repeats;
        self.stale += other.stale;
        self.deferred += other.deferred;
        self.deferred_published += other.deferred_published;
        self.frozen_waits += other.frozen_waits;
        self.rollbacks += other.rollbacks;
        self.pins += other.pins;
        self.releases += other.releases;
        self.held_back += other.held_back;
        self.ci_accepted += other.ci_accepted;
        self.evicted += other.evicted;
        self.dropped += other.dropped;
        self.replayed += other.replayed;
        self.stale_results += other.stale_results;
    }
}

/// Where a wave's targets stand: complete at one image set since a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The image set every target deployed.
    pub set: Set,
    /// The effective revision of each target.
    pub revisions: Vec<CommitId>,
    /// Since when the wave has been complete at this set without interruption.
    pub since: SystemTime,
}

/// The model kept alongside the engine.
pub struct Model {
    /// The pipeline.
    pub fixture: Fixture,
    /// Every report the engine accepted, in the order sent.
    pub reports: Vec<Report>,
    /// The branch as last checked, oldest first.
    chain: Vec<CommitId>,
    position: BTreeMap<CommitId, usize>,
    sets: RefCell<BTreeMap<(CommitId, usize), Set>>,
    /// What each file people own last held after a person's commit.
    pub people_files: BTreeMap<String, String>,
    last_source: [Option<CommitId>; 3],
    /// Publish commits per app commit.
    pub publish_commits: BTreeMap<CommitId, usize>,
    /// App commits whose publish answered "committed".
    pub committed_apps: BTreeSet<CommitId>,
    approvals: BTreeMap<WaveName, Vec<ApprovalRecord>>,
    /// The services a rollback or a person's edit holds, by wave: known from the steps the
    /// simulation took and the people's commits on the branch, not from the engine.
    pub holds: BTreeMap<usize, BTreeSet<String>>,
    /// Whether cfgupdate has written to the branch yet (people's edits pin from then on).
    managed: bool,
    /// The position on the branch from which cfgupdate manages it: where its first pipeline
    /// state was written (the branch commit that state looked at, or in strict mode the main
    /// branch commit the auto branch it looked at was built on). People's edits after it pin.
    managed_from: Option<usize>,
    /// While approvals are checked: the holds after the step's new commits.
    holds_after: Option<BTreeMap<usize, BTreeSet<String>>>,
    /// The positions of people's commits seen before cfgupdate managed the branch.
    unpinned: Vec<usize>,
    /// App commits whose publish left held services out: after a release, a replay of them
    /// may land once more (with what was left out).
    pub partial_apps: BTreeSet<CommitId>,
    /// The counts.
    pub stats: Stats,
    /// Whether the pipeline is in strict mode: automatic commits reach the branch (the main
    /// branch) only by a CI result, and are checked then against what they were made under.
    pub strict: bool,
    /// Strict mode: what each automatic commit seen on the auto branch was made under.
    pub created: BTreeMap<CommitId, Created>,
    /// Strict mode: the CI results sent, in order.
    pub ci: Vec<CiResult>,
    /// While a commit that waited on the auto branch is checked: what it was made under.
    as_of: Option<Created>,
    /// The person's commit that last pinned each service, by wave and service.
    pub pinned_by: BTreeMap<(usize, String), CommitId>,
}

impl Model {
    /// A model of the repository as it starts.
    pub fn new(fixture: Fixture, repo: &Racing) -> Self {
        let mut model = Self {
            fixture,
            reports: Vec::new(),
            chain: Vec::new(),
            position: BTreeMap::new(),
            sets: RefCell::new(BTreeMap::new()),
            people_files: BTreeMap::new(),
            last_source: [None, None, None],
            publish_commits: BTreeMap::new(),
            committed_apps: BTreeSet::new(),
            approvals: BTreeMap::new(),
            holds: BTreeMap::new(),
            managed: false,
            managed_from: None,
            holds_after: None,
            unpinned: Vec::new(),
            partial_apps: BTreeSet::new(),
            stats: Stats::default(),
            strict: false,
            created: BTreeMap::new(),
            ci: Vec::new(),
            as_of: None,
            pinned_by: BTreeMap::new(),
        };
        for path in super::fixture::PEOPLE_FILES {
            model
                .people_files
                .insert(path.to_owned(), repo.inner.remote_text(path).unwrap());
        }
        model.sync_chain(repo).unwrap();
        model
    }

    fn sync_chain(&mut self, repo: &Racing) -> Result<Vec<CommitId>, String> {
        let mut chain: Vec<CommitId> = repo
            .inner
            .remote_history()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        chain.reverse();
        if chain.len() < self.chain.len() || chain[..self.chain.len()] != self.chain[..] {
            return Err("the branch was rewritten: an earlier tip is no longer on it".into());
        }
        let new = chain[self.chain.len()..].to_vec();
        for id in &new {
            self.position.insert(id.clone(), self.position.len());
        }
        self.chain = chain;
        Ok(new)
    }

    /// Pins, in every wave, each service whose image the person's commit `id` changed from
    /// `parent`.
    fn pin_edits(&mut self, repo: &Racing, id: &CommitId, parent: &CommitId) -> Result<(), String> {
        for wave in 0..self.fixture.waves.len() {
            let before = self.set_at(repo, parent, wave)?;
            let after = self.set_at(repo, id, wave)?;
            let services: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
            for service in services {
                if before.get(service) != after.get(service) {
                    self.pinned_by.insert((wave, service.clone()), id.clone());
                    if self.holds.entry(wave).or_default().insert(service.clone()) {
                        self.stats.pins += 1;
                    }
                }
            }
        }
        Ok(())
    }

    /// Where cfgupdate began to manage the branch: the position of the newest branch commit
    /// that the commit its first state document looked at (`holds.tip`) holds.
    fn first_state_position(&self, repo: &Racing) -> Option<usize> {
        let first = repo.inner.inner().first_state()?;
        let document: serde_json::Value = serde_json::from_slice(&first.content).ok()?;
        let tip = CommitId::parse(document["holds"]["tip"].as_str()?).ok()?;
        self.chain
            .iter()
            .rposition(|id| repo.inner.inner().is_ancestor(id, &tip).unwrap_or(false))
    }

    /// The position of a commit on the branch (0 is the first commit).
    pub fn position(&self, id: &CommitId) -> Option<usize> {
        self.position.get(id).copied()
    }

    /// The branch, oldest first.
    pub fn chain(&self) -> &[CommitId] {
        &self.chain
    }

    /// `set` less what wave `wave` holds: its `hold` and what a rollback or a person's edit
    /// holds there.
    pub fn free(&self, wave: usize, set: &Set) -> Set {
        let held = self.holds_in_force().get(&wave);
        self.fixture.waves[wave]
            .unheld(set)
            .into_iter()
            .filter(|(service, _)| !held.is_some_and(|held| held.contains(service)))
            .collect()
    }

    /// The image set of wave `wave` at `revision`, read by the fixture's own readers.
    pub fn set_at(&self, repo: &Racing, revision: &CommitId, wave: usize) -> Result<Set, String> {
        let key = (revision.clone(), wave);
        if let Some(set) = self.sets.borrow().get(&key) {
            return Ok(set.clone());
        }
        let read = |path: &str| {
            repo.inner
                .read_file(revision, &RepoPath::parse(path).unwrap())
                .unwrap()
                .map(|bytes| String::from_utf8(bytes).unwrap())
        };
        let set = read_set(&self.fixture.waves[wave], read)
            .map_err(|e| format!("at {}: {e}", revision.short()))?;
        self.sets.borrow_mut().insert(key, set.clone());
        Ok(set)
    }

    /// A target's effective report among the first `upto` reports: its latest report for
    /// the newest revision it reported.
    fn effective(&self, target: &str, upto: usize) -> Option<&Report> {
        let mut current: Option<&Report> = None;
        for report in self.reports[..upto].iter().filter(|r| r.target == target) {
            current = match current {
                Some(seen) if self.position[&report.revision] < self.position[&seen.revision] => {
                    Some(seen)
                }
                _ => Some(report),
            };
        }
        current
    }

    /// The image set wave `wave` is complete at, considering the first `upto` reports.
    fn complete_at(
        &self,
        repo: &Racing,
        wave: usize,
        upto: usize,
    ) -> Result<Option<(Set, Vec<CommitId>)>, String> {
        let mut common: Option<Set> = None;
        let mut revisions = Vec::new();
        for target in &self.fixture.waves[wave].targets {
            let Some(report) = self.effective(target, upto) else {
                return Ok(None);
            };
            if !report.succeeded {
                return Ok(None);
            }
            let set = self.set_at(repo, &report.revision, wave)?;
            if common.as_ref().is_some_and(|seen| seen != &set) {
                return Ok(None);
            }
            common = Some(set);
            revisions.push(report.revision.clone());
        }
        Ok(common.map(|set| (set, revisions)))
    }

    /// The holds a commit is checked against: those of when it was made.
    fn holds_in_force(&self) -> &BTreeMap<usize, BTreeSet<String>> {
        self.as_of
            .as_ref()
            .map_or(&self.holds, |created| &created.holds)
    }

    /// Where wave `wave` stands after every report so far, and since when.
    pub fn completion(&self, repo: &Racing, wave: usize) -> Result<Option<Completion>, String> {
        self.completion_upto(repo, wave, self.reports.len())
    }

    /// Where wave `wave` stood after the first `all` reports, and since when.
    fn completion_upto(
        &self,
        repo: &Racing,
        wave: usize,
        all: usize,
    ) -> Result<Option<Completion>, String> {
        let Some((set, revisions)) = self.complete_at(repo, wave, all)? else {
            return Ok(None);
        };
        let mut first = all;
        while first > 0 {
            match self.complete_at(repo, wave, first - 1)? {
                Some((earlier, _)) if earlier == set => first -= 1,
                _ => break,
            }
        }
        // `first` reports made it complete: the last of them completed it.
        let since = self.reports[first - 1].at;
        Ok(Some(Completion {
            set,
            revisions,
            since,
        }))
    }

    /// The newest build number a publish commit before position `before` recorded for
    /// `service`.
    pub fn latest_build(&self, repo: &Racing, before: usize, service: &str) -> Option<u64> {
        self.chain[..before].iter().rev().find_map(|id| {
            let message = message_of(repo, id);
            let record = Record::parse(&message);
            if record.action.as_deref() != Some(trailers::PUBLISH) {
                return None;
            }
            record
                .builds
                .iter()
                .find(|(s, _)| s.as_str() == service)
                .map(|(_, build)| build.number)
        })?
    }

    /// The highest build number any publish commit recorded for `service` (in strict mode,
    /// also those seen on the auto branch: a build published there counts, whatever CI says).
    pub fn highest_build(&self, repo: &Racing, service: &str) -> Option<u64> {
        self.chain
            .iter()
            .chain(self.created.keys())
            .filter_map(|id| {
                let record = Record::parse(&message_of(repo, id));
                (record.action.as_deref() == Some(trailers::PUBLISH))
                    .then(|| {
                        record
                            .builds
                            .iter()
                            .find(|(s, _)| s.as_str() == service)
                            .and_then(|(_, b)| b.number)
                    })
                    .flatten()
            })
            .max()
    }

    /// Checks every invariant after a step of kind `kind` at time `now`; returns the commits
    /// the step added to the branch.
    pub fn check(
        &mut self,
        repo: &Racing,
        now: SystemTime,
        kind: StepKind,
    ) -> Result<Vec<CommitId>, String> {
        let new = self.sync_chain(repo)?;
        let holds_before = self.holds.clone();
        let people = repo.people();
        if self.managed_from.is_none() {
            self.managed_from = self.first_state_position(repo);
            // The first state looked at a commit before people's edits that landed before
            // it was written: they pin too.
            if let Some(from) = self.managed_from {
                for position in std::mem::take(&mut self.unpinned) {
                    if position > from {
                        let id = self.chain[position].clone();
                        let parent = self.chain[position - 1].clone();
                        self.pin_edits(repo, &id, &parent)?;
                    }
                }
            }
        }
        for id in &new {
            let position = self.position[id];
            let parent = self.chain[position - 1].clone();
            if people.contains(id) {
                self.stats.people += 1;
                // A person's change of a wave's image pins that service there.
                if self.managed || self.managed_from.is_some_and(|from| position > from) {
                    self.pin_edits(repo, id, &parent)?;
                } else {
                    self.unpinned.push(position);
                }
                for path in changed_paths(repo, &parent, id) {
                    if !self.fixture.owns(&path) {
                        let text = repo
                            .inner
                            .read_file(id, &RepoPath::parse(&path).unwrap())
                            .unwrap()
                            .map(|b| String::from_utf8(b).unwrap())
                            .unwrap_or_default();
                        self.people_files.insert(path, text);
                    }
                }
                continue;
            }
            let checked = if self.strict {
                self.check_landed(repo, &parent, id, kind)
            } else {
                self.check_automatic(repo, &parent, id, now, kind)
            };
            checked.map_err(|e| format!("automatic commit {} ({}): {e}", id.short(), position))?;
            self.managed = true;
        }
        // No person's change is lost.
        for person in &repo.people() {
            if self.position(person).is_none() {
                return Err(format!(
                    "the person's commit {} is not on the branch",
                    person.short()
                ));
            }
        }
        for (path, text) in &self.people_files {
            let now = repo.inner.remote_text(path).unwrap_or_default();
            if &now != text {
                return Err(format!(
                    "{path} lost a person's change: expected {text:?}, the tip has {now:?}"
                ));
            }
        }
        // Every announcement lands at most once, and every one answered "committed" once.
        for (app, count) in &self.publish_commits {
            if *count > 1 + usize::from(self.partial_apps.contains(app)) {
                return Err(format!(
                    "app commit {} was published {count} times",
                    app.short()
                ));
            }
        }
        for app in &self.committed_apps {
            // In strict mode a publish answered committed waits for CI, which may fail it.
            // One that left held services out (skipped, or dropped by a rebuild's replay) may
            // land once more, with them, once they are released.
            let count = self.publish_commits.get(app).copied().unwrap_or(0);
            let partial = self.partial_apps.contains(app);
            if count != 1 && !(self.strict && count == 0) && !(partial && count == 2) {
                return Err(format!(
                    "publish of app commit {} answered committed but the branch has {:?} publish commits for it",
                    app.short(),
                    self.publish_commits.get(app)
                ));
            }
        }
        // An approval is a write of the state alone (and in strict mode every write goes to
        // the auto branch and the state): a person's push to the branch during it does not
        // make it start over, so it is checked against the holds the engine could know of,
        // before the step's new commits or after them (a push that came before its fetch).
        self.holds_after = Some(self.holds.clone());
        {
            self.as_of = Some(Created {
                kind,
                now,
                reports: self.reports.len(),
                holds: holds_before,
                approvals: BTreeMap::new(),
            });
        }
        let approvals = self.check_approvals(repo, kind);
        self.as_of = None;
        self.holds_after = None;
        approvals?;
        Ok(new)
    }

    /// Strict mode: an automatic commit reached the main branch. Only a CI result moves it
    /// there, only to a commit CI passed (it, or one built on it, before CI failed any change
    /// they hold), and the commit was seen waiting on the auto branch: it is checked as when
    /// it was made.
    fn check_landed(
        &mut self,
        repo: &Racing,
        parent: &CommitId,
        id: &CommitId,
        kind: StepKind,
    ) -> Result<(), String> {
        if kind != StepKind::Ci {
            return Err(format!(
                "it reached the main branch in a {kind:?} step, not by a CI result"
            ));
        }
        let Some(created) = self.created.get(id).cloned() else {
            return Err("it reached the main branch without waiting on the auto branch".into());
        };
        self.passed_by_ci(repo, id)?;
        self.as_of = Some(created.clone());
        let checked = self.check_automatic(repo, parent, id, created.now, created.kind);
        self.as_of = None;
        checked
    }

    /// Whether CI passed `id`: a green result for it or a commit built on it, sent before any
    /// red result for a change that green commit holds (while that change waited).
    fn passed_by_ci(&self, repo: &Racing, id: &CommitId) -> Result<(), String> {
        let holds = |ancestor: &CommitId, descendant: &CommitId| {
            repo.inner
                .is_ancestor(ancestor, descendant)
                .unwrap_or(false)
        };
        for (at, green) in self.ci.iter().enumerate() {
            if green.state != CheckState::Success || !holds(id, &green.commit) {
                continue;
            }
            let failed_before = self.ci[..at].iter().any(|red| {
                red.state == CheckState::Failure
                    && holds(&red.commit, &green.commit)
                    && !holds(&red.commit, &red.main_before)
            });
            if !failed_before {
                return Ok(());
            }
        }
        Err(format!(
            "CI passed neither it nor a commit built on it (before failing a change they hold); the results sent: {:?}",
            self.ci
                .iter()
                .map(|r| format!("{} {}", r.commit.short(), r.state))
                .collect::<Vec<_>>()
        ))
    }

    fn check_automatic(
        &mut self,
        repo: &Racing,
        parent: &CommitId,
        id: &CommitId,
        now: SystemTime,
        kind: StepKind,
    ) -> Result<(), String> {
        let message = message_of(repo, id);
        let record = Record::parse(&message);
        let Some(action) = record.action.clone() else {
            return Err(format!(
                "neither a person's nor an automatic commit:\n{message}"
            ));
        };
        let Some(wave) = record
            .wave
            .as_ref()
            .and_then(|w| self.fixture.wave_index(w.as_str()))
        else {
            return Err(format!("it names no wave of the pipeline:\n{message}"));
        };
        // Nothing automatic writes into a frozen wave (the check allows for the few seconds a
        // retry's backoff moves the clock: the window held for the whole operation). A
        // rollback is not automatic: an admin asks for it, and a freeze is when it is needed.
        let spec = &self.fixture.waves[wave];
        if action != trailers::ROLLBACK
            && spec.frozen_at(now)
            && spec.frozen_at(now - std::time::Duration::from_secs(10))
        {
            return Err(format!(
                "it writes into `{}` during its freeze window:\n{message}",
                spec.name
            ));
        }
        // Automation writes only the image files of the wave it names, and committed YAML.
        let written = &self.fixture.waves[wave];
        for path in changed_paths(repo, parent, id) {
            let generated =
                self.fixture.render_output && path.starts_with(super::fixture::GENERATED);
            if !generated && !written.image_files().contains(&path) {
                return Err(format!(
                    "it writes {path}, which is not an image file of `{}`",
                    written.name
                ));
            }
        }
        // Held services are never changed by automation, in any wave.
        for (index, spec) in self.fixture.waves.iter().enumerate() {
            if spec.hold.is_empty() {
                continue;
            }
            let before = self.set_at(repo, parent, index)?;
            let after = self.set_at(repo, id, index)?;
            for held in &spec.hold {
                if before.get(held) != after.get(held) {
                    return Err(format!(
                        "held service `{held}` of `{}` changed from {:?} to {:?}",
                        spec.name,
                        before.get(held),
                        after.get(held)
                    ));
                }
            }
        }
        let images: Set = record
            .images
            .iter()
            .map(|(s, i)| (s.to_string(), i.as_str().to_owned()))
            .collect();
        // Nothing held or pinned is ever written automatically: a rollback writes only the
        // services it names (and then holds them).
        let rollback = action == trailers::ROLLBACK;
        for (index, held) in self.holds_in_force() {
            let before = self.set_at(repo, parent, *index)?;
            let after = self.set_at(repo, id, *index)?;
            for service in held {
                if rollback && *index == wave && images.contains_key(service) {
                    continue;
                }
                if before.get(service) != after.get(service) {
                    return Err(format!(
                        "`{service}`, held in `{}`, changed from {:?} to {:?}",
                        self.fixture.waves[*index].name,
                        before.get(service),
                        after.get(service)
                    ));
                }
            }
        }
        // The wave written changes in exactly the services the trailers name: a person's
        // edit of another service (even one pushed while cfgupdate worked) stays.
        let mut expected = self.set_at(repo, parent, wave)?;
        expected.extend(images.clone());
        let after = self.set_at(repo, id, wave)?;
        if after != expected {
            return Err(format!(
                "`{}` went from {:?} to {after:?}, but the trailers name only {images:?}",
                written.name,
                self.set_at(repo, parent, wave)?
            ));
        }
        if self.fixture.render_output {
            self.check_generated(repo, id, wave, &after)?;
        }
        match action.as_str() {
            trailers::PUBLISH => {
                // An announcement publishes; `advance` publishes what a freeze deferred.
                if wave != 0 || !matches!(kind, StepKind::Publish | StepKind::Advance) {
                    return Err(format!("a publish into wave {wave} in a {kind:?} step"));
                }
                if kind == StepKind::Advance {
                    self.stats.deferred_published += 1;
                }
                if record.app_commits.is_empty() {
                    return Err("a publish without a Cfgupdate-App-Commit trailer".into());
                }
                for app in &record.app_commits {
                    *self.publish_commits.entry(app.clone()).or_default() += 1;
                }
                let after = self.set_at(repo, id, 0)?;
                for (service, image) in &images {
                    if after.get(service) != Some(image) {
                        return Err(format!(
                            "its trailer says {service}={image} but the wave holds {:?}",
                            after.get(service)
                        ));
                    }
                }
                self.stats.publishes += 1;
                Ok(())
            }
            trailers::ROLLBACK => {
                if kind != StepKind::Rollback {
                    return Err(format!("a rollback in a {kind:?} step"));
                }
                // Exactly what the wave held at the revision rolled back to.
                let Some(to) = record.source_revision.as_ref() else {
                    return Err("a rollback without Cfgupdate-Source-Revision".into());
                };
                if self
                    .position(to)
                    .is_none_or(|at| at > self.position[parent])
                {
                    return Err(format!(
                        "it rolls back to {}, not an earlier commit",
                        to.short()
                    ));
                }
                let then = self.set_at(repo, to, wave)?;
                for (service, image) in &images {
                    if then.get(service) != Some(image) {
                        return Err(format!(
                            "it writes {service}={image}, but `{}` held {:?} at {}",
                            written.name,
                            then.get(service),
                            to.short()
                        ));
                    }
                }
                self.stats.rollbacks += 1;
                Ok(())
            }
            trailers::PROMOTE | trailers::APPROVE => {
                if action == trailers::APPROVE && kind != StepKind::Approve {
                    return Err(format!("an approval promotion in a {kind:?} step"));
                }
                if !matches!(
                    kind,
                    StepKind::Report | StepKind::Approve | StepKind::Advance
                ) {
                    return Err(format!("a promotion in a {kind:?} step"));
                }
                self.check_promotion(repo, parent, id, wave, &record, images, now)
            }
            other => Err(format!("unexpected action `{other}`")),
        }
    }

    /// The committed YAML of every target of the wave written shows the wave's images.
    fn check_generated(
        &self,
        repo: &Racing,
        id: &CommitId,
        wave: usize,
        set: &Set,
    ) -> Result<(), String> {
        for target in &self.fixture.waves[wave].targets {
            let dir = format!("{}{target}", super::fixture::GENERATED);
            let mut yaml = String::new();
            for path in repo.inner.list_files(id, &dir).unwrap() {
                let bytes = repo.inner.read_file(id, &path).unwrap().unwrap();
                yaml.push_str(&String::from_utf8(bytes).unwrap());
            }
            for image in set.values() {
                if !yaml.contains(&format!("image: {image}\n")) {
                    return Err(format!(
                        "the committed YAML of {target} does not show {image}:\n{yaml}"
                    ));
                }
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn check_promotion(
        &mut self,
        repo: &Racing,
        parent: &CommitId,
        id: &CommitId,
        into: usize,
        record: &Record,
        images: Set,
        now: SystemTime,
    ) -> Result<(), String> {
        if into == 0 {
            return Err("a promotion into the first wave".into());
        }
        let source = into - 1;
        let spec = self.fixture.waves[into].clone();
        if record.source_wave.as_ref().map(WaveName::as_str)
            != Some(self.fixture.waves[source].name.as_str())
        {
            return Err(format!("its source wave is {:?}", record.source_wave));
        }
        let Some(revision) = record.source_revision.clone() else {
            return Err("no Cfgupdate-Source-Revision".into());
        };
        let Some(at) = self.position(&revision) else {
            return Err(format!(
                "source revision {} is not on the branch",
                revision.short()
            ));
        };
        if at > self.position[parent] {
            return Err("its source revision is not an ancestor of its parent".into());
        }
        // Never backwards.
        if let Some(last) = &self.last_source[into]
            && self.position[last] > at
        {
            return Err(format!(
                "`{}` moved backwards: source {} is older than {}, the source of the previous promotion",
                spec.name,
                revision.short(),
                last.short()
            ));
        }
        self.last_source[into] = Some(revision.clone());
        // Exactly the images the source wave held at the source revision, less held ones.
        let at_source = self.free(into, &self.set_at(repo, &revision, source)?);
        if images != at_source {
            return Err(format!(
                "it promotes {images:?}, but `{}` held {at_source:?} at {}",
                self.fixture.waves[source].name,
                revision.short()
            ));
        }
        let written = self.free(into, &self.set_at(repo, id, into)?);
        if written != images {
            return Err(format!(
                "the wave holds {written:?} after promoting {images:?}"
            ));
        }
        // Only what every target of the source wave deployed (when it was made).
        let reports = self
            .as_of
            .as_ref()
            .map_or(self.reports.len(), |created| created.reports);
        let Some(completion) = self.completion_upto(repo, source, reports)? else {
            return Err(format!(
                "not every target of `{}` has a successful effective report",
                self.fixture.waves[source].name
            ));
        };
        if self.free(into, &completion.set) != images {
            return Err(format!(
                "the targets of `{}` deployed {:?}, not the promoted {images:?}",
                self.fixture.waves[source].name, completion.set
            ));
        }
        if !completion.revisions.contains(&revision) {
            return Err(format!(
                "source revision {} is none of the reported revisions {:?}",
                revision.short(),
                completion.revisions
            ));
        }
        // Gates.
        if let Some(soak) = spec.soak {
            if completion.since + soak > now {
                return Err(format!(
                    "promoted into soak wave `{}` {:?} after completion, before its soak of {soak:?}",
                    spec.name,
                    now.duration_since(completion.since).unwrap_or_default()
                ));
            }
            self.stats.soaked += 1;
        }
        if spec.approval {
            let approvals = match &self.as_of {
                Some(created) => created.approvals.clone(),
                None => load_state(repo)?.approvals,
            };
            let approved = approvals
                .get(&WaveName::parse(&spec.name).unwrap())
                .is_some_and(|list| {
                    list.iter().any(|a| {
                        let approved: Set = a
                            .images
                            .iter()
                            .map(|(s, i)| (s.to_string(), i.as_str().to_owned()))
                            .collect();
                        // In strict mode a rebuild's replay leaves out what a person set since.
                        approved == images || (self.strict && self.free(into, &approved) == images)
                    })
                });
            if !approved {
                return Err(format!(
                    "promoted {images:?} into approval wave `{}` without an approval of them",
                    spec.name
                ));
            }
            self.stats.approved += 1;
        }
        self.stats.promotions[into] += 1;
        Ok(())
    }

    /// New approvals appear only when approved, and only for what the source wave deployed.
    fn check_approvals(&mut self, repo: &Racing, kind: StepKind) -> Result<(), String> {
        let state = load_state(repo)?;
        for (wave, list) in &state.approvals {
            let known = self.approvals.get(wave).cloned().unwrap_or_default();
            for approval in list.iter().filter(|a| !known.contains(a)) {
                if kind != StepKind::Approve {
                    return Err(format!(
                        "an approval into `{wave}` appeared in a {kind:?} step"
                    ));
                }
                let into = self.fixture.wave_index(wave.as_str()).unwrap();
                let approved: Set = approval
                    .images
                    .iter()
                    .map(|(s, i)| (s.to_string(), i.as_str().to_owned()))
                    .collect();
                let completion = self.completion(repo, into - 1)?;
                let deployed = completion.as_ref().map(|c| self.free(into, &c.set));
                // The same with the holds the step's new commits placed.
                let after = match (&completion, &self.holds_after) {
                    (Some(c), Some(holds)) => {
                        let held = holds.get(&into);
                        Some(
                            self.fixture.waves[into]
                                .unheld(&c.set)
                                .into_iter()
                                .filter(|(s, _)| !held.is_some_and(|h| h.contains(s)))
                                .collect::<Set>(),
                        )
                    }
                    _ => None,
                };
                if deployed.as_ref() != Some(&approved) && after.as_ref() != Some(&approved) {
                    return Err(format!(
                        "approved {approved:?} into `{wave}`, but the wave before it deployed {deployed:?}"
                    ));
                }
            }
        }
        self.approvals = state.approvals;
        Ok(())
    }
}

/// The pipeline state the engine last pushed.
pub fn load_state(repo: &Racing) -> Result<PipelineState, String> {
    let version = repo.inner.state().map_err(|e| e.to_string())?;
    PipelineState::parse(version.as_ref().map(|v| v.content.as_slice())).map_err(|e| e.to_string())
}

/// The state ref's commit.
pub fn state_commit(repo: &Racing) -> Option<CommitId> {
    repo.inner.state().unwrap().map(|v| v.commit)
}

/// A commit's message.
pub fn message_of(repo: &Racing, id: &CommitId) -> String {
    repo.inner.log(id, 1).unwrap().remove(0).message
}

/// The paths a commit changes relative to `parent`.
pub fn changed_paths(repo: &Racing, parent: &CommitId, id: &CommitId) -> Vec<String> {
    let files = |rev: &CommitId| -> BTreeMap<String, Vec<u8>> {
        repo.inner
            .list_files(rev, "")
            .unwrap()
            .into_iter()
            .map(|p| {
                let bytes = repo.inner.read_file(rev, &p).unwrap().unwrap();
                (p.as_str().to_owned(), bytes)
            })
            .collect()
    };
    let before = files(parent);
    let after = files(id);
    let mut paths: BTreeSet<String> = BTreeSet::new();
    for (path, bytes) in &after {
        if before.get(path) != Some(bytes) {
            paths.insert(path.clone());
        }
    }
    for path in before.keys() {
        if !after.contains_key(path) {
            paths.insert(path.clone());
        }
    }
    paths.into_iter().collect()
}
