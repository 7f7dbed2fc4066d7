//! The one writer of the repository inside the process.
//!
//! A dedicated thread owns the repository (it is `Send`, not `Sync`, and its calls block) and
//! works through a bounded queue. Whatever queued up while it was busy (a push in flight, say)
//! is taken at once: all announcements among it become one `publish_batch`, one commit with
//! each announcement's trailers, and every request is answered with its own outcome once the
//! commit is on the remote. Between requests it runs everything due (`run_due`: the
//! promotions, then what a freeze window deferred once the window ended) when a soak gate or
//! a freeze it knows of ends, and every `advance_interval` to catch reports recorded by other
//! replicas.
//!
//! Requests whose caller gave up (a timeout, a closed connection) before their turn came are
//! dropped unstarted, so a caller that saw an error can be sure nothing of theirs is pending.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use cfgupdate_core::promotion::{
    self, ApprovalOutcome, DeployReport, DeploymentOutcome, Gate, PromotionError, Status,
};
use cfgupdate_core::trailers::Action;
use cfgupdate_core::{
    Announcement, Classify, Clock, CommitId, DeferredRun, ErrorClass, PublishError, PublishOutcome,
    WaveName,
};
use tokio::sync::oneshot;
use tracing::{debug, info, warn};

use crate::auth::Caller;
use crate::logged::logged;
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::observed::Observed;
use crate::settings::Settings;
use cfgupdate_core::strict::{AutoQueue, CheckOutcome, CheckReport, Strict, StrictError};

/// A soak deadline is acted on this long after it passes, so that the core, reading the
/// clock again, sees the gate open.
const DEADLINE_SLACK: Duration = Duration::from_millis(50);

/// A request for the writer, with where its answer goes.
pub(crate) enum Job {
    Publish {
        announcement: Announcement,
        received: Instant,
        reply: oneshot::Sender<Result<PublishOutcome, PublishError>>,
    },
    Deploy {
        report: DeployReport,
        reply: DeployReply,
    },
    Approve {
        wave: WaveName,
        revision: Option<CommitId>,
        approver: Caller,
        reply: oneshot::Sender<Result<ApprovalOutcome, PromotionError>>,
    },
    Status {
        reply: oneshot::Sender<Result<(Status, Option<AutoQueue>), PromotionError>>,
    },
    /// A CI result for a strict mode commit (docs/strict.md).
    Check {
        report: CheckReport,
        reply: oneshot::Sender<Result<CheckOutcome, StrictError>>,
    },
    Rollback {
        request: promotion::RollbackRequest,
        reply: oneshot::Sender<Result<promotion::RollbackOutcome, promotion::HoldError>>,
    },
    Release {
        wave: WaveName,
        services: Vec<cfgupdate_core::ServiceName>,
        reply: oneshot::Sender<Result<promotion::ReleaseOutcome, promotion::HoldError>>,
    },
    /// Finish what is queued, then end.
    Stop,
}

/// Where the answer to a deploy report goes.
type DeployReply = oneshot::Sender<Result<DeploymentOutcome, PromotionError>>;

/// Why a job could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubmitError {
    /// The queue is full.
    Busy,
    /// The writer has stopped.
    Stopped,
}

/// Where requests are queued for the writer.
#[derive(Clone)]
pub(crate) struct WriterHandle {
    sender: SyncSender<Job>,
    ended: Arc<std::sync::atomic::AtomicBool>,
}

impl WriterHandle {
    pub(crate) fn submit(&self, job: Job) -> Result<(), SubmitError> {
        self.sender.try_send(job).map_err(|error| match error {
            TrySendError::Full(_) => SubmitError::Busy,
            TrySendError::Disconnected(_) => SubmitError::Stopped,
        })
    }

