//! Publishing: CI's new images written into the first wave as one commit.
//!
//! What is pushed is the *intent* (these services get these references), not a diff: when the
//! remote moved on, the intent is applied again to the new tip, so a person's concurrent commit
//! is never undone.

mod deferral;

use std::collections::BTreeSet;
use std::time::SystemTime;

pub use deferral::{DeferredRun, publish_deferred};

use crate::clock::Clock;
use crate::intent::{WriteOptions, push_intent};
use crate::names::{CommitId, ServiceName, WaveName};
use crate::promotion::state::{self, CATCH_UP_EVERY, CatchUp, Published, StateProblem};
use crate::promotion::{HeldBack, Holds, PromotionError};
use crate::reference::ImageRef;
use crate::render::RenderCheckError;
use crate::repository::{Change, CommitMessage, ConfigRepository, RepositoryError};
use crate::slots::ImageSet;
use crate::slots::wave::{WaveSlotError, read_wave};
use crate::snapshot::{Snapshot, SnapshotError};
use crate::trailers::{self, BuildInfo};
use crate::wave_write::{WaveWrite, WaveWriteError, write_into_wave};

/// CI's announcement: the images built from one app commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    app_commit: CommitId,
    images: ImageSet,
    build: BuildInfo,
    override_freeze: bool,
}

/// Why an announcement was refused before anything was read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnouncementError {
    /// It names no image.
    #[error("the announcement names no image")]
    Empty,
    /// An image is not pinned by a digest.
    #[error(
        "the image `{reference}` for service `{service}` has no digest; announce references pinned by a digest (`name:tag@sha256:...`)"
    )]
    MissingDigest {
        /// The service.
        service: ServiceName,
        /// The reference.
        reference: ImageRef,
    },
}

impl Announcement {
    /// An announcement of `images` built from `app_commit`. Every image must carry a digest.
    pub fn new(app_commit: CommitId, images: ImageSet) -> Result<Self, AnnouncementError> {
        if images.is_empty() {
            return Err(AnnouncementError::Empty);
        }
        if let Some((service, reference)) = images.iter().find(|(_, r)| r.digest().is_none()) {
            return Err(AnnouncementError::MissingDigest {
                service: service.clone(),
                reference: reference.clone(),
            });
        }
        Ok(Self {
            app_commit,
            images,
            build: BuildInfo::default(),
            override_freeze: false,
        })
    }

    /// The same announcement, written even while the first wave is frozen (an admin's
    /// override: the commit carries `Cfgupdate-Override: freeze`).
    pub fn overriding_freeze(mut self) -> Self {
        self.override_freeze = true;
        self
    }

    /// Whether it is written even while the first wave is frozen.
    pub fn overrides_freeze(&self) -> bool {
        self.override_freeze
    }

    /// The same announcement, saying which CI build made the images: an announcement of an
    /// older build than the one the first wave holds is refused as stale.
    pub fn with_build(mut self, build: BuildInfo) -> Self {
        self.build = build;
        self
    }

    /// The CI build, as far as the announcement says.
    pub fn build(&self) -> &BuildInfo {
        &self.build
    }

    /// The app commit the images were built from.
    pub fn app_commit(&self) -> &CommitId {
        &self.app_commit
    }

    /// The images, by service.
    pub fn images(&self) -> &ImageSet {
        &self.images
    }
}

/// What a publish did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishOutcome {
    /// One commit landed on the branch.
    Committed {
        /// The new commit.
        commit: CommitId,
        /// The wave written (the first).
        wave: WaveName,
        /// The announced services left out because a rollback or a person's edit holds them
        /// in the wave (docs/promotion.md#rollback-and-release).
        skipped: Vec<ServiceName>,
    },
    /// The first wave already holds these images, or this announcement was already
    /// published: no commit.
    Unchanged,
    /// The first wave is frozen: the announcement is kept in the pipeline state and its
    /// images published when the freeze ends (the newest of each service).
    Deferred {
        /// When the freeze window ends.
        until: SystemTime,
        /// Why the wave is frozen.
        reason: String,
    },
}

impl PublishOutcome {
    /// The commit this outcome landed on the branch and what it did, if it landed one.
    pub fn landed(&self) -> Option<(&CommitId, crate::trailers::Action)> {
        match self {
            PublishOutcome::Committed { commit, .. } => {
                Some((commit, crate::trailers::Action::Publish))
            }
            PublishOutcome::Unchanged | PublishOutcome::Deferred { .. } => None,
        }
    }
}

