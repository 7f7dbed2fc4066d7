//! The endpoints of docs/http.md, and what every request goes through: the credentials,
//! the `Content-Type`, the body limit and deadline, a timeout, a log line and a count.
//!
//! A write is checked in this order, each step answering with its own status: route (404,
//! 405), credentials the headers decide (401, 403: a bearer token, a webhook timestamp),
//! `Content-Type` (415), declared size (413), the body within its limit (413) and deadline
//! (408), signatures over the body (401), shape (400), values (422), then the core's decision
//! (200, 409, 422, 500, 503). A missing or wrong bearer token is refused before a byte of the
//! body is read.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{MatchedPath, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cfgupdate_core::promotion::{ApprovalOutcome, DeploymentOutcome, Gate, RollbackOutcome};
use cfgupdate_core::{Clock, PublishOutcome};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tracing::{info, warn};

use crate::auth::{self, Admission, Caller, Presented, Scope, Via, WebhookHeaders};
use crate::deliveries::Deliveries;
use crate::error::ApiError;
use crate::logged::logged;
use crate::metrics::Metrics;
use crate::observed::Health;
use crate::payload;
use crate::settings::Settings;
use crate::status::StatusCache;
use crate::writer::{Job, SubmitError, WriterHandle};

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) writer: WriterHandle,
    pub(crate) settings: Arc<Settings>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) health: Arc<Health>,
    pub(crate) clock: Arc<dyn Clock + Send + Sync>,
    pub(crate) deliveries: Arc<Deliveries>,
    pub(crate) status: Arc<StatusCache>,
    /// Permits to read a body whose sender nothing has proved yet (`Limits::unproven_bodies`).
    pub(crate) unproven_bodies: Arc<tokio::sync::Semaphore>,
}

/// The router of every endpoint.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/images", post(post_images))
        .route("/v1/deployments", post(post_deployments))
        .route("/v1/approvals", post(post_approvals))
        .route("/v1/rollbacks", post(post_rollbacks))
        .route("/v1/releases", post(post_releases))
        .route("/v1/checks", post(post_checks))
        .route("/v1/status", get(get_status))
        .route("/", get(crate::page::get_page))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(crate::openapi::document))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Times out, logs and counts every request. Never logs a header or a body; the path is
/// escaped and cut (it comes from a stranger).
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = logged(request.uri().path());
    let endpoint = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_owned();
    let response =
        match tokio::time::timeout(state.settings.request_timeout, next.run(request)).await {
            Ok(response) => response,
            Err(_) => ApiError::unavailable(
                format!(
                    "the request took longer than {} s; nothing that had not started was done, and retrying is safe",
                    state.settings.request_timeout.as_secs_f64()
                ),
                state.settings.retry_after,
            )
            .into_response(),
        };
    let code = response.status().as_u16();
    state.metrics.request(&endpoint, code);
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let caller = response
        .extensions()
        .get::<Caller>()
        .map(|caller| logged(&caller.name));
    let caller = caller.as_deref().unwrap_or("-");
    if response.status().is_server_error() {
        warn!(%method, %path, code, elapsed_ms, %caller, "request");
    } else {
        info!(%method, %path, code, elapsed_ms, %caller, "request");
    }
    response
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such endpoint: GET /openapi.json describes every endpoint (POST /v1/images, /v1/deployments, /v1/approvals, /v1/rollbacks, /v1/releases, /v1/checks; GET /v1/status, /healthz, /readyz, /metrics)",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "this endpoint does not take that method: the /v1/images, /v1/deployments, /v1/approvals, /v1/rollbacks and /v1/releases endpoints take POST, the others GET",
    )
}

/// A write request past its checks: who sent it, and its body.
pub(crate) struct Admitted {
    /// Who sent it (also put on the response, for the log line).
    pub(crate) caller: Caller,
    /// The body, read within its limit and deadline.
    pub(crate) body: Bytes,
    /// The request's URI (its query).
    pub(crate) uri: Uri,
    /// The Standard Webhooks delivery id and when it was signed, when the request is one.
    delivery: Option<(String, std::time::SystemTime)>,
}

