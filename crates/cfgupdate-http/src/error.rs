//! Failures as HTTP answers: `{"error": "<one sentence>"}` with the status of
//! section 5. The status of a core error follows from its [`ErrorClass`] alone, so the service
//! and the CLI's exit codes can never disagree:
//!
//! | class | status | CLI exit |
//! |---|---|---|
//! | `Unavailable` (remote unreachable, the branch kept moving) | 503 + `Retry-After` | 1 |
//! | `Failed` (anything retrying will not fix by itself) | 500 | 1 |
//! | `Invalid` (bad input) | 422 | 2 |
//! | `Invalid`, blaming the branch's own files (read at a freshly fetched tip) | 503 + `Retry-After` | 2 |
//! | `Stale` (an older build, a promotion backwards) | 409 | 3 |
//! | `Refused` (a hold or a gate) | 409 | 3 |
//! | `Declined` (the remote refused the push for a reason of its own) | 502 | 1 |
//! | `Malformed` (a body not of the endpoint's shape) | 400 | 2 |
//! | `Unauthenticated` (no or bad credentials) | 401 | 2 |
//! | `Forbidden` (credentials of another scope) | 403 | 2 |
//!
//! [`status_of`] is the one place a class becomes a status; the service's own errors
//! ([`PayloadError`], [`AuthError`], ...) implement [`Classify`] like the core's.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cfgupdate_core::{Classify, ErrorClass};

use crate::auth::AuthError;
use crate::payload::PayloadError;

/// The HTTP status of an error class.
pub fn status_of(class: ErrorClass) -> StatusCode {
    match class {
        ErrorClass::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorClass::Failed => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorClass::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorClass::Stale | ErrorClass::Refused => StatusCode::CONFLICT,
        ErrorClass::Declined => StatusCode::BAD_GATEWAY,
        ErrorClass::Malformed => StatusCode::BAD_REQUEST,
        ErrorClass::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorClass::Forbidden => StatusCode::FORBIDDEN,
    }
}

/// An error answer: a status, one sentence, and for 503 how long to wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// One sentence for the caller.
    pub message: String,
    /// Sent as `Retry-After` (whole seconds, at least 1) with a 503.
    pub retry_after: Option<Duration>,
}

impl ApiError {
    /// An answer of `status` saying `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 503: try again after `retry_after`; nothing was done.
    pub fn unavailable(message: impl Into<String>, retry_after: Duration) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: message.into(),
            retry_after: Some(retry_after),
        }
    }

    /// The answer to a core error, by its class. An `Invalid` error that blames the branch's
    /// own files ([`Classify::blames_repository`]) is 503 with `Retry-After`: the request is
    /// not at fault, and the same request succeeds once a person fixes the branch.
    pub fn classified<E: Classify + std::fmt::Display>(error: &E, retry_after: Duration) -> Self {
        let status = match error.class() {
            ErrorClass::Invalid if error.blames_repository() => StatusCode::SERVICE_UNAVAILABLE,
            class => status_of(class),
        };
        Self {
            status,
            message: error.to_string(),
            retry_after: (status == StatusCode::SERVICE_UNAVAILABLE).then_some(retry_after),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        Self::new(status_of(error.class()), error.to_string())
    }
}

impl From<PayloadError> for ApiError {
    fn from(error: PayloadError) -> Self {
        Self::new(status_of(error.class()), error.to_string())
    }
}

/// The longest error sentence sent, in characters; longer ones keep their start and end.
const MAX_SENTENCE: usize = 600;
const KEEP_HEAD: usize = 400;
const KEEP_TAIL: usize = 150;