/// Why a publish failed. Nothing was pushed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The repository failed (see its kind: unavailable, not found, failed).
    #[error(transparent)]
    Repository(#[from] RepositoryError),
    /// The pipeline file or an image file at the tip could not be used.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// The wave's slots could not take the images.
    #[error("wave `{wave}`: {source}")]
    Slots {
        /// The wave.
        wave: WaveName,
        /// Why.
        source: Box<WaveSlotError>,
    },
    /// The first wave holds a service, so automation may not change it.
    #[error(
        "service `{service}` is on hold in wave `{wave}` (`hold` in cfgupdate.toml); the announcement was not published"
    )]
    Held {
        /// The service.
        service: ServiceName,
        /// The wave.
        wave: WaveName,
    },
    /// The render check refused the change, or the renders it needs failed.
    #[error("wave `{wave}`: {source}")]
    Render {
        /// The wave.
        wave: WaveName,
        /// Why.
        source: Box<RenderCheckError>,
    },
    /// Every service announced is held in the first wave by a rollback or a person's edit.
    #[error(transparent)]
    OnHold(HeldBack),
    /// The announcement is older than what the first wave holds.
    #[error(
        "stale announcement: service `{service}` is held at build {held} in wave `{wave}`, and this announcement is of the older build {announced}; nothing was published"
    )]
    Stale {
        /// The service.
        service: ServiceName,
        /// The wave.
        wave: WaveName,
        /// The build the wave holds.
        held: String,
        /// The build announced.
        announced: String,
    },
    /// Every push was rejected because the branch kept moving.
    #[error(
        "the branch kept moving: {attempts} pushes in a row were rejected; nothing was published, try again"
    )]
    Contended {
        /// How many pushes were tried.
        attempts: u32,
    },
    /// The pipeline state, which holds what stale and replay protection needs, is not acted
    /// on; nothing was published.
    #[error("{0}; nothing was published")]
    State(StateProblem),
    /// The first wave is frozen and the announcement does not override it. [`publish`]
    /// answers this by deferring the announcement; only a write that cannot be deferred
    /// fails with it.
    #[error(
        "wave `{wave}` is frozen until {} ({}); nothing was published",
        frozen.until_rfc3339(),
        frozen.reason
    )]
    Frozen {
        /// The wave.
        wave: WaveName,
        /// Until when, and why.
        frozen: crate::freeze::Frozen,
    },
    /// Strict mode: the config repository's CI failed this announcement's change before, and
    /// an evicted announcement stays evicted (docs/strict.md).
    #[error(
        "app commit {app_commit}'s images were evicted from the auto branch ({reason}, commit {commit}); an evicted announcement stays evicted: nothing was published"
    )]
    Evicted {
        /// The app commit announced.
        app_commit: CommitId,
        /// The auto branch commit CI failed.
        commit: CommitId,
        /// Why it was evicted.
        reason: String,
    },
}

impl From<PromotionError> for PublishError {
    fn from(error: PromotionError) -> Self {
        match error {
            PromotionError::Repository(error) => PublishError::Repository(error),
            PromotionError::Snapshot(error) => PublishError::Snapshot(error),
            PromotionError::State(problem) => PublishError::State(problem),
            PromotionError::Contended { attempts } => PublishError::Contended { attempts },
            PromotionError::OnHold(held) => PublishError::OnHold(held),
            // Reading and writing the state fails in no other way.
            other => PublishError::Repository(RepositoryError::new(
                crate::repository::RepositoryErrorKind::Failed,
                other.to_string(),
            )),
        }
    }
}

/// Publishes `announcement` into the first wave: one commit pushed without force, or none.
///
/// Works from the cached tip and lets a rejected push say when it was stale, so a publish
/// against a current cache costs one round trip. "Unchanged" is only ever answered from a
/// freshly fetched tip.
pub fn publish(
    repo: &mut dyn ConfigRepository,
    clock: &dyn Clock,
    announcement: &Announcement,
    options: &WriteOptions,
) -> Result<PublishOutcome, PublishError> {
    ensure_state(repo, clock, options)?;
    if let Some(deferred) = deferral::defer_if_frozen(repo, clock, announcement, options, false)? {
        return Ok(deferred);
    }
    let pushed = match push_announcements(repo, clock, &[announcement], options) {
        // The freeze began between the look above and the push.
        Err(PublishError::Frozen { .. }) => {
            if let Some(deferred) =
                deferral::defer_if_frozen(repo, clock, announcement, options, true)?
            {
                return Ok(deferred);
            }
            push_announcements(repo, clock, &[announcement], options)?
        }
        pushed => pushed?,
    };
    Ok(match pushed {
        Some((commit, mut planned)) => {
            write_forward(repo, clock, options, &commit, planned.behind);
            deferral::supersede(repo, clock, options, &commit, announcement.images().keys());
            PublishOutcome::Committed {
                commit,
                wave: planned.wave,
                skipped: planned.skipped.pop().unwrap_or_default(),
            }
        }
        None => PublishOutcome::Unchanged,
    })
}

