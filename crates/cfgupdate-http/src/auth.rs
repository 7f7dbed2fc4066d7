//! Who may call what: bearer tokens per scope and CI's body signatures, compared in constant
//! time, failing closed.
//!
//! Every credential a request presents must be valid (a good token beside a bad signature is
//! refused), and at least one must prove the endpoint's scope or `admin`:
//!
//! | request | answer |
//! |---|---|
//! | no `Authorization`, no `X-Hub-Signature-256` | 401 |
//! | a token or signature that matches no credential | 401 |
//! | valid credentials of another scope only | 403 |
//! | valid credentials, while the endpoint's scope has no credential configured and no admin token is | 403 |

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::settings::{AuthSettings, Secret};

/// The header CI signs bodies in, as GitHub's webhooks do.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// What a caller is allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Announce images (`POST /v1/images`).
    Ci,
    /// Report deployments (`POST /v1/deployments`).
    Deploy,
    /// Approve (`POST /v1/approvals`), and everything the other scopes may do.
    Admin,
}

impl Scope {
    /// The scope's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Ci => "ci",
            Scope::Deploy => "deploy",
            Scope::Admin => "admin",
        }
    }

    fn variables(self) -> &'static str {
        match self {
            Scope::Ci => "CFGUPDATE_CI_TOKEN or CFGUPDATE_CI_HMAC_SECRET",
            Scope::Deploy => "CFGUPDATE_DEPLOY_TOKEN",
            Scope::Admin => "CFGUPDATE_ADMIN_TOKEN",
        }
    }
}

/// Why a request was refused (401 for the first two, 403 for the others).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credential at all.
    #[error(
        "the request carries no credentials: send `Authorization: Bearer <token>` for scope `{}`{}",
        needed.name(),
        if *needed == Scope::Ci { " or sign the body in `X-Hub-Signature-256`" } else { "" }
    )]
    Missing {
        /// The scope the endpoint needs.
        needed: Scope,
    },
    /// A credential that is malformed or matches nothing.
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

/// The credentials a request presents: the two headers, as received.
#[derive(Debug, Clone, Copy, Default)]
pub struct Presented<'a> {
    /// The `Authorization` header, when present.
    pub authorization: Option<&'a [u8]>,
    /// The `X-Hub-Signature-256` header, when present.
    pub signature: Option<&'a [u8]>,
}

/// Checks a request's credentials for `needed`; `body` is what a signature covers.
pub fn authorize(
    settings: &AuthSettings,
    needed: Scope,
    presented: Presented<'_>,
    body: &[u8],
) -> Result<(), AuthError> {
    if settings.insecure_no_auth {
        return Ok(());
    }
    let configured = match needed {
        Scope::Ci => settings.ci_token.is_some() || settings.ci_hmac_secret.is_some(),
        Scope::Deploy => settings.deploy_token.is_some(),
        Scope::Admin => settings.admin_token.is_some(),
    };
    let mut proven = Vec::new();
    if let Some(header) = presented.authorization {
        proven.push(token_scope(settings, header)?);
    }
    if let Some(header) = presented.signature {
        check_signature(settings.ci_hmac_secret.as_ref(), header, body)?;
        proven.push(Scope::Ci);
    }
    match proven.first() {
        // No credentials, or none that match, are 401 (contract section 5), whatever is
        // configured: a scope with nothing configured can only ever be refused anyway.
        None => Err(AuthError::Missing { needed }),
        Some(_) if proven.iter().any(|s| *s == needed || *s == Scope::Admin) => Ok(()),
        Some(_) if !configured && settings.admin_token.is_none() => {
            Err(AuthError::NotConfigured { needed })
        }
        Some(presented) => Err(AuthError::WrongScope {
            needed,
            presented: *presented,
        }),
    }
}

