//! Holds: services that automation (publish, promote, approve, advance) must not write in a
//! wave until `cfgupdate release` lifts them (docs/promotion.md#rollback-and-release,
//! docs/promotion.md#peoples-edits).
//!
//! Two things hold a service, both kept in the state document (authenticated like the rest of
//! it):
//! - a **rollback** (`cfgupdate rollback`), which writes into a wave the images it held at an
//!   earlier revision and holds those services there, so the next promotion does not undo it;
//! - a **person's edit**: a commit cfgupdate did not write (no sealed trailers; without a state
//!   key, no `Cfgupdate-Action` trailer) that changes a wave's image for a service *pins* it.
//!   Edits are found the way publishing's record is kept: caught up from the commits since the
//!   state last looked ([`Holds::tip`]), so the cost follows new commits. Edits count from the
//!   first commit cfgupdate wrote on ([`Holds::managed`]): the commits that set a pipeline up
//!   pin nothing.
//!
//! Everything here decides; the adapters only translate what it returns.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::PromotionError;
use super::decide::Reader;
use super::history::{AutomaticHistory, HISTORY_DEPTH};
use super::ops::check_on_branch;
use super::state::{self, CatchUp, millis};
use crate::clock::Clock;
use crate::intent::WriteOptions;
use crate::key::StateKey;
use crate::names::{CommitId, Known, ServiceName, WaveName};
use crate::repository::{
    Change, CommitInfo, CommitMessage, ConfigRepository, PairOutcome, PushOutcome, RepositoryError,
    RepositoryErrorKind,
};
use crate::shown::shown;
use crate::slots::ImageSet;
use crate::slots::wave::read_wave;
use crate::snapshot::Snapshot;
use crate::trailers::{self, Action, Record};
use crate::wave_write::{WaveWriteError, write_into_wave};

/// Why automation leaves a service alone in a wave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Hold {
    /// `cfgupdate rollback` wrote what the wave held at `to_revision`.
    Rollback {
        /// The revision rolled back to.
        to_revision: CommitId,
        /// When, milliseconds since the Unix epoch.
        at: u64,
    },
    /// A person's commit changed the service's image in the wave.
    Edit {
        /// The commit.
        commit: CommitId,
        /// Its author, `Name <email>`.
        author: String,
        /// Its commit time, seconds since the Unix epoch.
        time: i64,
    },
}

impl Hold {
    /// `rollback` or `edit`, as status answers spell it.
    pub fn kind(&self) -> &'static str {
        match self {
            Hold::Rollback { .. } => "rollback",
            Hold::Edit { .. } => "edit",
        }
    }

    /// When it was placed: the rollback's time, or the edit's commit time.
    pub fn since(&self) -> SystemTime {
        match self {
            Hold::Rollback { at, .. } => UNIX_EPOCH + Duration::from_millis(*at),
            Hold::Edit { time, .. } => {
                UNIX_EPOCH + Duration::from_secs(u64::try_from(*time).unwrap_or_default())
            }
        }
    }

    /// A few words saying what holds the service: "rolled back to 1a2b3c4" or "pinned by
    /// commit 1a2b3c4 of Alice <alice@example.com>".
    pub fn describe(&self) -> String {
        match self {
            Hold::Rollback { to_revision, .. } => {
                format!("rolled back to {}", to_revision.short())
            }
            Hold::Edit { commit, author, .. } => {
                format!("pinned by commit {} of {}", commit.short(), shown(author))
            }
        }
    }
}

/// The holds of every wave, as the state document keeps them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Holds {
    /// The branch commit up to which people's edits were looked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tip: Option<CommitId>,
    /// Whether a commit cfgupdate wrote was seen up to `tip`: people's edits pin from then on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub managed: bool,
    /// By wave, by service.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub waves: BTreeMap<WaveName, BTreeMap<ServiceName, Hold>>,
}

