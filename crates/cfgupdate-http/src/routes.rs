//! The endpoints of contract section 5, and what every request goes through: the body limit,
//! the credentials, the `Content-Type`, a timeout, a log line and a count.
//!
//! A write is checked in this order, each step answering with its own status: route (404,
//! 405), body size (413), credentials (401, 403), `Content-Type` (415), shape (400), values
//! (422), then the core's decision (200, 409, 422, 500, 503).

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cfgupdate_core::PublishOutcome;
use cfgupdate_core::promotion::{ApprovalOutcome, DeploymentOutcome, Gate};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tracing::{info, warn};

use crate::auth::{self, AuthError, Presented, Scope};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::observed::Health;
use crate::payload;
use crate::settings::Settings;
use crate::writer::{Job, SubmitError, WriterHandle};

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) writer: WriterHandle,
    pub(crate) settings: Arc<Settings>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) health: Arc<Health>,
}

/// The router of every endpoint.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/images", post(post_images))
        .route("/v1/deployments", post(post_deployments))
        .route("/v1/approvals", post(post_approvals))
        .route("/v1/status", get(get_status))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.settings.body_limit))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Times out, logs and counts every request. Never logs a header or a body.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
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
    if response.status().is_server_error() {
        warn!(%method, %path, code, elapsed_ms, "request");
    } else {
        info!(%method, %path, code, elapsed_ms, "request");
    }
    response
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such endpoint: see contract section 5 (POST /v1/images, /v1/deployments, /v1/approvals; GET /v1/status, /healthz, /readyz, /metrics)",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "this endpoint does not take that method: the /v1/images, /v1/deployments and /v1/approvals endpoints take POST, the others GET",
    )
}

/// The checks every write makes before its body is decoded: size, credentials, type.
fn admit(
    state: &AppState,
    scope: Scope,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Bytes, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the body is larger than the limit of {} bytes",
                    state.settings.body_limit
                ),
            )
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("the body could not be read: {rejection}"),
            )
        }
    })?;
    // Only the first of repeated headers would be checked, so a forged one could ride
    // beside a good one (or the other way round): every credential must be one, and valid.
    if !state.settings.auth.insecure_no_auth {
        if headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .nth(1)
            .is_some()
        {
            return Err(AuthError::Bad {
                reason: "the request carries more than one `Authorization` header; send exactly one",
            }
            .into());
        }
        if headers
            .get_all(auth::SIGNATURE_HEADER)
            .iter()
            .nth(1)
            .is_some()
        {
            return Err(AuthError::Bad {
                reason: "the request carries more than one `X-Hub-Signature-256` header; send exactly one",
            }
            .into());
        }
    }
    let presented = Presented {
        authorization: headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()),
        signature: headers.get(auth::SIGNATURE_HEADER).map(|v| v.as_bytes()),
    };
    auth::authorize(&state.settings.auth, scope, presented, &body)?;
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
    Ok(body)
}

/// Queues `job` and waits for the writer's answer.
async fn ask<T>(
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

async fn post_images(
    State(state): State<AppState>,
    query: Result<Query<ImagesQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = admit(&state, Scope::Ci, &headers, body)?;
    let Query(query) = query.map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the query string cannot be read: {rejection}"),
        )
    })?;
    let announcement = payload::announcement(&body, query.app_commit.as_deref())?;
    let received = Instant::now();
    let outcome = ask(&state, |reply| Job::Publish {
        announcement,
        received,
        reply,
    })
    .await?
    .map_err(|error| ApiError::classified(&error, state.settings.retry_after))?;
    let answer = match outcome {
        PublishOutcome::Committed { commit, wave } => {
            json!({ "result": "committed", "commit": commit.as_str(), "wave": wave.as_str() })
        }
        PublishOutcome::Unchanged => json!({ "result": "unchanged" }),
    };
    Ok(axum::Json(answer).into_response())
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

async fn post_deployments(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = admit(&state, Scope::Deploy, &headers, body)?;
    let report = payload::deploy_report(&body)?;
    let outcome = ask(&state, |reply| Job::Deploy { report, reply })
        .await?
        .map_err(|error| ApiError::classified(&error, state.settings.retry_after))?;
    let answer = match outcome {
        DeploymentOutcome::Recorded { reason } => json!({ "result": "recorded", "reason": reason }),
        DeploymentOutcome::Pending { wave, gate } => pending(&wave, &gate, "pending"),
        DeploymentOutcome::Promoted { commit, wave } => {
            json!({ "result": "promoted", "commit": commit.as_str(), "wave": wave.as_str() })
        }
    };
    Ok(axum::Json(answer).into_response())
}

async fn post_approvals(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = admit(&state, Scope::Admin, &headers, body)?;
    let wave = payload::approval(&body)?;
    let outcome = ask(&state, |reply| Job::Approve {
        wave: wave.clone(),
        reply,
    })
    .await?
    .map_err(|error| ApiError::classified(&error, state.settings.retry_after))?;
    let answer = match outcome {
        ApprovalOutcome::Promoted { commit, wave } => {
            json!({ "result": "promoted", "commit": commit.as_str(), "wave": wave.as_str() })
        }
        ApprovalOutcome::Approved { waiting } => pending(&wave, &waiting, "approved"),
        ApprovalOutcome::Unchanged { reason } => json!({ "result": "unchanged", "reason": reason }),
    };
    Ok(axum::Json(answer).into_response())
}

/// What `cfgupdate status --json` prints, to the byte.
async fn get_status(State(state): State<AppState>) -> Result<Response, ApiError> {
    let status = ask(&state, |reply| Job::Status { reply })
        .await?
        .map_err(|error| ApiError::classified(&error, state.settings.retry_after))?;
    let mut text = serde_json::to_string_pretty(&status).map_err(|error| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot write the status as JSON: {error}"),
        )
    })?;
    text.push('\n');
    Ok(([(header::CONTENT_TYPE, "application/json")], text).into_response())
}

/// The warning `/healthz` and the log carry while authentication is off.
pub(crate) const INSECURE_WARNING: &str = "authentication is turned off (--insecure-no-auth): anyone who can reach this service may publish, report deployments and approve";

async fn healthz(State(state): State<AppState>) -> Response {
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
    // A failure since the last contact means the remote cannot be reached now, however
    // recently it was: every write would get 503, so a load balancer should look elsewhere.
    match state.health.last_contact() {
        (Some(ago), None) if ago <= window => {
            let mut body = json!({
                "status": "ready",
                "remote_reached_seconds_ago": ago.as_secs(),
            });
            // Whether the pipeline state is acted on (contract section 7.1).
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
