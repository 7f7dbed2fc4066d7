//! Who may call what: bearer tokens per scope (one per variable, or named tokens from a file),
//! CI's body signatures (`X-Hub-Signature-256`) and Standard Webhooks signatures, compared in
//! constant time, failing closed.
//!
//! Credentials are checked in two steps, so that a stranger costs nothing: [`check_headers`]
//! looks at the headers only, and refuses a missing or wrong bearer token (and an expired or
//! malformed Standard Webhooks delivery) before a single byte of the body is read. Only a
//! request that carries a signature needs its body read, bounded by the body limit and
//! deadline, before [`check_body`] verifies it.
//!
//! Every credential a request presents must be valid (a good token beside a bad signature is
//! refused), and at least one must prove the endpoint's scope or `admin`:
//!
//! | request | answer |
//! |---|---|
//! | no `Authorization`, no signature | 401 |
//! | a token or signature that matches no credential | 401 |
//! | a Standard Webhooks timestamp more than 5 minutes away | 401 |
//! | valid credentials of another scope only | 403 |
//! | valid credentials, while the endpoint's scope has no credential configured and no admin token is | 403 |

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::settings::{AuthSettings, Secret};

/// The header CI signs bodies in, as GitHub's webhooks do.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
/// Standard Webhooks: the delivery's id.
pub const WEBHOOK_ID_HEADER: &str = "webhook-id";
/// Standard Webhooks: when the delivery was signed, in Unix seconds.
pub const WEBHOOK_TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// Standard Webhooks: `v1,<base64>` signatures, space separated.
pub const WEBHOOK_SIGNATURE_HEADER: &str = "webhook-signature";
/// How far a Standard Webhooks timestamp may be from the service's clock.
pub const WEBHOOK_TOLERANCE: Duration = Duration::from_secs(5 * 60);
/// The longest `webhook-id` accepted, in bytes.
const LONGEST_WEBHOOK_ID: usize = 256;

/// What a caller is allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Announce images (`POST /v1/images`).
    Ci,
    /// Report deployments (`POST /v1/deployments`).
    Deploy,
    /// Approve (`POST /v1/approvals`), and everything the other scopes may do.
    Admin,
}

impl Scope {
    /// The scope's name in messages and in the tokens file.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Ci => "ci",
            Scope::Deploy => "deploy",
            Scope::Admin => "admin",
        }
    }

    /// The scope named `name` (`ci`, `deploy`, `admin`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "ci" => Some(Scope::Ci),
            "deploy" => Some(Scope::Deploy),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }

    fn variables(self) -> &'static str {
        match self {
            Scope::Ci => {
                "CFGUPDATE_CI_TOKEN, CFGUPDATE_CI_HMAC_SECRET, CFGUPDATE_CI_WEBHOOK_SECRET, a `ci` token in CFGUPDATE_TOKENS_FILE"
            }
            Scope::Deploy => "CFGUPDATE_DEPLOY_TOKEN, a `deploy` token in CFGUPDATE_TOKENS_FILE",
            Scope::Admin => "CFGUPDATE_ADMIN_TOKEN, an `admin` token in CFGUPDATE_TOKENS_FILE",
        }
    }
}

/// How a caller proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `Authorization: Bearer <token>`.
    Token,
    /// `X-Hub-Signature-256` over the body.
    HubSignature,
    /// Standard Webhooks headers over the id, timestamp and body.
    StandardWebhook,
    /// Nothing: `--insecure-no-auth`.
    NoAuth,
}

/// Who made a request: the identity recorded on what it does (a named token's name, or the
/// variable whose credential it presented), the scope it proved, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The identity: a name from `CFGUPDATE_TOKENS_FILE`, or the variable that held the
    /// credential (`CFGUPDATE_CI_TOKEN`, ...). Chosen by whoever configured the service.
    pub name: String,
    /// The scope the credentials proved (the endpoint's, or `admin`).
    pub scope: Scope,
    /// How it was proved.
    pub via: Via,
}

