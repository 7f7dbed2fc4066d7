//! `cfgupdate status`: each wave's images, each target's last report, what waits and why.

use std::fmt::Write as _;

use cfgupdate_core::Pin;
use cfgupdate_core::promotion::{Status, status};
use cfgupdate_http::wire::{rfc3339, soak_text};

use crate::failure::{Failure, print_out};
use crate::remote::{RemoteArgs, SystemClock, classified};

#[derive(Debug, clap::Args)]
#[command(
    about = "Show each wave's images, each target's last report, and what is pending and why",
    long_about = "Fetch the config repository and show, for each wave in order, the image set it \
holds at the branch tip, the last deploy report of each of its targets, and the step into the next \
wave: idle, blocked (a failed deployment), waiting at a gate (soak until when, approval, a freeze \
window: `frozen until <RFC 3339>` and its reason), or ready. A frozen wave says so, with the \
announcements a freeze deferred.\n\n\
Every wait is one sentence: the soak left and when it ends, approval pending for a named source \
revision, or a failed report from a target at a revision. A step with a candidate shows its \
`source_revision` and the images it would promote (as deployed at that revision), apart from \
the wave's own `images` at the branch tip: the same words as `--json`.",
    after_help = "Examples:\n  cfgupdate status --repo https://git.example.com/acme/cfg-app.git --branch main\n  cfgupdate status --repo /srv/git/cfg-app.git --json | jq '.waves[].name'"
)]
pub struct StatusArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Print machine-readable JSON (the same document as GET /v1/status).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &StatusArgs) -> Result<(), Failure> {
    let key = crate::commands::state::state_key()?;
    crate::commands::state::warn_if_unauthenticated(key.as_ref());
    let mut repo = args.remote.open()?;
    // Strict mode: the auto branch brought up to date; the waves shown are the main branch's
    // (what Argo CD deploys), the auto queue after them.
    cfgupdate_core::ConfigRepository::refresh(&mut *repo).map_err(|error| classified(&error))?;
    let queue = repo.queue().map_err(|error| classified(&error))?;
    let status =
        status(repo.inner_mut(), &SystemClock, key.as_ref()).map_err(|error| classified(&error))?;
    if args.json {
        let text =
            cfgupdate_http::wire::status_json_with(&status, queue.as_ref()).map_err(|error| {
                Failure::operational(format!("cannot write the status as JSON: {error}"))
            })?;
        print_out(&text)
    } else {
        let mut text = human(&status);
        if let Some(queue) = &queue {
            text.push_str(&crate::commands::auto_queue::human(queue));
        }
        print_out(&text)
    }
}

/// The status as a person reads it.
pub fn human(status: &Status) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "branch tip {}", status.revision);
    match (&status.state.problem, status.state.authenticated) {
        (Some(problem), _) => {
            let _ = writeln!(out, "state: NOT ACTED ON: {problem}");
        }
        (None, true) => {
            let _ = writeln!(out, "state: authenticated");
        }
        (None, false) => {
            let _ = writeln!(out, "state: not authenticated (no CFGUPDATE_STATE_KEY)");
        }
    }
    for wave in &status.waves {
        let mut gates = Vec::new();
        if let Some(soak) = wave.soak {
            gates.push(format!("soak {}", soak_text(soak)));
        }
        if wave.approval {
            gates.push("approval".to_owned());
        }
        if !wave.hold.is_empty() {
            gates.push(format!(
                "hold {}",
                wave.hold
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let gates = if gates.is_empty() {
            String::new()
        } else {
            format!("  [{}]", gates.join("; "))
        };
        let _ = writeln!(out, "\nwave {}{gates}", wave.name);
        if let Some(frozen) = &wave.frozen {
            let _ = writeln!(
                out,
                "  frozen until {} ({})",
                rfc3339(frozen.until),
                frozen.reason
            );
        }
        for deferred in &wave.deferred {
            let images: Vec<String> = deferred
                .images
                .iter()
                .map(|(service, image)| format!("{service}={image}"))
                .collect();
            let _ = writeln!(
                out,
                "  deferred from app {} ({}): {}",
                deferred.app.short(),
                rfc3339(deferred.time()),
                images.join(", ")
            );
        }
        if let Some(error) = &wave.images_error {
            let _ = writeln!(out, "  images: cannot be read: {error}");
        }
        // The JSON's words: `images` is the wave's set at the branch tip.
        let _ = writeln!(
            out,
            "  images (at the branch tip {}):",
            status.revision.short()
        );
        image_lines(&mut out, "    ", &wave.images);
        if !wave.digestless.is_empty() {
            let services: Vec<&str> = wave.digestless.iter().map(|s| s.as_str()).collect();
            let verdict = if wave.pin == Pin::Tag {
                "written by tag without their digest (pin = \"tag\")"
            } else {
                "cannot be written: their slots cannot hold the digest (pin = \"digest\")"
            };
            let _ = writeln!(out, "  {}: {verdict}", services.join(", "));
        }
        for held in &wave.held {
            let _ = writeln!(
                out,
                "  held: {} (since {})",
                held.describe(&wave.name),
                rfc3339(held.hold.since())
            );
        }
        for target in &wave.targets {
            match &target.last_report {
                Some(report) => {
                    let status = report.status.as_str();
                    let _ = writeln!(
                        out,
                        "  target {}: {status} at {} ({})",
                        target.name,
                        report.revision.short(),
                        rfc3339(report.at)
                    );
                }
                None => {
                    let _ = writeln!(out, "  target {}: no report yet", target.name);
                }
            }
        }
        if let Some(step) = &wave.promotion {
            // What it waits for, in the one sentence the JSON's `wait` and the page show.
            let why = step
                .wait
                .as_ref()
                .map_or_else(|| step.reason.clone(), |wait| wait.sentence());
            let _ = writeln!(out, "  -> {}: {}: {why}", step.into, step.state);
            // The candidate: what a promotion (or an approval) would write into the next
            // wave, as deployed at its source revision, not the tip.
            if let Some(source) = &step.source_revision {
                let _ = writeln!(
                    out,
                    "     candidate source_revision {source} (what `approve --wave {} --revision` takes)",
                    step.into
                );
            }
            if let Some(images) = &step.images {
                let _ = writeln!(
                    out,
                    "     candidate images (as deployed at source_revision, to be written into {}):",
                    step.into
                );
                image_lines(&mut out, "       ", images);
            }
        }
    }
    out
}

/// One line per service, names aligned.
fn image_lines(out: &mut String, indent: &str, images: &cfgupdate_core::ImageSet) {
    let width = images.keys().map(|s| s.as_str().len()).max().unwrap_or(0);
    for (service, image) in images {
        let _ = writeln!(out, "{indent}{:width$}  {image}", service.as_str());
    }
}
