//! The core's answers as events: each outcome or error the core returns becomes at most one
//! event, by a match on its type (the core decided what happened; nothing is decided here).
//!
//! **Wired today** (what the service can produce): `published` (a publish that committed),
//! `promoted` (a promotion by a deploy report, an approval or the service's timer),
//! `approval_pending` (a deploy report whose promotion waits at the approval gate, or a
//! timer pass whose soak that ended left one waiting there, recorded first by this process),
//! `deploy_failed` (a failed report, recorded), `refused` (a stale announcement; an
//! announcement or promotion the render or effect check or the slots refused), `held` (an
//! announcement refused because a service is held in the first wave), `push_refused` (the
//! remote declined a push), `deferred` (an announcement into a frozen first wave, kept until
//! the window ends), `rolled_back` (a rollback that wrote a commit), `refused` also for a
//! strict mode change CI failed (evicted) or a rebuild dropped (the rebuild a red result
//! caused, or one during any fetch, once a person moved the main branch). Wiring another is
//! one arm in the match of the outcome that carries it, e.g.
//! `Ok(PublishOutcome::Deferred { until, reason }) => Event::new(EventKind::Deferred, at)...`.

use std::time::SystemTime;

use cfgupdate_core::promotion::{
    ApprovalOutcome, DeployReport, DeployStatus, DeploymentOutcome, Gate, HoldError,
    PromotionError, RollbackOutcome, TargetSelector,
};
use cfgupdate_core::slots::read_wave;
use cfgupdate_core::strict::{CheckOutcome, Eviction, StrictError};
use cfgupdate_core::{
    Announcement, Classify, CommitId, ConfigRepository, Due, ErrorClass, ImageSet, PublishError,
    PublishOutcome, ServiceName, Snapshot, WaveName,
};

use super::event::{Event, EventKind};

/// What an event needs beyond the outcome, read (never decided) from the repository: the
/// images a commit changed in a wave, and the wave a target belongs to.
pub(crate) trait Facts {
    /// The images of `wave` that `commit` changed (against its first parent).
    fn images_written(&self, wave: &WaveName, commit: &CommitId) -> ImageSet;
    /// The wave of the target a report names, by the pipeline at `revision`.
    fn wave_of(&self, target: &TargetSelector, revision: &CommitId) -> Option<WaveName>;
}

/// The facts as the repository's cache holds them (no fetch).
pub(crate) struct RepositoryFacts<'a>(pub(crate) &'a dyn ConfigRepository);

impl RepositoryFacts<'_> {
    fn wave_images(&self, wave: &WaveName, revision: &CommitId) -> Option<ImageSet> {
        let snapshot = Snapshot::at(self.0, revision).ok()?;
        let wave = snapshot.pipeline().wave(wave)?;
        let files = snapshot.wave_files(wave).ok()?;
        read_wave(&wave.images, &files).ok()
    }
}

impl Facts for RepositoryFacts<'_> {
    fn images_written(&self, wave: &WaveName, commit: &CommitId) -> ImageSet {
        let Some(after) = self.wave_images(wave, commit) else {
            return ImageSet::new();
        };
        let parent = self
            .0
            .log(commit, 1)
            .ok()
            .and_then(|log| log.into_iter().next())
            .and_then(|info| info.parents.into_iter().next());
        let before = parent
            .and_then(|parent| self.wave_images(wave, &parent))
            .unwrap_or_default();
        after
            .into_iter()
            .filter(|(service, image)| before.get(service) != Some(image))
            .collect()
    }

    fn wave_of(&self, target: &TargetSelector, revision: &CommitId) -> Option<WaveName> {
        let snapshot = Snapshot::at(self.0, revision).ok()?;
        let pipeline = snapshot.pipeline();
        let name = match target {
            TargetSelector::Name(name) => name.clone(),
            TargetSelector::App(app) => pipeline.target_by_app(app)?.name.clone(),
        };
        pipeline.wave_of_target(&name).map(|wave| wave.name.clone())
    }
}