/// Why a request was refused (401 for the first two, 403 for the others).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credential at all.
    #[error(
        "the request carries no credentials: send `Authorization: Bearer <token>` for scope `{}`{}",
        needed.name(),
        if *needed == Scope::Ci { ", or sign it (`X-Hub-Signature-256`, or Standard Webhooks headers)" } else { "" }
    )]
    Missing {
        /// The scope the endpoint needs.
        needed: Scope,
    },
    /// A credential that is malformed, expired or matches nothing.
    #[error("{reason}")]
    Bad {
        /// One sentence, never containing the credential.
        reason: &'static str,
    },
    /// Valid credentials, but of another scope.
    #[error(
        "the credentials are for scope `{}`, and this endpoint needs scope `{}`{}",
        presented.name(),
        needed.name(),
        if *needed == Scope::Admin { "" } else { " (or `admin`)" }
    )]
    WrongScope {
        /// The scope the endpoint needs.
        needed: Scope,
        /// A scope the credentials prove.
        presented: Scope,
    },
    /// Nothing could ever be allowed: the scope has no credential configured.
    #[error(
        "scope `{}` has no credential configured ({}, or CFGUPDATE_ADMIN_TOKEN), so every request for it is refused",
        needed.name(),
        needed.variables()
    )]
    NotConfigured {
        /// The scope the endpoint needs.
        needed: Scope,
    },
}

impl AuthError {
    /// Whether the answer is 401 (authenticate, then try again) rather than 403.
    pub fn is_unauthenticated(&self) -> bool {
        matches!(self, AuthError::Missing { .. } | AuthError::Bad { .. })
    }
}

/// Unauthenticated (401) without or with bad credentials, forbidden (403) with another scope's.
impl cfgupdate_core::Classify for AuthError {
    fn class(&self) -> cfgupdate_core::ErrorClass {
        if self.is_unauthenticated() {
            cfgupdate_core::ErrorClass::Unauthenticated
        } else {
            cfgupdate_core::ErrorClass::Forbidden
        }
    }
}

/// The Standard Webhooks headers of a request, as received.
#[derive(Debug, Clone, Copy, Default)]
pub struct WebhookHeaders<'a> {
    /// `webhook-id`.
    pub id: Option<&'a [u8]>,
    /// `webhook-timestamp`.
    pub timestamp: Option<&'a [u8]>,
    /// `webhook-signature`.
    pub signature: Option<&'a [u8]>,
}

impl WebhookHeaders<'_> {
    fn any(&self) -> bool {
        self.id.is_some() || self.timestamp.is_some() || self.signature.is_some()
    }
}

/// The credentials a request presents: its headers, as received.
#[derive(Debug, Clone, Copy, Default)]
pub struct Presented<'a> {
    /// The `Authorization` header, when present.
    pub authorization: Option<&'a [u8]>,
    /// The `X-Hub-Signature-256` header, when present.
    pub signature: Option<&'a [u8]>,
    /// The Standard Webhooks headers.
    pub webhook: WebhookHeaders<'a>,
}

/// A Standard Webhooks delivery whose headers are well-formed and whose timestamp is within
/// [`WEBHOOK_TOLERANCE`]; its signature is checked with the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The delivery's id (visible ASCII, at most 256 bytes).
    pub id: String,
    /// Its timestamp, as sent.
    timestamp: String,
    /// Every `v1` signature it carries.
    signatures: Vec<Vec<u8>>,
}

impl Delivery {
    /// When the sender signed it (its `webhook-timestamp`); the timestamp was checked to be
    /// within the tolerance of the service's clock.
    pub fn signed_at(&self) -> SystemTime {
        self.timestamp.parse::<u64>().map_or(UNIX_EPOCH, |seconds| {
            UNIX_EPOCH + Duration::from_secs(seconds)
        })
    }
}

/// What the headers alone decided.
#[derive(Debug)]
pub enum Admission {
    /// The request is allowed; its body need not be read for the credentials.
    Granted(Caller),
    /// The request carries a signature: read the body (within its limit and deadline) and
    /// finish with [`check_body`].
    NeedsBody(PendingSignature),
}

