//! Starting and stopping the service: [`Service`] for async callers, [`BackgroundServer`] for
//! synchronous ones (it runs its own runtime on its own thread).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use axum::Router;
use cfgupdate_core::{Clock, ConfigRepository};
use tokio::sync::oneshot;
use tracing::{info, warn};

use crate::metrics::Metrics;
use crate::observed::{Health, Observed};
use crate::routes::{self, AppState, INSECURE_WARNING};
use crate::settings::Settings;
use crate::writer;

/// The service: the writer thread that owns the repository, and the router in front of it.
pub struct Service {
    state: AppState,
    writer: JoinHandle<()>,
}

impl Service {
    /// Starts the writer on `repository` (which it owns from now on) and builds the router.
    /// Nothing listens yet: see [`Service::serve`], or mount [`Service::router`] yourself.
    pub fn start(
        repository: Box<dyn ConfigRepository + Send>,
        clock: Arc<dyn Clock + Send + Sync>,
        settings: Settings,
    ) -> io::Result<Self> {
        if settings.auth.insecure_no_auth {
            warn!("{INSECURE_WARNING}");
        } else if settings.auth.is_empty() {
            warn!(
                "no credential is configured (CFGUPDATE_CI_TOKEN, CFGUPDATE_DEPLOY_TOKEN, CFGUPDATE_ADMIN_TOKEN, CFGUPDATE_CI_HMAC_SECRET): every write endpoint refuses every request"
            );
        }
        let settings = Arc::new(settings);
        let metrics = Arc::new(Metrics::new());
        let health = Arc::new(Health::default());
        let repository = Observed::new(repository, metrics.clone(), health.clone());
        let (handle, writer) = writer::spawn(repository, clock, settings.clone(), metrics.clone())?;
        Ok(Self {
            state: AppState {
                writer: handle,
                settings,
                metrics,
                health,
            },
            writer,
        })
    }

    /// The router of every endpoint, to mount in a server of your own. Requests it receives
    /// after [`Service::serve`] returned (or the service was dropped) are answered 503.
    pub fn router(&self) -> Router {
        routes::router(self.state.clone())
    }

    /// Serves on `listener` until `shutdown` completes, then shuts down gracefully: stops
    /// accepting, lets every request in flight finish (each is answered after its change is
    /// on the remote, or with its error), and stops the writer once it has finished every
    /// queued write.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        if let Ok(address) = listener.local_addr() {
            info!(%address, "listening");
        }
        let served = axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await;
        info!("no request in flight any more; stopping the writer");
        self.stop().await;
        served
    }

    /// Stops the writer after it has finished what is queued, and waits for it.
    pub async fn stop(self) {
        let Service { state, writer } = self;
        let joined = tokio::task::spawn_blocking(move || {
            state.writer.stop();
            writer.join()
        })
        .await;
        if !matches!(joined, Ok(Ok(()))) {
            warn!("the writer thread ended abnormally");
        }
    }
}

/// The service on a listener of its own, run on its own thread and runtime: for programs that
/// are not async (`cfgupdate demo`, tests). Dropping it stops it as [`BackgroundServer::stop`]
/// does.
pub struct BackgroundServer {
    address: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl BackgroundServer {
    /// Starts serving on `listener` (bind it to `127.0.0.1:0` for a free loopback port).
    pub fn start(
        listener: std::net::TcpListener,
        repository: Box<dyn ConfigRepository + Send>,
        clock: Arc<dyn Clock + Send + Sync>,
        settings: Settings,
    ) -> io::Result<Self> {
        let address = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("cfgupdate-http")
            .enable_all()
            .build()?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        let (ready, started) = std::sync::mpsc::channel::<io::Result<()>>();
        let thread = thread::Builder::new()
            .name("cfgupdate-server".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    let start = tokio::net::TcpListener::from_std(listener).and_then(|listener| {
                        Service::start(repository, clock, settings)
                            .map(|service| (listener, service))
                    });
                    let (listener, service) = match start {
                        Ok(started) => {
                            let _ = ready.send(Ok(()));
                            started
                        }
                        Err(error) => {
                            let _ =
                                ready.send(Err(io::Error::new(error.kind(), error.to_string())));
                            return Err(error);
                        }
                    };
                    service
                        .serve(listener, async move {
                            // A dropped sender stops the server as well.
                            let _ = stopped.await;
                        })
                        .await
                })
            })?;
        match started.recv() {
            Ok(Ok(())) => Ok(Self {
                address,
                shutdown: Some(shutdown),
                thread: Some(thread),
            }),
            Ok(Err(error)) => {
                let _ = thread.join();
                Err(error)
            }
            Err(_) => Err(io::Error::other(
                "the server thread ended before it started",
            )),
        }
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// Shuts down gracefully (see [`Service::serve`]) and waits until it has.
    pub fn stop(mut self) -> io::Result<()> {
        self.shut_down()
    }

    fn shut_down(&mut self) -> io::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .map_err(|_| io::Error::other("the server thread panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        let _ = self.shut_down();
    }
}
