//! Publishing: CI's new images written into the first wave as one commit.
//!
//! What is pushed is the *intent* (these services get these references), not a diff: when the
//! remote moved on, the intent is applied again to the new tip, so a person's concurrent commit
//! is never undone.

use std::collections::BTreeSet;

use crate::clock::Clock;
use crate::names::{CommitId, ServiceName, WaveName};
use crate::reference::ImageRef;
use crate::repository::{
    Change, CommitMessage, ConfigRepository, FileChange, PushOutcome, RepositoryError,
};
use crate::retry::RetryPolicy;
use crate::slots::ImageSet;
use crate::slots::wave::{WaveSlotError, read_wave, write_wave};
use crate::snapshot::{Snapshot, SnapshotError};
use crate::trailers;

/// CI's announcement: the images built from one app commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    app_commit: CommitId,
    images: ImageSet,
}

/// Why an announcement was refused before anything was read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnouncementError {
    /// It names no image.
    #[error("the announcement names no image")]
    Empty,
    /// An image is not pinned by a digest.
    #[error("the image `{reference}` for service `{service}` has no digest; announce references pinned by a digest (`name:tag@sha256:...`)")]
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
        Ok(Self { app_commit, images })
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
    },
    /// The first wave already holds these images, or this announcement was already
    /// published: no commit.
    Unchanged,
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
        source: WaveSlotError,
    },
    /// The first wave holds a service, so automation may not change it.
    #[error("service `{service}` is on hold in wave `{wave}` (`hold` in cfgupdate.toml); the announcement was not published")]
    Held {
        /// The service.
        service: ServiceName,
        /// The wave.
        wave: WaveName,
    },
    /// Every push was rejected because the branch kept moving.
    #[error("the branch kept moving: {attempts} pushes in a row were rejected; nothing was published, try again")]
    Contended {
        /// How many pushes were tried.
        attempts: u32,
    },
}

/// How far back in history a replayed announcement is recognised.
const REPLAY_WINDOW: usize = 200;

/// Publishes `announcement` into the first wave: one commit pushed without force, or none.
///
/// Works from the cached tip and lets a rejected push say when it was stale, so a publish
/// against a current cache costs one round trip. "Unchanged" is only ever answered from a
/// freshly fetched tip.
pub fn publish(
    repo: &mut dyn ConfigRepository,
    clock: &dyn Clock,
    announcement: &Announcement,
    retry: &RetryPolicy,
) -> Result<PublishOutcome, PublishError> {
    let mut fetched = false;
    let mut tip = match repo.tip() {
        Ok(tip) => tip,
        Err(_) => {
            fetched = true;
            repo.refresh()?
        }
    };
    let mut rejected = 0;
    loop {
        let Some((change, wave)) = plan(repo, &tip, announcement)? else {
            if fetched {
                return Ok(PublishOutcome::Unchanged);
            }
            tip = repo.refresh()?;
            fetched = true;
            continue;
        };
        match repo.commit_and_push(&tip, &change)? {
            PushOutcome::Pushed(commit) => return Ok(PublishOutcome::Committed { commit, wave }),
            PushOutcome::Rejected => {
                rejected += 1;
                if rejected >= retry.attempts {
                    return Err(PublishError::Contended { attempts: rejected });
                }
                clock.sleep(retry.delay(rejected, clock.now()));
                tip = repo.refresh()?;
                fetched = true;
            }
        }
    }
}

/// The change that applies `announcement` to the tip, or `None` when there is nothing to do.
fn plan(
    repo: &dyn ConfigRepository,
    tip: &CommitId,
    announcement: &Announcement,
) -> Result<Option<(Change, WaveName)>, PublishError> {
    let snapshot = Snapshot::at(repo, tip)?;
    let wave = snapshot.pipeline().first_wave();
    if let Some(service) = announcement.images.keys().find(|s| wave.hold.contains(s)) {
        return Err(PublishError::Held { service: service.clone(), wave: wave.name.clone() });
    }
    let slots_error = |source| PublishError::Slots { wave: wave.name.clone(), source };
    let files = snapshot.wave_files(wave)?;
    let changed = write_wave(&wave.images, &files, &announcement.images).map_err(slots_error)?;
    if changed.is_empty() || already_published(repo, tip, announcement)? {
        return Ok(None);
    }
    let before = read_wave(&wave.images, &files).unwrap_or_default();
    let moved: BTreeSet<&ServiceName> = announcement
        .images
        .iter()
        .filter(|(service, image)| before.get(*service) != Some(*image))
        .map(|(service, _)| service)
        .collect();
    let message = publish_message(announcement, &wave.name, &moved, &before);
    let files = changed
        .into_iter()
        .map(|(path, text)| (path, FileChange::Write(text.into_bytes())))
        .collect();
    Ok(Some((Change { files, message }, wave.name.clone())))
}

/// Whether a recent publish commit already carried this app commit with these images: a
/// retried announcement must not undo the publishes that came after it.
fn already_published(
    repo: &dyn ConfigRepository,
    tip: &CommitId,
    announcement: &Announcement,
) -> Result<bool, PublishError> {
    for commit in repo.log(tip, REPLAY_WINDOW)? {
        let record = trailers::Record::parse(&commit.message);
        if record.action.as_deref() == Some(trailers::PUBLISH)
            && record.app_commits.contains(&announcement.app_commit)
            && announcement.images.iter().all(|(service, image)| record.images.get(service) == Some(image))
        {
            return Ok(true);
        }
    }
    Ok(false)
}

fn publish_message(
    announcement: &Announcement,
    wave: &WaveName,
    moved: &BTreeSet<&ServiceName>,
    before: &ImageSet,
) -> CommitMessage {
    let names: Vec<&str> = moved.iter().map(|s| s.as_str()).collect();
    let services = match names.len() {
        0 => "images".to_owned(),
        1..=4 => names.join(", "),
        n => format!("{n} images"),
    };
    let subject = format!(
        "Publish {services} to {wave} from app {}",
        announcement.app_commit.short()
    );
    let body = moved
        .iter()
        .map(|service| {
            let new = &announcement.images[*service];
            match before.get(*service) {
                Some(old) => format!("{service}: {old} -> {new}"),
                None => format!("{service}: (new) {new}"),
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut trailers = vec![
        (trailers::ACTION.to_owned(), trailers::PUBLISH.to_owned()),
        (trailers::WAVE.to_owned(), wave.to_string()),
        (trailers::APP_COMMIT.to_owned(), announcement.app_commit.to_string()),
    ];
    for (service, image) in &announcement.images {
        trailers.push((trailers::IMAGE.to_owned(), format!("{service}={image}")));
    }
    CommitMessage { subject, body, trailers }
}