/// A request whose signature is still to be checked against its body.
#[derive(Debug)]
pub struct PendingSignature {
    needed: Scope,
    token: Option<Caller>,
    hub: Option<Vec<u8>>,
    webhook: Option<Delivery>,
}

impl PendingSignature {
    /// The Standard Webhooks delivery, when the request is one.
    pub fn delivery(&self) -> Option<&Delivery> {
        self.webhook.as_ref()
    }
}

/// Checks what the headers can prove. A missing or wrong bearer token, a malformed signature
/// header and a Standard Webhooks timestamp outside the tolerance are refused here, before the
/// body is read. `now` is the service's clock (the core's `Clock`).
pub fn check_headers(
    settings: &AuthSettings,
    needed: Scope,
    presented: Presented<'_>,
    now: SystemTime,
) -> Result<Admission, AuthError> {
    if settings.insecure_no_auth {
        return Ok(Admission::Granted(Caller {
            name: "anonymous (--insecure-no-auth)".to_owned(),
            scope: Scope::Admin,
            via: Via::NoAuth,
        }));
    }
    let token = match presented.authorization {
        Some(header) => Some(token_caller(settings, header)?),
        None => None,
    };
    let hub = match presented.signature {
        Some(header) => Some(parse_hub_signature(settings, header)?),
        None => None,
    };
    let webhook = if presented.webhook.any() {
        Some(parse_delivery(settings, presented.webhook, now)?)
    } else {
        None
    };
    if hub.is_none() && webhook.is_none() {
        let caller = token.ok_or(AuthError::Missing { needed })?;
        return decide(settings, needed, vec![caller]).map(Admission::Granted);
    }
    Ok(Admission::NeedsBody(PendingSignature {
        needed,
        token,
        hub,
        webhook,
    }))
}

/// Finishes what [`check_headers`] began: verifies the signatures against `body`.
pub fn check_body(
    settings: &AuthSettings,
    pending: PendingSignature,
    body: &[u8],
) -> Result<Caller, AuthError> {
    let mut proven: Vec<Caller> = pending.token.into_iter().collect();
    if let Some(signature) = pending.hub {
        let secret = settings.ci_hmac_secret.as_ref().ok_or(NO_HMAC_SECRET)?;
        if !hmac_matches(secret.expose_bytes(), &[body], &signature) {
            return Err(AuthError::Bad {
                reason: "the `X-Hub-Signature-256` signature does not match the body and the CI signing secret",
            });
        }
        proven.push(Caller {
            name: crate::settings::CI_HMAC_SECRET_VAR.to_owned(),
            scope: Scope::Ci,
            via: Via::HubSignature,
        });
    }
    if let Some(delivery) = pending.webhook {
        let secret = settings
            .ci_webhook_secret
            .as_ref()
            .ok_or(NO_WEBHOOK_SECRET)?;
        let signed = [
            delivery.id.as_bytes(),
            b".",
            delivery.timestamp.as_bytes(),
            b".",
            body,
        ];
        // Every signature is checked, so the time taken says nothing about which matched.
        let mut any = false;
        for signature in &delivery.signatures {
            any |= hmac_matches(secret.expose_bytes(), &signed, signature);
        }
        if !any {
            return Err(AuthError::Bad {
                reason: "no `webhook-signature` matches the delivery's id, timestamp and body signed with the CI webhook secret",
            });
        }
        proven.push(Caller {
            name: crate::settings::CI_WEBHOOK_SECRET_VAR.to_owned(),
            scope: Scope::Ci,
            via: Via::StandardWebhook,
        });
    }
    decide(settings, pending.needed, proven)
}

/// Both steps at once, for callers that hold the body already.
pub fn authorize(
    settings: &AuthSettings,
    needed: Scope,
    presented: Presented<'_>,
    body: &[u8],
    now: SystemTime,
) -> Result<Caller, AuthError> {
    match check_headers(settings, needed, presented, now)? {
        Admission::Granted(caller) => Ok(caller),
        Admission::NeedsBody(pending) => check_body(settings, pending, body),
    }
}