/// With a state key, creates the state document before the first publish writes to a branch
/// that has none, so that a process dying between that publish and its first state write
/// cannot leave sealed commits without a state (which would then be refused as a deleted
/// state). Without a key a missing state is never refused, so nothing needs to be written.
fn ensure_state(
    repo: &mut dyn ConfigRepository,
    clock: &dyn Clock,
    options: &WriteOptions,
) -> Result<(), PublishError> {
    if options.key.is_none() || repo.state()?.is_some() {
        return Ok(());
    }
    let tip = match repo.tip() {
        Ok(tip) => tip,
        Err(_) => repo.refresh()?,
    };
    state::update(
        repo,
        clock,
        &options.retry,
        options.key.as_ref(),
        &tip,
        "Start the pipeline state",
        CatchUp::Along(&tip),
        |_| false,
    )?;
    Ok(())
}

/// After a publish that had to read many commits since the state last recorded the
/// publishes, records them, so the next publish reads only what is new. Best effort: the
/// publish landed, and the next one catches up from the sealed commits all the same.
fn write_forward(
    repo: &mut dyn ConfigRepository,
    clock: &dyn Clock,
    options: &WriteOptions,
    commit: &CommitId,
    behind: usize,
) {
    if behind < CATCH_UP_EVERY {
        return;
    }
    let _ = state::update(
        repo,
        clock,
        &options.retry,
        options.key.as_ref(),
        commit,
        "Record the publishes",
        CatchUp::Push(commit, CATCH_UP_EVERY),
        |_| false,
    );
}

/// Publishes several announcements as one commit (group commit: what arrived while a push was
/// in flight). Each gets its own answer: committed when its images are in the commit,
/// unchanged when the wave already held them or they were already published. When the batch
/// as a whole fails (one announcement is stale, held, or has no slot), each announcement is
/// published on its own, so one bad announcement never fails the others.
pub fn publish_batch(
    repo: &mut dyn ConfigRepository,
    clock: &dyn Clock,
    batch: &[Announcement],
    options: &WriteOptions,
) -> Vec<Result<PublishOutcome, PublishError>> {
    if batch.len() == 1 {
        return vec![publish(repo, clock, &batch[0], options)];
    }
    if let Err(error) = ensure_state(repo, clock, options) {
        return batch.iter().map(|_| Err(error.clone())).collect();
    }
    // While the first wave is frozen, each announcement is deferred (or refused) on its own.
    if deferral::is_frozen(repo, clock) {
        return batch
            .iter()
            .map(|announcement| publish(repo, clock, announcement, options))
            .collect();
    }
    let all: Vec<&Announcement> = batch.iter().collect();
    let pushed = push_announcements(repo, clock, &all, options);
    if let Ok(Some((commit, planned))) = &pushed {
        write_forward(repo, clock, options, commit, planned.behind);
        let services = batch
            .iter()
            .zip(&planned.included)
            .filter(|(_, included)| **included)
            .flat_map(|(announcement, _)| announcement.images().keys());
        deferral::supersede(repo, clock, options, commit, services);
    }
    match pushed {
        Ok(Some((
            commit,
            Planned {
                wave,
                included,
                skipped,
                ..
            },
        ))) => included
            .into_iter()
            .zip(skipped)
            .map(|(included, skipped)| {
                Ok(if included {
                    PublishOutcome::Committed {
                        commit: commit.clone(),
                        wave: wave.clone(),
                        skipped,
                    }
                } else {
                    PublishOutcome::Unchanged
                })
            })
            .collect(),
        Ok(None) => batch
            .iter()
            .map(|_| Ok(PublishOutcome::Unchanged))
            .collect(),
        Err(error @ (PublishError::Repository(_) | PublishError::State(_))) => {
            batch.iter().map(|_| Err(error.clone())).collect()
        }
        Err(_) => batch
            .iter()
            .map(|announcement| publish(repo, clock, announcement, options))
            .collect(),
    }
}

/// The wave a batch was written into, which of its announcements the commit includes, and
/// how many commits were read to bring the stale and replay protection up to date.
struct Planned {
    wave: WaveName,
    included: Vec<bool>,
    /// Each announcement's services a rollback or a person's edit holds in the wave.
    skipped: Vec<Vec<ServiceName>>,
    behind: usize,
}

/// The change that applies the announcements of `batch` to the tip, with which of them it
/// includes, or `None` when there is nothing to do.
/// Writes `batch` into the first wave as one commit, replanned on the newest tip until the push
/// lands: the commit and what it holds, or `None` when the wave already held it all.
fn push_announcements(
    repo: &mut dyn ConfigRepository,
    clock: &dyn Clock,
    batch: &[&Announcement],
    options: &WriteOptions,
) -> Result<Option<(CommitId, Planned)>, PublishError> {
    push_intent(
        repo,
        clock,
        &options.retry,
        options.key.as_ref(),
        false,
        |attempts| PublishError::Contended { attempts },
        |repo, tip| plan(repo, tip, batch, options, Some(clock.now())),
    )
}

