//! `GET /`: the status page for people (docs/contract.md#seeing-it), rendered on the server from
//! the same snapshot `/v1/status` answers with.
//!
//! The page presents what the core's [`Status`] says and computes nothing of its own: report
//! ages, the soak left and what a step would change come from the core. It needs no
//! JavaScript (its `Content-Security-Policy` forbids any), reloads itself every
//! [`REFRESH`], and escapes every value: service names, references, commit subjects and
//! approvers come from whoever can push to the repository or call the API, so each is
//! HTML-escaped, cut to a bounded length, and has its control and bidirectional formatting
//! characters shown as `⟨U+202E⟩` rather than obeyed.

mod html;
mod web_url;

use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use cfgupdate_core::promotion::Status;
use sha2::Digest as _;

pub use web_url::{WebUrl, WebUrlError};

use crate::routes::AppState;

/// How often the page reloads itself. Reloads cost no fetch each: the snapshot behind them is
/// shared with `/v1/status` and refreshed at most once per [`Settings::status_max_age`].
///
/// [`Settings::status_max_age`]: crate::Settings::status_max_age
pub const REFRESH: Duration = Duration::from_secs(10);

/// The page's style sheet: inline, allowed by its hash alone.
const STYLE: &str = include_str!("style.css");

/// Forbids every script, plugin, frame and form; allows only the page's own style sheet (by
/// its hash, so an injected `<style>` would not apply either).
static POLICY: LazyLock<HeaderValue> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(STYLE));
    let policy = format!(
        "default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    );
    HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
});

/// The headers every answer of `GET /` carries.
fn headers() -> [(HeaderName, HeaderValue); 6] {
    [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ),
        (header::CONTENT_SECURITY_POLICY, POLICY.clone()),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        // Following a link to the repository's web page does not tell it where the service is.
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ]
}

/// `GET /`: the page, or (200 is for a status that could be read) the reason it could not be
/// read with the error's status code, on a page that keeps reloading until it can.
pub(crate) async fn get_page(State(state): State<AppState>) -> Response {
    let now = state.clock.now();
    let links = state.settings.web_url.as_ref();
    match state.status.clone().get(&state).await {
        Ok((read, age)) => {
            let page = render(&read.status, now, age, links);
            let mut response = (headers(), page).into_response();
            response
                .headers_mut()
                .insert(header::AGE, HeaderValue::from(age.as_secs()));
            response
        }
        Err(error) => {
            let page = render_error(&error.message);
            let mut response = (error.status, headers(), page).into_response();
            if let Some(after) = error.retry_after {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(after.as_secs().max(1)),
                );
            }
            response
        }
    }
}

/// The page for `status`, read `age` ago, as it stands at `now`.
pub(crate) fn render(
    status: &Status,
    now: SystemTime,
    age: Duration,
    links: Option<&WebUrl>,
) -> String {
    html::Page::new(STYLE, links).status(status, now, age)
}

/// The page saying why the status cannot be shown (`message`: the error's sentence).
pub(crate) fn render_error(message: &str) -> String {
    html::Page::new(STYLE, None).error(message)
}

#[cfg(test)]
mod tests;
