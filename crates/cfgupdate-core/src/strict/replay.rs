//! The auto branch's pending changes, and their replay on a new main branch: each change's
//! intent, read from its trailers (these images into that wave), written again through the
//! same wave write and render checks every automatic change passes. A diff is never rebased.

use std::collections::BTreeMap;

use super::Eviction;
use super::gate::{Gate, deferred_of, gate};
use super::record::{EvictionKind, StrictRecord};
use crate::intent::{WriteOptions, seal};
use crate::names::{CommitId, ServiceName, WaveName};
use crate::promotion::DeferredRecord;
use crate::promotion::holds::{Hold, Holds, held_phrase};
use crate::promotion::state::STATE_TRAILER;
use crate::repository::{CommitInfo, CommitMessage, ConfigRepository, RepositoryError};
use crate::slots::ImageSet;
use crate::slots::wave::read_wave;
use crate::snapshot::Snapshot;
use crate::trailers::{self, Record};
use crate::wave_write::{WaveWriteError, write_into_wave};

/// How many commits of the auto branch are read at first when looking for where it leaves
/// the main branch; each further page reads four times as many, so a queue of any length is
/// read whole at a cost that follows its length.
const FIRST_PAGE: usize = 256;

/// The most commits of the auto branch ever read: far above any queue (each waiting change
/// is one commit), it bounds the work when the auto branch shares no history with the main
/// branch (someone pushed an unrelated history there).
const MAX_QUEUE: usize = 65_536;

/// The auto branch's commits that the main branch does not hold, oldest first, and where
/// they leave the main branch's history (`None`: nowhere within [`MAX_QUEUE`] commits, the
/// auto branch shares no history with it).
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub(crate) base: Option<CommitId>,
    pub(crate) commits: Vec<CommitInfo>,
}

/// The commits of `side` that `main` does not hold, however many there are.
pub(crate) fn pending(
    repo: &dyn ConfigRepository,
    side: &CommitId,
    main: &CommitId,
) -> Result<Pending, RepositoryError> {
    let mut commits: Vec<CommitInfo> = Vec::new();
    let mut limit = FIRST_PAGE;
    loop {
        let log = repo.log(side, limit)?;
        let complete = log.len() < limit;
        // The commits of earlier pages were looked at already: they are not on main.
        for commit in log.into_iter().skip(commits.len()) {
            if repo.is_ancestor(&commit.id, main)? {
                commits.reverse();
                return Ok(Pending {
                    base: Some(commit.id),
                    commits,
                });
            }
            commits.push(commit);
        }
        if complete || limit >= MAX_QUEUE {
            commits.reverse();
            return Ok(Pending {
                base: None,
                commits,
            });
        }
        limit = limit.saturating_mul(4).min(MAX_QUEUE);
    }
}

/// The auto branch rebuilt: its new tip, the changes that no longer apply, and the
/// announcements of publishes a freeze dropped, to defer until the window ends.
pub(crate) struct Rebuilt {
    pub(crate) tip: CommitId,
    /// The commits made, oldest first.
    pub(crate) made: Vec<CommitId>,
    pub(crate) dropped: Vec<Eviction>,
    pub(crate) deferred: Vec<DeferredRecord>,
}

/// What a replay asks of each change besides whether it still applies: the holds of the
/// pipeline state and the freeze windows at `now` ([`super::gate`]).
pub(crate) struct Gates<'a> {
    pub(crate) holds: &'a Holds,
    pub(crate) now: std::time::SystemTime,
}

