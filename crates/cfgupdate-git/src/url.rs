//! The remote's URL, and the one form of it that may be shown: without credentials.

use std::fmt;
use std::path::{Path, PathBuf};

/// Why a remote URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// The text is empty.
    #[error("the remote URL is empty")]
    Empty,
    /// A scheme libgit2 does not speak.
    #[error(
        "the remote URL `{redacted}` has the scheme `{scheme}`; use a local path, file://, git://, ssh:// or https://"
    )]
    UnknownScheme {
        /// The URL without credentials.
        redacted: String,
        /// The scheme given.
        scheme: String,
    },
    /// A transport this build leaves out.
    #[error(
        "the remote URL `{redacted}` needs the `{feature}` feature of cfgupdate-git, which this build does not have"
    )]
    TransportNotBuilt {
        /// The URL without credentials.
        redacted: String,
        /// The crate feature that adds the transport.
        feature: &'static str,
    },
}

/// How the remote is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A path on this machine, or `file://`.
    Local,
    /// `git://`: the git daemon protocol, unauthenticated.
    Git,
    /// `https://` (and plain `http://`).
    Https,
    /// `ssh://` or the scp-like `user@host:path`.
    Ssh,
}

/// The remote's URL as given, with what may be shown of it kept apart.
///
/// Its `Display` and `Debug` never show a credential: `https://user:secret@host/x` shows as
/// `https://***@host/x`. Local paths are made absolute, so one remote has one cache whatever
/// directory the process runs in.
#[derive(Clone, PartialEq, Eq)]
pub struct RemoteUrl {
    /// What libgit2 is given, credentials included.
    raw: String,
    /// What people see.
    redacted: String,
    /// The URL without any user information: what names the cache.
    key: String,
    transport: Transport,
    /// Text that must never appear in a message: the user information and its parts.
    secrets: Vec<String>,
}

impl RemoteUrl {
    /// Parses a remote URL: a local path, `file://`, `git://`, `ssh://`, `user@host:path`,
    /// `http://` or `https://`. The last four need the crate features `ssh` and `https`.
    pub fn parse(text: &str) -> Result<Self, UrlError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(UrlError::Empty);
        }
        let url = match text.split_once("://") {
            Some((scheme, rest)) => Self::with_scheme(text, scheme, rest)?,
            None if is_scp_like(text) => Self {
                raw: text.to_owned(),
                redacted: text.to_owned(),
                key: text.to_owned(),
                transport: Transport::Ssh,
                secrets: Vec::new(),
            },
            None => {
                let path = absolute(Path::new(text));
                let shown = path.to_string_lossy().into_owned();
                Self {
                    raw: shown.clone(),
                    redacted: shown.clone(),
                    key: shown,
                    transport: Transport::Local,
                    secrets: Vec::new(),
                }
            }
        };
        url.check_built()?;
        Ok(url)
    }

    fn with_scheme(text: &str, scheme: &str, rest: &str) -> Result<Self, UrlError> {
        let (authority, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, ""),
        };
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((userinfo, host)) => (Some(userinfo), host),
            None => (None, authority),
        };
        let redacted = match userinfo {
            Some(_) => format!("{scheme}://***@{host}{path}"),
            None => text.to_owned(),
        };
        let transport = match scheme.to_ascii_lowercase().as_str() {
            "file" => Transport::Local,
            "git" => Transport::Git,
            "http" | "https" => Transport::Https,
            "ssh" | "git+ssh" | "ssh+git" => Transport::Ssh,
            _ => {
                return Err(UrlError::UnknownScheme {
                    redacted,
                    scheme: scheme.to_owned(),
                });
            }
        };
        let mut secrets = Vec::new();
        if let Some(userinfo) = userinfo {
            // An ssh user name (`git@`) is no secret, but over https a bare token is often
            // written where the user name goes.
            if transport != Transport::Ssh {
                secrets.push(userinfo.to_owned());
                secrets.push(percent_decode(userinfo));
            }
            if let Some((_, password)) = userinfo.split_once(':') {
                secrets.push(password.to_owned());
                secrets.push(percent_decode(password));
            }
            secrets.retain(|secret| !secret.is_empty());
            secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
            secrets.dedup();
        }
        Ok(Self {
            raw: text.to_owned(),
            redacted,
            key: format!("{}://{host}{path}", scheme.to_ascii_lowercase()),
            transport,
            secrets,
        })
    }

    fn check_built(&self) -> Result<(), UrlError> {
        let missing = match self.transport {
            Transport::Https if !cfg!(feature = "https") => Some("https"),
            Transport::Ssh if !cfg!(feature = "ssh") => Some("ssh"),
            _ => None,
        };
        match missing {
            Some(feature) => Err(UrlError::TransportNotBuilt {
                redacted: self.redacted.clone(),
                feature,
            }),
            None => Ok(()),
        }
    }

    /// The URL as it may be shown: user information replaced by `***`.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// How the remote is reached.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The URL without any user information; two URLs that differ only in credentials
    /// name the same remote.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// What libgit2 connects to, credentials included: never to be shown.
    pub(crate) fn for_libgit2(&self) -> &str {
        &self.raw
    }

    /// `text` with every credential of this URL, and the user information of any URL in
    /// it, replaced by `***`.
    pub(crate) fn redact(&self, text: &str) -> String {
        let mut text = redact_userinfo(text);
        for secret in &self.secrets {
            text = text.replace(secret.as_str(), "***");
        }
        text
    }
}

