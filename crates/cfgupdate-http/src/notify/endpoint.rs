//! Where a notification goes: an `http://` or `https://` URL, parsed once at start, and shown
//! only without its path, query and user information, which often carry a token (a Slack
//! webhook URL is a secret as a whole).

use std::fmt;

use axum::http::Uri;
use axum::http::uri::{PathAndQuery, Scheme};

/// The kind of sink, the label of the notification metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SinkKind {
    /// A URL of `CFGUPDATE_NOTIFY_URLS`: the JSON body, signed when a secret is set.
    Webhook,
    /// `CFGUPDATE_SLACK_WEBHOOK_URL`: a Slack message.
    Slack,
}

impl SinkKind {
    /// The label in `/metrics` and the logs.
    pub fn label(self) -> &'static str {
        match self {
            SinkKind::Webhook => "webhook",
            SinkKind::Slack => "slack",
        }
    }
}

/// An `http://` or `https://` URL a notification is POSTed to. Its `Debug` and `Display`
/// show the scheme, host and port only.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    https: bool,
    host: String,
    port: u16,
    path: PathAndQuery,
}

/// Why a URL is not an endpoint. The sentence never repeats the URL (it may hold a token).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// Not a URL at all.
    #[error("is not a URL")]
    NotUrl,
    /// A scheme other than `http` and `https`.
    #[error("is not an http:// or https:// URL")]
    Scheme,
    /// No host.
    #[error("has no host")]
    NoHost,
    /// A user name or password before the host.
    #[error(
        "holds a user name or password before the host, which is not sent: put a token in the path or query, or set CFGUPDATE_NOTIFY_SECRET to sign"
    )]
    UserInfo,
}

impl Endpoint {
    /// Parses an absolute `http://` or `https://` URL.
    pub fn parse(url: &str) -> Result<Self, EndpointError> {
        let uri: Uri = url.trim().parse().map_err(|_| EndpointError::NotUrl)?;
        let https = match uri.scheme() {
            Some(scheme) if *scheme == Scheme::HTTPS => true,
            Some(scheme) if *scheme == Scheme::HTTP => false,
            Some(_) => return Err(EndpointError::Scheme),
            None => return Err(EndpointError::NotUrl),
        };
        let authority = uri.authority().ok_or(EndpointError::NoHost)?;
        if authority.as_str().contains('@') {
            return Err(EndpointError::UserInfo);
        }
        let host = authority.host();
        if host.is_empty() {
            return Err(EndpointError::NoHost);
        }
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let path = uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        Ok(Self {
            https,
            host: host.to_owned(),
            port,
            path,
        })
    }

    /// Whether it is `https://`.
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The host as written in the URL (an IPv6 address in brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The host to connect to and to name in TLS (an IPv6 address without brackets).
    pub fn connect_host(&self) -> &str {
        self.host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&self.host)
    }

    /// The port (the scheme's default when the URL gives none).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The path and query, the request target. Never show it: it may hold a token.
    pub fn request_target(&self) -> &str {
        self.path.as_str()
    }

    /// The `Host` header's value.
    pub fn host_header(&self) -> String {
        let default = if self.https { 443 } else { 80 };
        if self.port == default {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}/…", self.host_header())
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Endpoint({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_never_shows_its_path_or_query() {
        let slack =
            Endpoint::parse("https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX").unwrap();
        assert_eq!(slack.to_string(), "https://hooks.slack.com/…");
        assert!(!format!("{slack:?}").contains("SECRET"));
        assert_eq!(slack.request_target(), "/services/T000/B000/XXXXSECRETXXXX");
        assert_eq!(
            (slack.port(), slack.host_header()),
            (443, "hooks.slack.com".into())
        );
        let local = Endpoint::parse("http://127.0.0.1:8081/hook?token=abc").unwrap();
        assert_eq!(local.to_string(), "http://127.0.0.1:8081/…");
        assert_eq!(local.request_target(), "/hook?token=abc");
        let bare = Endpoint::parse("http://[::1]:9000").unwrap();
        assert_eq!((bare.connect_host(), bare.request_target()), ("::1", "/"));
    }

    #[test]
    fn what_is_not_an_http_url_is_refused_without_repeating_it() {
        assert_eq!(Endpoint::parse("ftp://x/y"), Err(EndpointError::Scheme));
        assert_eq!(
            Endpoint::parse("hooks.example.com/x"),
            Err(EndpointError::NotUrl)
        );
        assert_eq!(Endpoint::parse("not a url"), Err(EndpointError::NotUrl));
        assert_eq!(
            Endpoint::parse("https://user:hunter2@example.com/x"),
            Err(EndpointError::UserInfo)
        );
        assert!(!EndpointError::UserInfo.to_string().contains("hunter2"));
    }
}