const NO_HMAC_SECRET: AuthError = AuthError::Bad {
    reason: "the body is signed in `X-Hub-Signature-256`, but the service has no CI signing secret (CFGUPDATE_CI_HMAC_SECRET) to check it with",
};
const NO_WEBHOOK_SECRET: AuthError = AuthError::Bad {
    reason: "the request is signed with Standard Webhooks headers, but the service has no CI webhook secret (CFGUPDATE_CI_WEBHOOK_SECRET) to check it with",
};

/// The caller among `proven` that may use an endpoint needing `needed`.
fn decide(
    settings: &AuthSettings,
    needed: Scope,
    proven: Vec<Caller>,
) -> Result<Caller, AuthError> {
    let Some(first_scope) = proven.first().map(|c| c.scope) else {
        return Err(AuthError::Missing { needed });
    };
    if let Some(caller) = proven
        .iter()
        .find(|c| c.scope == needed)
        .or_else(|| proven.iter().find(|c| c.scope == Scope::Admin))
    {
        return Ok(caller.clone());
    }
    if !settings.configures(needed) && !settings.configures(Scope::Admin) {
        return Err(AuthError::NotConfigured { needed });
    }
    Err(AuthError::WrongScope {
        needed,
        presented: first_scope,
    })
}

/// The caller a bearer token identifies. Every configured token is compared, each in constant
/// time, so the time taken says nothing about which one (if any) matched. A token configured
/// for several scopes proves the widest (a warning at start says so).
fn token_caller(settings: &AuthSettings, header: &[u8]) -> Result<Caller, AuthError> {
    let token = bearer(header).ok_or(AuthError::Bad {
        reason: "the `Authorization` header is not `Bearer <token>`",
    })?;
    let given: [u8; 32] = Sha256::digest(token).into();
    let mut matched: Option<(&str, Scope)> = None;
    for (name, scope, hash) in settings.token_hashes() {
        let equal = bool::from(hash.ct_eq(&given));
        if equal && matched.is_none_or(|(_, s)| rank(scope) > rank(s)) {
            matched = Some((name, scope));
        }
    }
    let (name, scope) = matched.ok_or(AuthError::Bad {
        reason: "the bearer token is not valid for any scope",
    })?;
    Ok(Caller {
        name: name.to_owned(),
        scope,
        via: Via::Token,
    })
}

fn rank(scope: Scope) -> u8 {
    match scope {
        Scope::Ci | Scope::Deploy => 0,
        Scope::Admin => 1,
    }
}

fn bearer(header: &[u8]) -> Option<&[u8]> {
    let header = header.trim_ascii();
    let (scheme, token) = header.split_at_checked(7)?;
    (scheme.eq_ignore_ascii_case(b"bearer ") && !token.trim_ascii().is_empty())
        .then(|| token.trim_ascii())
}

fn parse_hub_signature(settings: &AuthSettings, header: &[u8]) -> Result<Vec<u8>, AuthError> {
    if settings.ci_hmac_secret.is_none() {
        return Err(NO_HMAC_SECRET);
    }
    header
        .trim_ascii()
        .strip_prefix(b"sha256=")
        .and_then(|hex_digits| hex::decode(hex_digits).ok())
        .filter(|bytes| bytes.len() == 32)
        .ok_or(AuthError::Bad {
            reason: "the `X-Hub-Signature-256` header is not `sha256=<64 hex digits>`",
        })
}