/// The commit that writes `batch` into the first wave on `tip`. `now`: the time the first
/// wave's freeze windows are read at (`None` when deferring, which asks whether the
/// announcement would be published were the wave not frozen).
fn plan(
    repo: &dyn ConfigRepository,
    tip: &CommitId,
    batch: &[&Announcement],
    options: &WriteOptions,
    now: Option<SystemTime>,
) -> Result<Option<(Change, Planned)>, PublishError> {
    let limits = &options.render;
    let snapshot = Snapshot::at(repo, tip)?;
    let wave = snapshot.pipeline().first_wave();
    let frozen = now.and_then(|now| wave.frozen_at(now));
    if let Some(frozen) = &frozen
        && !batch
            .iter()
            .all(|announcement| announcement.override_freeze)
    {
        return Err(PublishError::Frozen {
            wave: wave.name.clone(),
            frozen: frozen.clone(),
        });
    }
    for announcement in batch {
        if let Some(service) = announcement.images.keys().find(|s| wave.hold.contains(s)) {
            return Err(PublishError::Held {
                service: service.clone(),
                wave: wave.name.clone(),
            });
        }
    }
    let slots_error = |source: WaveSlotError| PublishError::Slots {
        wave: wave.name.clone(),
        source: Box::new(source),
    };
    let files = snapshot.wave_files(wave)?;
    let before = read_wave(&wave.images, &files).unwrap_or_default();
    let mut protection: Option<(Published, usize)> = None;
    let mut holds: Option<Holds> = None;
    let mut included = Vec::with_capacity(batch.len());
    let mut skipped = Vec::with_capacity(batch.len());
    let mut kept_announcements = Vec::with_capacity(batch.len());
    let mut updates = ImageSet::new();
    for announcement in batch {
        // Needed when the wave does not hold its images yet and it was not published before.
        let differs = announcement
            .images
            .iter()
            .any(|(service, image)| before.get(service) != Some(image));
        // What a rollback or a person's edit holds in the wave is left out; an announcement
        // of nothing but held services is refused.
        let (kept, held) = if differs {
            let holds = match &holds {
                Some(holds) => holds,
                None => holds.insert(state::load(repo, options.key.as_ref(), tip)?.holds),
            };
            holds.split(&wave.name, &announcement.images)
        } else {
            (announcement.images.clone(), Vec::new())
        };
        if kept.is_empty() {
            return Err(PublishError::OnHold(HeldBack {
                wave: wave.name.clone(),
                held,
            }));
        }
        let kept = Announcement {
            app_commit: announcement.app_commit.clone(),
            images: kept,
            build: announcement.build.clone(),
            override_freeze: announcement.override_freeze,
        };
        let differs = kept
            .images
            .iter()
            .any(|(service, image)| before.get(service) != Some(image));
        let needed = differs && {
            let (published, _) = match &protection {
                Some(protection) => protection,
                None => protection.insert(state::protection(repo, options.key.as_ref(), tip)?),
            };
            crate::strict::refuse_evicted(repo, options.key.as_ref(), tip, announcement)?;
            if published.has_published(&kept.app_commit, &kept.images) {
                false
            } else {
                // Stale for any service announced, held ones included, is stale.
                refuse_stale(published, announcement, &wave.name)?;
                true
            }
        };
        if needed {
            updates.extend(kept.images.iter().map(|(s, i)| (s.clone(), i.clone())));
        }
        included.push(needed);
        skipped.push(held.into_iter().map(|(service, _)| service).collect());
        kept_announcements.push(kept);
    }
    if updates.is_empty() {
        return Ok(None);
    }
    let write =
        write_into_wave(repo, tip, wave, &files, before, &updates, limits).map_err(|error| {
            match error {
                WaveWriteError::Slots(source) => slots_error(source),
                WaveWriteError::Render(source) => PublishError::Render {
                    wave: wave.name.clone(),
                    source: Box::new(source),
                },
            }
        })?;
    let Some(mut write) = write else {
        return Ok(None);
    };
    let published: Vec<&Announcement> = kept_announcements
        .iter()
        .zip(&included)
        .filter(|(_, needed)| **needed)
        .map(|(a, _)| a)
        .collect();
    write.change.message = publish_message(&published, &wave.name, &updates, &write);
    if frozen.is_some() {
        write.change.message.trailers.push((
            trailers::OVERRIDE.to_owned(),
            trailers::OVERRIDE_FREEZE.to_owned(),
        ));
    }
    let change = write.change;
    let behind = protection.map_or(0, |(_, behind)| behind);
    Ok(Some((
        change,
        Planned {
            wave: wave.name.clone(),
            included,
            skipped,
            behind,
        },
    )))
}