impl fmt::Display for RemoteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl fmt::Debug for RemoteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RemoteUrl").field(&self.redacted).finish()
    }
}

/// `user@host:path`, as git reads it: a colon before any slash, and not a Windows drive.
fn is_scp_like(text: &str) -> bool {
    match text.find(':') {
        Some(colon) => !text[..colon].contains('/') && colon > 1,
        None => false,
    }
}

fn absolute(path: &Path) -> PathBuf {
    if let Ok(canonical) = path.canonicalize() {
        return canonical;
    }
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Replaces the user information of every `scheme://userinfo@host` in `text` by `***`.
pub(crate) fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("://") {
        let (before, after) = rest.split_at(start + 3);
        out.push_str(before);
        let end = after
            .find(|c: char| c == '/' || c.is_whitespace() || matches!(c, '\'' | '"' | '`'))
            .unwrap_or(after.len());
        let authority = &after[..end];
        match authority.rsplit_once('@') {
            Some((_, host)) => {
                out.push_str("***@");
                out.push_str(host);
            }
            None => out.push_str(authority),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_a_url_are_never_shown_and_do_not_change_its_key() {
        let url = RemoteUrl::parse("git://user:s3cr%21t@example.com:9418/config.git").unwrap();
        assert_eq!(url.redacted(), "git://***@example.com:9418/config.git");
        assert_eq!(url.to_string(), url.redacted());
        assert!(!format!("{url:?}").contains("s3cr"));
        let plain = RemoteUrl::parse("git://example.com:9418/config.git").unwrap();
        assert_eq!(url.key(), plain.key());
        assert_eq!(
            url.redact("auth for s3cr!t and s3cr%21t failed"),
            "auth for *** and *** failed"
        );
    }

    #[test]
    fn any_url_in_a_message_loses_its_user_information() {
        assert_eq!(
            redact_userinfo("failed to reach 'https://tok@host/x' and http://a:b@c"),
            "failed to reach 'https://***@host/x' and http://***@c"
        );
        assert_eq!(
            redact_userinfo("see git://host/x"),
            "see git://host/x",
            "a URL without credentials stays as it is"
        );
    }

    #[test]
    fn local_paths_become_absolute() {
        let url = RemoteUrl::parse("some/relative/dir").unwrap();
        assert!(Path::new(url.redacted()).is_absolute(), "{url}");
        assert_eq!(url.transport(), Transport::Local);
    }

    #[test]
    fn unknown_schemes_are_refused_without_their_credentials() {
        let error = RemoteUrl::parse("ftp://me:pw@host/x").unwrap_err();
        assert!(matches!(error, UrlError::UnknownScheme { .. }));
        assert!(!error.to_string().contains("pw"), "{error}");
    }

    #[cfg(not(feature = "https"))]
    #[test]
    fn https_without_its_feature_names_the_feature() {
        let error = RemoteUrl::parse("https://host/x").unwrap_err();
        assert!(error.to_string().contains("`https` feature"), "{error}");
    }

    #[test]
    fn scp_like_addresses_are_ssh() {
        let parsed = RemoteUrl::parse("git@example.com:team/config.git");
        if cfg!(feature = "ssh") {
            assert_eq!(parsed.unwrap().transport(), Transport::Ssh);
        } else {
            assert!(matches!(
                parsed,
                Err(UrlError::TransportNotBuilt { feature: "ssh", .. })
            ));
        }
    }
}
