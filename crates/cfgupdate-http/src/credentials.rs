//! Where the credentials come from: variables, `*_FILE` variables naming a file that holds the
//! secret (a mounted Kubernetes Secret), and the named tokens of `CFGUPDATE_TOKENS_FILE`.
//!
//! This crate reads no environment and no file itself: [`load`] is handed a lookup of
//! variables and a reader of files by the caller (the CLI), so a program embedding the service
//! can take its credentials from anywhere.

use std::collections::HashMap;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use crate::auth::Scope;
use crate::settings::{
    ADMIN_TOKEN_VAR, AuthSettings, CI_HMAC_SECRET_VAR, CI_TOKEN_VAR, CI_WEBHOOK_SECRET_VAR,
    DEPLOY_TOKEN_VAR, NamedToken, Secret, TOKENS_FILE_VAR, decode_webhook_secret,
};

/// Why the credentials could not be loaded: `serve` stops with this sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// A secret is given both directly and as a file.
    #[error("both {variable} and {variable}_FILE are set: give the secret one way only")]
    BothSet {
        /// The variable (without `_FILE`).
        variable: String,
    },
    /// The file a `*_FILE` variable (or `CFGUPDATE_TOKENS_FILE`) names cannot be read.
    #[error("cannot read {path} (named by {variable}): {reason}")]
    Unreadable {
        /// The variable naming the file.
        variable: String,
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// `CFGUPDATE_CI_WEBHOOK_SECRET` is not `whsec_<base64>`.
    #[error("{0}")]
    WebhookSecret(String),
    /// The tokens file is not what it should be.
    #[error("{file}, line {line}{}: {reason}", key.as_ref().map(|k| format!(", key `{k}`")).unwrap_or_default())]
    TokensFile {
        /// The file.
        file: String,
        /// The line at fault (1-based).
        line: usize,
        /// The key at fault, when known.
        key: Option<String>,
        /// Why.
        reason: String,
    },
}

/// Credentials the operator configured that cannot be used: a configuration error (exit 2).
impl cfgupdate_core::Classify for CredentialError {
    fn class(&self) -> cfgupdate_core::ErrorClass {
        cfgupdate_core::ErrorClass::Invalid
    }
}

/// The secret variable `name`, or the content of the file `name_FILE` names (one trailing
/// newline is not part of it). Both set is an error; an empty value is no secret.
pub fn secret_variable(
    lookup: &dyn Fn(&str) -> Option<String>,
    read: &dyn Fn(&str) -> Result<String, String>,
    name: &str,
) -> Result<Option<String>, CredentialError> {
    let file_variable = format!("{name}_FILE");
    match (lookup(name), lookup(&file_variable)) {
        (Some(_), Some(_)) => Err(CredentialError::BothSet {
            variable: name.to_owned(),
        }),
        (Some(value), None) => Ok(Some(value).filter(|v| !v.is_empty())),
        (None, Some(path)) => {
            let content = read(&path).map_err(|reason| CredentialError::Unreadable {
                variable: file_variable.clone(),
                path: path.clone(),
                reason,
            })?;
            let content = content
                .strip_suffix('\n')
                .map(|c| c.strip_suffix('\r').unwrap_or(c))
                .unwrap_or(&content);
            Ok(Some(content.to_owned()).filter(|v| !v.is_empty()))
        }
        (None, None) => Ok(None),
    }
}