    /// Whether the writer has ended.
    pub(crate) fn is_stopped(&self) -> bool {
        self.ended.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Asks the writer to finish what is queued and end; waits for room in the queue.
    pub(crate) fn stop(&self) {
        // An error means the writer has ended already.
        let _ = self.sender.send(Job::Stop);
    }
}

/// Starts the writer thread.
pub(crate) fn spawn(
    repo: Observed,
    clock: Arc<dyn Clock + Send + Sync>,
    settings: Arc<Settings>,
    metrics: Arc<Metrics>,
    notifier: Notifier,
) -> std::io::Result<(WriterHandle, JoinHandle<()>)> {
    let (sender, receiver) = mpsc::sync_channel(settings.queue_capacity.max(1));
    let repo = Strict::new(repo, clock.clone(), settings.write);
    let writer = Writer {
        repo,
        clock,
        settings,
        metrics,
        receiver,
        next_advance: Instant::now(),
        notifier,
    };
    let ended = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = ended.clone();
    let thread = thread::Builder::new()
        .name("cfgupdate-writer".to_owned())
        .spawn(move || {
            // Set however the thread ends, a panic included.
            struct Ended(Arc<std::sync::atomic::AtomicBool>);
            impl Drop for Ended {
                fn drop(&mut self) {
                    self.0.store(true, std::sync::atomic::Ordering::SeqCst);
                }
            }
            let _ended = Ended(flag);
            writer.run();
        })?;
    Ok((WriterHandle { sender, ended }, thread))
}

struct Writer {
    /// Every automatic commit goes through strict mode's auto branch when the main branch's
    /// `cfgupdate.toml` turns it on.
    repo: Strict<Observed>,
    clock: Arc<dyn Clock + Send + Sync>,
    settings: Arc<Settings>,
    metrics: Arc<Metrics>,
    receiver: Receiver<Job>,
    next_advance: Instant,
    /// Where the events of the core's answers go (docs/notifications.md); never waits.
    notifier: Notifier,
}

struct Pending {
    announcement: Announcement,
    received: Instant,
    reply: oneshot::Sender<Result<PublishOutcome, PublishError>>,
}

impl Writer {
    fn run(mut self) {
        info!("the writer owns the repository");
        loop {
            let wait = self.next_advance.saturating_duration_since(Instant::now());
            let first = match self.receiver.recv_timeout(wait) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    self.repo.health().writer_busy(true);
                    self.advance();
                    self.report_dropped();
                    self.observe_state();
                    self.repo.health().writer_busy(false);
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            self.repo.health().writer_busy(true);
            let mut jobs = vec![first];
            while jobs.len() < self.settings.max_batch.max(1) {
                match self.receiver.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            if self.handle(jobs) {
                // Stopping: answer whatever was queued behind the stop, then end.
                let rest: Vec<Job> = self.receiver.try_iter().collect();
                self.handle(rest);
                self.report_dropped();
                break;
            }
            if Instant::now() >= self.next_advance {
                self.advance();
            }
            self.report_dropped();
            self.observe_state();
            self.repo.health().writer_busy(false);
        }
        info!("the writer stopped");
    }

    /// Handles one batch; returns whether it held a stop.
    fn handle(&mut self, jobs: Vec<Job>) -> bool {
        let mut stop = false;
        let mut publishes = Vec::new();
        let mut statuses = Vec::new();
        let mut others = Vec::new();
        for job in jobs {
            match job {
                Job::Publish {
                    announcement,
                    received,
                    reply,
                } => {
                    if reply.is_closed() {
                        debug!(app_commit = %announcement.app_commit(), "the caller gave up before its announcement's turn; dropped");
                    } else {
                        publishes.push(Pending {
                            announcement,
                            received,
                            reply,
                        });
                    }
                }
                Job::Status { reply } => statuses.push(reply),
                Job::Stop => stop = true,
                other => others.push(other),
            }
        }
        if !publishes.is_empty() {
            self.publish(publishes);
        }
        // Reports queued one after the other become one state update; an approval between
        // them keeps its place.
        let mut reports = Vec::new();
        for job in others {
            match job {
                Job::Deploy { report, reply } if !reply.is_closed() => {
                    reports.push((report, reply));
                }
                Job::Approve {
                    wave,
                    revision,
                    approver,
                    reply,
                } if !reply.is_closed() => {
                    self.deploy(std::mem::take(&mut reports));
                    let _ = reply.send(self.approve(&wave, revision.as_ref(), &approver));
                }
                Job::Rollback { request, reply } if !reply.is_closed() => {
                    self.deploy(std::mem::take(&mut reports));
                    let _ = reply.send(self.rollback(&request));
                }
                Job::Release {
                    wave,
                    services,
                    reply,
                } if !reply.is_closed() => {
                    self.deploy(std::mem::take(&mut reports));
                    let _ = reply.send(self.release(&wave, &services));
                }
                Job::Check { report, reply } if !reply.is_closed() => {
                    self.deploy(std::mem::take(&mut reports));
                    let _ = reply.send(self.check(&report));
                }
                _ => debug!("the caller gave up before its request's turn; dropped"),
            }
        }
        self.deploy(reports);
        statuses.retain(|reply| !reply.is_closed());
        if !statuses.is_empty() {
            // Everything queued with them has been written: one read answers them all.
            // The waves as the main branch holds them (what Argo CD deploys), also in strict
            // mode, and its auto queue (a fetch that fails here is reported by the status').
            let _ = cfgupdate_core::ConfigRepository::refresh(&mut self.repo);
            let queue = self.repo.queue().ok().flatten();
            let status = promotion::status(
                self.repo.inner_mut(),
                &*self.clock,
                self.settings.write.key.as_ref(),
            )
            .map(|status| (status, queue));
            self.note_branch(&status);
            for reply in statuses {
                let _ = reply.send(status.clone());
            }
        }
        stop
    }

    fn publish(&mut self, batch: Vec<Pending>) {
        let announcements: Vec<Announcement> =
            batch.iter().map(|p| p.announcement.clone()).collect();
        let started = Instant::now();
        let results = cfgupdate_core::publish_batch(
            &mut self.repo,
            &*self.clock,
            &announcements,
            &self.settings.write,
        );
        self.metrics.group_commit(batch.len());
        for result in &results {
            self.note_branch(result);
        }
        self.count_commits(results.iter().flatten().filter_map(PublishOutcome::landed));
        info!(
            announcements = batch.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "group commit"
        );
        for (pending, result) in batch.into_iter().zip(results) {
            let app_commit = pending.announcement.app_commit();
            match &result {
                Ok(PublishOutcome::Committed { commit, wave, .. }) => {
                    self.metrics
                        .announcement_committed(pending.received.elapsed());
                    info!(%app_commit, %commit, %wave, "published");
                }
                Ok(PublishOutcome::Unchanged) => info!(%app_commit, "unchanged"),
                Ok(PublishOutcome::Deferred { until, reason }) => {
                    info!(%app_commit, until = %crate::wire::rfc3339(*until), reason = %logged(reason), "deferred by a freeze window");
                    self.wake_at(*until);
                }
                Err(error) => log_failure("publish", error),
            }
            // Answered first: the event costs the caller nothing.
            let _ = pending.reply.send(result.clone());
            self.notifier.published(&pending.announcement, &result);
        }
    }

    /// Records a batch of reports with one state update and answers each.
    fn deploy(&mut self, batch: Vec<(DeployReport, DeployReply)>) {
        if batch.is_empty() {
            return;
        }
        let reports: Vec<DeployReport> = batch.iter().map(|(report, _)| report.clone()).collect();
        let started = Instant::now();
        let results = promotion::record_deployments(
            &mut self.repo,
            &*self.clock,
            &reports,
            &self.settings.write,
        );
        self.metrics.report_batch(batch.len());
        if batch.len() > 1 {
            info!(
                reports = batch.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "reports recorded together"
            );
        }
        self.count_commits(
            results
                .iter()
                .flatten()
                .filter_map(DeploymentOutcome::landed),
        );
        let mut promoted = Vec::new();
        for ((report, reply), result) in batch.into_iter().zip(results) {
            self.note_branch(&result);
            match &result {
                Ok(DeploymentOutcome::Promoted {
                    commit,
                    wave,
                    completed_at,
                }) => {
                    info!(revision = %report.revision, %commit, %wave, "report recorded; promoted");
                    if !promoted.iter().any(|(seen, _)| seen == wave) {
                        promoted.push((wave.clone(), *completed_at));
                    }
                }
                Ok(DeploymentOutcome::Pending { wave, gate }) => {
                    info!(revision = %report.revision, %wave, gate = gate.name(), "report recorded; promotion waits");
                    self.wake_for(gate);
                }
                Ok(DeploymentOutcome::Recorded { reason }) => {
                    info!(revision = %report.revision, reason = %logged(reason), "report recorded");
                }
                Err(error) => log_failure("deployment report", error),
            }
            let _ = reply.send(result.clone());
            self.notifier.deployment(&self.repo, &report, &result);
        }
        // One promotion is observed once, however many reports of the batch it answered.
        for (wave, completed_at) in &promoted {
            self.observe_promotion(wave, *completed_at);
        }
    }

    /// Acts on a CI result for a strict mode commit.
    fn check(&mut self, report: &CheckReport) -> Result<CheckOutcome, StrictError> {
        let result = self.repo.record_check(report);
        self.notifier.checked(&result);
        match &result {
            Ok(CheckOutcome::Accepted { main, changes }) => {
                info!(commit = %main, accepted = changes.len(), "CI passed; main fast-forwarded")
            }
            Ok(CheckOutcome::Evicted {
                eviction,
                auto,
                dropped,
            }) => info!(
                evicted = %eviction.commit,
                reason = %logged(&eviction.reason),
                auto = %auto,
                dropped = dropped.len(),
                "CI failed; change evicted"
            ),
            Ok(CheckOutcome::Recorded) => info!(commit = %report.commit, "CI result recorded"),
            Ok(CheckOutcome::Ignored(why)) => {
                info!(commit = %report.commit, reason = why.reason(), "CI result changed nothing")
            }
            Err(error) => log_failure("CI result", error),
        }
        result
    }

    /// Approves `wave` (only the candidate from `revision`, when given) for `approver`, the
    /// credential's name (a name the core refuses, which the tokens file cannot hold, falls
    /// back to the default approver).
    fn approve(
        &mut self,
        wave: &WaveName,
        revision: Option<&CommitId>,
        approver: &Caller,
    ) -> Result<ApprovalOutcome, PromotionError> {
        info!(%wave, approver = %logged(&approver.name), "approval");
        let by = promotion::Approver::of_credential(&approver.name);
        let result = promotion::approve_candidate(
            &mut self.repo,
            &*self.clock,
            wave,
            revision,
            &by,
            &self.settings.write,
        );
        self.note_branch(&result);
        self.count_commits(result.iter().filter_map(ApprovalOutcome::landed));
        match &result {
            Ok(ApprovalOutcome::Promoted {
                commit,
                wave,
                completed_at,
            }) => {
                info!(%commit, %wave, "approved; promoted");
                self.observe_promotion(wave, *completed_at);
            }
            Ok(ApprovalOutcome::Approved { waiting }) => {
                info!(%wave, gate = waiting.name(), "approved; promotion still waits");
                self.wake_for(waiting);
            }
            Ok(ApprovalOutcome::Unchanged { reason }) => {
                info!(%wave, reason = %logged(reason), "approval changed nothing")
            }
            Err(error) => log_failure("approval", error),
        }
        self.notifier.approval(&self.repo, &result);
        result
    }

    /// Rolls a wave back and holds its services (`POST /v1/rollbacks`).
    fn rollback(
        &mut self,
        request: &promotion::RollbackRequest,
    ) -> Result<promotion::RollbackOutcome, promotion::HoldError> {
        let result =
            promotion::rollback(&mut self.repo, &*self.clock, request, &self.settings.write);
        self.note_branch(&result);
        self.count_commits(result.iter().filter_map(promotion::RollbackOutcome::landed));
        self.notifier.rolled_back(&self.repo, &result);
        match &result {
            Ok(outcome) => {
                info!(wave = %request.wave, to_revision = %request.to_revision, ?outcome, "rolled back; services held")
            }
            Err(error) => log_failure("rollback", error),
        }
        result
    }

    /// Lifts holds in a wave (`POST /v1/releases`).
    fn release(
        &mut self,
        wave: &WaveName,
        services: &[cfgupdate_core::ServiceName],
    ) -> Result<promotion::ReleaseOutcome, promotion::HoldError> {
        let result = promotion::release(
            &mut self.repo,
            &*self.clock,
            wave,
            services,
            &self.settings.write,
        );
        self.note_branch(&result);
        match &result {
            Ok(outcome) => info!(%wave, released = outcome.released.len(), "holds released"),
            Err(error) => log_failure("release", error),
        }
        result
    }

    fn advance(&mut self) {
        let now = Instant::now();
        // Everything due, in the order the core decides: promotions, then what a freeze
        // window deferred once it ended.
        let result = cfgupdate_core::run_due(&mut self.repo, &*self.clock, &self.settings.write);
        self.note_branch(&result);
        self.notifier.due(&self.repo, &result);
        match result {
            Ok(due) => {
                let advance = &due.advance;
                self.metrics.advance(true);
                self.next_advance = now + self.settings.advance_interval;
                self.count_commits(advance.promoted.iter().map(|p| (&p.commit, p.action)));
                for promotion in &advance.promoted {
                    let (wave, commit) = (&promotion.wave, &promotion.commit);
                    info!(%wave, %commit, "promoted on the service's own timer");
                    self.observe_promotion(wave, promotion.completed_at);
                }
                for error in &advance.refused {
                    log_failure("advance", error);
                }
                if let Some(deadline) = advance.next_deadline {
                    self.wake_at(deadline);
                }
                self.deferred_published(&due.deferred);
            }
            Err(error) => {
                self.metrics.advance(false);
                log_failure("advance", &error);
                let again = if error.class() == ErrorClass::Unavailable {
                    self.settings
                        .retry_after
                        .min(self.settings.advance_interval)
                } else {
                    self.settings.advance_interval
                };
                self.next_advance = now + again;
            }
        }
    }

    /// Logs and counts what the deferred announcements' run of a pass did, and wakes up when
    /// the freeze that holds the rest back ends.
    fn deferred_published(&mut self, result: &Result<DeferredRun, PublishError>) {
        self.note_branch(result);
        match result {
            Ok(run) => {
                self.count_commits(
                    run.published
                        .iter()
                        .map(|(commit, _)| (commit, Action::Publish)),
                );
                for (commit, wave) in &run.published {
                    info!(%wave, %commit, "published what a freeze window deferred");
                }
                for (app_commit, error) in &run.refused {
                    warn!(%app_commit, error = %logged(&error.to_string()), "a deferred announcement was refused when its freeze window ended");
                }
                if let Some(until) = run.next_due() {
                    self.wake_at(until);
                }
            }
            Err(error) => log_failure("publish deferred", error),
        }
    }

    /// Tells `/readyz` whether the state as last fetched is acted on (no fetch).
    /// Sends `refused` for each change a rebuild of the auto branch dropped during this
    /// writer's fetches (a person set its image, or removed its wave or service): the core
    /// hands each drop to the one process whose record of it landed first.
    fn report_dropped(&mut self) {
        let dropped = self.repo.take_dropped();
        for drop in &dropped {
            info!(commit = %drop.commit, reason = %logged(&drop.reason), "a rebuild of the auto branch dropped a change");
        }
        self.notifier.dropped(&dropped);
    }

    fn observe_state(&self) {
        if let Ok(state) = promotion::check_state(&self.repo, self.settings.write.key.as_ref()) {
            self.repo.note_state(state.problem);
        }
    }

    /// Keeps `/readyz` told whether the branch's own files can be used: broken when an answer
    /// blames them (the core reads them at a freshly fetched tip before it does), fixed when
    /// an answer read them without fault.
    fn note_branch<T, E: Classify + std::fmt::Display>(&self, result: &Result<T, E>) {
        match result {
            Err(error) if error.class() == ErrorClass::Invalid && error.blames_repository() => {
                self.repo.health().branch(Some(error.to_string()));
            }
            Err(_) => {}
            Ok(_) => self.repo.health().branch(None),
        }
    }

    fn wake_for(&mut self, gate: &Gate) {
        match gate {
            Gate::Soak {
                ready_at: Some(deadline),
            }
            | Gate::Freeze {
                until: deadline, ..
            } => self.wake_at(*deadline),
            _ => {}
        }
    }

    /// Makes the writer run `advance` when `deadline` (read on the core's clock) passes.
    fn wake_at(&mut self, deadline: SystemTime) {
        let wait = deadline
            .duration_since(self.clock.now())
            .unwrap_or(Duration::ZERO);
        self.next_advance = self
            .next_advance
            .min(Instant::now() + wait + DEADLINE_SLACK);
    }

    /// Counts the commits the core says it landed, by their action; a commit several
    /// answers share (a group commit, a batch's promotion) counts once.
    fn count_commits<'c>(&self, landed: impl IntoIterator<Item = (&'c CommitId, Action)>) {
        let mut seen = std::collections::BTreeSet::new();
        for (commit, action) in landed {
            if seen.insert(commit) {
                self.metrics.commit(action.as_str());
            }
        }
    }

    /// Records how long the promotion into `wave` came after the report that completed the
    /// wave before it, as the core decided it (`completed_at` of its answer).
    fn observe_promotion(&self, wave: &WaveName, completed_at: Option<SystemTime>) {
        if let Some(completed) = completed_at {
            let latency = self
                .clock
                .now()
                .duration_since(completed)
                .unwrap_or(Duration::ZERO);
            self.metrics.promoted(wave.as_str(), latency);
        }
    }
}

fn log_failure<E: Classify + std::fmt::Display>(what: &str, error: &E) {
    let class = error.class();
    // Error sentences quote values from requests and from the repository: escaped and cut.
    let error = logged(&error.to_string());
    match class {
        ErrorClass::Unavailable | ErrorClass::Failed | ErrorClass::Declined => {
            warn!(%error, "{what} failed")
        }
        ErrorClass::Invalid
        | ErrorClass::Stale
        | ErrorClass::Refused
        | ErrorClass::Malformed
        | ErrorClass::Unauthenticated
        | ErrorClass::Forbidden => {
            info!(%error, "{what} refused")
        }
    }
}