/// Replays the changes of `chain` that were not evicted on `main`, each as its own commit
/// (created, not pushed). A service a person changed in a wave on the main branch since the
/// changes were made (between `chain.base` and `main`) is left as the person set it; a
/// service held now is left out, and a change into a wave frozen now is dropped (`gates`).
pub(crate) fn replay(
    repo: &mut dyn ConfigRepository,
    options: &WriteOptions,
    main: &CommitId,
    chain: &Pending,
    record: &StrictRecord,
    gates: &Gates<'_>,
    now: u64,
) -> Result<Rebuilt, RepositoryError> {
    let key = options.key.as_ref();
    let mut tip = main.clone();
    let mut made = Vec::new();
    let mut dropped = Vec::new();
    let mut deferred = Vec::new();
    let mut person_set: BTreeMap<WaveName, ImageSet> = BTreeMap::new();
    // The pipeline file as the main branch has it (automatic changes never write it); when
    // it cannot be read, each replay below says so.
    let pipeline = Snapshot::at(repo, main)
        .ok()
        .map(|snapshot| snapshot.pipeline().clone());
    for commit in &chain.commits {
        if record.is_evicted(&commit.id) {
            continue;
        }
        let drop = |reason: String| {
            Eviction::of(
                &commit.id,
                &commit.message,
                EvictionKind::Dropped,
                reason,
                now,
            )
        };
        if !trailers::is_trusted(commit, key) {
            dropped.push(drop(
                "it was not written by cfgupdate (its seal does not check), so nothing of it is replayed".to_owned(),
            ));
            continue;
        }
        let intent = Record::parse(&commit.message);
        let (Some(wave_name), false) = (&intent.wave, intent.images.is_empty()) else {
            dropped.push(drop(
                "its trailers name no wave and images to write again".to_owned(),
            ));
            continue;
        };
        let gate = match &pipeline {
            Some(pipeline) => gate(&commit.message, pipeline, gates.holds, gates.now),
            None => Gate::Open,
        };
        // Into a frozen wave: dropped, and a publish deferred. Held services are left out
        // below, after what a person set (which says more about why).
        let held = match gate {
            Gate::Frozen { .. } => {
                let action = intent.action.as_deref().unwrap_or_default();
                if let Some(reason) = gate.drop_reason(action) {
                    deferred.extend(deferred_of(&commit.message, now));
                    dropped.push(drop(reason));
                }
                continue;
            }
            Gate::Held { held, .. } => held,
            Gate::Open => Vec::new(),
        };
        match replay_one(
            repo,
            options,
            &tip,
            commit,
            &intent,
            wave_name,
            chain,
            main,
            &held,
            &mut person_set,
        )? {
            Ok(commit) => {
                made.push(commit.clone());
                tip = commit;
            }
            Err(reason) => dropped.push(drop(reason)),
        }
    }
    Ok(Rebuilt {
        tip,
        made,
        dropped,
        deferred,
    })
}