fn parse_delivery(
    settings: &AuthSettings,
    headers: WebhookHeaders<'_>,
    now: SystemTime,
) -> Result<Delivery, AuthError> {
    if settings.ci_webhook_secret.is_none() {
        return Err(NO_WEBHOOK_SECRET);
    }
    let (Some(id), Some(timestamp), Some(signature)) =
        (headers.id, headers.timestamp, headers.signature)
    else {
        return Err(AuthError::Bad {
            reason: "a Standard Webhooks delivery needs all three headers `webhook-id`, `webhook-timestamp` and `webhook-signature`",
        });
    };
    let id = std::str::from_utf8(id)
        .ok()
        .filter(|id| {
            !id.is_empty()
                && id.len() <= LONGEST_WEBHOOK_ID
                && id.bytes().all(|b| b.is_ascii_graphic())
        })
        .ok_or(AuthError::Bad {
            reason: "the `webhook-id` header is not 1 to 256 visible ASCII characters",
        })?;
    let seconds: i64 = std::str::from_utf8(timestamp)
        .ok()
        .filter(|t| !t.is_empty() && t.len() <= 12 && t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse().ok())
        .ok_or(AuthError::Bad {
            reason: "the `webhook-timestamp` header is not a time in Unix seconds",
        })?;
    let now = match now.duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        Err(_) => 0,
    };
    if seconds.abs_diff(now) > WEBHOOK_TOLERANCE.as_secs() {
        return Err(AuthError::Bad {
            reason: "the `webhook-timestamp` is more than 5 minutes away from the service's clock: the delivery is refused as expired (or from a clock that is off)",
        });
    }
    let signatures: Vec<Vec<u8>> = signature
        .split(|b| *b == b' ')
        .filter_map(|entry| entry.strip_prefix(b"v1,"))
        .filter_map(|encoded| BASE64.decode(encoded).ok())
        .filter(|bytes| bytes.len() == 32)
        .collect();
    if signatures.is_empty() {
        return Err(AuthError::Bad {
            reason: "the `webhook-signature` header holds no `v1,<base64 HMAC-SHA256>` signature",
        });
    }
    Ok(Delivery {
        id: id.to_owned(),
        timestamp: std::str::from_utf8(timestamp)
            .unwrap_or_default()
            .to_owned(),
        signatures,
    })
}

fn hmac_matches(secret: &[u8], parts: &[&[u8]], signature: &[u8]) -> bool {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    for part in parts {
        mac.update(part);
    }
    mac.verify_slice(signature).is_ok()
}

fn hmac(secret: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // An HMAC takes a key of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return Vec::new();
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// The `X-Hub-Signature-256` value of `body` signed with `secret`: what CI sends.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", hex::encode(hmac(secret, &[body])))
}

/// The `webhook-signature` value of a Standard Webhooks delivery (`v1,<base64>`), signed with
/// the secret's key bytes (what `whsec_<base64>` decodes to).
pub fn sign_webhook(key: &[u8], id: &str, timestamp: u64, body: &[u8]) -> String {
    let timestamp = timestamp.to_string();
    let mac = hmac(
        key,
        &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
    );
    format!("v1,{}", BASE64.encode(mac))
}

/// The hex SHA-256 of `token`: what a `[[token]]` table's `sha256` holds.
pub fn token_sha256(token: &[u8]) -> String {
    hex::encode(Sha256::digest(token))
}