/// Refuses an announcement of a build older than the newest one published for any of its
/// services (by build number, or else by creation time).
fn refuse_stale(
    published: &Published,
    announcement: &Announcement,
    wave: &WaveName,
) -> Result<(), PublishError> {
    if announcement.build.is_empty() {
        return Ok(());
    }
    for service in announcement.images.keys() {
        let Some(held) = published.held_build(service) else {
            continue;
        };
        let new = &announcement.build;
        let older = match (new.number, held.number) {
            (Some(new), Some(held)) => new < held,
            _ => {
                matches!((&new.created_at, &held.created_at), (Some(new), Some(held)) if new < held)
            }
        };
        if older {
            return Err(PublishError::Stale {
                service: service.clone(),
                wave: wave.clone(),
                held: held.trailer_value(service),
                announced: new.trailer_value(service),
            });
        }
    }
    Ok(())
}

fn publish_message(
    published: &[&Announcement],
    wave: &WaveName,
    updates: &ImageSet,
    write: &WaveWrite,
) -> CommitMessage {
    let services = write.services_phrase(updates);
    let apps: BTreeSet<&CommitId> = published.iter().map(|a| &a.app_commit).collect();
    let from = match apps.len() {
        1 => format!(
            "app {}",
            apps.iter().next().map(|a| a.short()).unwrap_or_default()
        ),
        n => format!("{n} app commits"),
    };
    let subject = format!("Publish {services} to {wave} from {from}");
    let body = write.body(updates, &[]);
    let mut trailers = vec![
        (
            trailers::ACTION.to_owned(),
            trailers::Action::Publish.as_str().to_owned(),
        ),
        (trailers::WAVE.to_owned(), wave.to_string()),
    ];
    for app in &apps {
        trailers.push((trailers::APP_COMMIT.to_owned(), app.to_string()));
    }
    // Every announcement's images, in order: the last one of a service is what the wave
    // holds, and the earlier ones let a replay of a superseded announcement be recognised.
    for announcement in published {
        for (service, image) in &announcement.images {
            let value = trailers::image_value(service, image, Some(&announcement.app_commit));
            trailers.push((trailers::IMAGE.to_owned(), value));
        }
    }
    for announcement in published.iter().filter(|a| !a.build.is_empty()) {
        for service in announcement.images.keys() {
            trailers.push((
                trailers::BUILD.to_owned(),
                announcement.build.trailer_value(service),
            ));
        }
    }
    CommitMessage {
        subject,
        body,
        trailers,
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::clock::MockClock;
    use crate::memory::MemoryRepository;
    use crate::path::RepoPath;
    use crate::repository::{MockConfigRepository, PushOutcome, RepositoryErrorKind};
    use crate::retry::RetryPolicy;
    use crate::trailers::Record;

    const PIPELINE: &str = r#"
[[wave]]
name = "staging"
images = "images/staging.json"
targets = ["staging"]

[[wave]]
name = "production"
images = "images/production.json"
targets = ["prod"]

[target.staging]
entrypoint = "envs/staging/main.jsonnet"

[target.prod]
entrypoint = "envs/prod/main.jsonnet"
"#;

    const STAGING: &str = "{\n  \"api\": \"reg.example.com/api:old@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\n}\n";

    fn digest(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn image(service: &str, tag: &str, c: char) -> (ServiceName, ImageRef) {
        let reference = format!("reg.example.com/{service}:{tag}@{}", digest(c));
        (
            ServiceName::parse(service).unwrap(),
            ImageRef::parse(&reference).unwrap(),
        )
    }

    fn announce(app: char, images: &[(&str, &str, char)]) -> Announcement {
        let set = images.iter().map(|(s, t, c)| image(s, t, *c)).collect();
        Announcement::new(CommitId::parse(&app.to_string().repeat(40)).unwrap(), set).unwrap()
    }

    /// A clock that never waits and remembers what it was asked to wait.
    struct FakeClock {
        slept: RefCell<Vec<Duration>>,
    }

    impl FakeClock {
        fn new() -> Self {
            Self {
                slept: RefCell::new(Vec::new()),
            }
        }
    }

    impl Clock for FakeClock {
        fn now(&self) -> SystemTime {
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
        }
        fn sleep(&self, duration: Duration) {
            self.slept.borrow_mut().push(duration);
        }
    }

    /// A target's entrypoint: one Deployment per image of its wave.
    fn entrypoint(images: &str, namespace: &str) -> String {
        format!(
            "local images = import '../../{images}';\n[\n  {{ apiVersion: 'apps/v1', kind: 'Deployment', metadata: {{ name: s, namespace: '{namespace}' }},\n    spec: {{ replicas: 2, template: {{ spec: {{ containers: [{{ name: s, image: images[s] }}] }} }} }} }}\n  for s in std.objectFields(images)\n]\n"
        )
    }

    fn repo_with(pipeline: &str) -> MemoryRepository {
        let staging = entrypoint("images/staging.json", "staging");
        let prod = entrypoint("images/production.json", "prod");
        MemoryRepository::new(&[
            ("cfgupdate.toml", pipeline),
            ("images/staging.json", STAGING),
            ("images/production.json", "{}\n"),
            ("envs/staging/main.jsonnet", &staging),
            ("envs/prod/main.jsonnet", &prod),
            ("README.md", "config\n"),
        ])
    }

    fn repo() -> MemoryRepository {
        repo_with(PIPELINE)
    }

    fn run(
        repo: &mut MemoryRepository,
        announcement: &Announcement,
    ) -> Result<PublishOutcome, PublishError> {
        publish(
            repo,
            &FakeClock::new(),
            announcement,
            &WriteOptions::default(),
        )
    }

    #[test]
    fn publish_writes_the_first_wave_as_one_commit_with_the_contract_trailers() {
        let mut repo = repo();
        let outcome = run(&mut repo, &announce('1', &[("api", "v2", 'b')])).unwrap();
        let PublishOutcome::Committed { commit, wave, .. } = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(wave.as_str(), "staging");
        assert_eq!(&commit, repo.remote_tip());
        assert!(
            repo.remote_text("images/staging.json")
                .unwrap()
                .contains(&format!("api:v2@{}", digest('b')))
        );
        assert_eq!(repo.remote_text("images/production.json").unwrap(), "{}\n");
        let (_, message) = &repo.remote_history()[0];
        let record = Record::parse(message);
        assert_eq!(record.action.as_deref(), Some("publish"));
        assert_eq!(record.wave.as_ref().map(WaveName::as_str), Some("staging"));
        assert_eq!(
            record.app_commits,
            vec![CommitId::parse(&"1".repeat(40)).unwrap()]
        );
        assert!(
            message.starts_with("Publish api to staging from app 111111111111\n"),
            "{message}"
        );
    }

    #[test]
    fn a_replayed_announcement_makes_no_second_commit() {
        let mut repo = repo();
        let announcement = announce('1', &[("api", "v2", 'b')]);
        assert!(matches!(
            run(&mut repo, &announcement),
            Ok(PublishOutcome::Committed { .. })
        ));
        let commits = repo.remote_history().len();
        assert_eq!(
            run(&mut repo, &announcement).unwrap(),
            PublishOutcome::Unchanged
        );
        assert_eq!(repo.remote_history().len(), commits);
    }

    #[test]
    fn a_retried_announcement_does_not_undo_a_later_publish() {
        let mut repo = repo();
        let first = announce('1', &[("api", "v2", 'b')]);
        run(&mut repo, &first).unwrap();
        run(&mut repo, &announce('2', &[("api", "v3", 'c')])).unwrap();
        let commits = repo.remote_history().len();
        assert_eq!(run(&mut repo, &first).unwrap(), PublishOutcome::Unchanged);
        assert_eq!(repo.remote_history().len(), commits);
        assert!(
            repo.remote_text("images/staging.json")
                .unwrap()
                .contains("api:v3@")
        );
    }

    #[test]
    fn a_publish_against_a_current_cache_pushes_once_and_fetches_nothing() {
        let mut repo = repo();
        run(&mut repo, &announce('1', &[("api", "v2", 'b')])).unwrap();
        let (fetches, pushes) = (repo.fetches, repo.pushes);
        run(&mut repo, &announce('2', &[("api", "v3", 'c')])).unwrap();
        assert_eq!((repo.fetches - fetches, repo.pushes - pushes), (0, 1));
    }

    #[test]
    fn a_person_who_pushed_meanwhile_keeps_their_commit_and_the_intent_is_applied_on_top() {
        let mut repo = repo();
        repo.refresh().unwrap();
        let person = repo.person_pushes("Add web by hand", |tree| {
            let path = RepoPath::parse("images/staging.json").unwrap();
            let web = format!("{{\n  \"api\": \"reg.example.com/api:old@{}\",\n  \"web\": \"reg.example.com/web:hand@{}\"\n}}\n", digest('a'), digest('d'));
            tree.insert(path, web.into_bytes());
        });
        let clock = FakeClock::new();
        let outcome = publish(
            &mut repo,
            &clock,
            &announce('1', &[("api", "v2", 'b')]),
            &WriteOptions::default(),
        )
        .unwrap();
        assert!(matches!(outcome, PublishOutcome::Committed { .. }));
        assert_eq!(repo.rejections, 1);
        assert_eq!(clock.slept.borrow().len(), 1);
        assert!(repo.is_ancestor(&person, repo.remote_tip()).unwrap());
        let staging = repo.remote_text("images/staging.json").unwrap();
        assert!(
            staging.contains("web:hand@") && staging.contains("api:v2@"),
            "{staging}"
        );
    }

    #[test]
    fn unchanged_is_answered_only_after_a_fresh_fetch() {
        let mut repo = repo();
        let announcement = announce('1', &[("api", "v2", 'b')]);
        run(&mut repo, &announcement).unwrap();
        // A person puts the old image back; our cache still shows the published one, where
        // the announcement looks published already.
        let person = repo.person_pushes("Roll api back by hand", |tree| {
            tree.insert(
                RepoPath::parse("images/staging.json").unwrap(),
                STAGING.as_bytes().to_vec(),
            );
        });
        let fetches = repo.fetches;
        // From the fresh fetch: not unchanged, but pinned by the person's edit (which stays).
        let error = run(&mut repo, &announce('3', &[("api", "v2", 'b')])).unwrap_err();
        assert!(
            matches!(&error, PublishError::OnHold(held) if matches!(&held.held[..], [(_, crate::promotion::Hold::Edit { commit, .. })] if commit == &person)),
            "{error:?}"
        );
        assert!(repo.fetches > fetches);
        assert_eq!(repo.remote_tip(), &person);
        assert_eq!(
            repo.remote_text("images/staging.json").unwrap(),
            STAGING,
            "the person's edit stays"
        );
    }

    #[test]
    fn a_held_service_is_refused_and_nothing_is_pushed() {
        let pipeline = PIPELINE.replace(
            "targets = [\"staging\"]",
            "targets = [\"staging\"]\nhold = [\"api\"]",
        );
        let mut repo = MemoryRepository::new(&[
            ("cfgupdate.toml", &pipeline),
            ("images/staging.json", STAGING),
        ]);
        let error = run(&mut repo, &announce('1', &[("api", "v2", 'b')])).unwrap_err();
        assert!(matches!(error, PublishError::Held { .. }), "{error}");
        assert!(error.to_string().contains("`api`") && error.to_string().contains("`staging`"));
        assert_eq!(repo.pushes, 0);
    }

    #[test]
    fn a_branch_without_a_pipeline_file_is_an_error_naming_the_file() {
        let mut repo = MemoryRepository::new(&[("README.md", "x\n")]);
        let error = run(&mut repo, &announce('1', &[("api", "v2", 'b')])).unwrap_err();
        assert!(error.to_string().contains("cfgupdate.toml"), "{error}");
        assert_eq!(repo.pushes, 0);
    }

    #[test]
    fn an_unreachable_remote_is_an_unavailable_repository_error() {
        let mut repo = repo();
        repo.offline = true;
        let error = run(&mut repo, &announce('1', &[("api", "v2", 'b')])).unwrap_err();
        assert!(matches!(
            error,
            PublishError::Repository(RepositoryError {
                kind: RepositoryErrorKind::Unavailable,
                ..
            })
        ));
    }

    #[test]
    fn a_branch_that_keeps_moving_gives_up_after_the_policy_attempts_with_backoff() {
        let inner = RefCell::new(repo());
        inner.borrow_mut().refresh().unwrap();
        let mut mock = MockConfigRepository::new();
        let tip = inner.borrow().tip().unwrap();
        mock.expect_tip().returning(move || Ok(tip.clone()));
        let snapshot = inner.borrow().clone();
        mock.expect_read_file()
            .returning(move |rev, path| snapshot.read_file(rev, path));
        mock.expect_list_files().returning(|_, _| Ok(Vec::new()));
        mock.expect_log().returning(|_, _| Ok(Vec::new()));
        mock.expect_state().returning(|| Ok(None));
        let refreshed = inner.borrow().tip().unwrap();
        mock.expect_refresh()
            .times(3)
            .returning(move || Ok(refreshed.clone()));
        mock.expect_commit_and_push()
            .times(4)
            .returning(|_, _| Ok(PushOutcome::Rejected));
        let mut clock = MockClock::new();
        clock.expect_now().returning(|| SystemTime::UNIX_EPOCH);
        clock.expect_sleep().times(3).return_const(());
        let policy = WriteOptions {
            retry: RetryPolicy {
                attempts: 4,
                ..RetryPolicy::default()
            },
            ..WriteOptions::default()
        };
        let error = publish(
            &mut mock,
            &clock,
            &announce('1', &[("api", "v2", 'b')]),
            &policy,
        )
        .unwrap_err();
        assert_eq!(error, PublishError::Contended { attempts: 4 });
    }

    #[test]
    fn an_announcement_without_a_digest_or_images_is_refused() {
        let app = CommitId::parse(&"1".repeat(40)).unwrap();
        let mut images = ImageSet::new();
        assert_eq!(
            Announcement::new(app.clone(), images.clone()),
            Err(AnnouncementError::Empty)
        );
        images.insert(
            ServiceName::parse("api").unwrap(),
            ImageRef::parse("reg.example.com/api:v1").unwrap(),
        );
        let error = Announcement::new(app, images).unwrap_err();
        assert!(
            error.to_string().contains("reg.example.com/api:v1"),
            "{error}"
        );
    }

    #[test]
    fn committed_yaml_of_the_affected_targets_is_regenerated_in_the_same_commit() {
        let pipeline = format!("[render]\noutput = \"generated/{{target}}\"\n{PIPELINE}");
        let mut repo = repo_with(&pipeline);
        run(&mut repo, &announce('1', &[("api", "v2", 'b')])).unwrap();
        let yaml = repo
            .remote_text("generated/staging/deployment-staging-api.yaml")
            .expect("regenerated YAML");
        assert!(
            yaml.contains(&format!("image: reg.example.com/api:v2@{}", digest('b'))),
            "{yaml}"
        );
        // The production target's inputs did not change: nothing was written for it.
        assert!(
            repo.remote_text("generated/prod/deployment-prod-api.yaml")
                .is_none()
        );
        assert_eq!(
            repo.remote_history().len(),
            2,
            "one commit: images and YAML together"
        );
        let (_, message) = &repo.remote_history()[0];
        assert!(
            message.contains("Regenerated the YAML of staging."),
            "{message}"
        );
    }

    #[test]
    fn a_slot_that_feeds_a_non_image_field_is_refused_by_the_render_check() {
        let mut repo = repo_with(&format!(
            "[render]\noutput = \"generated/{{target}}\"\n{PIPELINE}"
        ));
        let sneaky = "local images = import '../../images/staging.json';\n{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'staging' }, data: { api: images.api } }\n";
        repo.person_pushes("Use the image as data", |tree| {
            tree.insert(
                RepoPath::parse("envs/staging/main.jsonnet").unwrap(),
                sneaky.as_bytes().to_vec(),
            );
        });
        let error = run(&mut repo, &announce('1', &[("api", "v2", 'b')])).unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, PublishError::Render { .. }), "{message}");
        assert!(
            message.contains("ConfigMap/staging/c") && message.contains("data.api"),
            "{message}"
        );
        assert_eq!(repo.pushes, 0);
    }

    #[test]
    fn a_target_that_does_not_render_before_or_after_does_not_block_publishing() {
        // Production's entrypoint is missing: a person's problem, not this publish's.
        let pipeline = format!("[render]\noutput = \"generated/{{target}}\"\n{PIPELINE}");
        let mut repo = repo_with(&pipeline);
        repo.person_pushes("Remove prod's entrypoint", |tree| {
            tree.remove(&RepoPath::parse("envs/prod/main.jsonnet").unwrap());
        });
        let outcome = run(&mut repo, &announce('1', &[("api", "v2", 'b')])).unwrap();
        assert!(
            matches!(outcome, PublishOutcome::Committed { .. }),
            "{outcome:?}"
        );
        assert!(
            repo.remote_text("generated/staging/deployment-staging-api.yaml")
                .is_some()
        );
        assert!(
            repo.remote_text("generated/prod/deployment-prod-api.yaml")
                .is_none()
        );
        // Not in silence: the commit says which target was not rendered, and why.
        let (_, message) = &repo.remote_history()[0];
        assert!(
            message.contains("Not rendered: target prod renders neither before nor after this change (target `prod`: "),
            "{message}"
        );
    }

    #[test]
    fn a_repository_without_any_entrypoint_still_takes_publishes() {
        let mut repo = MemoryRepository::new(&[
            ("cfgupdate.toml", PIPELINE),
            ("images/staging.json", STAGING),
        ]);
        let outcome = run(&mut repo, &announce('1', &[("api", "v2", 'b')])).unwrap();
        assert!(
            matches!(outcome, PublishOutcome::Committed { .. }),
            "{outcome:?}"
        );
        let (_, message) = &repo.remote_history()[0];
        assert!(
            message.contains("Not checked against rendered containers: the repository holds none of the entrypoints of wave staging's targets."),
            "{message}"
        );
    }

    #[test]
    fn without_committed_yaml_nothing_is_written_and_non_image_changes_are_not_judged() {
        // No `[render]` table: cfgupdate owns no YAML, so it writes none and does not judge
        // how the Jsonnet uses the images beyond the effect check (the same entrypoint's
        // ConfigMap is refused when YAML is kept).
        let mut repo = repo();
        let sneaky = "local images = import '../../images/staging.json';\n[{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'staging' }, data: { api: images.api } },\n { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'api', namespace: 'staging' }, spec: { containers: [{ name: 'api', image: images.api }] } }]\n";
        repo.person_pushes("Use the image as data", |tree| {
            tree.insert(
                RepoPath::parse("envs/staging/main.jsonnet").unwrap(),
                sneaky.as_bytes().to_vec(),
            );
        });
        let outcome = run(&mut repo, &announce('1', &[("api", "v2", 'b')])).unwrap();
        assert!(
            matches!(outcome, PublishOutcome::Committed { .. }),
            "{outcome:?}"
        );
        assert!(
            repo.remote_text("generated/staging/configmap-staging-c.yaml")
                .is_none()
        );
    }
}
