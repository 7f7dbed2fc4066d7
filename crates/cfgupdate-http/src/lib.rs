//! cfgupdate's HTTP service (docs/http.md), on axum.
//!
//! CI announces images (`POST /v1/images`, with a bearer token, an `X-Hub-Signature-256` or
//! Standard Webhooks signature), Argo CD reports deployments
//! (`POST /v1/deployments`), people approve (`POST /v1/approvals`), and anyone may read
//! `GET /v1/status`, `/healthz`, `/readyz` and `/metrics`. Every decision is the core's: this
//! crate turns requests into the core's types, hands them to the one writer that owns the
//! repository, and turns the answers (or the errors, by their [`ErrorClass`]) into JSON and
//! status codes.
//!
//! **Architecture invariant:** this crate knows only the core. It never imports the git
//! adapter and never reads the environment: the caller (the CLI is the composition root)
//! builds the repository, the clock and the [`Settings`], credentials included.
//!
//! # Starting and stopping
//!
//! From async code, [`Service::start`] then [`Service::serve`] with a shutdown future; from
//! synchronous code, [`BackgroundServer::start`], which runs its own runtime on its own thread,
//! and [`BackgroundServer::stop`]. Both shut down gracefully: no new connections, every request
//! in flight answered, every queued write finished.
//!
//! ```
//! use std::sync::Arc;
//!
//! use cfgupdate_core::SystemClock;
//! use cfgupdate_core::MemoryRepository;
//! use cfgupdate_http::{AuthSettings, BackgroundServer, Settings};
//!
//! # fn main() -> std::io::Result<()> {
//! let repository = MemoryRepository::new(&[("README.md", "a config repository\n")]);
//! let settings = Settings {
//!     auth: AuthSettings::from_lookup(|name| std::env::var(name).ok()),
//!     ..Settings::default()
//! };
//! let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! let server = BackgroundServer::start(listener, Box::new(repository), Arc::new(SystemClock), settings)?;
//! println!("serving on http://{}", server.local_addr());
//! server.stop()?;
//! # Ok(())
//! # }
//! ```
//!
//! # Status codes
//!
//! 401 no or bad credentials (a missing or wrong bearer token is refused before the body is
//! read), 403 credentials of another scope (or a scope with no credential configured: it fails
//! closed), 404, 405, 415 not `application/json`, 413 body over [`Settings::body_limit`], 408
//! body slower than [`Limits::body_timeout`], 400 malformed body (or `?app_commit=` on a request
//! authenticated by a signature alone), then the core's errors by class (see [`error`]): 422
//! invalid, 409 stale or refused by a hold or gate, 500 failed, 503 with `Retry-After` when the
//! remote cannot be reached or the branch's own files are broken (nothing was done; retrying is
//! safe). Errors are `{"error": "<one sentence>"}`.
//!
//! # Answers
//!
//! - `POST /v1/images`: `{"result": "committed", "commit", "wave"}` or `{"result": "unchanged"}`.
//! - `POST /v1/deployments`: `{"result": "recorded", "reason"}`, `{"result": "promoted",
//!   "commit", "wave"}`, or `{"result": "pending", "wave", "gate", "reason", "ready_at"?}`.
//! - `POST /v1/approvals`: `{"result": "promoted", "commit", "wave"}`, `{"result": "approved",
//!   "wave", "gate", "reason", "ready_at"?}` (another gate still waits) or
//!   `{"result": "unchanged", "reason"}`; with `"revision"` in the body, a candidate from
//!   another source revision is 409 (`PromotionError::NotPending`).
//! - `GET /v1/status`: what `cfgupdate status --json` prints, from a snapshot at most
//!   [`Settings::status_max_age`] old.
//! - `GET /healthz`: `{"status": "ok", "auth": "enabled" | "disabled", "warning"?}`; 503 when
//!   the writer has been busy with one task beyond [`Settings::writer_stuck_after`].
//! - `GET /readyz`: 200 when the remote was reached within [`Settings::readiness_window`] and
//!   the branch's own files could be used, else 503 with the reason.
//! - `GET /metrics`: Prometheus text, see [`metrics`].
//! - `GET /`: the status page for people (HTML, no script), from the same snapshot as
//!   `/v1/status`; commits link to [`Settings::web_url`] when it is set.
//!
//! # Notifications
//!
//! Every event (a publish, a promotion, a refusal, ...) is POSTed to the sinks of
//! [`Settings::notify`], from queues of their own that never hold up a request: see
//! [`notify`] and docs/notifications.md.
//!
//! [`ErrorClass`]: cfgupdate_core::ErrorClass

#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

pub mod auth;
mod checks;
mod connections;
pub mod credentials;
mod deliveries;
pub mod error;
mod logged;
pub mod metrics;
pub mod notify;
mod observed;
pub mod openapi;
mod page;
pub mod payload;
mod routes;
mod server;
pub mod settings;
mod status;
pub mod wire;
mod writer;

pub use auth::{Caller, Scope, sign, sign_webhook, token_sha256};
pub use error::ApiError;
pub use page::{WebUrl, WebUrlError};
pub use server::{BackgroundServer, Service};
pub use settings::{AuthSettings, Limits, NamedToken, Secret, Settings};

#[cfg(test)]
mod tests;
