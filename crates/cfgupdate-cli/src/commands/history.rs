//! `cfgupdate history`: the automatic commits, from their trailers.

use std::fmt::Write as _;

use cfgupdate_core::promotion::history;
use cfgupdate_http::wire::commit_time;

use crate::failure::{Failure, print_out};
use crate::remote::{RemoteArgs, classified};

#[derive(Debug, clap::Args)]
#[command(
    about = "List cfgupdate's automatic commits, newest first",
    long_about = "Fetch the config repository and list the automatic commits on the branch, newest \
first, as their Cfgupdate-* trailers describe them: the action, the wave written, the app commits \
included, where a promotion came from, and the images written.",
    after_help = "Examples:\n  cfgupdate history --repo https://git.example.com/acme/cfg-app.git --branch main --limit 10\n  cfgupdate history --repo /srv/git/cfg-app.git --json"
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
}

pub fn run(args: &HistoryArgs) -> Result<(), Failure> {
    let key = crate::commands::state::state_key()?;
    crate::commands::state::warn_if_unauthenticated(key.as_ref());
    let mut repo = args.remote.open()?;
    let entries =
        history(&mut repo, args.limit, key.as_ref()).map_err(|error| classified(&error))?;
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
        out.push_str("no automatic commits yet\n");
    }
    print_out(&out)
}
