//! `cfgupdate serve`: the HTTP service of `docs/http.md`. The composition root: it builds
//! the git-backed repository, the real clock and the settings (credentials from the
//! environment), and hands them to `cfgupdate-http`.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use cfgupdate_http::credentials;
use cfgupdate_http::{Limits, Service, Settings};

use crate::failure::Failure;
use crate::isolate::parse_duration;
use crate::remote::{RemoteArgs, SystemClock};

/// How log lines are written (to stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text per event.
    Text,
    /// One JSON object per event.
    Json,
}

#[derive(Debug, clap::Args)]
#[command(
    about = "Serve the HTTP API: CI announces images, Argo CD reports deployments, people approve",
    long_about = "Serve the HTTP API of cfgupdate (docs/http.md): POST /v1/images (scope ci), \
POST /v1/deployments (scope deploy), POST /v1/approvals (scope admin), GET /v1/status, /healthz, \
/readyz and /metrics, and a status page for people at GET / (no credentials, like /v1/status; \
commits link to --web-url when it is given).\n\n\
One writer owns the repository: announcements that arrive while a push is in flight are written \
together as the next commit, and every request is answered only once its change is on the remote \
(or with the error; 503 with Retry-After when the remote cannot be reached). Soak gates are \
promoted through on a timer.\n\n\
Credentials come from the environment: CFGUPDATE_CI_TOKEN, CFGUPDATE_DEPLOY_TOKEN and \
CFGUPDATE_ADMIN_TOKEN (bearer tokens; admin may do all), CFGUPDATE_CI_HMAC_SECRET (CI may \
sign the body in X-Hub-Signature-256 instead) and CFGUPDATE_CI_WEBHOOK_SECRET (Standard \
Webhooks, `whsec_<base64>`). Each may be given as NAME_FILE, a file holding it (a trailing \
newline is not part of it). CFGUPDATE_TOKENS_FILE names a TOML file of [[token]] tables \
(name, scope, sha256 of the token): each holder its own token, its name recorded as who acted. \
A scope without a credential refuses every request.\n\n\
Notifications (docs/notifications.md): CFGUPDATE_NOTIFY_URLS (comma separated) receive a JSON \
POST for every event (published, promoted, approval_pending, deploy_failed, refused, held, \
push_refused, ...), signed with Standard Webhooks headers when CFGUPDATE_NOTIFY_SECRET \
(`whsec_<base64>`) is set; CFGUPDATE_SLACK_WEBHOOK_URL receives a Slack message for each. \
Each may be NAME_FILE too; CFGUPDATE_NOTIFY_CA_FILE adds certificate authorities for https \
sinks. Delivery is retried with backoff on queues of their own: it never delays or fails a \
request.\n\n\
On SIGTERM or Ctrl-C it stops accepting connections, answers every request in flight and exits. \
The first line on stdout is `listening on http://ADDR`; logs go to stderr.",
    after_help = "Examples:\n  CFGUPDATE_CI_TOKEN=... CFGUPDATE_DEPLOY_TOKEN=... CFGUPDATE_ADMIN_TOKEN=... \\\n    cfgupdate serve --repo https://git.example.com/acme/cfg-app.git --branch main --listen 0.0.0.0:8080\n\n  # Every event to a webhook (signed) and to Slack, each tried 8 times at most:\n  CFGUPDATE_NOTIFY_URLS=https://hooks.example.com/cfgupdate CFGUPDATE_NOTIFY_SECRET=whsec_... \\\n  CFGUPDATE_SLACK_WEBHOOK_URL_FILE=/run/secrets/slack-url \\\n    cfgupdate serve --repo https://git.example.com/acme/cfg-app.git --notify-attempts 8"
)]
pub struct ServeArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// The address to listen on (port 0 picks a free one).
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:8080",
        env = "CFGUPDATE_LISTEN"
    )]
    pub listen: String,
    /// The largest request body accepted, in bytes or with a KiB/MiB suffix; larger ones are
    /// answered 413.
    #[arg(long, value_name = "SIZE", default_value = "1MiB", value_parser = parse_size)]
    pub body_limit: usize,
    /// How long a request may take before it is answered 503 (e.g. `30s`, `2m`).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// How often the service looks for promotions on its own (reports recorded by other
    /// replicas); soak gates are acted on when they open, whatever this says.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub advance_interval: Duration,
    /// The most connections served at once; more wait until one closes.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_connections)]
    pub max_connections: usize,
    /// A request's headers must arrive within this time (also how long a kept-alive
    /// connection may stay idle).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,
    /// A body that must be read must arrive within this time (else 408).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub body_timeout: Duration,
    /// Turn every credential check off. Only for a local trial: anyone who can reach the
    /// service may publish, report deployments and approve.
    #[arg(long)]
    pub insecure_no_auth: bool,
    /// The config repository's web page, which the status page (GET /) links commits to:
    /// `https://git.example.com/acme/cfg-app` (commits at `<URL>/commit/<sha>`, as GitHub,
    /// GitLab, Gitea and Forgejo have them), or a pattern holding `{commit}` for other hosts
    /// (`https://bitbucket.org/acme/cfg-app/commits/{commit}`). Without it, commits are shown
    /// unlinked. Must not hold a user name or password: every reader of the page sees it.
    // Checked in `run`, not by clap, whose refusal would repeat the value (a password in it).
    #[arg(
        long,
        value_name = "URL",
        env = "CFGUPDATE_WEB_URL",
        hide_env_values = true
    )]
    pub web_url: Option<String>,
    /// How many times each notification is tried per sink before it is given up (backoff
    /// doubling from 1 s up to a minute, jittered).
    #[arg(long, value_name = "N", default_value_t = cfgupdate_http::notify::NotifySettings::default().retry.attempts, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub notify_attempts: u32,
    /// How long one notification attempt may take, connecting included (e.g. `10s`).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub notify_timeout: Duration,
    /// How log lines (on stderr) are written. The level comes from CFGUPDATE_LOG (default
    /// `info`), in the syntax of RUST_LOG.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