impl Holds {
    /// Whether there is nothing to keep (the state document then leaves it out).
    pub fn is_empty(&self) -> bool {
        self.tip.is_none() && !self.managed && self.waves.is_empty()
    }

    /// What holds `service` in `wave`, if anything.
    pub fn get(&self, wave: &WaveName, service: &ServiceName) -> Option<&Hold> {
        self.waves.get(wave)?.get(service)
    }

    /// Every hold in `wave`, by service.
    pub fn in_wave(&self, wave: &WaveName) -> impl Iterator<Item = (&ServiceName, &Hold)> {
        self.waves.get(wave).into_iter().flatten()
    }

    /// Holds `service` in `wave` for `hold`: returns whether anything changed (a rollback to
    /// the same revision again changes nothing).
    pub(crate) fn place(&mut self, wave: &WaveName, service: &ServiceName, hold: Hold) -> bool {
        let held = self.waves.entry(wave.clone()).or_default();
        let same = match (held.get(service), &hold) {
            (
                Some(Hold::Rollback { to_revision: a, .. }),
                Hold::Rollback { to_revision: b, .. },
            ) => a == b,
            (Some(existing), _) => existing == &hold,
            (None, _) => false,
        };
        if same {
            return false;
        }
        held.insert(service.clone(), hold);
        true
    }

    /// Lifts the holds of `services` in `wave` (every hold there when `services` is empty):
    /// returns what was lifted.
    pub(crate) fn lift(
        &mut self,
        wave: &WaveName,
        services: &[ServiceName],
    ) -> Vec<(ServiceName, Hold)> {
        let Some(held) = self.waves.get_mut(wave) else {
            return Vec::new();
        };
        let lifted: Vec<(ServiceName, Hold)> = if services.is_empty() {
            std::mem::take(held).into_iter().collect()
        } else {
            services
                .iter()
                .filter_map(|service| Some((service.clone(), held.remove(service)?)))
                .collect()
        };
        if held.is_empty() {
            self.waves.remove(wave);
        }
        lifted
    }

    /// Splits `images` to be written into `wave` into what may be written and what is held
    /// (with its hold).
    pub(crate) fn split(
        &self,
        wave: &WaveName,
        images: &ImageSet,
    ) -> (ImageSet, Vec<(ServiceName, Hold)>) {
        let mut free = ImageSet::new();
        let mut held = Vec::new();
        for (service, image) in images {
            match self.get(wave, service) {
                Some(hold) => held.push((service.clone(), hold.clone())),
                None => {
                    free.insert(service.clone(), image.clone());
                }
            }
        }
        (free, held)
    }
}

/// Services held or pinned in a wave, as a refusal names them: "api (rolled back to 1a2b3c4),
/// web (pinned by commit 5d6e7f8 of Alice <alice@example.com>)".
pub(crate) fn held_phrase(held: &[(ServiceName, Hold)]) -> String {
    held.iter()
        .map(|(service, hold)| format!("`{service}` ({})", hold.describe()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What was asked for is held or pinned in its wave, all of it: nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "every service asked for is held in wave `{wave}`: {}; nothing was written (`cfgupdate release --wave {wave}` lets automation write them again)",
    held_phrase(.held)
)]
pub struct HeldBack {
    /// The wave.
    pub wave: WaveName,
    /// The services held, with what holds them.
    pub held: Vec<(ServiceName, Hold)>,
}

/// Why a rollback or a release was refused. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoldError {
    /// Reading or writing failed, or the wave or revision is unknown.
    #[error(transparent)]
    Promotion(#[from] PromotionError),
    /// The service is not in the wave at the revision rolled back to.
    #[error(
        "unknown service `{}`: wave `{wave}` held no such service at revision {}; {known}",
        shown(.service),
        .revision.short()
    )]
    UnknownService {
        /// The name given.
        service: String,
        /// The wave.
        wave: WaveName,
        /// The revision rolled back to.
        revision: CommitId,
        /// The services the wave held there.
        known: Box<Known>,
    },
    /// The pipeline file holds the service in the wave (`hold`): nothing but a person changes
    /// it there, a rollback included.
    #[error(
        "service `{service}` is on hold in wave `{wave}` (`hold` in cfgupdate.toml): cfgupdate never changes it there, a rollback included; nothing was changed"
    )]
    ConfigHeld {
        /// The service.
        service: ServiceName,
        /// The wave.
        wave: WaveName,
    },
    /// Nothing holds the service in the wave.
    #[error(
        "service `{}` is not held in wave `{wave}`: {}",
        shown(.service),
        held_list(.held)
    )]
    NotHeld {
        /// The name given.
        service: String,
        /// The wave.
        wave: WaveName,
        /// The services that are held there.
        held: Vec<ServiceName>,
    },
    /// Nothing is held in the wave at all.
    #[error(
        "nothing is held in wave `{wave}`: no rollback and no person's edit holds a service there, so there is nothing to release"
    )]
    NothingHeld {
        /// The wave.
        wave: WaveName,
    },
}