/// The event of a publish: `published`, or the refusal it met.
pub(crate) fn of_publish(
    announcement: &Announcement,
    result: &Result<PublishOutcome, PublishError>,
    at: SystemTime,
) -> Option<Event> {
    let mut images = announcement.images().clone();
    let event = match result {
        Ok(PublishOutcome::Committed {
            commit,
            wave,
            skipped,
        }) => {
            // What the commit wrote: the services a hold kept out are not in it.
            images.retain(|service, _| !skipped.contains(service));
            Event::new(EventKind::Published, at)
                .wave(wave)
                .commit(commit)
        }
        Ok(PublishOutcome::Deferred { until, reason }) => Event::new(EventKind::Deferred, at)
            .reason(format!(
                "frozen until {} ({reason})",
                cfgupdate_core::freeze::rfc3339(*until)
            )),
        Ok(PublishOutcome::Unchanged) => return None,
        Err(error) => of_publish_error(error, at)?,
    };
    Some(event.images(&images))
}

fn of_publish_error(error: &PublishError, at: SystemTime) -> Option<Event> {
    let event = match error {
        PublishError::Held { wave, .. } => Event::new(EventKind::Held, at).wave(wave),
        PublishError::OnHold(held) => Event::new(EventKind::Held, at).wave(&held.wave),
        PublishError::Stale { wave, .. } => Event::new(EventKind::Refused, at).wave(wave),
        // Broken files of the branch itself are not a refusal: the service answers 503 and
        // the sender retries once a person fixes them.
        PublishError::Slots { wave, .. } | PublishError::Render { wave, .. }
            if !error.blames_repository() =>
        {
            Event::new(EventKind::Refused, at).wave(wave)
        }
        _ if error.class() == ErrorClass::Declined => Event::new(EventKind::PushRefused, at),
        _ => return None,
    };
    Some(event.reason(error.to_string()))
}

fn of_promotion_error(error: &PromotionError, at: SystemTime) -> Option<Event> {
    let event = match error {
        PromotionError::Render { wave, .. } | PromotionError::Slots { wave, .. }
            if !error.blames_repository() =>
        {
            Event::new(EventKind::Refused, at).wave(wave)
        }
        _ if error.class() == ErrorClass::Declined => Event::new(EventKind::PushRefused, at),
        _ => return None,
    };
    Some(event.reason(error.to_string()))
}

fn promoted(facts: &dyn Facts, wave: &WaveName, commit: &CommitId, at: SystemTime) -> Event {
    Event::new(EventKind::Promoted, at)
        .wave(wave)
        .commit(commit)
        .images(&facts.images_written(wave, commit))
}

fn target_name(target: &TargetSelector) -> &str {
    match target {
        TargetSelector::Name(name) => name.as_str(),
        TargetSelector::App(app) => app,
    }
}

/// The events of a deploy report: `deploy_failed` for a failed one, and what it led to
/// (`promoted`, `approval_pending`, or a refusal).
pub(crate) fn of_deployment(
    facts: &dyn Facts,
    report: &DeployReport,
    result: &Result<DeploymentOutcome, PromotionError>,
    at: SystemTime,
) -> Vec<Event> {
    let mut events = Vec::new();
    if report.status == DeployStatus::Failed && result.is_ok() {
        let mut failed = Event::new(EventKind::DeployFailed, at)
            .commit(&report.revision)
            .target(target_name(&report.target));
        if let Some(wave) = facts.wave_of(&report.target, &report.revision) {
            failed = failed.wave(&wave);
        }
        if let Ok(DeploymentOutcome::Recorded { reason }) = result {
            failed = failed.reason(reason.clone());
        }
        events.push(failed);
    }
    match result {
        Ok(DeploymentOutcome::Promoted { commit, wave, .. }) => {
            events.push(promoted(facts, wave, commit, at))
        }
        Ok(DeploymentOutcome::Pending {
            wave,
            gate: gate @ Gate::Approval,
        }) => events.push(
            Event::new(EventKind::ApprovalPending, at)
                .wave(wave)
                .commit(&report.revision)
                .reason(gate.describe(wave)),
        ),
        Ok(DeploymentOutcome::Pending { .. } | DeploymentOutcome::Recorded { .. }) => {}
        Err(error) => events.extend(of_promotion_error(error, at)),
    }
    events
}