/// Replays one change on `tip`: the new commit, or why the change no longer applies.
#[allow(clippy::too_many_arguments)]
fn replay_one(
    repo: &mut dyn ConfigRepository,
    options: &WriteOptions,
    tip: &CommitId,
    commit: &CommitInfo,
    intent: &Record,
    wave_name: &WaveName,
    chain: &Pending,
    main: &CommitId,
    held: &[(ServiceName, Hold)],
    person_set: &mut BTreeMap<WaveName, ImageSet>,
) -> Result<Result<CommitId, String>, RepositoryError> {
    let snapshot = match Snapshot::at(repo, tip) {
        Ok(snapshot) => snapshot,
        Err(error) => {
            return Ok(Err(format!(
                "the main branch's files cannot be used: {error}"
            )));
        }
    };
    let Some(wave) = snapshot.pipeline().wave(wave_name) else {
        return Ok(Err(format!(
            "wave `{wave_name}` is no longer in cfgupdate.toml on the main branch"
        )));
    };
    let wave = wave.clone();
    if !person_set.contains_key(wave_name) {
        let changed = people_changes(repo, chain.base.as_ref(), main, &wave)?;
        person_set.insert(wave_name.clone(), changed);
    }
    let changed_by_people = &person_set[wave_name];
    let mut images = ImageSet::new();
    // Services left out: by a person's change or `hold` in the file, and by a hold placed
    // since the change was queued.
    let mut left: Vec<ServiceName> = Vec::new();
    let mut by_people = Vec::new();
    let mut by_holds = Vec::new();
    for (service, image) in &intent.images {
        if changed_by_people.contains_key(service) {
            by_people.push(service.to_string());
        } else if wave.hold.contains(service) {
            by_people.push(format!("{service} (on hold)"));
        } else if let Some((_, hold)) = held.iter().find(|(s, _)| s == service) {
            by_holds.push(format!("{service} ({})", hold.describe()));
        } else {
            images.insert(service.clone(), image.clone());
            continue;
        }
        left.push(service.clone());
    }
    if images.is_empty() {
        return Ok(Err(if by_holds.is_empty() {
            format!(
                "a person set {} in wave `{wave_name}` on the main branch since",
                by_people.join(", ")
            )
        } else if by_people.is_empty() {
            format!(
                "every service it writes is held in wave `{wave_name}` since it was queued: {}",
                held_phrase(held)
            )
        } else {
            format!(
                "nothing of it is left to write in wave `{wave_name}`: {}",
                by_people
                    .iter()
                    .map(|s| format!("{s}, set by a person since"))
                    .chain(by_holds.iter().map(|s| format!("{s}, held since")))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        }));
    }
    let files = match snapshot.wave_files(&wave) {
        Ok(files) => files,
        Err(error) => return Ok(Err(format!("it no longer applies: {error}"))),
    };
    let before = read_wave(&wave.images, &files).unwrap_or_default();
    let write = match write_into_wave(repo, tip, &wave, &files, before, &images, &options.render) {
        Ok(Some(write)) => write,
        Ok(None) => {
            return Ok(Err(format!(
                "wave `{wave_name}` on the main branch holds its images already"
            )));
        }
        Err(WaveWriteError::Slots(error)) => {
            return Ok(Err(format!("it no longer applies: {error}")));
        }
        Err(WaveWriteError::Render(error)) => {
            return Ok(Err(format!(
                "it no longer passes the render check: {error}"
            )));
        }
    };
    let mut change = write.change.clone();
    let subject = commit.message.lines().next().unwrap_or_default().to_owned();
    let mut note = Vec::new();
    if !by_people.is_empty() {
        note.push(format!(
            "Replayed on the main branch without {}, which a person set there since.",
            by_people.join(", ")
        ));
    }
    if !by_holds.is_empty() {
        note.push(format!(
            "Replayed without {}, held in the wave since the change was queued.",
            by_holds.join(", ")
        ));
    }
    change.message = CommitMessage {
        subject,
        body: write.body(&images, &note),
        trailers: CommitMessage::parse_trailers(&commit.message)
            .into_iter()
            .filter(|(name, value)| {
                name != trailers::SEAL
                    && name != STATE_TRAILER
                    && !(name == trailers::IMAGE
                        && value
                            .split_once('=')
                            .is_some_and(|(s, _)| left.iter().any(|l| l.as_str() == s)))
            })
            .collect(),
    };
    seal(repo, options.key.as_ref(), tip, &mut change);
    Ok(Ok(repo.create_commit(tip, &change)?))
}

/// The services whose image in `wave` differs between `base` (where the pending changes
/// left the main branch) and `main`: a person set them since.
fn people_changes(
    repo: &dyn ConfigRepository,
    base: Option<&CommitId>,
    main: &CommitId,
    wave: &crate::pipeline::Wave,
) -> Result<ImageSet, RepositoryError> {
    let Some(base) = base else {
        return Ok(ImageSet::new());
    };
    if base == main {
        return Ok(ImageSet::new());
    }
    let images_at = |revision: &CommitId| -> ImageSet {
        Snapshot::at(repo, revision)
            .ok()
            .and_then(|snapshot| snapshot.wave_files(wave).ok())
            .and_then(|files| read_wave(&wave.images, &files).ok())
            .unwrap_or_default()
    };
    let before = images_at(base);
    let after = images_at(main);
    Ok(after
        .into_iter()
        .filter(|(service, image)| before.get(service) != Some(image))
        .collect())
}
