//! Standard Webhooks delivery ids seen, with their answers: a delivery whose id was already
//! seen within [`WEBHOOK_TOLERANCE`] is answered exactly as the first was, and changes nothing.
//!
//! Only validly signed deliveries get here, so only the holder of the webhook secret can fill
//! this memory. It is bounded by [`Settings::webhook_ids_remembered`]: ids older than the
//! tolerance are forgotten (their timestamp would be refused anyway), and an id still inside
//! it never is, since a repeat of a forgotten one would pass the timestamp check and run again.
//! When the memory is full of such live ids, a new delivery is refused with 503 and a
//! `Retry-After` until the oldest leaves the window, and nothing of it is done; repeats of
//! remembered ids are still answered. A first delivery answered with a 5xx (the remote could not be reached,
//! nothing was done) is not remembered, so the sender's retry with the same id is tried again.
//!
//! The memory is the process's own: another replica, or this one after a restart, does not
//! know the ids. A repeated announcement there is still recognised by the core (the same app
//! commit and images are `unchanged`; an older build is refused as stale), so a repeat never
//! writes twice; it may only be answered `unchanged` where the first said `committed`.
//!
//! [`Settings::webhook_ids_remembered`]: crate::Settings::webhook_ids_remembered

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use axum::body::{Body, Bytes, to_bytes};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::watch;

use crate::auth::WEBHOOK_TOLERANCE;
use crate::error::ApiError;

/// The largest answer remembered, in bytes (answers are one JSON object).
const LARGEST_ANSWER: usize = 64 * 1024;

/// An answer, kept to be given again.
#[derive(Debug, Clone)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn response(&self) -> Response {
        let mut response = (self.status, Body::from(self.body.clone())).into_response();
        *response.headers_mut() = self.headers.clone();
        response
    }
}

enum Entry {
    InFlight(watch::Receiver<Option<Answer>>),
    Done(Answer),
}

#[derive(Default)]
struct Seen {
    entries: HashMap<String, (Entry, SystemTime)>,
    order: VecDeque<(String, SystemTime)>,
}

/// The ids seen and their answers.
pub(crate) struct Deliveries {
    seen: Mutex<Seen>,
    capacity: usize,
}

enum Turn {
    First(watch::Sender<Option<Answer>>),
    Wait(watch::Receiver<Option<Answer>>),
    Again(Answer),
    /// The memory is full of ids inside their window: a room frees up after this long.
    Full(Duration),
}

/// Forgets an id whose first delivery ended without an answer to remember.
struct Forget<'a> {
    deliveries: &'a Deliveries,
    id: Option<String>,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let mut seen = self.deliveries.lock();
            if matches!(seen.entries.get(&id), Some((Entry::InFlight(_), _))) {
                seen.entries.remove(&id);
            }
        }
    }
}