/// The event of an approval: `promoted` when it let the promotion through.
pub(crate) fn of_approval(
    facts: &dyn Facts,
    result: &Result<ApprovalOutcome, PromotionError>,
    at: SystemTime,
) -> Option<Event> {
    match result {
        Ok(ApprovalOutcome::Promoted { commit, wave, .. }) => {
            Some(promoted(facts, wave, commit, at))
        }
        Ok(ApprovalOutcome::Approved { .. } | ApprovalOutcome::Unchanged { .. }) => None,
        Err(error) => of_promotion_error(error, at),
    }
}

/// The events of one of the service's own passes: each promotion, each refusal, and each
/// publish of what a freeze window deferred (`published`), or the refusal it met.
pub(crate) fn of_due(
    facts: &dyn Facts,
    result: &Result<Due, PromotionError>,
    at: SystemTime,
) -> Vec<Event> {
    let due = match result {
        Ok(due) => due,
        Err(error) => return of_promotion_error(error, at).into_iter().collect(),
    };
    let advance = &due.advance;
    let mut events: Vec<Event> = advance
        .promoted
        .iter()
        .map(|promotion| promoted(facts, &promotion.wave, &promotion.commit, at))
        .chain(
            advance
                .refused
                .iter()
                .filter_map(|error| of_promotion_error(error, at)),
        )
        .chain(advance.awaiting_approval.iter().map(|(wave, revision)| {
            Event::new(EventKind::ApprovalPending, at)
                .wave(wave)
                .commit(revision)
                .reason(Gate::Approval.describe(wave))
        }))
        .collect();
    match &due.deferred {
        Ok(run) => {
            events.extend(run.published.iter().map(|(commit, wave)| {
                Event::new(EventKind::Published, at)
                    .wave(wave)
                    .commit(commit)
                    .images(&facts.images_written(wave, commit))
            }));
            events.extend(
                run.refused
                    .iter()
                    .filter_map(|(_, error)| of_publish_error(error, at)),
            );
        }
        Err(error) => events.extend(of_publish_error(error, at)),
    }
    events
}

/// A rollback's event: `rolled_back` when it wrote a commit (holding alone changes no image).
pub(crate) fn of_rollback(
    facts: &dyn Facts,
    result: &Result<RollbackOutcome, HoldError>,
    at: SystemTime,
) -> Option<Event> {
    match result {
        Ok(RollbackOutcome::RolledBack { commit, wave, held }) => Some(
            Event::new(EventKind::RolledBack, at)
                .wave(wave)
                .commit(commit)
                .images(&facts.images_written(wave, commit))
                .reason(format!(
                    "held until `cfgupdate release`: {}",
                    held.iter()
                        .map(ServiceName::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
        ),
        Ok(RollbackOutcome::Unchanged { .. }) | Err(_) => None,
    }
}

/// A strict mode CI result's events: `refused` for the change CI failed and for each change
/// the rebuild dropped.
pub(crate) fn of_check(result: &Result<CheckOutcome, StrictError>, at: SystemTime) -> Vec<Event> {
    let Ok(CheckOutcome::Evicted {
        eviction, dropped, ..
    }) = result
    else {
        return Vec::new();
    };
    std::iter::once(eviction.as_ref())
        .chain(dropped)
        .map(|eviction| of_eviction(eviction, at))
        .collect()
}

/// The `refused` events of the changes a rebuild of the auto branch dropped during a fetch
/// (`Strict::take_dropped`: each is handed to one process once).
pub(crate) fn of_dropped(dropped: &[Eviction], at: SystemTime) -> Vec<Event> {
    dropped
        .iter()
        .map(|eviction| of_eviction(eviction, at))
        .collect()
}

fn of_eviction(eviction: &Eviction, at: SystemTime) -> Event {
    let event = Event::new(EventKind::Refused, at)
        .commit(&eviction.commit)
        .images(&eviction.images)
        .reason(eviction.reason.clone());
    match &eviction.wave {
        Some(wave) => event.wave(wave),
        None => event,
    }
}
