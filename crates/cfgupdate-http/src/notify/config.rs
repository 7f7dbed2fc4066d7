//! Where notifications go and how patiently: [`NotifySettings`], and [`load`], which reads them
//! from variables through the same rule as every credential (each may be `NAME_FILE`).

use std::time::Duration;

use cfgupdate_core::RetryPolicy;

use super::endpoint::{Endpoint, EndpointError};
use crate::credentials::{CredentialError, secret_variable};
use crate::settings::{Secret, decode_webhook_secret};

/// The webhook URLs, comma separated (a secret: they often hold a token).
pub const NOTIFY_URLS_VAR: &str = "CFGUPDATE_NOTIFY_URLS";
/// The Standard Webhooks secret the webhook deliveries are signed with (`whsec_<base64>`).
pub const NOTIFY_SECRET_VAR: &str = "CFGUPDATE_NOTIFY_SECRET";
/// The Slack incoming-webhook URL (a secret as a whole).
pub const SLACK_WEBHOOK_URL_VAR: &str = "CFGUPDATE_SLACK_WEBHOOK_URL";
/// A PEM file of certificate authorities trusted for `https://` sinks besides the system's.
pub const NOTIFY_CA_FILE_VAR: &str = "CFGUPDATE_NOTIFY_CA_FILE";

/// Where notifications go, and how patiently they are delivered.
#[derive(Debug, Clone)]
pub struct NotifySettings {
    /// Each receives the JSON body of every event.
    pub webhooks: Vec<Endpoint>,
    /// The key (the bytes `whsec_<base64>` decodes to) the webhook deliveries are signed
    /// with; unsigned without it.
    pub secret: Option<Secret>,
    /// Receives a Slack message for every event.
    pub slack: Option<Endpoint>,
    /// PEM certificates trusted for `https://` sinks besides the system's.
    pub ca_pem: Option<Vec<u8>>,
    /// How many events may wait for each sink; beyond it new ones are dropped and counted.
    pub queue_capacity: usize,
    /// Attempts per event and sink, and the backoff between them (doubling, jittered).
    pub retry: RetryPolicy,
    /// How long one attempt may take, connection included.
    pub attempt_timeout: Duration,
    /// At shutdown, how long queued events may still take to go out.
    pub drain_timeout: Duration,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            webhooks: Vec::new(),
            secret: None,
            slack: None,
            ca_pem: None,
            queue_capacity: 1000,
            retry: RetryPolicy {
                attempts: 6,
                first_delay: Duration::from_secs(1),
                max_delay: Duration::from_secs(60),
            },
            attempt_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(5),
        }
    }
}

impl NotifySettings {
    /// Whether any sink is configured.
    pub fn is_enabled(&self) -> bool {
        !self.webhooks.is_empty() || self.slack.is_some()
    }
}

/// Why the notification settings cannot be used: `serve` stops with this sentence (exit 2).
/// No sentence repeats a URL or a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyConfigError {
    /// A variable could not be read (both it and `_FILE` set, an unreadable file).
    #[error(transparent)]
    Variable(#[from] CredentialError),
    /// A URL is not usable.
    #[error("{variable}{}: the URL {reason}", entry.map(|n| format!(", entry {n}")).unwrap_or_default())]
    Url {
        /// The variable.
        variable: &'static str,
        /// Which of its comma-separated URLs (1-based), for the list.
        entry: Option<usize>,
        /// Why.
        reason: EndpointError,
    },
    /// An `https://` URL in a build without TLS.
    #[error(
        "{variable}: https:// sinks need a build with TLS (the `https` feature, on in the released binary)"
    )]
    NoTls {
        /// The variable.
        variable: &'static str,
    },
    /// The secret is not `whsec_<base64>`.
    #[error("{NOTIFY_SECRET_VAR} is not a Standard Webhooks secret: expected `whsec_<base64>`")]
    Secret,
    /// The CA file is not PEM certificates.
    #[error("{NOTIFY_CA_FILE_VAR} ({path}): {reason}")]
    CaFile {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// A configuration error (exit 2).
impl cfgupdate_core::Classify for NotifyConfigError {
    fn class(&self) -> cfgupdate_core::ErrorClass {
        cfgupdate_core::ErrorClass::Invalid
    }
}

fn endpoint(
    variable: &'static str,
    entry: Option<usize>,
    url: &str,
) -> Result<Endpoint, NotifyConfigError> {
    let endpoint = Endpoint::parse(url).map_err(|reason| NotifyConfigError::Url {
        variable,
        entry,
        reason,
    })?;
    if endpoint.is_https() && !cfg!(feature = "https") {
        return Err(NotifyConfigError::NoTls { variable });
    }
    Ok(endpoint)
}

/// The sinks of docs/notifications.md: [`NOTIFY_URLS_VAR`], [`NOTIFY_SECRET_VAR`],
/// [`SLACK_WEBHOOK_URL_VAR`] (each also as `NAME_FILE`) and [`NOTIFY_CA_FILE_VAR`], read
/// through `lookup` and `read` as [`crate::credentials::load`] reads credentials; the other
/// fields keep their defaults. Empty entries of the URL list are skipped.
pub fn load(
    lookup: &dyn Fn(&str) -> Option<String>,
    read: &dyn Fn(&str) -> Result<String, String>,
) -> Result<NotifySettings, NotifyConfigError> {
    let mut settings = NotifySettings::default();
    if let Some(urls) = secret_variable(lookup, read, NOTIFY_URLS_VAR)? {
        for (index, url) in urls.split(',').enumerate() {
            if !url.trim().is_empty() {
                settings
                    .webhooks
                    .push(endpoint(NOTIFY_URLS_VAR, Some(index + 1), url)?);
            }
        }
    }
    if let Some(url) = secret_variable(lookup, read, SLACK_WEBHOOK_URL_VAR)? {
        settings.slack = Some(endpoint(SLACK_WEBHOOK_URL_VAR, None, &url)?);
    }
    if let Some(value) = secret_variable(lookup, read, NOTIFY_SECRET_VAR)? {
        let key = decode_webhook_secret(&value).map_err(|_| NotifyConfigError::Secret)?;
        settings.secret = Secret::from_bytes(key);
    }
    if let Some(path) = lookup(NOTIFY_CA_FILE_VAR).filter(|p| !p.is_empty()) {
        let pem = read(&path).map_err(|reason| NotifyConfigError::CaFile {
            path: path.clone(),
            reason: format!("cannot read it: {reason}"),
        })?;
        // Checked now, so that a wrong file stops the start rather than every delivery.
        super::HttpSender::new(settings.attempt_timeout, Some(pem.as_bytes())).map_err(
            |error| NotifyConfigError::CaFile {
                path: path.clone(),
                reason: error.to_string(),
            },
        )?;
        settings.ca_pem = Some(pem.into_bytes());
    }
    Ok(settings)
}
