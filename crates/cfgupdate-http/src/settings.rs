//! How the service is configured: credentials per scope, limits and timers. The caller (the
//! CLI, or a program embedding the service) reads them from wherever it likes; this crate never
//! reads the environment itself.

use std::fmt;
use std::time::Duration;

use cfgupdate_core::WriteOptions;

use crate::auth::{Scope, hash_of};

/// The environment variable holding the bearer token of scope `ci`.
pub const CI_TOKEN_VAR: &str = "CFGUPDATE_CI_TOKEN";
/// The environment variable holding the bearer token of scope `deploy`.
pub const DEPLOY_TOKEN_VAR: &str = "CFGUPDATE_DEPLOY_TOKEN";
/// The environment variable holding the bearer token of scope `admin` (which may do all).
pub const ADMIN_TOKEN_VAR: &str = "CFGUPDATE_ADMIN_TOKEN";
/// The environment variable holding the secret CI signs bodies with (`X-Hub-Signature-256`).
pub const CI_HMAC_SECRET_VAR: &str = "CFGUPDATE_CI_HMAC_SECRET";
/// The environment variable holding the Standard Webhooks secret of scope `ci`
/// (`whsec_<base64>`).
pub const CI_WEBHOOK_SECRET_VAR: &str = "CFGUPDATE_CI_WEBHOOK_SECRET";
/// The environment variable naming the TOML file of named tokens (`[[token]]` tables).
pub const TOKENS_FILE_VAR: &str = "CFGUPDATE_TOKENS_FILE";

/// A credential: the core's, whose `Debug` and `Display` never show it.
pub use cfgupdate_core::Secret;

/// The credentials of each scope (docs/http.md#credentials). A scope without a credential refuses
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
    /// The key of Standard Webhooks signatures (the bytes `whsec_<base64>` decodes to), which
    /// prove scope `ci`.
    pub ci_webhook_secret: Option<Secret>,
    /// Named tokens (`CFGUPDATE_TOKENS_FILE`): each person or system its own token, its name
    /// the identity recorded on what it does.
    pub tokens: Vec<NamedToken>,
    /// Every check turned off (`serve --insecure-no-auth`): anyone who reaches the service may
    /// publish, report and approve. The service says so in its log and in `/healthz`.
    pub insecure_no_auth: bool,
}

impl AuthSettings {
    /// The credentials as `lookup` finds them under the variable names of docs/http.md#credentials
    /// ([`CI_TOKEN_VAR`] and its siblings); empty values count as unset. Pass
    /// `|name| std::env::var(name).ok()` to read the environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| lookup(name).and_then(Secret::new);
        Self {
            ci_token: get(CI_TOKEN_VAR),
            deploy_token: get(DEPLOY_TOKEN_VAR),
            admin_token: get(ADMIN_TOKEN_VAR),
            ci_hmac_secret: get(CI_HMAC_SECRET_VAR),
            ci_webhook_secret: lookup(CI_WEBHOOK_SECRET_VAR)
                .and_then(|value| decode_webhook_secret(&value).ok())
                .and_then(Secret::from_bytes),
            tokens: Vec::new(),
            insecure_no_auth: false,
        }
    }

    /// Whether no credential at all is configured (every write endpoint refuses everything).
    pub fn is_empty(&self) -> bool {
        self.ci_token.is_none()
            && self.deploy_token.is_none()
            && self.admin_token.is_none()
            && self.ci_hmac_secret.is_none()
            && self.ci_webhook_secret.is_none()
            && self.tokens.is_empty()
    }

    /// Whether any credential proves `scope` itself.
    pub fn configures(&self, scope: Scope) -> bool {
        let variable = match scope {
            Scope::Ci => {
                self.ci_token.is_some()
                    || self.ci_hmac_secret.is_some()
                    || self.ci_webhook_secret.is_some()
            }
            Scope::Deploy => self.deploy_token.is_some(),
            Scope::Admin => self.admin_token.is_some(),
        };
        variable || self.tokens.iter().any(|t| t.scope == scope)
    }

    /// Every bearer token as (identity, scope, SHA-256), the variables' first.
    pub(crate) fn token_hashes(&self) -> Vec<(&str, Scope, [u8; 32])> {
        let variables = [
            (ADMIN_TOKEN_VAR, Scope::Admin, &self.admin_token),
            (DEPLOY_TOKEN_VAR, Scope::Deploy, &self.deploy_token),
            (CI_TOKEN_VAR, Scope::Ci, &self.ci_token),
        ];
        let mut hashes: Vec<(&str, Scope, [u8; 32])> = variables
            .into_iter()
            .filter_map(|(name, scope, secret)| Some((name, scope, hash_of(secret.as_ref()?))))
            .collect();
        hashes.extend(
            self.tokens
                .iter()
                .map(|t| (t.name.as_str(), t.scope, t.sha256)),
        );
        hashes
    }

    /// Warnings to print once at start: a token shared by two scopes (whoever holds it may do
    /// both), a token that ends in whitespace (no `Authorization` header can carry it).
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        for (name, secret) in [
            (CI_TOKEN_VAR, &self.ci_token),
            (DEPLOY_TOKEN_VAR, &self.deploy_token),
            (ADMIN_TOKEN_VAR, &self.admin_token),
        ] {
            if let Some(secret) = secret
                && secret
                    .expose_bytes()
                    .last()
                    .is_some_and(u8::is_ascii_whitespace)
            {
                warnings.push(format!(
                    "{name} ends in a newline or whitespace, which no `Authorization` header can carry: that token can never match (was it written with `echo`?)"
                ));
            }
        }
        let hashes = self.token_hashes();
        for (i, (first, first_scope, hash)) in hashes.iter().enumerate() {
            for (second, second_scope, other) in &hashes[i + 1..] {
                if hash == other && first_scope != second_scope {
                    warnings.push(format!(
                        "{first} (scope `{}`) and {second} (scope `{}`) are the same token: whoever holds it may do what both scopes may; give each scope its own",
                        first_scope.name(),
                        second_scope.name()
                    ));
                }
            }
        }
        warnings
    }
}