pub fn run(args: &ServeArgs) -> Result<(), Failure> {
    init_logging(args.log_format);
    let mut auth = credentials::load(&|name| std::env::var(name).ok(), &read_secret_file)
        .map_err(|error| Failure::invalid(error.to_string()))?;
    for warning in auth.warnings() {
        eprintln!("cfgupdate: warning: {warning}");
    }
    auth.insecure_no_auth = args.insecure_no_auth;
    if args.insecure_no_auth {
        eprintln!(
            "cfgupdate: WARNING: --insecure-no-auth: every credential check is OFF; anyone who can reach this service may publish, report deployments and approve"
        );
    }
    // An empty value counts as unset, as for every variable.
    let web_url = match args.web_url.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(url) => Some(
            cfgupdate_http::WebUrl::parse(url)
                .map_err(|error| Failure::invalid(format!("--web-url: {error}")))?,
        ),
    };
    let mut notify =
        cfgupdate_http::notify::load(&|name| std::env::var(name).ok(), &read_secret_file)
            .map_err(|error| Failure::invalid(error.to_string()))?;
    notify.retry.attempts = args.notify_attempts;
    notify.attempt_timeout = args.notify_timeout;
    let settings = Settings {
        auth,
        notify,
        body_limit: args.body_limit,
        request_timeout: args.request_timeout,
        advance_interval: args.advance_interval,
        write: crate::commands::state::write_options()?,
        web_url,
        limits: Limits {
            max_connections: args.max_connections,
            header_timeout: args.header_timeout,
            body_timeout: args.body_timeout,
            ..Limits::default()
        },
        ..Settings::default()
    };
    // Without --branch the remote's HEAD is asked once, here (or, when the remote cannot be
    // reached now, at the first fetch that reaches it): the service keeps that branch for as
    // long as it runs, even when the remote's HEAD changes later.
    let repository = args.remote.open_git()?;
    if repository.branch_origin() == cfgupdate_git::BranchOrigin::Pending {
        tracing::warn!(
            "{} could not be asked which branch its HEAD names (it is unreachable); asking again at each fetch until it answers, or pass --branch",
            repository.remote()
        );
    } else {
        tracing::info!(
            branch = %repository.branch(),
            origin = %repository.branch_origin(),
            "working on branch `{}` of {} ({})",
            repository.branch(),
            repository.remote(),
            repository.branch_origin()
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| Failure::operational(format!("cannot start the runtime: {error}")))?;
    runtime.block_on(async move {
        let listener = listen(&args.listen).await.map_err(|error| {
            Failure::operational(format!("cannot listen on `{}`: {error}", args.listen))
        })?;
        let address = listener
            .local_addr()
            .map_err(|error| Failure::operational(format!("cannot listen: {error}")))?;
        let service = Service::start(Box::new(repository), Arc::new(SystemClock), settings)
            .map_err(|error| {
                Failure::operational(format!("cannot start the repository writer: {error}"))
            })?;
        tokio::spawn(return_freed_memory());
        crate::failure::print_out(&format!("listening on http://{address}\n"))?;
        let _ = std::io::stdout().flush();
        service
            .serve(listener, termination())
            .await
            .map_err(|error| Failure::operational(format!("the server failed: {error}")))
    })
}