impl Deliveries {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            seen: Mutex::new(Seen::default()),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many ids are remembered now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Answers the delivery `id` received at `now` and signed at `signed_at`: by running
    /// `work` the first time, and with the first answer every other time while a repeat could
    /// still pass the timestamp check, that is until the later of the two plus the tolerance.
    pub(crate) async fn once(
        &self,
        id: &str,
        now: SystemTime,
        signed_at: SystemTime,
        work: impl Future<Output = Response>,
    ) -> Response {
        let turn = self.turn(id, now, now.max(signed_at));
        let sender = match turn {
            Turn::Again(answer) => {
                tracing::info!(webhook_id = %crate::logged::logged(id), "a delivery seen before: answered as the first was");
                return answer.response();
            }
            Turn::Wait(mut receiver) => {
                let answer = receiver
                    .wait_for(Option::is_some)
                    .await
                    .ok()
                    .and_then(|answer| answer.clone());
                return match answer {
                    Some(answer) => answer.response(),
                    None => ApiError::unavailable(
                        "the first delivery of this webhook-id ended without an answer; nothing of this one was done, retry it",
                        Duration::from_secs(1),
                    )
                    .into_response(),
                };
            }
            Turn::Full(wait) => {
                tracing::warn!(webhook_id = %crate::logged::logged(id), "every remembered delivery id is still inside its window: delivery refused, nothing done");
                return ApiError::unavailable(
                    "too many webhook deliveries within their 5-minute window to remember one more; nothing of this one was done, retry it later",
                    wait,
                )
                .into_response();
            }
            Turn::First(sender) => sender,
        };
        let mut forget = Forget {
            deliveries: self,
            id: Some(id.to_owned()),
        };
        let response = work.await;
        let (parts, body) = response.into_parts();
        let body = match to_bytes(body, LARGEST_ANSWER).await {
            Ok(body) => body,
            Err(_) => Bytes::from_static(b"{\"error\": \"the answer could not be kept\"}"),
        };
        let answer = Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        };
        if !answer.status.is_server_error() {
            let mut seen = self.lock();
            if let Some(entry) = seen.entries.get_mut(id) {
                entry.0 = Entry::Done(answer.clone());
                forget.id = None;
            }
        }
        let _ = sender.send(Some(answer.clone()));
        drop(forget);
        answer.response()
    }

    fn turn(&self, id: &str, now: SystemTime, keep_from: SystemTime) -> Turn {
        let mut seen = self.lock();
        let horizon = now
            .checked_sub(WEBHOOK_TOLERANCE)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        // Forget what is older than the tolerance, oldest first.
        while let Some((oldest, at)) = seen.order.front().cloned() {
            if at >= horizon {
                break;
            }
            seen.order.pop_front();
            if seen.entries.get(&oldest).is_some_and(|(_, t)| *t == at) {
                seen.entries.remove(&oldest);
            }
        }
        // The order queue may hold ids already forgotten (a 5xx): keep it bounded too; an id
        // it drops stays in `entries`, which the sweep below expires.
        while seen.order.len() > self.capacity.saturating_mul(2) {
            seen.order.pop_front();
        }
        match seen.entries.get(id) {
            Some((Entry::Done(answer), _)) => return Turn::Again(answer.clone()),
            Some((Entry::InFlight(receiver), _)) => return Turn::Wait(receiver.clone()),
            None => {}
        }
        if seen.entries.len() >= self.capacity {
            // The queue is in arrival order, not expiry order (a delivery signed ahead of the
            // clock stays longer): look at every id before refusing.
            seen.entries.retain(|_, (_, at)| *at >= horizon);
        }
        if seen.entries.len() >= self.capacity {
            let frees_at = seen
                .entries
                .values()
                .map(|(_, at)| *at + WEBHOOK_TOLERANCE)
                .min()
                .unwrap_or(now);
            let wait = frees_at
                .duration_since(now)
                .unwrap_or_default()
                .max(Duration::from_secs(1));
            return Turn::Full(wait);
        }
        let (sender, receiver) = watch::channel(None);
        seen.entries
            .insert(id.to_owned(), (Entry::InFlight(receiver), keep_from));
        seen.order.push_back((id.to_owned(), keep_from));
        Turn::First(sender)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + seconds)
    }

    async fn answer(
        deliveries: &Deliveries,
        id: &str,
        now: SystemTime,
        runs: &AtomicUsize,
        status: StatusCode,
    ) -> (StatusCode, Bytes) {
        answer_signed(deliveries, id, now, now, runs, status).await
    }

    async fn answer_signed(
        deliveries: &Deliveries,
        id: &str,
        now: SystemTime,
        signed_at: SystemTime,
        runs: &AtomicUsize,
        status: StatusCode,
    ) -> (StatusCode, Bytes) {
        let response = deliveries
            .once(id, now, signed_at, async {
                let n = runs.fetch_add(1, Ordering::SeqCst);
                (status, format!("{{\"run\": {n}}}")).into_response()
            })
            .await;
        let status = response.status();
        (status, to_bytes(response.into_body(), 1024).await.unwrap())
    }

    #[tokio::test]
    async fn a_repeated_id_gets_the_first_answer_without_running_again() {
        let deliveries = Deliveries::new(100);
        let runs = AtomicUsize::new(0);
        let first = answer(&deliveries, "msg_1", at(0), &runs, StatusCode::OK).await;
        let again = answer(&deliveries, "msg_1", at(10), &runs, StatusCode::ACCEPTED).await;
        assert_eq!(first, again);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        let other = answer(&deliveries, "msg_2", at(10), &runs, StatusCode::OK).await;
        assert_ne!(first.1, other.1);
        // After the tolerance the id is forgotten (the timestamp check refuses such a
        // delivery before it gets here).
        answer(&deliveries, "msg_1", at(400), &runs, StatusCode::OK).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_delivery_signed_ahead_of_the_clock_is_remembered_as_long_as_its_timestamp_passes() {
        // Signed 4 minutes ahead of the service's clock: its timestamp passes until 9 minutes
        // after it arrived, and so long a repeat must get the first answer.
        let deliveries = Deliveries::new(100);
        let runs = AtomicUsize::new(0);
        let first =
            answer_signed(&deliveries, "ahead", at(0), at(240), &runs, StatusCode::OK).await;
        let again = answer_signed(
            &deliveries,
            "ahead",
            at(480),
            at(240),
            &runs,
            StatusCode::OK,
        )
        .await;
        assert_eq!(first, again);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failure_that_did_nothing_is_not_remembered() {
        let deliveries = Deliveries::new(100);
        let runs = AtomicUsize::new(0);
        let first = answer(
            &deliveries,
            "m",
            at(0),
            &runs,
            StatusCode::SERVICE_UNAVAILABLE,
        )
        .await;
        assert_eq!(first.0, StatusCode::SERVICE_UNAVAILABLE);
        let retry = answer(&deliveries, "m", at(1), &runs, StatusCode::OK).await;
        assert_eq!(retry.0, StatusCode::OK);
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn the_memory_is_bounded() {
        let deliveries = Deliveries::new(10);
        let runs = AtomicUsize::new(0);
        for i in 0..1000 {
            // Ten deliveries every 6 minutes: each batch's ids have left the window when
            // the next arrives.
            answer(
                &deliveries,
                &format!("m{i}"),
                at(i / 10 * 360),
                &runs,
                StatusCode::OK,
            )
            .await;
            assert!(deliveries.len() <= 10);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1000);
        assert!(deliveries.lock().order.len() <= 20);
    }

    #[tokio::test]
    async fn a_full_memory_refuses_a_new_delivery_and_forgets_no_live_id() {
        let deliveries = Deliveries::new(3);
        let runs = AtomicUsize::new(0);
        for (i, second) in [0, 10, 20].into_iter().enumerate() {
            let (status, _) = answer(
                &deliveries,
                &format!("m{i}"),
                at(second),
                &runs,
                StatusCode::OK,
            )
            .await;
            assert_eq!(status, StatusCode::OK);
        }
        // Full of ids inside their window: the new one is refused and not run.
        let response = deliveries
            .once("new", at(30), at(30), async {
                runs.fetch_add(1, Ordering::SeqCst);
                StatusCode::OK.into_response()
            })
            .await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        // m0 leaves the window 300 s after it arrived, 270 s from now.
        assert_eq!(
            response
                .headers()
                .get("retry-after")
                .unwrap()
                .to_str()
                .unwrap(),
            "270"
        );
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        // The replay of the oldest id, which a forgetting memory would run again, is still
        // answered as the first.
        let (status, body) = answer(&deliveries, "m0", at(40), &runs, StatusCode::OK).await;
        assert_eq!((status, &body[..]), (StatusCode::OK, &b"{\"run\": 0}"[..]));
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        // Once m0 left its window, there is room again.
        let (status, _) = answer(&deliveries, "new", at(301), &runs, StatusCode::OK).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(runs.load(Ordering::SeqCst), 4);
        // A delivery signed ahead of the clock is remembered longer, though it came first in
        // the queue: it is not forgotten when the memory is full.
        let deliveries = Deliveries::new(2);
        answer_signed(&deliveries, "ahead", at(0), at(240), &runs, StatusCode::OK).await;
        answer(&deliveries, "later", at(100), &runs, StatusCode::OK).await;
        let runs_before = runs.load(Ordering::SeqCst);
        let (status, _) = answer(&deliveries, "third", at(420), &runs, StatusCode::OK).await;
        assert_eq!(status, StatusCode::OK, "`later` left its window at 400");
        let (_, body) = answer_signed(
            &deliveries,
            "ahead",
            at(500),
            at(240),
            &runs,
            StatusCode::OK,
        )
        .await;
        assert_eq!(runs.load(Ordering::SeqCst), runs_before + 1);
        assert!(body.starts_with(b"{\"run\": "));
    }

    #[tokio::test]
    async fn a_first_delivery_abandoned_half_way_lets_the_next_one_run() {
        let deliveries = Deliveries::new(10);
        let never = deliveries.once("m", at(0), at(0), std::future::pending());
        // Polled once (the id is now in flight), then dropped: the caller went away.
        let _ = tokio::time::timeout(Duration::from_millis(10), never).await;
        let runs = AtomicUsize::new(0);
        let next = answer(&deliveries, "m", at(1), &runs, StatusCode::OK).await;
        assert_eq!(next.0, StatusCode::OK);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }
}
