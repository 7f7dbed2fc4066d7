//! `GET /v1/status` and the status page `GET /` from one recent snapshot, so that reads cost no fetch each and keep answering
//! while the writer is busy.
//!
//! A snapshot younger than [`Settings::status_max_age`] is answered as it is. An older one
//! starts one refresh, shared by every reader, that asks the writer for a new one, and the
//! reader waits for it up to `status_max_age`: however many readers come, at most one fetch is
//! under way, and a long write holds a reader up no longer than that (it then gets the older
//! snapshot, with its `Age`). Only the very first request waits for a snapshot to exist, and a
//! stale *failure* (the remote was unreachable) is not repeated: readers wait for the shared
//! refresh, so the status is back as soon as the remote is.
//!
//! [`Settings::status_max_age`]: crate::Settings::status_max_age

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use cfgupdate_core::promotion::Status;

use crate::error::ApiError;
use crate::routes::{AppState, ask};
use crate::writer::Job;

/// One read of the status: the core's answer, and the JSON text `/v1/status` sends.
pub(crate) struct Read {
    /// The status, for the page.
    pub(crate) status: Status,
    /// What `cfgupdate status --json` prints.
    pub(crate) json: String,
}

#[derive(Clone)]
struct Snapshot {
    answer: Result<Arc<Read>, ApiError>,
    taken: Instant,
    /// How many writes the service had made when this snapshot was asked for: one made since
    /// makes the next read take a new one, whatever its age.
    writes: u64,
}

/// The latest status snapshot, and the one refresh that may be under way.
#[derive(Default)]
pub(crate) struct StatusCache {
    latest: Mutex<Option<Snapshot>>,
    writes: std::sync::atomic::AtomicU64,
    refresh: Arc<tokio::sync::Mutex<()>>,
}

impl StatusCache {
    fn latest(&self) -> Option<Snapshot> {
        self.latest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Marks the snapshot outdated after a write the service made, so the next read shows
    /// it (one refresh, shared as any other).
    pub(crate) fn written(&self) {
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// The status (typed and as JSON text), and how old it is.
    pub(crate) async fn get(
        self: Arc<Self>,
        state: &AppState,
    ) -> Result<(Arc<Read>, Duration), ApiError> {
        let seen = self.latest();
        if let Some(snapshot) = &seen {
            let age = snapshot.taken.elapsed();
            let fresh = age <= state.settings.status_max_age
                && snapshot.writes == self.writes.load(std::sync::atomic::Ordering::SeqCst);
            match &snapshot.answer {
                Ok(text) if fresh => return Ok((text.clone(), age)),
                Err(error) if fresh => return Err(error.clone()),
                // A stale status is refreshed by one shared read, which this reader waits for
                // a short while (a status never older than it must be when the writer is free);
                // when the writer is busy with a long write, the stale one is shown meanwhile.
                Ok(text) => {
                    if let Ok(guard) = self.refresh.clone().try_lock_owned() {
                        let cache = self.clone();
                        let state = state.clone();
                        tokio::spawn(async move {
                            cache.take(&state).await;
                            drop(guard);
                        });
                    }
                    let wait = state
                        .settings
                        .status_max_age
                        .max(Duration::from_millis(100));
                    if tokio::time::timeout(wait, self.refresh.lock())
                        .await
                        .is_ok()
                        && let Some(latest) = self.latest()
                        && latest.taken > snapshot.taken
                    {
                        return latest.answer.map(|text| (text, latest.taken.elapsed()));
                    }
                    return Ok((text.clone(), age));
                }
                // A stale failure is not: the remote may be back. Wait for the shared refresh.
                Err(_) => {}
            }
        }
        let _guard = self.refresh.lock().await;
        let newer = match (self.latest(), &seen) {
            (Some(latest), Some(seen)) if latest.taken > seen.taken => Some(latest),
            (Some(latest), None) => Some(latest),
            _ => None,
        };
        if newer.is_none() {
            self.take(state).await;
        }
        match self.latest() {
            Some(snapshot) => snapshot.answer.map(|text| (text, snapshot.taken.elapsed())),
            None => Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "no status could be read",
            )),
        }
    }

    /// Asks the writer for a new snapshot and keeps it.
    async fn take(&self, state: &AppState) {
        // Counted before asking: a write answered while this read waits makes it outdated.
        let writes = self.writes.load(std::sync::atomic::Ordering::SeqCst);
        let answer = match ask(state, |reply| Job::Status { reply }).await {
            Ok(Ok((status, queue))) => crate::wire::status_json_with(&status, queue.as_ref())
                .map(|json| Arc::new(Read { status, json }))
                .map_err(|error| {
                    ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("cannot write the status as JSON: {error}"),
                    )
                }),
            Ok(Err(error)) => Err(ApiError::classified(&error, state.settings.retry_after)),
            // The writer is busy or stopping: keep what there is.
            Err(error) => {
                if self.latest().is_some() {
                    return;
                }
                Err(error)
            }
        };
        *self.latest.lock().unwrap_or_else(PoisonError::into_inner) = Some(Snapshot {
            answer,
            taken: Instant::now(),
            writes,
        });
    }
}
