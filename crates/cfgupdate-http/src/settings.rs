//! How the service is configured: credentials per scope, limits and timers. The caller (the
//! CLI, or a program embedding the service) reads them from wherever it likes; this crate never
//! reads the environment itself.

use std::fmt;
use std::time::Duration;

use cfgupdate_core::WriteOptions;

/// The environment variable holding the bearer token of scope `ci`.
pub const CI_TOKEN_VAR: &str = "CFGUPDATE_CI_TOKEN";
/// The environment variable holding the bearer token of scope `deploy`.
pub const DEPLOY_TOKEN_VAR: &str = "CFGUPDATE_DEPLOY_TOKEN";
/// The environment variable holding the bearer token of scope `admin` (which may do all).
pub const ADMIN_TOKEN_VAR: &str = "CFGUPDATE_ADMIN_TOKEN";
/// The environment variable holding the secret CI signs bodies with (`X-Hub-Signature-256`).
pub const CI_HMAC_SECRET_VAR: &str = "CFGUPDATE_CI_HMAC_SECRET";

/// A credential: its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`; an empty value is no credential at all (`None`), so an exported but empty
    /// variable fails closed instead of accepting an empty token.
    pub fn new(value: impl Into<String>) -> Option<Self> {
        let value = value.into();
        (!value.is_empty()).then_some(Self(value))
    }

    /// The secret's bytes, for comparing and signing only.
    pub(crate) fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The credentials of each scope (contract section 5). A scope without a credential refuses
/// every request for it, unless an admin token is configured and presented.
#[derive(Debug, Clone, Default)]
pub struct AuthSettings {
    /// The bearer token of scope `ci` (`POST /v1/images`).
    pub ci_token: Option<Secret>,
    /// The bearer token of scope `deploy` (`POST /v1/deployments`).
    pub deploy_token: Option<Secret>,
    /// The bearer token of scope `admin`: `POST /v1/approvals`, and every other scope too.
    pub admin_token: Option<Secret>,
    /// The secret of `X-Hub-Signature-256` body signatures, which prove scope `ci`.
    pub ci_hmac_secret: Option<Secret>,
    /// Every check turned off (`serve --insecure-no-auth`): anyone who reaches the service may
    /// publish, report and approve. The service says so in its log and in `/healthz`.
    pub insecure_no_auth: bool,
}

impl AuthSettings {
    /// The credentials as `lookup` finds them under the variable names of contract section 5
    /// ([`CI_TOKEN_VAR`] and its siblings); empty values count as unset. Pass
    /// `|name| std::env::var(name).ok()` to read the environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| lookup(name).and_then(Secret::new);
        Self {
            ci_token: get(CI_TOKEN_VAR),
            deploy_token: get(DEPLOY_TOKEN_VAR),
            admin_token: get(ADMIN_TOKEN_VAR),
            ci_hmac_secret: get(CI_HMAC_SECRET_VAR),
            insecure_no_auth: false,
        }
    }

    /// Whether no credential at all is configured (every write endpoint refuses everything).
    pub fn is_empty(&self) -> bool {
        self.ci_token.is_none()
            && self.deploy_token.is_none()
            && self.admin_token.is_none()
            && self.ci_hmac_secret.is_none()
    }
}

/// Everything the service needs besides the repository and the clock.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Who may call the write endpoints.
    pub auth: AuthSettings,
    /// The largest request body accepted, in bytes; larger ones get 413.
    pub body_limit: usize,
    /// How long a request may take before it is answered 503 (it may be retried: every
    /// write is idempotent, and a write that had not started when its request gave up is
    /// dropped).
    pub request_timeout: Duration,
    /// The `Retry-After` sent with a 503.
    pub retry_after: Duration,
    /// How often the writer looks for promotions on its own (a report recorded by another
    /// replica, a soak gate that opened), besides the soak deadlines it knows of.
    pub advance_interval: Duration,
    /// `/readyz` answers ready while the remote was reached within this window.
    pub readiness_window: Duration,
    /// How many requests may wait for the writer; more get 503.
    pub queue_capacity: usize,
    /// The most announcements coalesced into one commit.
    pub max_batch: usize,
    /// Retries of rejected pushes and render limits of every write.
    pub write: WriteOptions,
}

/// 1 MiB, the default body limit of contract section 5.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

impl Default for Settings {
    fn default() -> Self {
        Self {
            auth: AuthSettings::default(),
            body_limit: DEFAULT_BODY_LIMIT,
            request_timeout: Duration::from_secs(60),
            retry_after: Duration::from_secs(5),
            advance_interval: Duration::from_secs(60),
            readiness_window: Duration::from_secs(180),
            queue_capacity: 1024,
            max_batch: 256,
            write: WriteOptions::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_shows_in_debug_or_display() {
        let secret = Secret::new("hunter2").unwrap();
        assert!(!format!("{secret:?} {secret}").contains("hunter2"));
        let auth = AuthSettings {
            admin_token: Some(secret),
            ..AuthSettings::default()
        };
        assert!(!format!("{auth:?}").contains("hunter2"));
    }

    #[test]
    fn an_empty_variable_is_no_credential() {
        let auth = AuthSettings::from_lookup(|name| match name {
            CI_TOKEN_VAR => Some(String::new()),
            DEPLOY_TOKEN_VAR => Some("d".into()),
            _ => None,
        });
        assert!(auth.ci_token.is_none());
        assert!(auth.deploy_token.is_some());
        assert!(!auth.is_empty());
        assert!(AuthSettings::from_lookup(|_| None).is_empty());
    }
}