/// Compares `secret` with `presented` through their hashes, so that neither the content nor
/// the length of the secret leaks through timing.
pub(crate) fn hash_of(secret: &Secret) -> [u8; 32] {
    Sha256::digest(secret.expose_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::NamedToken;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn settings() -> AuthSettings {
        AuthSettings {
            ci_token: Secret::new("ci-secret"),
            deploy_token: Secret::new("deploy-secret"),
            admin_token: Secret::new("admin-secret"),
            ci_hmac_secret: Secret::new("hmac-secret"),
            ci_webhook_secret: Secret::from_bytes(b"webhook-key".to_vec()),
            ..AuthSettings::default()
        }
    }

    fn with_token(token: &str) -> Vec<u8> {
        format!("Bearer {token}").into_bytes()
    }

    fn check(
        settings: &AuthSettings,
        needed: Scope,
        authorization: Option<&[u8]>,
        signature: Option<&[u8]>,
    ) -> Result<Caller, AuthError> {
        authorize(
            settings,
            needed,
            Presented {
                authorization,
                signature,
                webhook: WebhookHeaders::default(),
            },
            b"{}",
            now(),
        )
    }

    fn scope_of(result: Result<Caller, AuthError>) -> Result<Scope, AuthError> {
        result.map(|caller| caller.scope)
    }

    #[test]
    fn each_token_opens_its_own_scope_and_admin_opens_all() {
        let s = settings();
        assert_eq!(
            scope_of(check(&s, Scope::Ci, Some(&with_token("ci-secret")), None)),
            Ok(Scope::Ci)
        );
        assert_eq!(
            scope_of(check(
                &s,
                Scope::Deploy,
                Some(&with_token("deploy-secret")),
                None
            )),
            Ok(Scope::Deploy)
        );
        for scope in [Scope::Ci, Scope::Deploy, Scope::Admin] {
            let caller = check(&s, scope, Some(&with_token("admin-secret")), None).unwrap();
            assert_eq!(caller.scope, Scope::Admin);
            assert_eq!(caller.name, "CFGUPDATE_ADMIN_TOKEN");
        }
    }

    #[test]
    fn a_token_of_another_scope_is_forbidden_and_a_wrong_one_unauthenticated() {
        let s = settings();
        let error = check(&s, Scope::Deploy, Some(&with_token("ci-secret")), None).unwrap_err();
        assert_eq!(
            error,
            AuthError::WrongScope {
                needed: Scope::Deploy,
                presented: Scope::Ci
            }
        );
        assert!(!error.is_unauthenticated());
        let error = check(&s, Scope::Admin, Some(&with_token("deploy-secret")), None).unwrap_err();
        assert!(matches!(error, AuthError::WrongScope { .. }));
        let error = check(&s, Scope::Ci, Some(&with_token("ci-secreT")), None).unwrap_err();
        assert!(error.is_unauthenticated());
        assert!(!error.to_string().contains("ci-secre"), "{error}");
        let error = check(&s, Scope::Ci, None, None).unwrap_err();
        assert_eq!(error, AuthError::Missing { needed: Scope::Ci });
    }

    #[test]
    fn only_bearer_authorization_is_understood() {
        let s = settings();
        for header in ["Basic Y2k6Y2k=", "ci-secret", "Bearer ", "Bearer"] {
            let error = check(&s, Scope::Ci, Some(header.as_bytes()), None).unwrap_err();
            assert!(error.is_unauthenticated(), "{header}: {error}");
        }
        assert!(check(&s, Scope::Ci, Some(b"bearer ci-secret"), None).is_ok());
    }

    #[test]
    fn a_bearer_token_is_decided_from_the_headers_alone() {
        let s = settings();
        let presented = |authorization| Presented {
            authorization,
            ..Presented::default()
        };
        let granted = check_headers(
            &s,
            Scope::Ci,
            presented(Some(&b"Bearer ci-secret"[..])),
            now(),
        );
        assert!(matches!(granted, Ok(Admission::Granted(_))), "{granted:?}");
        let refused = check_headers(&s, Scope::Ci, presented(Some(&b"Bearer nope"[..])), now());
        assert!(refused.unwrap_err().is_unauthenticated());
        let refused = check_headers(&s, Scope::Ci, presented(None), now());
        assert!(refused.unwrap_err().is_unauthenticated());
    }

    #[test]
    fn a_good_signature_proves_ci_and_a_bad_or_malformed_one_is_refused() {
        let s = settings();
        let good = sign(b"hmac-secret", b"{}");
        let caller = check(&s, Scope::Ci, None, Some(good.as_bytes())).unwrap();
        assert_eq!(caller.via, Via::HubSignature);
        let other_key = sign(b"another-secret", b"{}");
        assert!(
            check(&s, Scope::Ci, None, Some(other_key.as_bytes()))
                .unwrap_err()
                .is_unauthenticated()
        );
        let other_body = sign(b"hmac-secret", b"{ }");
        assert!(
            check(&s, Scope::Ci, None, Some(other_body.as_bytes()))
                .unwrap_err()
                .is_unauthenticated()
        );
        for malformed in ["sha1=00", "sha256=zz", "", &good[7..], "sha256=00"] {
            assert!(
                check(&s, Scope::Ci, None, Some(malformed.as_bytes()))
                    .unwrap_err()
                    .is_unauthenticated(),
                "{malformed}"
            );
        }
        // A signature proves ci, not deploy.
        let error = check(&s, Scope::Deploy, None, Some(good.as_bytes())).unwrap_err();
        assert!(matches!(error, AuthError::WrongScope { .. }), "{error}");
    }

    #[test]
    fn every_presented_credential_must_be_valid() {
        let s = settings();
        let bad = sign(b"wrong", b"{}");
        let error = check(
            &s,
            Scope::Ci,
            Some(&with_token("ci-secret")),
            Some(bad.as_bytes()),
        )
        .unwrap_err();
        assert!(error.is_unauthenticated());
        // A wrong token beside a good signature is refused before the body is read.
        let good = sign(b"hmac-secret", b"{}");
        let early = check_headers(
            &s,
            Scope::Ci,
            Presented {
                authorization: Some(b"Bearer wrong"),
                signature: Some(good.as_bytes()),
                webhook: WebhookHeaders::default(),
            },
            now(),
        );
        assert!(early.unwrap_err().is_unauthenticated());
    }

    #[test]
    fn a_scope_without_credentials_fails_closed() {
        let s = AuthSettings {
            deploy_token: Secret::new("deploy-secret"),
            ..AuthSettings::default()
        };
        let error = check(&s, Scope::Ci, Some(&with_token("deploy-secret")), None).unwrap_err();
        assert_eq!(error, AuthError::NotConfigured { needed: Scope::Ci });
        assert!(error.to_string().contains("CFGUPDATE_CI_TOKEN"), "{error}");
        // With nothing configured every request is refused: as 401, since no credential it
        // could present is valid (docs/contract.md#http: "no or bad credentials").
        let nothing = AuthSettings::default();
        for header in [None, Some(&b"Bearer "[..]), Some(&b"Bearer anything"[..])] {
            let error = check(&nothing, Scope::Deploy, header, None).unwrap_err();
            assert!(error.is_unauthenticated(), "{header:?}: {error}");
        }
        // A signature without a configured secret is refused, never skipped.
        let s = AuthSettings {
            ci_token: Secret::new("ci-secret"),
            ..AuthSettings::default()
        };
        let signed = sign(b"", b"{}");
        assert!(
            check(&s, Scope::Ci, None, Some(signed.as_bytes()))
                .unwrap_err()
                .is_unauthenticated()
        );
    }

    #[test]
    fn insecure_no_auth_lets_everything_through() {
        let s = AuthSettings {
            insecure_no_auth: true,
            ..AuthSettings::default()
        };
        assert!(check(&s, Scope::Admin, None, None).is_ok());
    }

    #[test]
    fn named_tokens_identify_their_holder() {
        let s = AuthSettings {
            tokens: vec![
                NamedToken::new("alice", Scope::Admin, &token_sha256(b"alice-token")),
                NamedToken::new("jenkins", Scope::Ci, &token_sha256(b"jenkins-token")),
            ],
            ..AuthSettings::default()
        };
        let caller = check(&s, Scope::Admin, Some(&with_token("alice-token")), None).unwrap();
        assert_eq!(
            (caller.name.as_str(), caller.scope),
            ("alice", Scope::Admin)
        );
        let caller = check(&s, Scope::Ci, Some(&with_token("jenkins-token")), None).unwrap();
        assert_eq!(caller.name, "jenkins");
        let error = check(&s, Scope::Admin, Some(&with_token("jenkins-token")), None).unwrap_err();
        assert!(matches!(error, AuthError::WrongScope { .. }), "{error}");
        assert!(
            check(&s, Scope::Ci, Some(&with_token("alice-token ")), None).is_ok(),
            "a header's surrounding blanks are not part of the token"
        );
        assert!(
            check(&s, Scope::Ci, Some(&with_token("alice-tokeN")), None)
                .unwrap_err()
                .is_unauthenticated()
        );
    }

    fn delivery<'a>(id: &'a str, timestamp: &'a str, signature: &'a str) -> Presented<'a> {
        Presented {
            authorization: None,
            signature: None,
            webhook: WebhookHeaders {
                id: Some(id.as_bytes()),
                timestamp: Some(timestamp.as_bytes()),
                signature: Some(signature.as_bytes()),
            },
        }
    }

    fn webhook(presented: Presented<'_>, body: &[u8]) -> Result<Caller, AuthError> {
        authorize(&settings(), Scope::Ci, presented, body, now())
    }

    #[test]
    fn a_standard_webhooks_delivery_is_checked_over_id_timestamp_and_body() {
        let at = 1_800_000_000u64;
        let ts = at.to_string();
        let good = sign_webhook(b"webhook-key", "msg_1", at, b"{}");
        let caller = webhook(delivery("msg_1", &ts, &good), b"{}").unwrap();
        assert_eq!(
            (caller.scope, caller.via),
            (Scope::Ci, Via::StandardWebhook)
        );
        // Any one valid signature among several suffices.
        let several = format!("v1,AAAA v1a,xyz {good} v1,{}", BASE64.encode([0u8; 32]));
        assert!(webhook(delivery("msg_1", &ts, &several), b"{}").is_ok());
        // Another body, id, timestamp or key: refused.
        for (id, t, body, key) in [
            ("msg_1", at, &b"{ }"[..], &b"webhook-key"[..]),
            ("msg_2", at, b"{}", b"webhook-key"),
            ("msg_1", at, b"{}", b"other-key"),
        ] {
            let signature = sign_webhook(key, id, t, body);
            let error = webhook(delivery("msg_1", &ts, &signature), b"{}").unwrap_err();
            assert!(error.is_unauthenticated(), "{error}");
        }
        let shifted = (at + 1).to_string();
        assert!(webhook(delivery("msg_1", &shifted, &good), b"{}").is_err());
    }

    #[test]
    fn a_delivery_more_than_five_minutes_away_is_refused_before_the_body() {
        for at in [1_800_000_000u64 - 301, 1_800_000_000 + 301] {
            let signature = sign_webhook(b"webhook-key", "msg_1", at, b"{}");
            let ts = at.to_string();
            let error = check_headers(
                &settings(),
                Scope::Ci,
                delivery("msg_1", &ts, &signature),
                now(),
            )
            .unwrap_err();
            assert!(error.to_string().contains("5 minutes"), "{error}");
        }
        let at = 1_800_000_000u64 - 299;
        let signature = sign_webhook(b"webhook-key", "msg_1", at, b"{}");
        assert!(webhook(delivery("msg_1", &at.to_string(), &signature), b"{}").is_ok());
    }

    #[test]
    fn malformed_webhook_headers_are_refused() {
        let at = "1800000000";
        let good = sign_webhook(b"webhook-key", "msg_1", 1_800_000_000, b"{}");
        let long_id = "x".repeat(300);
        for (id, ts, signature) in [
            ("", at, good.as_str()),
            ("msg 1", at, &good),
            (&long_id, at, &good),
            ("msg_1", "-5", &good),
            ("msg_1", "1.8e9", &good),
            ("msg_1", "", &good),
            ("msg_1", "99999999999999999999", &good),
            ("msg_1", at, "v1,"),
            ("msg_1", at, "v2,abc"),
            ("msg_1", at, &good[3..]),
        ] {
            let error = webhook(delivery(id, ts, signature), b"{}").unwrap_err();
            assert!(error.is_unauthenticated(), "{id} {ts} {signature}: {error}");
        }
        let partial = Presented {
            webhook: WebhookHeaders {
                id: Some(b"msg_1"),
                ..WebhookHeaders::default()
            },
            ..Presented::default()
        };
        let error = webhook(partial, b"{}").unwrap_err();
        assert!(error.to_string().contains("all three"), "{error}");
    }
}
