//! Announcements into a frozen first wave: accepted, kept in the pipeline state, and published
//! when the freeze window ends (docs/promotion.md#freeze-windows).
//!
//! An announcement is deferred only when it would be published were the wave not frozen: the
//! same refusals as a publish (held, stale, no slot, a render that fails) answer it at once.
//! When the window ends, [`publish_deferred`] (the service's timer, `cfgupdate advance`)
//! writes the newest deferred image of each service as one publish commit; a publish that
//! lands meanwhile (an admin's override, say) takes its services out of what is deferred, so
//! an older deferred image never replaces a newer published one.

use std::time::SystemTime;

use super::{
    Announcement, PublishError, PublishOutcome, plan, push_announcements, refuse_stale,
    write_forward,
};
use crate::class::{Classify, ErrorClass};
use crate::clock::Clock;
use crate::freeze::Frozen;
use crate::intent::WriteOptions;
use crate::names::{CommitId, ServiceName, WaveName};
use crate::promotion::DeferredRecord;
use crate::promotion::state::{self, CatchUp, Published, PublishedService, millis};
use crate::repository::ConfigRepository;
use crate::snapshot::Snapshot;
use crate::trailers::BuildInfo;

/// What one run of [`publish_deferred`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeferredRun {
    /// The publish commits it made, with the wave written: one, or one per announcement when
    /// one of them was refused.
    pub published: Vec<(CommitId, WaveName)>,
    /// Deferred announcements refused now (the wave's files changed meanwhile, say), by app
    /// commit; they are forgotten.
    pub refused: Vec<(CommitId, PublishError)>,
    /// The first wave is still frozen (nothing was published): until when, and why.
    pub waiting: Option<Frozen>,
    /// How many announcements are still deferred after the run.
    pub remaining: usize,
}

impl DeferredRun {
    /// When to run again: the end of the freeze that holds the deferred announcements back.
    pub fn next_due(&self) -> Option<SystemTime> {
        self.waiting.as_ref().map(|frozen| frozen.until)
    }
}

/// Whether the first wave is frozen now, as the cached tip says (no fetch): publishing a
/// batch then defers each announcement on its own.
pub(super) fn is_frozen(repo: &dyn ConfigRepository, clock: &dyn Clock) -> bool {
    let Ok(tip) = repo.tip() else {
        return false;
    };
    Snapshot::at(repo, &tip).is_ok_and(|snapshot| {
        snapshot
            .pipeline()
            .first_wave()
            .frozen_at(clock.now())
            .is_some()
    })
}

/// Defers `announcement` when the first wave is frozen (as a fresh fetch shows it; the cache
/// is looked at first unless `fetch` asks for the fetch at once), unless it overrides the
/// freeze. `None`: the wave is not frozen, publish as usual.
pub(super) fn defer_if_frozen(
    repo: &mut dyn ConfigRepository,
    clock: &dyn Clock,
    announcement: &Announcement,
    options: &WriteOptions,
    fetch: bool,
) -> Result<Option<PublishOutcome>, PublishError> {
    if announcement.overrides_freeze() || (!fetch && !is_frozen(repo, clock)) {
        return Ok(None);
    }
    let tip = repo.refresh()?;
    let snapshot = Snapshot::at(repo, &tip)?;
    let Some(frozen) = snapshot.pipeline().first_wave().frozen_at(clock.now()) else {
        return Ok(None);
    };
    let key = options.key.as_ref();
    let deferred = state::load(repo, key, &tip)?.deferred;
    let names_a_deferred_service = deferred.iter().any(|record| {
        record
            .images
            .keys()
            .any(|s| announcement.images().contains_key(s))
    });
    // The same refusals as a publish, now rather than when the window ends.
    let would_publish = plan(repo, &tip, &[announcement], options, None)?.is_some();
    if !would_publish && !names_a_deferred_service {
        return Ok(Some(PublishOutcome::Unchanged));
    }
    refuse_older_than_deferred(
        &deferred,
        announcement,
        &snapshot.pipeline().first_wave().name,
    )?;
    let build = announcement.build();
    let record = DeferredRecord {
        app: announcement.app_commit().clone(),
        images: announcement.images().clone(),
        build_number: build.number,
        build_created_at: build.created_at,
        at: millis(clock.now()),
    };
    let message = format!(
        "Defer {} from app {} until {} ({})",
        services_phrase(announcement.images().keys()),
        announcement.app_commit().short(),
        frozen.until_rfc3339(),
        frozen.reason
    );
    state::update(
        repo,
        clock,
        &options.retry,
        key,
        &tip,
        &message,
        CatchUp::Along(&tip),
        |state| state.add_deferred(record.clone()),
    )?;
    Ok(Some(PublishOutcome::Deferred {
        until: frozen.until,
        reason: frozen.reason,
    }))
}

/// An announcement of an older build than one already deferred for the same service is as
/// stale as one older than the published build.
fn refuse_older_than_deferred(
    deferred: &[DeferredRecord],
    announcement: &Announcement,
    wave: &WaveName,
) -> Result<(), PublishError> {
    let mut newest = Published::default();
    for record in deferred {
        for service in record.images.keys() {
            let entry: &mut PublishedService = newest.services.entry(service.clone()).or_default();
            if let Some(number) = record.build_number {
                entry.build_number = Some(entry.build_number.map_or(number, |n| n.max(number)));
            }
            if let Some(at) = record.build_created_at {
                entry.build_created_at = Some(entry.build_created_at.map_or(at, |t| t.max(at)));
            }
        }
    }
    refuse_stale(&newest, announcement, wave)
}