/// `message` as one bounded line. Messages quote the values they refuse, and a hostile value
/// may hold line breaks or NULs, direction overrides, or be as long as the body limit: control
/// and invisible format characters are written as escapes, and the middle of an overlong message is left out (its end, which
/// usually says the rule broken, is kept).
pub(crate) fn one_line(message: &str) -> String {
    let mut line = String::with_capacity(message.len().min(MAX_SENTENCE * 4));
    for c in message.chars() {
        cfgupdate_core::adapter::push_escaped(&mut line, c);
    }
    let count = line.chars().count();
    if count <= MAX_SENTENCE {
        return line;
    }
    let head: String = line.chars().take(KEEP_HEAD).collect();
    let tail: String = line.chars().skip(count - KEEP_TAIL).collect();
    format!(
        "{head} … ({} characters left out) … {tail}",
        count - KEEP_HEAD - KEEP_TAIL
    )
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(serde_json::json!({ "error": one_line(&self.message) })),
        )
            .into_response();
        if let Some(after) = self.retry_after {
            let seconds = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"cfgupdate\""),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use cfgupdate_core::promotion::{Gate, PromotionError};
    use cfgupdate_core::{
        PublishError, RepositoryError, RepositoryErrorKind, ServiceName, WaveName,
    };

    use super::*;

    fn wave() -> WaveName {
        WaveName::parse("staging").unwrap()
    }

    #[test]
    fn each_class_has_its_status_and_only_unavailable_says_when_to_retry() {
        let after = Duration::from_millis(2500);
        let cases: Vec<(Box<dyn Fn() -> ApiError>, StatusCode)> = vec![
            (
                Box::new(move || {
                    ApiError::classified(
                        &PublishError::Repository(RepositoryError::new(
                            RepositoryErrorKind::Unavailable,
                            "cannot reach git://example/cfg.git",
                        )),
                        after,
                    )
                }),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                Box::new(move || {
                    ApiError::classified(&PublishError::Contended { attempts: 10 }, after)
                }),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                Box::new(move || {
                    ApiError::classified(
                        &PublishError::Repository(RepositoryError::new(
                            RepositoryErrorKind::Failed,
                            "disk full",
                        )),
                        after,
                    )
                }),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (
                Box::new(move || {
                    ApiError::classified(
                        &PublishError::Stale {
                            service: ServiceName::parse("api").unwrap(),
                            wave: wave(),
                            held: "api number=2".into(),
                            announced: "api number=1".into(),
                        },
                        after,
                    )
                }),
                StatusCode::CONFLICT,
            ),
            (
                Box::new(move || {
                    ApiError::classified(
                        &PublishError::Held {
                            service: ServiceName::parse("api").unwrap(),
                            wave: wave(),
                        },
                        after,
                    )
                }),
                StatusCode::CONFLICT,
            ),
            (
                Box::new(move || {
                    ApiError::classified(
                        &PromotionError::Gated {
                            wave: wave(),
                            gate: Gate::Approval,
                        },
                        after,
                    )
                }),
                StatusCode::CONFLICT,
            ),
            (
                Box::new(move || {
                    ApiError::classified(
                        &PromotionError::UnknownTarget {
                            target: "nope".into(),
                            known: cfgupdate_core::Known::default(),
                        },
                        after,
                    )
                }),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                Box::new(move || {
                    ApiError::classified(
                        &PublishError::Repository(RepositoryError::new(
                            RepositoryErrorKind::Declined,
                            "the remote refused the push: protected branch",
                        )),
                        after,
                    )
                }),
                StatusCode::BAD_GATEWAY,
            ),
        ];
        for (make, status) in cases {
            let error = make();
            assert_eq!(error.status, status, "{}", error.message);
            let response = error.clone().into_response();
            assert_eq!(response.status(), status);
            let retry = response.headers().get(header::RETRY_AFTER);
            if status == StatusCode::SERVICE_UNAVAILABLE {
                assert_eq!(retry.unwrap(), "3", "rounded up to whole seconds");
            } else {
                assert!(retry.is_none(), "{status}");
            }
        }
    }

    #[test]
    fn credentials_errors_are_401_or_403() {
        use crate::auth::Scope;
        let missing: ApiError = AuthError::Missing { needed: Scope::Ci }.into();
        assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
        let response = missing.into_response();
        assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
        let wrong: ApiError = AuthError::WrongScope {
            needed: Scope::Deploy,
            presented: Scope::Ci,
        }
        .into();
        assert_eq!(wrong.status, StatusCode::FORBIDDEN);
        let closed: ApiError = AuthError::NotConfigured {
            needed: Scope::Admin,
        }
        .into();
        assert_eq!(closed.status, StatusCode::FORBIDDEN);
    }

    #[test]
    fn an_error_sentence_is_one_bounded_line_whatever_value_it_quotes() {
        assert_eq!(
            one_line("`a\nb\r\t\u{0}` is bad"),
            "`a\\nb\\r\\t\\u{0}` is bad"
        );
        let long = format!(
            "`{}` is not a commit id: expected 40 hexadecimal digits",
            "a".repeat(900_000)
        );
        let line = one_line(&long);
        assert!(line.chars().count() < 700, "{}", line.len());
        assert!(line.starts_with("`aaa"), "{line}");
        assert!(line.ends_with("expected 40 hexadecimal digits"), "{line}");
        assert!(line.contains("characters left out"), "{line}");
        assert_eq!(one_line("short and plain"), "short and plain");
        let wide = "é".repeat(1000);
        assert!(one_line(&wide).chars().count() < 700);
    }

    #[test]
    fn payload_errors_are_400_or_422() {
        let malformed: ApiError = PayloadError::Malformed("x".into()).into();
        assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
        let invalid: ApiError = PayloadError::Invalid("y".into()).into();
        assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
}
