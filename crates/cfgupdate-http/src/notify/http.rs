//! [`HttpSender`]: the [`Sender`] of the service, HTTP/1.1 over hyper's client connection,
//! TLS through OpenSSL (native-tls, feature `https`), one connection per attempt (notifications
//! are rare; a kept-alive pool would only keep dead connections to sinks that restart).

use std::time::Duration;

use async_trait::async_trait;
use axum::http::{Request, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::endpoint::Endpoint;
use super::sender::{Outgoing, SendError, Sender};

/// The most of a refusing sink's answer read (and shown, escaped and cut, in the log).
const DETAIL_BYTES: usize = 4096;

/// The service's notification sender. Each attempt is bounded by its time limit, connection
/// and TLS handshake included.
pub struct HttpSender {
    timeout: Duration,
    #[cfg(feature = "https")]
    tls: tokio_native_tls::TlsConnector,
}

/// Why the TLS client could not be set up (a CA file that is not PEM certificates).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TlsSetupError(String);

impl HttpSender {
    /// A sender whose attempts each end after `timeout`. `extra_ca_pem` (PEM certificates)
    /// is trusted besides the system's certificate authorities for `https://` sinks.
    pub fn new(timeout: Duration, extra_ca_pem: Option<&[u8]>) -> Result<Self, TlsSetupError> {
        #[cfg(feature = "https")]
        {
            let mut builder = native_tls::TlsConnector::builder();
            builder.min_protocol_version(Some(native_tls::Protocol::Tlsv12));
            if let Some(pem) = extra_ca_pem {
                let certificates = native_tls::Certificate::stack_from_pem(pem)
                    .map_err(|error| TlsSetupError(format!("not PEM certificates: {error}")))?;
                if certificates.is_empty() {
                    return Err(TlsSetupError("holds no PEM certificate".to_owned()));
                }
                for certificate in certificates {
                    builder.add_root_certificate(certificate);
                }
            }
            let tls = builder
                .build()
                .map_err(|error| TlsSetupError(format!("cannot set up TLS: {error}")))?;
            Ok(Self {
                timeout,
                tls: tls.into(),
            })
        }
        #[cfg(not(feature = "https"))]
        {
            let _ = extra_ca_pem;
            Ok(Self { timeout })
        }
    }

    async fn exchange(&self, endpoint: &Endpoint, request: &Outgoing) -> Result<(), SendError> {
        let connect = |reason: String| SendError::Connect {
            endpoint: endpoint.to_string(),
            reason,
        };
        let tcp = TcpStream::connect((endpoint.connect_host(), endpoint.port()))
            .await
            .map_err(|error| connect(error.to_string()))?;
        let _ = tcp.set_nodelay(true);
        if endpoint.is_https() {
            #[cfg(feature = "https")]
            {
                let tls = self
                    .tls
                    .connect(endpoint.connect_host(), tcp)
                    .await
                    .map_err(|error| connect(format!("TLS: {error}")))?;
                return post(TokioIo::new(tls), endpoint, request).await;
            }
            #[cfg(not(feature = "https"))]
            return Err(SendError::Unsupported(format!(
                "{endpoint}: this build has no TLS (cfgupdate-http's feature `https`)"
            )));
        }
        post(TokioIo::new(tcp), endpoint, request).await
    }
}

#[async_trait]
impl Sender for HttpSender {
    async fn send(&self, endpoint: &Endpoint, request: &Outgoing) -> Result<(), SendError> {
        match tokio::time::timeout(self.timeout, self.exchange(endpoint, request)).await {
            Ok(result) => result,
            Err(_) => Err(SendError::Timeout {
                endpoint: endpoint.to_string(),
                seconds: self.timeout.as_secs().max(1),
            }),
        }
    }
}

/// Aborts the connection's task when the attempt ends, however it ends (a time limit that
/// dropped it included), so a sink that never answers keeps no task alive.
struct Aborted(tokio::task::JoinHandle<()>);

impl Drop for Aborted {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn post<I>(io: I, endpoint: &Endpoint, request: &Outgoing) -> Result<(), SendError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let exchange = |reason: String| SendError::Exchange {
        endpoint: endpoint.to_string(),
        reason,
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|error| exchange(error.to_string()))?;
    let _connection = Aborted(tokio::spawn(async move {
        let _ = connection.await;
    }));
    let mut builder = Request::post(endpoint.request_target())
        .header(header::HOST, endpoint.host_header())
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            header::USER_AGENT,
            concat!("cfgupdate/", env!("CARGO_PKG_VERSION")),
        );
    for (name, value) in &request.headers {
        builder = builder.header(*name, value);
    }
    let outgoing = builder
        .body(Full::new(request.body.clone()))
        .map_err(|error| exchange(error.to_string()))?;
    let response = sender
        .send_request(outgoing)
        .await
        .map_err(|error| exchange(error.to_string()))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let detail = match Limited::new(response.into_body(), DETAIL_BYTES)
        .collect()
        .await
    {
        Ok(body) => {
            let bytes = body.to_bytes();
            cfgupdate_core::adapter::shown(String::from_utf8_lossy(&bytes).trim())
        }
        Err(_) => String::new(),
    };
    Err(SendError::Status {
        endpoint: endpoint.to_string(),
        status: status.as_u16(),
        detail,
    })
}