fn duplicate(headers: &HeaderMap, name: &str) -> bool {
    headers.get_all(name).iter().nth(1).is_some()
}

/// The checks every write makes, cheapest first: credentials that the headers alone decide
/// (before a byte of the body is read: a stranger costs nothing), the `Content-Type`, the
/// declared length, then the body within its limit and deadline, then any signature over it.
async fn admit(state: &AppState, scope: Scope, request: Request) -> Result<Admitted, ApiError> {
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    // Only the first of repeated headers would be checked, so a forged one could ride
    // beside a good one (or the other way round): every credential must be one, and valid.
    if !state.settings.auth.insecure_no_auth {
        for (name, shown) in [
            (header::AUTHORIZATION.as_str(), "Authorization"),
            (auth::SIGNATURE_HEADER, "X-Hub-Signature-256"),
            (auth::WEBHOOK_ID_HEADER, "webhook-id"),
            (auth::WEBHOOK_TIMESTAMP_HEADER, "webhook-timestamp"),
            (auth::WEBHOOK_SIGNATURE_HEADER, "webhook-signature"),
        ] {
            if duplicate(headers, name) {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    format!("the request carries more than one `{shown}` header; send exactly one"),
                ));
            }
        }
    }
    let value = |name: &str| headers.get(name).map(|v| v.as_bytes());
    let presented = Presented {
        authorization: value(header::AUTHORIZATION.as_str()),
        signature: value(auth::SIGNATURE_HEADER),
        webhook: WebhookHeaders {
            id: value(auth::WEBHOOK_ID_HEADER),
            timestamp: value(auth::WEBHOOK_TIMESTAMP_HEADER),
            signature: value(auth::WEBHOOK_SIGNATURE_HEADER),
        },
    };
    let admission = auth::check_headers(&state.settings.auth, scope, presented, state.clock.now())?;
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be JSON, sent with `Content-Type: application/json`",
        ));
    }
    let limit = state.settings.body_limit;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than the limit of {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    // A body that only a signature over it can prove: one of a small share of such reads, so
    // that strangers sending signature-shaped headers cannot hold every connection and a
    // mebibyte each for the whole body deadline.
    let _unproven = match &admission {
        Admission::Granted(_) => None,
        Admission::NeedsBody(_) => match state.unproven_bodies.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                return Err(ApiError::unavailable(
                    "too many signed requests are being read at once; retry shortly",
                    state.settings.retry_after,
                ));
            }
        },
    };
    let deadline = state.settings.limits.body_timeout;
    let body = match tokio::time::timeout(deadline, Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(error)) if error.is::<LengthLimitError>() => return Err(too_large()),
        Ok(Err(error)) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("the body could not be read: {error}"),
            ));
        }
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the body did not arrive within {} s",
                    deadline.as_secs_f64()
                ),
            ));
        }
    };
    let (caller, delivery) = match admission {
        Admission::Granted(caller) => (caller, None),
        Admission::NeedsBody(pending) => {
            let delivery = pending.delivery().map(|d| (d.id.clone(), d.signed_at()));
            (
                auth::check_body(&state.settings.auth, pending, &body)?,
                delivery,
            )
        }
    };
    Ok(Admitted {
        caller,
        body,
        uri: parts.uri,
        delivery,
    })
}