/// A token of `CFGUPDATE_TOKENS_FILE`: its holder's name, its scope and the SHA-256 of the
/// token (the token itself is never stored).
#[derive(Clone, PartialEq, Eq)]
pub struct NamedToken {
    /// The holder, recorded as the identity of what it does.
    pub name: String,
    /// What it may do.
    pub scope: Scope,
    /// The SHA-256 of the token.
    pub sha256: [u8; 32],
}

impl NamedToken {
    /// A named token from the hex SHA-256 of the token; a hash that is not 64 hex digits gives
    /// one that nothing matches (the tokens file refuses such hashes before this).
    pub fn new(name: &str, scope: Scope, sha256_hex: &str) -> Self {
        let mut sha256 = [0u8; 32];
        if hex::decode_to_slice(sha256_hex, &mut sha256).is_err() {
            sha256 = [0u8; 32];
        }
        Self {
            name: name.to_owned(),
            scope,
            sha256,
        }
    }
}

impl fmt::Debug for NamedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NamedToken({}, {})", self.name, self.scope.name())
    }
}

/// The key bytes of a Standard Webhooks secret, `whsec_<base64>` (the prefix may be left out).
pub fn decode_webhook_secret(value: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    let encoded = value.trim();
    let encoded = encoded.strip_prefix("whsec_").unwrap_or(encoded);
    match base64::engine::general_purpose::STANDARD.decode(encoded) {
        Ok(key) if !key.is_empty() => Ok(key),
        _ => Err(format!(
            "{CI_WEBHOOK_SECRET_VAR} is not a Standard Webhooks secret: expected `whsec_<base64>`"
        )),
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
    /// What a stranger may cost: connections, header and body time, idle time.
    pub limits: Limits,
    /// `GET /v1/status` is answered from a snapshot at most this old (older ones are answered
    /// while one refresh, shared by every reader, runs), so reads never cost a fetch each.
    pub status_max_age: Duration,
    /// How many Standard Webhooks delivery ids (with their answers) are remembered, at most,
    /// within [`crate::auth::WEBHOOK_TOLERANCE`].
    pub webhook_ids_remembered: usize,
    /// `/healthz` answers 503 when the writer has been busy with one task for longer than this
    /// (a write stuck on a remote that never answers, a render that never ends).
    pub writer_stuck_after: Duration,
    /// The config repository's web address, which the status page (`GET /`) links commits to
    /// (`serve --web-url`); without it, commits are shown unlinked.
    pub web_url: Option<crate::WebUrl>,
    /// Where notifications go (docs/notifications.md); none by default.
    pub notify: crate::notify::NotifySettings,
}

/// The bounds on what any client, authenticated or not, may cost the service, applied by
/// [`Service::serve`](crate::Service::serve). The body deadline applies while a write endpoint
/// reads a body, which it does only after the headers' credentials were accepted (a bearer
/// token), or to check a signature over it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once; beyond it, new connections wait in the kernel's accept
    /// queue until one closes (so the process never runs out of file descriptors).
    pub max_connections: usize,
    /// A request's headers must arrive within this time from the moment the connection can
    /// take a request; otherwise the connection is closed. The deadline starts on a new
    /// connection and again on a kept-alive one after each answer, so it is also the idle
    /// timeout of kept-alive connections.
    pub header_timeout: Duration,
    /// A body that must be read (a signed request) must arrive within this time; otherwise
    /// the request is answered 408 and the connection closed.
    pub body_timeout: Duration,
    /// The largest request head (request line and headers), in bytes; larger ones close
    /// the connection. It also bounds the read buffer each connection keeps.
    pub max_header_bytes: usize,
    /// Bodies read at once before anything proved who sent them (requests authenticated by a
    /// signature, which covers the body): any stranger can send signature-shaped headers, so
    /// these reads get a small share of their own; beyond it such a request is answered 503
    /// with `Retry-After` at once, and bearer-authenticated requests are never held up by them.
    pub unproven_bodies: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 512,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
            unproven_bodies: 32,
        }
    }
}

/// 1 MiB, the default body limit of docs/contract.md#http.
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
            limits: Limits::default(),
            status_max_age: Duration::from_secs(2),
            webhook_ids_remembered: 10_000,
            writer_stuck_after: Duration::from_secs(300),
            web_url: None,
            notify: crate::notify::NotifySettings::default(),
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