impl From<RepositoryError> for HoldError {
    fn from(error: RepositoryError) -> Self {
        HoldError::Promotion(error.into())
    }
}

fn held_list(held: &[ServiceName]) -> String {
    if held.is_empty() {
        return "nothing is held there".to_owned();
    }
    let names: Vec<&str> = held.iter().map(ServiceName::as_str).collect();
    format!("the services held there are {}", names.join(", "))
}

/// A rollback asked for: the images `wave` held at `to_revision` written back into it, for
/// `services` (every service it held there when empty), and those services held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackRequest {
    /// The wave rolled back.
    pub wave: WaveName,
    /// The earlier revision of the branch whose images are written.
    pub to_revision: CommitId,
    /// The services (all of the wave's at that revision when empty).
    pub services: Vec<ServiceName>,
}

/// What a rollback did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackOutcome {
    /// One commit wrote the images back; the services are held.
    RolledBack {
        /// The rollback commit.
        commit: CommitId,
        /// The wave.
        wave: WaveName,
        /// The services now held.
        held: Vec<ServiceName>,
    },
    /// The wave already holds those images: no commit; the services are held.
    Unchanged {
        /// The wave.
        wave: WaveName,
        /// The services now held.
        held: Vec<ServiceName>,
    },
}

impl RollbackOutcome {
    /// The commit this outcome landed on the branch and what it did, if it landed one.
    pub fn landed(&self) -> Option<(&CommitId, Action)> {
        match self {
            RollbackOutcome::RolledBack { commit, .. } => Some((commit, Action::Rollback)),
            RollbackOutcome::Unchanged { .. } => None,
        }
    }
}

/// What a release did: the holds lifted in the wave (a change of the state only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseOutcome {
    /// The wave.
    pub wave: WaveName,
    /// The services released, with what held them.
    pub released: Vec<(ServiceName, Hold)>,
}