/// Runs a write endpoint: its checks, then `handle`; a Standard Webhooks delivery seen before
/// is answered as its first delivery was, without running `handle` again.
async fn write<F, Fut>(state: AppState, scope: Scope, request: Request, handle: F) -> Response
where
    F: FnOnce(AppState, Admitted) -> Fut,
    Fut: Future<Output = Result<Response, ApiError>>,
{
    let admitted = match admit(&state, scope, request).await {
        Ok(admitted) => admitted,
        Err(error) => return error.into_response(),
    };
    let caller = admitted.caller.clone();
    let status = state.status.clone();
    let mut response = match admitted.delivery.clone() {
        None => handle(state, admitted)
            .await
            .unwrap_or_else(IntoResponse::into_response),
        Some((id, signed_at)) => {
            let now = state.clock.now();
            let deliveries = state.deliveries.clone();
            deliveries
                .once(&id, now, signed_at, async move {
                    handle(state, admitted)
                        .await
                        .unwrap_or_else(IntoResponse::into_response)
                })
                .await
        }
    };
    // What an admitted caller just did shows in the next status read (read your writes),
    // however recent the snapshot: only callers with credentials get this far.
    status.written();
    response.extensions_mut().insert(caller);
    response
}

/// Queues `job` and waits for the writer's answer.
pub(crate) async fn ask<T>(
    state: &AppState,
    job: impl FnOnce(oneshot::Sender<T>) -> Job,
) -> Result<T, ApiError> {
    let (reply, answer) = oneshot::channel();
    let retry_after = state.settings.retry_after;
    state
        .writer
        .submit(job(reply))
        .map_err(|error| match error {
            SubmitError::Busy => ApiError::unavailable(
                "the service is busy: too many requests wait for the repository; nothing was done",
                retry_after,
            ),
            SubmitError::Stopped => ApiError::unavailable(
                "the service is shutting down; nothing was done",
                retry_after,
            ),
        })?;
    answer.await.map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the repository writer ended before answering",
        )
    })
}

#[derive(Deserialize)]
struct ImagesQuery {
    app_commit: Option<String>,
}

async fn post_images(State(state): State<AppState>, request: Request) -> Response {
    write(state, Scope::Ci, request, |state, admitted| async move {
        let Query(query) = Query::<ImagesQuery>::try_from_uri(&admitted.uri).map_err(|rejection| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("the query string cannot be read: {rejection}"),
            )
        })?;
        // A signature covers the body only: what decides the result must be in it.
        if query.app_commit.is_some() && !matches!(admitted.caller.via, Via::Token | Via::NoAuth) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "a signed request must carry `app_commit` in its body, which the signature covers: the query string's `?app_commit=` is accepted only with a bearer token",
            ));
        }
        let announcement = payload::announcement(&admitted.body, query.app_commit.as_deref())?;
        // Writing through a freeze window is an admin's decision.
        if announcement.overrides_freeze() && admitted.caller.scope != Scope::Admin {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "`override_freeze` needs credentials of scope `admin`; these are of scope `{}`; nothing was published",
                    admitted.caller.scope.name()
                ),
            ));
        }
        let received = Instant::now();
        let outcome = ask(&state, |reply| Job::Publish {
            announcement,
            received,
            reply,
        })
        .await?
        .map_err(|error| ApiError::classified(&error, state.settings.retry_after))?;
        let answer = match outcome {
            PublishOutcome::Committed {
                commit,
                wave,
                skipped,
            } => {
                let mut answer = json!({ "result": "committed", "commit": commit.as_str(), "wave": wave.as_str() });
                if !skipped.is_empty() {
                    answer["skipped"] = json!(skipped.iter().map(|s| s.as_str()).collect::<Vec<_>>());
                }
                answer
            }
            PublishOutcome::Unchanged => json!({ "result": "unchanged" }),
            PublishOutcome::Deferred { until, reason } => {
                let answer = json!({
                    "result": "deferred",
                    "until": crate::wire::rfc3339(until),
                    "reason": reason,
                });
                return Ok((StatusCode::ACCEPTED, axum::Json(answer)).into_response());
            }
        };
        Ok(axum::Json(answer).into_response())
    })
    .await
}

fn pending(wave: &cfgupdate_core::WaveName, gate: &Gate, result: &str) -> Value {
    let mut answer = json!({
        "result": result,
        "wave": wave.as_str(),
        "gate": gate.name(),
        "reason": gate.describe(wave),
    });
    if let Gate::Soak { ready_at: Some(at) } = gate
        && let Ok(at) = jiff::Timestamp::try_from(*at)
    {
        answer["ready_at"] = Value::String(at.to_string());
    }
    answer
}