/// After a publish of `services` landed at `commit`: deferred images of those services are
/// older than what was published, and are dropped. Best effort, and no state write unless the
/// state holds any (the publish landed either way; the next deferred run would meet the
/// published image's newer build, or write the older one, which a person sees in history).
pub(super) fn supersede<'s>(
    repo: &mut dyn ConfigRepository,
    clock: &dyn Clock,
    options: &WriteOptions,
    commit: &CommitId,
    services: impl IntoIterator<Item = &'s ServiceName>,
) {
    let services: Vec<&ServiceName> = services.into_iter().collect();
    let key = options.key.as_ref();
    let names_one = |records: &[DeferredRecord]| {
        records
            .iter()
            .any(|record| record.images.keys().any(|s| services.contains(&s)))
    };
    match state::load(repo, key, commit) {
        Ok(state) if names_one(&state.deferred) => {}
        _ => return,
    }
    let _ = state::update(
        repo,
        clock,
        &options.retry,
        key,
        commit,
        "Drop deferred images a publish replaced",
        CatchUp::Along(commit),
        |state| state.drop_deferred_services(services.iter().copied()),
    );
}

/// Runs what is due of the deferred announcements: when the first wave is no longer frozen,
/// publishes the newest deferred image of each service as one commit (through every check a
/// publish passes) and forgets them. While it is frozen, does nothing and says until when.
///
/// When the commit as a whole is refused (the wave's files changed during the freeze, say),
/// each deferred announcement is published on its own; those refused are reported and
/// forgotten, like an announcement refused when it arrives.
pub fn publish_deferred(
    repo: &mut dyn ConfigRepository,
    clock: &dyn Clock,
    options: &WriteOptions,
) -> Result<DeferredRun, PublishError> {
    let key = options.key.as_ref();
    let mut run = DeferredRun::default();
    // Nothing deferred in the state as last fetched (the service's timer runs this right
    // after `advance` fetched): no fetch of its own.
    if let Ok(tip) = repo.tip()
        && state::load(repo, key, &tip).is_ok_and(|state| state.deferred.is_empty())
    {
        return Ok(run);
    }
    let tip = repo.refresh()?;
    let records = state::load(repo, key, &tip)?.deferred;
    if records.is_empty() {
        return Ok(run);
    }
    let snapshot = Snapshot::at(repo, &tip)?;
    if let Some(frozen) = snapshot.pipeline().first_wave().frozen_at(clock.now()) {
        run.remaining = records.len();
        run.waiting = Some(frozen);
        return Ok(run);
    }
    let mut usable = Vec::new();
    let mut done = Vec::new();
    for record in &records {
        match announcement_of(record) {
            Some(announcement) => usable.push((record, announcement)),
            // A record this cfgupdate cannot turn back into an announcement (no image left,
            // say) has nothing to publish.
            None => done.push(record.clone()),
        }
    }
    let all: Vec<&Announcement> = usable.iter().map(|(_, a)| a).collect();
    let mut failure = None;
    match push_announcements(repo, clock, &all, options) {
        Ok(pushed) => {
            if let Some((commit, planned)) = pushed {
                write_forward(repo, clock, options, &commit, planned.behind);
                run.published.push((commit, planned.wave));
            }
            done.extend(usable.iter().map(|(record, _)| (*record).clone()));
        }
        Err(PublishError::Frozen { frozen, .. }) => {
            run.remaining = records.len();
            run.waiting = Some(frozen);
            return Ok(run);
        }
        Err(error) if !refused_for_good(&error) => return Err(error),
        Err(_) => {
            for (record, announcement) in &usable {
                match push_announcements(repo, clock, &[announcement], options) {
                    Ok(pushed) => {
                        if let Some((commit, planned)) = pushed {
                            run.published.push((commit, planned.wave));
                        }
                        done.push((*record).clone());
                    }
                    Err(PublishError::Frozen { frozen, .. }) => {
                        run.waiting = Some(frozen);
                        break;
                    }
                    Err(error) if refused_for_good(&error) => {
                        run.refused.push((record.app.clone(), error));
                        done.push((*record).clone());
                    }
                    Err(error) => {
                        failure = Some(error);
                        break;
                    }
                }
            }
        }
    }
    let tip = repo.tip()?;
    let message = match run.published.len() {
        0 => "Forget deferred images already published or refused".to_owned(),
        _ => format!("Publish {} deferred announcements", done.len()),
    };
    let state = state::update(
        repo,
        clock,
        &options.retry,
        key,
        &tip,
        &message,
        CatchUp::Along(&tip),
        |state| state.remove_deferred(&done),
    )?;
    run.remaining = state.deferred.len();
    match failure {
        Some(error) => Err(error),
        None => Ok(run),
    }
}

/// A refusal that waiting will not change: the announcement is reported and forgotten.
fn refused_for_good(error: &PublishError) -> bool {
    !matches!(error, PublishError::Frozen { .. })
        && matches!(
            error.class(),
            ErrorClass::Invalid | ErrorClass::Stale | ErrorClass::Refused
        )
}

fn announcement_of(record: &DeferredRecord) -> Option<Announcement> {
    let announcement = Announcement::new(record.app.clone(), record.images.clone()).ok()?;
    Some(announcement.with_build(BuildInfo {
        number: record.build_number,
        created_at: record.build_created_at,
    }))
}

fn services_phrase<'s>(services: impl Iterator<Item = &'s ServiceName>) -> String {
    let names: Vec<&str> = services.map(ServiceName::as_str).collect();
    names.join(", ")
}