/// Writes into a wave the images it held at an earlier revision (all of its services, or the
/// ones named) as one commit with `Cfgupdate-Action: rollback`, and holds those services in
/// the wave (in the state, pushed before or with the commit, so that no promotion undoes it
/// in between). A service the wave already holds at that image is held without a commit.
///
/// Services the pipeline file holds in the wave (`hold`) are left out; naming one is refused.
///
/// Refused, with nothing changed: an unknown wave, a revision that is not on the branch or
/// where the wave does not exist, a service the wave did not hold there.
pub fn rollback(
    repo: &mut dyn ConfigRepository,
    clock: &dyn Clock,
    request: &RollbackRequest,
    options: &WriteOptions,
) -> Result<RollbackOutcome, HoldError> {
    let key = options.key.as_ref();
    let mut tip = repo.refresh()?;
    let mut rejected = 0;
    loop {
        let (images, change) = plan_rollback(repo, request, options, &tip)?;
        let at = millis(clock.now());
        let held: Vec<ServiceName> = images.keys().cloned().collect();
        let mut hold_all = |state: &mut state::PipelineState| {
            let mut changed = false;
            for service in &held {
                changed |= state.holds.place(
                    &request.wave,
                    service,
                    Hold::Rollback {
                        to_revision: request.to_revision.clone(),
                        at,
                    },
                );
            }
            changed
        };
        let message = format!(
            "Hold {} in {} after a rollback to {}",
            held.len(),
            request.wave,
            request.to_revision.short()
        );
        let (_, prepared) =
            state::prepare(repo, clock, key, &tip, CatchUp::Along(&tip), &mut hold_all)?;
        let landed = match (change, prepared) {
            (None, None) => None,
            (None, Some(_)) => {
                state::update(
                    repo,
                    clock,
                    &options.retry,
                    key,
                    &tip,
                    &message,
                    CatchUp::Along(&tip),
                    hold_all,
                )?;
                None
            }
            (Some(mut change), prepared) => {
                crate::intent::seal(repo, key, &tip, &mut change);
                let pushed = match prepared {
                    None => match repo.commit_and_push(&tip, &change)? {
                        PushOutcome::Pushed(commit) => Some(commit),
                        PushOutcome::Rejected => None,
                    },
                    Some(prepared) => match repo.push_with_state(
                        &tip,
                        &change,
                        prepared.parent.as_ref(),
                        &prepared.content,
                        &message,
                    )? {
                        PairOutcome::Pushed { commit, state } => {
                            state::landed(repo, key, &state);
                            Some(commit)
                        }
                        // The holds are in place; the rollback is planned again on the new tip.
                        PairOutcome::StateOnly(state) => {
                            state::landed(repo, key, &state);
                            None
                        }
                        PairOutcome::BranchOnly(commit) => {
                            repo.refresh()?;
                            state::update(
                                repo,
                                clock,
                                &options.retry,
                                key,
                                &commit,
                                &message,
                                CatchUp::Along(&commit),
                                hold_all,
                            )?;
                            Some(commit)
                        }
                        PairOutcome::Rejected => None,
                    },
                };
                match pushed {
                    Some(commit) => Some(commit),
                    None => {
                        rejected += 1;
                        if rejected >= options.retry.attempts {
                            return Err(PromotionError::Contended { attempts: rejected }.into());
                        }
                        clock.sleep(options.retry.delay(rejected, clock.now()));
                        tip = repo.refresh()?;
                        continue;
                    }
                }
            }
        };
        let wave = request.wave.clone();
        return Ok(match landed {
            Some(commit) => RollbackOutcome::RolledBack { commit, wave, held },
            None => RollbackOutcome::Unchanged { wave, held },
        });
    }
}