async fn post_deployments(State(state): State<AppState>, request: Request) -> Response {
    write(state, Scope::Deploy, request, |state, admitted| async move {
        let report = payload::deploy_report(&admitted.body)?;
        let outcome = ask(&state, |reply| Job::Deploy { report, reply })
            .await?
            .map_err(|error| ApiError::classified(&error, state.settings.retry_after))?;
        let answer = match outcome {
            DeploymentOutcome::Recorded { reason } => {
                json!({ "result": "recorded", "reason": reason })
            }
            DeploymentOutcome::Pending { wave, gate } => pending(&wave, &gate, "pending"),
            DeploymentOutcome::Promoted { commit, wave, .. } => {
                json!({ "result": "promoted", "commit": commit.as_str(), "wave": wave.as_str() })
            }
        };
        Ok(axum::Json(answer).into_response())
    })
    .await
}

async fn post_approvals(State(state): State<AppState>, request: Request) -> Response {
    write(state, Scope::Admin, request, |state, admitted| async move {
        let payload::ApprovalRequest { wave, revision } = payload::approval(&admitted.body)?;
        let approver = admitted.caller.clone();
        let outcome = ask(&state, |reply| Job::Approve {
            wave: wave.clone(),
            revision,
            approver,
            reply,
        })
        .await?
        .map_err(|error| ApiError::classified(&error, state.settings.retry_after))?;
        let answer = match outcome {
            ApprovalOutcome::Promoted { commit, wave, .. } => {
                json!({ "result": "promoted", "commit": commit.as_str(), "wave": wave.as_str() })
            }
            ApprovalOutcome::Approved { waiting } => pending(&wave, &waiting, "approved"),
            ApprovalOutcome::Unchanged { reason } => {
                json!({ "result": "unchanged", "reason": reason })
            }
        };
        Ok(axum::Json(answer).into_response())
    })
    .await
}

async fn post_rollbacks(State(state): State<AppState>, request: Request) -> Response {
    write(state, Scope::Admin, request, |state, admitted| async move {
        let rollback = payload::rollback(&admitted.body)?;
        let outcome = ask(&state, |reply| Job::Rollback {
            request: rollback,
            reply,
        })
        .await?
        .map_err(|error| ApiError::classified(&error, state.settings.retry_after))?;
        let names = |held: &[cfgupdate_core::ServiceName]| {
            held.iter()
                .map(|s| s.as_str().to_owned())
                .collect::<Vec<_>>()
        };
        let answer = match outcome {
            RollbackOutcome::RolledBack { commit, wave, held } => json!({
                "result": "rolled_back",
                "commit": commit.as_str(),
                "wave": wave.as_str(),
                "held": names(&held),
            }),
            RollbackOutcome::Unchanged { wave, held } => json!({
                "result": "unchanged",
                "wave": wave.as_str(),
                "held": names(&held),
            }),
        };
        Ok(axum::Json(answer).into_response())
    })
    .await
}

async fn post_releases(State(state): State<AppState>, request: Request) -> Response {
    write(state, Scope::Admin, request, |state, admitted| async move {
        let (wave, services) = payload::release(&admitted.body)?;
        let outcome = ask(&state, |reply| Job::Release {
            wave,
            services,
            reply,
        })
        .await?
        .map_err(|error| ApiError::classified(&error, state.settings.retry_after))?;
        let released: Vec<Value> = outcome
            .released
            .iter()
            .map(|(service, hold)| {
                json!({ "service": service.as_str(), "kind": hold.kind(), "reason": hold.describe() })
            })
            .collect();
        let answer = json!({
            "result": "released",
            "wave": outcome.wave.as_str(),
            "released": released,
        });
        Ok(axum::Json(answer).into_response())
    })
    .await
}