/// Every credential of docs/http.md#credentials: the tokens of each scope, the CI signing secrets
/// (each also as `*_FILE`), and the named tokens of `CFGUPDATE_TOKENS_FILE`.
pub fn load(
    lookup: &dyn Fn(&str) -> Option<String>,
    read: &dyn Fn(&str) -> Result<String, String>,
) -> Result<AuthSettings, CredentialError> {
    let secret = |name: &str| -> Result<Option<Secret>, CredentialError> {
        Ok(secret_variable(lookup, read, name)?.and_then(Secret::new))
    };
    let ci_webhook_secret = match secret_variable(lookup, read, CI_WEBHOOK_SECRET_VAR)? {
        Some(value) => Some(
            decode_webhook_secret(&value)
                .map_err(CredentialError::WebhookSecret)
                .map(Secret::from_bytes)?,
        )
        .flatten(),
        None => None,
    };
    let tokens = match lookup(TOKENS_FILE_VAR).filter(|p| !p.is_empty()) {
        Some(path) => {
            let text = read(&path).map_err(|reason| CredentialError::Unreadable {
                variable: TOKENS_FILE_VAR.to_owned(),
                path: path.clone(),
                reason,
            })?;
            parse_tokens_file(&path, &text)?
        }
        None => Vec::new(),
    };
    Ok(AuthSettings {
        ci_token: secret(CI_TOKEN_VAR)?,
        deploy_token: secret(DEPLOY_TOKEN_VAR)?,
        admin_token: secret(ADMIN_TOKEN_VAR)?,
        ci_hmac_secret: secret(CI_HMAC_SECRET_VAR)?,
        ci_webhook_secret,
        tokens,
        insecure_no_auth: false,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensDocument {
    #[serde(default)]
    token: Vec<TokenTable>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenTable {
    name: Spanned<String>,
    scope: Spanned<String>,
    sha256: Spanned<String>,
}

/// The named tokens of a tokens file (`file` is how messages name it):
///
/// ```toml
/// [[token]]
/// name = "jenkins"
/// scope = "ci"            # ci, deploy or admin
/// sha256 = "<64 hex digits: the SHA-256 of the token>"
/// ```
///
/// Names are 1 to 64 of `A-Z a-z 0-9 . _ @ + -` and unique; so are the hashes.
pub fn parse_tokens_file(file: &str, text: &str) -> Result<Vec<NamedToken>, CredentialError> {
    let fault = |span: Option<Range<usize>>, key: Option<&str>, reason: String| {
        let line = span.map_or(1, |span| line_of(text, span.start));
        CredentialError::TokensFile {
            file: file.to_owned(),
            line,
            key: key.map(str::to_owned),
            reason,
        }
    };
    let document: TokensDocument = toml::from_str(text)
        .map_err(|error| fault(error.span(), None, error.message().trim().to_owned()))?;
    let mut names: HashMap<String, String> = HashMap::new();
    let mut hashes: HashMap<[u8; 32], String> = HashMap::new();
    let mut tokens = Vec::new();
    for table in document.token {
        let name = table.name.get_ref();
        if !valid_name(name) {
            return Err(fault(
                Some(table.name.span()),
                Some("name"),
                format!(
                    "`{}` is not a token name: use 1 to 64 of A-Z, a-z, 0-9, `.`, `_`, `@`, `+`, `-`",
                    cfgupdate_core::adapter::shown(name)
                ),
            ));
        }
        if names.insert(name.clone(), name.clone()).is_some() {
            return Err(fault(
                Some(table.name.span()),
                Some("name"),
                format!(
                    "the name `{name}` is given to another token already; names must be unique"
                ),
            ));
        }
        let scope = Scope::parse(table.scope.get_ref()).ok_or_else(|| {
            fault(
                Some(table.scope.span()),
                Some("scope"),
                format!(
                    "`{}` is not a scope: use `ci`, `deploy` or `admin`",
                    cfgupdate_core::adapter::shown(table.scope.get_ref())
                ),
            )
        })?;
        let mut sha256 = [0u8; 32];
        let digits = table.sha256.get_ref().trim();
        if digits.len() != 64 || hex::decode_to_slice(digits, &mut sha256).is_err() {
            return Err(fault(
                Some(table.sha256.span()),
                Some("sha256"),
                "not a SHA-256: expected 64 hexadecimal digits (e.g. from `printf %s \"$TOKEN\" | sha256sum`)".to_owned(),
            ));
        }
        if let Some(other) = hashes.insert(sha256, name.clone()) {
            return Err(fault(
                Some(table.sha256.span()),
                Some("sha256"),
                format!(
                    "token `{name}` has the same hash as token `{other}`: each holder needs a token of its own"
                ),
            ));
        }
        tokens.push(NamedToken {
            name: name.clone(),
            scope,
            sha256,
        });
    }
    Ok(tokens)
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@+-".contains(&b))
}

fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::token_sha256;

    fn hash(token: &str) -> String {
        token_sha256(token.as_bytes())
    }

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn files(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Result<String, String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |path| {
            map.get(path)
                .cloned()
                .ok_or_else(|| "No such file or directory".to_owned())
        }
    }

    #[test]
    fn a_tokens_file_gives_each_holder_a_name_and_a_scope() {
        let text = format!(
            "[[token]]\nname = \"alice\"\nscope = \"admin\"\nsha256 = \"{}\"\n\n[[token]]\nname = \"jenkins\"\nscope = \"ci\"\nsha256 = \"{}\"\n",
            hash("a"),
            hash("j")
        );
        let tokens = parse_tokens_file("/etc/tokens.toml", &text).unwrap();
        assert_eq!(tokens.len(), 2);
        assert_eq!(
            (tokens[1].name.as_str(), tokens[1].scope),
            ("jenkins", Scope::Ci)
        );
        assert_eq!(parse_tokens_file("t.toml", "").unwrap(), vec![]);
    }

    #[test]
    fn errors_in_the_tokens_file_name_the_file_line_and_key() {
        let good = hash("a");
        let cases = [
            ("[[token]\nname = 1", 1, None, ""),
            (
                &format!("[[token]]\nname = \"a\"\nscope = \"root\"\nsha256 = \"{good}\"\n")
                    as &str,
                3,
                Some("scope"),
                "`root` is not a scope",
            ),
            (
                "[[token]]\nname = \"a\"\nscope = \"ci\"\nsha256 = \"xyz\"\n",
                4,
                Some("sha256"),
                "64 hexadecimal digits",
            ),
            (
                &format!(
                    "[[token]]\nname = \"a\"\nscope = \"ci\"\nsha256 = \"{good}\"\n[[token]]\nname = \"a\"\nscope = \"ci\"\nsha256 = \"{}\"\n",
                    hash("b")
                ),
                6,
                Some("name"),
                "unique",
            ),
            (
                &format!("[[token]]\nname = \"a b\"\nscope = \"ci\"\nsha256 = \"{good}\"\n"),
                2,
                Some("name"),
                "not a token name",
            ),
            (
                &format!(
                    "[[token]]\nname = \"a\"\nscope = \"ci\"\nsha256 = \"{good}\"\nrole = \"x\"\n"
                ),
                5,
                None,
                "role",
            ),
        ];
        for (text, line, key, words) in cases {
            let error = parse_tokens_file("/etc/tokens.toml", text).unwrap_err();
            let CredentialError::TokensFile {
                line: at, key: k, ..
            } = &error
            else {
                panic!("{error}");
            };
            assert_eq!((*at, k.as_deref()), (line, key), "{error}");
            let sentence = error.to_string();
            assert!(
                sentence.starts_with("/etc/tokens.toml, line "),
                "{sentence}"
            );
            assert!(sentence.contains(words), "{sentence}");
            assert!(!sentence.contains('\n'), "{sentence}");
        }
    }

    #[test]
    fn every_secret_may_come_from_a_file_without_its_trailing_newline() {
        let auth = load(
            &lookup(&[
                ("CFGUPDATE_CI_TOKEN_FILE", "/run/ci"),
                ("CFGUPDATE_DEPLOY_TOKEN", "deploy"),
                ("CFGUPDATE_CI_HMAC_SECRET_FILE", "/run/hmac"),
                ("CFGUPDATE_CI_WEBHOOK_SECRET_FILE", "/run/whsec"),
            ]),
            &files(&[
                ("/run/ci", "ci-token\n"),
                ("/run/hmac", "hmac\r\n"),
                ("/run/whsec", "whsec_a2V5\n"),
            ]),
        )
        .unwrap();
        assert_eq!(auth.ci_token, Secret::new("ci-token"));
        assert_eq!(auth.ci_hmac_secret, Secret::new("hmac"));
        assert_eq!(auth.ci_webhook_secret, Secret::from_bytes(b"key".to_vec()));
        assert_eq!(auth.deploy_token, Secret::new("deploy"));
        assert!(auth.warnings().is_empty(), "{:?}", auth.warnings());
    }

    #[test]
    fn a_secret_given_twice_or_unreadable_stops_the_service() {
        let error = load(
            &lookup(&[
                ("CFGUPDATE_ADMIN_TOKEN", "a"),
                ("CFGUPDATE_ADMIN_TOKEN_FILE", "/run/a"),
            ]),
            &files(&[("/run/a", "a")]),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "both CFGUPDATE_ADMIN_TOKEN and CFGUPDATE_ADMIN_TOKEN_FILE are set: give the secret one way only"
        );
        let error = load(
            &lookup(&[("CFGUPDATE_CI_TOKEN_FILE", "/run/none")]),
            &files(&[]),
        )
        .unwrap_err();
        assert!(error.to_string().contains("/run/none"), "{error}");
        let error = load(
            &lookup(&[("CFGUPDATE_CI_WEBHOOK_SECRET", "whsec_***")]),
            &files(&[]),
        )
        .unwrap_err();
        assert!(error.to_string().contains("whsec_<base64>"), "{error}");
        assert!(!error.to_string().contains("***"), "{error}");
        let error = load(
            &lookup(&[("CFGUPDATE_TOKENS_FILE", "/etc/t.toml")]),
            &files(&[("/etc/t.toml", "[[token]]\nname = \"x\"\n")]),
        )
        .unwrap_err();
        assert!(
            error.to_string().starts_with("/etc/t.toml, line "),
            "{error}"
        );
    }

    #[test]
    fn a_shared_token_and_a_token_ending_in_a_newline_are_warned_about() {
        let text = format!(
            "[[token]]\nname = \"ops\"\nscope = \"admin\"\nsha256 = \"{}\"\n",
            hash("s3cr3t-shared")
        );
        let auth = load(
            &lookup(&[
                ("CFGUPDATE_CI_TOKEN", "s3cr3t-shared"),
                ("CFGUPDATE_DEPLOY_TOKEN", "deploy\n"),
                ("CFGUPDATE_TOKENS_FILE", "/t"),
            ]),
            &files(&[("/t", &text)]),
        )
        .unwrap();
        let warnings = auth.warnings();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].starts_with("CFGUPDATE_DEPLOY_TOKEN ends in a newline"),
            "{warnings:?}"
        );
        assert!(
            warnings[1].contains("CFGUPDATE_CI_TOKEN (scope `ci`) and ops (scope `admin`)"),
            "{warnings:?}"
        );
        for warning in &warnings {
            assert!(!warning.contains("s3cr3t"), "{warning}");
            assert!(!warning.contains('\n'));
        }
    }
}
