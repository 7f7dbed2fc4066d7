//! The port through which notifications leave the process: one POST to one endpoint. The
//! queue, the retries and the formats are the service's; what goes over the network is the
//! sender's ([`HttpSender`](super::HttpSender) in the service, a fake in tests).

use async_trait::async_trait;
use axum::body::Bytes;

use super::endpoint::Endpoint;

/// One request to send: `POST` with `Content-Type: application/json`, these headers and
/// this body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Extra headers (the Standard Webhooks signature headers).
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body.
    pub body: Bytes,
}

/// Why a delivery attempt failed. Its sentence never holds the endpoint's path or query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// No connection (refused, unreachable, the name did not resolve, TLS failed).
    #[error("cannot connect to {endpoint}: {reason}")]
    Connect {
        /// The endpoint, shown without its path.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// No answer within the attempt's time limit.
    #[error("{endpoint} did not answer within {seconds} s")]
    Timeout {
        /// The endpoint, shown without its path.
        endpoint: String,
        /// The limit.
        seconds: u64,
    },
    /// The connection broke while the request was sent or the answer read.
    #[error("the exchange with {endpoint} failed: {reason}")]
    Exchange {
        /// The endpoint, shown without its path.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// The sink answered with a status other than 2xx.
    #[error("{endpoint} answered {status}{}", if detail.is_empty() { String::new() } else { format!(": {detail}") })]
    Status {
        /// The endpoint, shown without its path.
        endpoint: String,
        /// The status code.
        status: u16,
        /// The start of its answer, escaped.
        detail: String,
    },
    /// The sender cannot send there at all (an https:// endpoint in a build without TLS).
    #[error("{0}")]
    Unsupported(String),
}

impl SendError {
    /// Whether trying again may help: not for a sink that refused the request itself (a
    /// 4xx other than 408 and 429: a wrong token, a deleted Slack webhook), nor for an
    /// endpoint the sender cannot reach by design.
    pub fn is_retryable(&self) -> bool {
        match self {
            SendError::Status { status, .. } => {
                !(400..500).contains(status) || *status == 408 || *status == 429
            }
            SendError::Unsupported(_) => false,
            SendError::Connect { .. } | SendError::Timeout { .. } | SendError::Exchange { .. } => {
                true
            }
        }
    }
}

/// The notification sender: POSTs one request to one endpoint and says whether the sink
/// took it (a 2xx answer). It follows no redirect. Implementations bound the time of one
/// attempt themselves; the caller retries.
#[async_trait]
pub trait Sender: Send + Sync {
    /// Sends `request` to `endpoint` once.
    async fn send(&self, endpoint: &Endpoint, request: &Outgoing) -> Result<(), SendError>;
}