/// `POST /v1/checks` (scope `ci`): a CI result for a strict mode commit (docs/strict.md).
async fn post_checks(State(state): State<AppState>, request: Request) -> Response {
    write(state, Scope::Ci, request, |state, admitted| async move {
        let report = crate::checks::report(&admitted.body)?;
        let outcome = ask(&state, |reply| Job::Check { report, reply })
            .await?
            .map_err(|error| ApiError::classified(&error, state.settings.retry_after))?;
        Ok(axum::Json(crate::checks::answer(&outcome)).into_response())
    })
    .await
}

/// What `cfgupdate status --json` prints, to the byte, from a snapshot at most
/// [`Settings::status_max_age`] old (see [`StatusCache`]).
async fn get_status(State(state): State<AppState>) -> Response {
    match state.status.clone().get(&state).await {
        Ok((read, age)) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
                (header::AGE, HeaderValue::from(age.as_secs())),
            ],
            read.json.clone(),
        )
            .into_response(),
        Err(error) => error.into_response(),
    }
}

/// The warning `/healthz` and the log carry while authentication is off.
pub(crate) const INSECURE_WARNING: &str = "authentication is turned off (--insecure-no-auth): anyone who can reach this service may publish, report deployments and approve";

/// 200 while the process can work: 503 when the writer has been busy with one task for longer
/// than [`Settings::writer_stuck_after`] (a write stuck on a remote that never answers), or
/// has ended.
async fn healthz(State(state): State<AppState>) -> Response {
    let bound = state.settings.writer_stuck_after;
    let stuck = match state.health.writer_busy_for() {
        Some(busy) if busy > bound => Some(format!(
            "the repository writer has been busy with one task for {:.1} s, longer than the bound of {:.1} s: it looks stuck",
            busy.as_secs_f64(),
            bound.as_secs_f64()
        )),
        _ if state.writer.is_stopped() => Some("the repository writer has ended".to_owned()),
        _ => None,
    };
    if let Some(reason) = stuck {
        return ApiError::unavailable(reason, state.settings.retry_after).into_response();
    }
    let answer = if state.settings.auth.insecure_no_auth {
        json!({ "status": "ok", "auth": "disabled", "warning": INSECURE_WARNING })
    } else {
        json!({ "status": "ok", "auth": "enabled" })
    };
    axum::Json(answer).into_response()
}

async fn readyz(State(state): State<AppState>) -> Response {
    let window = state.settings.readiness_window;
    if let Some(declined) = state.health.declined() {
        let message = format!("the last push did not land: {declined}");
        return ApiError::unavailable(message, state.settings.retry_after).into_response();
    }
    if let Some(broken) = state.health.broken() {
        return ApiError::unavailable(
            format!("the branch's own configuration cannot be used, so every write waits until a person fixes it: {broken}"),
            state.settings.retry_after,
        )
        .into_response();
    }
    // A failure since the last contact means the remote cannot be reached now, however
    // recently it was: every write would get 503, so a load balancer should look elsewhere.
    match state.health.last_contact() {
        (Some(ago), None) if ago <= window => {
            let mut body = json!({
                "status": "ready",
                "remote_reached_seconds_ago": ago.as_secs(),
            });
            // Whether the pipeline state is acted on
            // (docs/promotion.md#state-only-cfgupdate-can-write).
            if let Some(problem) = state.health.state_problem() {
                body["state"] = json!(problem);
            } else if state.settings.write.key.is_none() {
                body["state"] = json!(cfgupdate_core::promotion::UNAUTHENTICATED_WARNING);
            }
            axum::Json(body).into_response()
        }
        (ago, failure) => {
            let when = match ago {
                Some(ago) => format!("{} s ago", ago.as_secs()),
                None => "never since the service started".to_owned(),
            };
            let message = match failure {
                Some(failure) => format!(
                    "the remote cannot be reached (last reached {when}); the last attempt failed: {failure}"
                ),
                None => format!(
                    "the remote was last reached {when}, not within the last {} s",
                    window.as_secs()
                ),
            };
            ApiError::unavailable(message, state.settings.retry_after).into_response()
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        )],
        state.metrics.encode(),
    )
        .into_response()
}
