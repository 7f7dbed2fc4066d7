//! Starting and stopping the service: [`Service`] for async callers, [`BackgroundServer`] for
//! synchronous ones (it runs its own runtime on its own thread).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use axum::Router;
use cfgupdate_core::{Clock, ConfigRepository};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::sync::{Semaphore, oneshot};
use tower::ServiceExt as _;
use tracing::{info, warn};

use crate::connections::{Busy, Connections};
use crate::deliveries::Deliveries;
use crate::status::StatusCache;

/// How long the accept loop waits after an accept failed (out of file descriptors, say).
const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(50);

use crate::metrics::Metrics;
use crate::notify::{HttpSender, Notifier};
use crate::observed::{Health, Observed};
use crate::routes::{self, AppState, INSECURE_WARNING};
use crate::settings::Settings;
use crate::writer;

/// The service: the writer thread that owns the repository, and the router in front of it.
pub struct Service {
    state: AppState,
    writer: JoinHandle<()>,
    notifier: Notifier,
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
                "no credential is configured (CFGUPDATE_CI_TOKEN, CFGUPDATE_DEPLOY_TOKEN, CFGUPDATE_ADMIN_TOKEN, CFGUPDATE_CI_HMAC_SECRET, CFGUPDATE_CI_WEBHOOK_SECRET, CFGUPDATE_TOKENS_FILE): every write endpoint refuses every request"
            );
        }
        let settings = Arc::new(settings);
        let metrics = Arc::new(Metrics::new());
        let health = Arc::new(Health::default());
        let repository = Observed::new(repository, metrics.clone(), health.clone());
        let notifier = Notifier::start(
            &settings.notify,
            Arc::new(
                HttpSender::new(
                    settings.notify.attempt_timeout,
                    settings.notify.ca_pem.as_deref(),
                )
                .map_err(io::Error::other)?,
            ),
            clock.clone(),
            metrics.notifications.clone(),
        )?;
        let (handle, writer) = writer::spawn(
            repository,
            clock.clone(),
            settings.clone(),
            metrics.clone(),
            notifier.clone(),
        )?;
        Ok(Self {
            state: AppState {
                writer: handle,
                deliveries: Arc::new(Deliveries::new(settings.webhook_ids_remembered)),
                status: Arc::new(StatusCache::default()),
                unproven_bodies: Arc::new(tokio::sync::Semaphore::new(
                    settings.limits.unproven_bodies.max(1),
                )),
                settings,
                metrics,
                health,
                clock,
            },
            writer,
            notifier,
        })
    }

    /// The service's metrics (what `/metrics` shows).
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.state.metrics
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
    ///
    /// Every connection is bounded by [`Settings::limits`]: at most `max_connections` are
    /// served at once (at the cap, a new connection takes the place of the oldest one that has
    /// no request with the router: a slow client still sending its head, an idle kept-alive
    /// one; when every one is busy, it waits), a request head must arrive within
    /// `header_timeout` (which also closes idle kept-alive connections) and be at most
    /// `max_header_bytes`.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        if let Ok(address) = listener.local_addr() {
            info!(%address, "listening");
        }
        let limits = self.state.settings.limits;
        let router = self.router();
        let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
        let open = Arc::new(Connections::default());
        let graceful = GracefulShutdown::new();
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .max_buf_size(limits.max_header_bytes.max(8192))
            .keep_alive(true);
        let mut shutdown = std::pin::pin!(shutdown);
        let mut cap_reported = false;
        loop {
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        // Out of file descriptors, say: wait a little rather than spin.
                        warn!(%error, "cannot accept a connection");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let permit = match permits.clone().try_acquire_owned() {
                Ok(permit) => {
                    cap_reported = false;
                    permit
                }
                Err(_) => {
                    // At the cap: the oldest connection doing nothing (a slow client still
                    // sending its head, an idle kept-alive one) makes room; if every one is
                    // busy with a request, the new one waits for the first to end.
                    let made_room = open.close_oldest_idle();
                    self.state.metrics.connection_closed_for_room(made_room);
                    if !made_room && !cap_reported {
                        warn!(
                            max_connections = limits.max_connections,
                            "every connection is busy at the cap: new connections wait"
                        );
                        cap_reported = true;
                    }
                    tokio::select! {
                        permit = permits.clone().acquire_owned() => match permit {
                            Ok(permit) => permit,
                            Err(_) => break,
                        },
                        () = &mut shutdown => break,
                    }
                }
            };
            let _ = stream.set_nodelay(true);
            let (connection, registered) = open.register();
            let tracked = connection.clone();
            let router = router.clone();
            let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                let busy = Busy::new(&tracked);
                let router = router.clone();
                async move {
                    let response = router.oneshot(request).await;
                    drop(busy);
                    response
                }
            });
            let served = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
            let task = tokio::spawn(async move {
                let _registered = registered;
                // A client that goes away or breaks the protocol ends only its connection.
                let _ = served.await;
                drop(permit);
            });
            Connections::closes_with(&connection, task.abort_handle());
        }
        drop(listener);
        info!("shutting down: no new connections; finishing the requests in flight");
        let settings = &self.state.settings;
        let patience = settings.request_timeout + settings.limits.body_timeout;
        if tokio::time::timeout(patience, graceful.shutdown())
            .await
            .is_err()
        {
            warn!(
                "some connections were still open after {} s; closing them",
                patience.as_secs()
            );
        }
        info!("no request in flight any more; stopping the writer");
        self.stop().await;
        Ok(())
    }

    /// Stops the writer after it has finished what is queued, and waits for it; then lets
    /// the notifications it queued go out for up to the notification settings'
    /// `drain_timeout`.
    pub async fn stop(self) {
        let Service {
            state,
            writer,
            notifier,
        } = self;
        let drain = state.settings.notify.drain_timeout;
        let joined = tokio::task::spawn_blocking(move || {
            state.writer.stop();
            writer.join()
        })
        .await;
        if !matches!(joined, Ok(Ok(()))) {
            warn!("the writer thread ended abnormally");
        }
        notifier.close(drain).await;
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
