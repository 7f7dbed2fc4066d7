//! `cfgupdate history`: the automatic commits, from their trailers.

use std::fmt::Write as _;

use cfgupdate_core::promotion::{End, HistoryFilter, TimeBound, history_matching};
use cfgupdate_core::{ServiceName, WaveName};
use cfgupdate_http::wire::commit_time;

use crate::failure::{Failure, print_out};
use crate::remote::{RemoteArgs, classified};

#[derive(Debug, clap::Args)]
#[command(
    about = "List cfgupdate's automatic commits, newest first",
    long_about = "Fetch the config repository and list the automatic commits on the branch, newest \
first, as their Cfgupdate-* trailers describe them: the action, the wave written, the app commits \
included, where a promotion came from, and the images written.\n\n\
`--wave`, `--service`, `--since` and `--until` keep only the commits that wrote that wave, wrote \
an image of that service, or were made in that time range (RFC 3339, or a date read in UTC: \
`--since 2026-12-01` from its first second, `--until 2026-12-01` through its last); every filter \
given must match, and `--limit` counts the commits that do.",
    after_help = "Examples:\n  cfgupdate history --repo https://git.example.com/acme/cfg-app.git --branch main --limit 10\n  cfgupdate history --repo /srv/git/cfg-app.git --json\n  # what reached production for api in December:\n  cfgupdate history --repo /srv/git/cfg-app.git --wave production --service api \\\n    --since 2026-12-01 --until 2026-12-31T23:59:59Z"
)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Print machine-readable JSON.
    #[arg(long)]
    pub json: bool,
    /// At most this many commits.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: usize,
    /// Only commits that wrote this wave.
    #[arg(long, value_name = "WAVE")]
    pub wave: Option<String>,
    /// Only commits that wrote an image of this service.
    #[arg(long, value_name = "SERVICE")]
    pub service: Option<String>,
    /// Only commits made at or after this time (RFC 3339, or a date: from its first second, UTC).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only commits made at or before this time (RFC 3339, or a date: through its last second, UTC).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
}

/// The filter the flags ask for; a bad value is refused naming the flag.
fn filter(args: &HistoryArgs) -> Result<HistoryFilter, Failure> {
    let bound = |flag: &str, text: &Option<String>, end| {
        text.as_deref()
            .map(|text| TimeBound::parse(text, end))
            .transpose()
            .map_err(|error| Failure::invalid(format!("{flag}: {error}")))
    };
    let filter = HistoryFilter {
        wave: args
            .wave
            .as_deref()
            .map(WaveName::parse)
            .transpose()
            .map_err(|error| Failure::invalid(format!("--wave: {error}")))?,
        service: args
            .service
            .as_deref()
            .map(ServiceName::parse)
            .transpose()
            .map_err(|error| Failure::invalid(format!("--service: {error}")))?,
        since: bound("--since", &args.since, End::Start)?,
        until: bound("--until", &args.until, End::Finish)?,
    };
    filter
        .check()
        .map_err(|error| Failure::invalid(format!("--since/--until: {error}")))?;
    Ok(filter)
}

pub fn run(args: &HistoryArgs) -> Result<(), Failure> {
    let filter = filter(args)?;
    let key = crate::commands::state::state_key()?;
    crate::commands::state::warn_if_unauthenticated(key.as_ref());
    let mut repo = args.remote.open()?;
    let entries = history_matching(&mut *repo, &filter, args.limit, key.as_ref())
        .map_err(|error| classified(&error))?;
    if args.json {
        let text = cfgupdate_http::wire::history_json(&entries).map_err(|error| {
            Failure::operational(format!("cannot write the history as JSON: {error}"))
        })?;
        return print_out(&text);
    }
    let mut out = String::new();
    for entry in &entries {
        let wave = entry.wave.as_ref().map(|w| w.as_str()).unwrap_or("-");
        let _ = writeln!(
            out,
            "{} {} {:<8} {:<12} {}",
            entry.commit.short(),
            commit_time(entry.time),
            entry.action,
            wave,
            entry.subject
        );
        if entry.sealed == Some(false) {
            let _ = writeln!(
                out,
                "    not written by cfgupdate (no valid seal): its trailers decide nothing"
            );
        }
        if let Some(by) = &entry.approved_by {
            let _ = writeln!(out, "    approved by {by}");
        }
        if let (Some(from), Some(revision)) = (&entry.source_wave, &entry.source_revision) {
            let _ = writeln!(out, "    from {from} at {}", revision.short());
        }
        for (service, image) in &entry.images {
            let _ = writeln!(out, "    {service} = {image}");
        }
    }
    if let Some(queue) = repo.queue().map_err(|error| classified(&error))? {
        for eviction in &queue.evicted {
            let _ = writeln!(
                out,
                "{}",
                crate::commands::auto_queue::eviction_line(eviction)
            );
        }
    }
    if entries.is_empty() {
        out.push_str(if filter == HistoryFilter::default() {
            "no automatic commits yet\n"
        } else {
            "no automatic commit matches\n"
        });
    }
    print_out(&out)
}