/// How often freed memory is handed back to the system.
const TRIM_INTERVAL: Duration = Duration::from_secs(10);

/// glibc's allocator keeps memory freed by the runtime's threads in per-thread arenas and
/// returns it to the system only now and then: after a flood of connections the process would
/// stay at its peak size. Trimming every few seconds hands it back (see docs/benchmarks.md,
/// "A flood of strangers: `scripts/flood.sh` (issue 10, finding 5)"). Other allocators and
/// platforms need nothing.
async fn return_freed_memory() {
    let mut every = tokio::time::interval(TRIM_INTERVAL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: malloc_trim takes no pointer and may be called at any time from any thread.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

/// The kernel's accept queue: connections beyond the service's cap wait here (a long queue
/// lets a flood of connections wait rather than have their handshakes dropped).
const ACCEPT_BACKLOG: u32 = 4096;

/// Listens on the first address `listen` resolves to.
async fn listen(listen: &str) -> std::io::Result<tokio::net::TcpListener> {
    let address = tokio::net::lookup_host(listen)
        .await?
        .next()
        .ok_or_else(|| std::io::Error::other("the address resolves to nothing"))?;
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// A secret file's content, for `*_FILE` variables and `CFGUPDATE_TOKENS_FILE`.
fn read_secret_file(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|error| error.to_string())
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CFGUPDATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    // Another subscriber already set (in-process use) is fine: keep it.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Completes on SIGTERM or Ctrl-C.
async fn termination() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down: no new connections; finishing the requests in flight");
}

/// `1048576`, `512KiB`, `1MiB`.
fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let factor = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" | "k" => 1024,
        "MiB" | "M" => 1024 * 1024,
        other => {
            return Err(format!(
                "`{other}` is not a size unit: give bytes, or a number with KiB or MiB"
            ));
        }
    };
    let number: usize = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size: give bytes, or a number with KiB or MiB"))?;
    match number.checked_mul(factor) {
        Some(0) | None => Err(format!("`{text}` is not a usable body limit")),
        Some(size) => Ok(size),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_as_people_write_them() {
        assert_eq!(parse_size("1MiB"), Ok(1024 * 1024));
        assert_eq!(parse_size("512KiB"), Ok(512 * 1024));
        assert_eq!(parse_size("2048"), Ok(2048));
        assert!(parse_size("1GB").is_err());
        assert!(parse_size("0").is_err());
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("0s").is_err());
    }

    #[test]
    fn a_refused_duration_is_named_escaped_and_cut() {
        let error = parse_duration("5m\u{202e}").unwrap_err();
        assert!(
            error.starts_with("`5m\\u{202e}` is not a duration: "),
            "{error}"
        );
        // An environment variable or option of any length gives an error of bounded length.
        let error = parse_duration(&"1h".repeat(50_000)).unwrap_err();
        assert!(error.len() < 4_000, "{} characters", error.len());
    }
}