/// The scope a bearer token proves. Every configured token is compared, each in constant time,
/// so the time taken says nothing about which one (if any) matched.
fn token_scope(settings: &AuthSettings, header: &[u8]) -> Result<Scope, AuthError> {
    let token = bearer(header).ok_or(AuthError::Bad {
        reason: "the `Authorization` header is not `Bearer <token>`",
    })?;
    let mut matched = None;
    for (scope, secret) in [
        (Scope::Admin, &settings.admin_token),
        (Scope::Deploy, &settings.deploy_token),
        (Scope::Ci, &settings.ci_token),
    ] {
        if let Some(secret) = secret
            && same_secret(secret, token)
            && matched.is_none()
        {
            matched = Some(scope);
        }
    }
    matched.ok_or(AuthError::Bad {
        reason: "the bearer token is not valid for any scope",
    })
}

fn bearer(header: &[u8]) -> Option<&[u8]> {
    let header = header.trim_ascii();
    let (scheme, token) = header.split_at_checked(7)?;
    (scheme.eq_ignore_ascii_case(b"bearer ") && !token.trim_ascii().is_empty())
        .then(|| token.trim_ascii())
}

/// Compares hashes, so that neither the content nor the length of the secret leaks through
/// timing.
fn same_secret(secret: &Secret, presented: &[u8]) -> bool {
    let expected = Sha256::digest(secret.expose());
    let given = Sha256::digest(presented);
    bool::from(expected.as_slice().ct_eq(given.as_slice()))
}

fn check_signature(secret: Option<&Secret>, header: &[u8], body: &[u8]) -> Result<(), AuthError> {
    let Some(secret) = secret else {
        return Err(AuthError::Bad {
            reason: "the body is signed in `X-Hub-Signature-256`, but the service has no CI signing secret (CFGUPDATE_CI_HMAC_SECRET) to check it with",
        });
    };
    let signature = header
        .trim_ascii()
        .strip_prefix(b"sha256=")
        .and_then(|hex_digits| hex::decode(hex_digits).ok())
        .ok_or(AuthError::Bad {
            reason: "the `X-Hub-Signature-256` header is not `sha256=<64 hex digits>`",
        })?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose()).map_err(|_| AuthError::Bad {
        reason: "the CI signing secret cannot key an HMAC",
    })?;
    mac.update(body);
    mac.verify_slice(&signature).map_err(|_| AuthError::Bad {
        reason: "the `X-Hub-Signature-256` signature does not match the body and the CI signing secret",
    })
}

/// The `X-Hub-Signature-256` value of `body` signed with `secret`: what CI sends.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // An HMAC takes a key of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> AuthSettings {
        AuthSettings {
            ci_token: Secret::new("ci-secret"),
            deploy_token: Secret::new("deploy-secret"),
            admin_token: Secret::new("admin-secret"),
            ci_hmac_secret: Secret::new("hmac-secret"),
            insecure_no_auth: false,
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
    ) -> Result<(), AuthError> {
        authorize(
            settings,
            needed,
            Presented {
                authorization,
                signature,
            },
            b"{}",
        )
    }

    #[test]
    fn each_token_opens_its_own_scope_and_admin_opens_all() {
        let s = settings();
        assert_eq!(
            check(&s, Scope::Ci, Some(&with_token("ci-secret")), None),
            Ok(())
        );
        assert_eq!(
            check(&s, Scope::Deploy, Some(&with_token("deploy-secret")), None),
            Ok(())
        );
        for scope in [Scope::Ci, Scope::Deploy, Scope::Admin] {
            assert_eq!(
                check(&s, scope, Some(&with_token("admin-secret")), None),
                Ok(())
            );
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
        assert_eq!(
            check(&s, Scope::Ci, Some(b"bearer ci-secret"), None),
            Ok(())
        );
    }

    #[test]
    fn a_good_signature_proves_ci_and_a_bad_or_malformed_one_is_refused() {
        let s = settings();
        let good = sign(b"hmac-secret", b"{}");
        assert_eq!(check(&s, Scope::Ci, None, Some(good.as_bytes())), Ok(()));
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
        for malformed in ["sha1=00", "sha256=zz", "", &good[7..]] {
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
        // could present is valid (contract section 5: "no or bad credentials").
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
        assert_eq!(check(&s, Scope::Admin, None, None), Ok(()));
    }
}