/// The images a rollback writes, and its commit (`None` when the wave holds them already).
fn plan_rollback(
    repo: &dyn ConfigRepository,
    request: &RollbackRequest,
    options: &WriteOptions,
    tip: &CommitId,
) -> Result<(ImageSet, Option<Change>), HoldError> {
    let snapshot = Snapshot::at(repo, tip).map_err(PromotionError::from)?;
    let pipeline = snapshot.pipeline();
    let wave_name = &request.wave;
    let Some(wave) = pipeline.wave(wave_name) else {
        return Err(PromotionError::UnknownWave {
            wave: wave_name.to_string(),
            known: pipeline.known_waves(wave_name.as_str()),
        }
        .into());
    };
    check_on_branch(repo, &request.to_revision, tip)?;
    let mut reader = Reader::new(repo);
    let Some(then) = reader.wave_set(wave_name, &request.to_revision)? else {
        return Err(PromotionError::WaveMissingAt {
            wave: wave_name.clone(),
            revision: request.to_revision.clone(),
        }
        .into());
    };
    let images: ImageSet = if request.services.is_empty() {
        then.iter()
            .filter(|(service, _)| !wave.hold.contains(service))
            .map(|(service, image)| (service.clone(), image.clone()))
            .collect()
    } else {
        let mut images = ImageSet::new();
        for service in &request.services {
            if wave.hold.contains(service) {
                return Err(HoldError::ConfigHeld {
                    service: service.clone(),
                    wave: wave_name.clone(),
                });
            }
            let Some(image) = then.get(service) else {
                return Err(HoldError::UnknownService {
                    service: service.to_string(),
                    wave: wave_name.clone(),
                    revision: request.to_revision.clone(),
                    known: Box::new(Known::new("services", service.as_str(), then.keys())),
                });
            };
            images.insert(service.clone(), image.clone());
        }
        images
    };
    let files = snapshot.wave_files(wave).map_err(PromotionError::from)?;
    let before = read_wave(&wave.images, &files).unwrap_or_default();
    let write = write_into_wave(repo, tip, wave, &files, before, &images, &options.render)
        .map_err(|error| match error {
            WaveWriteError::Slots(source) => PromotionError::Slots {
                wave: wave_name.clone(),
                source: Box::new(source),
            },
            WaveWriteError::Render(source) => PromotionError::Render {
                wave: wave_name.clone(),
                source: Box::new(source),
            },
        })?;
    let Some(mut write) = write else {
        return Ok((images, None));
    };
    let apps = AutomaticHistory::read(repo, tip, options.key.as_ref())
        .map_err(PromotionError::from)?
        .app_commits();
    let subject = format!(
        "Roll back {} in {} to what it held at {}",
        write.services_phrase(&images),
        wave_name,
        request.to_revision.short()
    );
    let note = format!(
        "Held in {wave_name} until `cfgupdate release --wave {wave_name}`: {}.",
        images
            .keys()
            .map(ServiceName::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let body = write.body(&images, &[note]);
    let mut trailers = vec![
        (
            trailers::ACTION.to_owned(),
            Action::Rollback.as_str().to_owned(),
        ),
        (trailers::WAVE.to_owned(), wave_name.to_string()),
    ];
    let app_commits: std::collections::BTreeSet<&CommitId> = images
        .values()
        .filter_map(|image| apps.get(image))
        .collect();
    for app in app_commits {
        trailers.push((trailers::APP_COMMIT.to_owned(), app.to_string()));
    }
    trailers.push((
        trailers::SOURCE_REVISION.to_owned(),
        request.to_revision.to_string(),
    ));
    for (service, image) in &images {
        trailers.push((
            trailers::IMAGE.to_owned(),
            trailers::image_value(service, image, apps.get(image)),
        ));
    }
    write.change.message = CommitMessage {
        subject,
        body,
        trailers,
    };
    Ok((images, Some(write.change)))
}

/// Lifts the holds of `services` in `wave` (every hold there when empty), placed by a
/// rollback or a person's edit: automation writes those services again from the next publish
/// or promotion on. A change of the state only: nothing is written to the branch.
///
/// Refused, with nothing changed: an unknown wave, a wave where nothing is held, a service
/// named that is not held there.
pub fn release(
    repo: &mut dyn ConfigRepository,
    clock: &dyn Clock,
    wave: &WaveName,
    services: &[ServiceName],
    options: &WriteOptions,
) -> Result<ReleaseOutcome, HoldError> {
    let key = options.key.as_ref();
    let tip = repo.refresh()?;
    let pipeline = Snapshot::at(repo, &tip)
        .map_err(PromotionError::from)?
        .pipeline()
        .clone();
    if pipeline.wave(wave).is_none() {
        return Err(PromotionError::UnknownWave {
            wave: wave.to_string(),
            known: pipeline.known_waves(wave.as_str()),
        }
        .into());
    }
    let current = state::load(repo, key, &tip)?;
    let held: Vec<ServiceName> = current
        .holds
        .in_wave(wave)
        .map(|(s, _)| s.clone())
        .collect();
    if held.is_empty() {
        return Err(HoldError::NothingHeld { wave: wave.clone() });
    }
    if let Some(service) = services.iter().find(|s| !held.contains(s)) {
        return Err(HoldError::NotHeld {
            service: service.to_string(),
            wave: wave.clone(),
            held,
        });
    }
    let released = RefCell::new(Vec::new());
    let message = format!("Release holds in {wave}");
    state::update(
        repo,
        clock,
        &options.retry,
        key,
        &tip,
        &message,
        CatchUp::Along(&tip),
        |state| {
            let lifted = state.holds.lift(wave, services);
            let changed = !lifted.is_empty();
            *released.borrow_mut() = lifted;
            changed
        },
    )?;
    Ok(ReleaseOutcome {
        wave: wave.clone(),
        released: released.into_inner(),
    })
}

/// Whether cfgupdate wrote `commit`: it carries cfgupdate's trailers, sealed with `key` when
/// there is one.
fn written_by_cfgupdate(commit: &CommitInfo, key: Option<&StateKey>) -> bool {
    Record::parse(&commit.message).is_automatic() && trailers::is_trusted(commit, key)
}

/// `base` brought up to `tip`: every person's edit of a wave's image among the commits since
/// `base.tip` pins that service there (the newest edit names it). Before any commit
/// cfgupdate wrote, nothing pins: the first look (and a look after the branch was rewritten
/// where the commit looked at last is unknown) reads the newest [`HISTORY_DEPTH`] commits and
/// counts edits after the first commit of cfgupdate's among them. A look whose last tip left
/// the branch (strict mode's auto branch, rebuilt) goes on from where the two histories part.
pub(crate) fn catch_up(
    repo: &dyn ConfigRepository,
    key: Option<&StateKey>,
    tip: &CommitId,
    base: &Holds,
) -> Result<Holds, RepositoryError> {
    if base.tip.as_ref() == Some(tip) {
        return Ok(base.clone());
    }
    let ancestry =
        |ancestor: &CommitId, descendant: &CommitId| match repo.is_ancestor(ancestor, descendant) {
            Ok(yes) => Ok(yes),
            Err(RepositoryError {
                kind: RepositoryErrorKind::NotFound,
                ..
            }) => Ok(false),
            Err(error) => Err(error),
        };
    // Looked at from a newer fetch already (another process): it stays as it is.
    if let Some(since) = &base.tip
        && ancestry(tip, since)?
    {
        return Ok(base.clone());
    }
    let on_branch = match &base.tip {
        Some(since) => ancestry(since, tip)?,
        None => false,
    };
    // The commit looked from: the last look's tip, or, when that left the branch (strict
    // mode's auto branch is rebuilt whenever the main branch moves or a change is evicted),
    // where the two histories part. Reading the newest commits instead would find again the
    // edits seen before, and pin again a service someone released since.
    let from = match &base.tip {
        Some(since) if on_branch => Some(since.clone()),
        Some(since) => fork_point(repo, tip, since, &ancestry)?,
        None => None,
    };
    let commits = since(repo, tip, from.as_ref())?;
    let mut holds = base.clone();
    // Edits count once cfgupdate manages the branch: from the state's first write on (the
    // last look says so), or, on a first look, from the first commit of cfgupdate's in the
    // branch's history. Across a fork (strict mode's auto branch, rebuilt) as along the
    // branch: an edit made since is a person's edit whether or not a commit of cfgupdate's
    // reached the main branch before it (in strict mode, one does only once CI passed it).
    let mut active = match &from {
        Some(_) => base.managed,
        None => false,
    };
    let mut reader = Reader::new(repo);
    for commit in commits.iter().rev() {
        if written_by_cfgupdate(commit, key) {
            active = true;
            continue;
        }
        if !active {
            continue;
        }
        for (wave, service) in edited(repo, &mut reader, commit) {
            holds.place(
                &wave,
                &service,
                Hold::Edit {
                    commit: commit.id.clone(),
                    author: commit.author.clone(),
                    time: commit.time,
                },
            );
        }
    }
    holds.tip = Some(tip.clone());
    holds.managed = active;
    Ok(holds)
}

/// The newest commit of `tip`'s history (within [`HISTORY_DEPTH`]) that `anchor`'s history
/// holds too: where a look at `anchor` and one at `tip` part. `None` when there is none, or
/// the repository does not know `anchor` (another process's fetch saw it): then nothing can
/// be said of what was looked at.
fn fork_point(
    repo: &dyn ConfigRepository,
    tip: &CommitId,
    anchor: &CommitId,
    ancestry: &dyn Fn(&CommitId, &CommitId) -> Result<bool, RepositoryError>,
) -> Result<Option<CommitId>, RepositoryError> {
    if !ancestry(anchor, anchor)? {
        return Ok(None);
    }
    let mut limit = state::CATCH_UP_EVERY;
    let mut checked = 0;
    loop {
        let log = repo.log(tip, limit)?;
        for commit in &log[checked.min(log.len())..] {
            if ancestry(&commit.id, anchor)? {
                return Ok(Some(commit.id.clone()));
            }
        }
        if log.len() < limit || limit >= HISTORY_DEPTH {
            return Ok(None);
        }
        checked = log.len();
        limit = limit.saturating_mul(4).min(HISTORY_DEPTH);
    }
}

/// The commits after `since` up to `tip`, newest first (the newest [`HISTORY_DEPTH`] when
/// `since` is `None`). The log is read in growing steps, so the cost follows the commits
/// since `since`.
fn since(
    repo: &dyn ConfigRepository,
    tip: &CommitId,
    since: Option<&CommitId>,
) -> Result<Vec<CommitInfo>, RepositoryError> {
    let mut limit = state::CATCH_UP_EVERY;
    loop {
        let mut log = repo.log(tip, limit)?;
        if let Some(found) = since.and_then(|since| log.iter().position(|c| &c.id == since)) {
            log.truncate(found);
            return Ok(log);
        }
        if log.len() < limit || (since.is_none() && limit >= HISTORY_DEPTH) {
            return Ok(log);
        }
        limit = if since.is_some() {
            limit.saturating_mul(4)
        } else {
            limit.saturating_mul(4).min(HISTORY_DEPTH)
        };
    }
}

/// The (wave, service) pairs whose image `commit` changed, against its first parent, in
/// waves that existed on both sides. What cannot be read on either side (a broken pipeline
/// file, a file that does not parse) pins nothing: nothing can be said of it.
fn edited(
    repo: &dyn ConfigRepository,
    reader: &mut Reader<'_>,
    commit: &CommitInfo,
) -> Vec<(WaveName, ServiceName)> {
    let Some(parent) = commit.parents.first() else {
        return Vec::new();
    };
    let (Ok(after), Ok(before)) = (Snapshot::at(repo, &commit.id), Snapshot::at(repo, parent))
    else {
        return Vec::new();
    };
    let mut edited = Vec::new();
    for wave in &after.pipeline().waves {
        let Some(old) = before.pipeline().wave(&wave.name) else {
            continue;
        };
        // Most commits leave a wave's files alone: compare bytes before parsing anything.
        if old == wave
            && let (Ok(new_files), Ok(old_files)) = (after.wave_files(wave), before.wave_files(old))
            && new_files == old_files
        {
            continue;
        }
        let (Ok(Some(new_set)), Ok(Some(old_set))) = (
            reader.wave_set(&wave.name, &commit.id),
            reader.wave_set(&wave.name, parent),
        ) else {
            continue;
        };
        let services: std::collections::BTreeSet<&ServiceName> =
            new_set.keys().chain(old_set.keys()).collect();
        for service in services {
            if new_set.get(service) != old_set.get(service) {
                edited.push((wave.name.clone(), service.clone()));
            }
        }
    }
    edited
}

#[cfg(test)]
mod tests;
