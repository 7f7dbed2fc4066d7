//! `cfgupdate checked`: the config repository's CI reports a strict mode commit's result.

use cfgupdate_core::CommitId;
use cfgupdate_core::strict::{CheckOutcome, CheckReport, CheckState};

use crate::args::say;
use crate::failure::Failure;
use crate::remote::{RemoteArgs, classified};

#[derive(Debug, clap::Args)]
#[command(
    about = "Report the config repository's CI result for a commit of the auto branch (strict mode)",
    long_about = "In strict mode (`[strict]` in cfgupdate.toml, docs/strict.md) every automatic \
commit waits on the auto branch until the config repository's own CI checked it. Report that \
result here: `success` fast-forwards the main branch to the commit (never forced); `failure` \
evicts the commit's change and rebuilds the auto branch from the main branch with the changes \
after it, which go to CI again; `pending` is recorded for `status` and changes nothing. A \
result for a commit that is no longer on the auto branch changes nothing.\n\n\
Prints the main branch's new tip (success), the auto branch's new tip (failure), or \
`unchanged`; a sentence on stderr says what was done.",
    after_help = "Example (the last step of the config repository's CI job on the auto branch):\n  cfgupdate checked --repo git@github.com:acme/cfg-app.git --branch main \\\n    --commit \"$CI_COMMIT_SHA\" --state success --context kubeconform"
)]
pub struct CheckedArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// The auto branch commit CI checked (40 hex digits).
    #[arg(long, value_name = "SHA")]
    pub commit: String,
    /// What CI said.
    #[arg(long, value_name = "STATE", value_parser = ["success", "failure", "pending"])]
    pub state: String,
    /// CI's name for the check, recorded with the result.
    #[arg(long, value_name = "NAME", default_value = "")]
    pub context: String,
}

pub fn run(args: &CheckedArgs) -> Result<(), Failure> {
    let commit = CommitId::parse(&args.commit)
        .map_err(|error| Failure::invalid(format!("--commit: {error}")))?;
    let state = CheckState::parse(&args.state).ok_or_else(|| {
        Failure::invalid(format!(
            "--state: `{}` is not one of success, failure, pending",
            cfgupdate_core::adapter::shown(&args.state)
        ))
    })?;
    crate::commands::state::warn_if_unauthenticated(crate::commands::state::state_key()?.as_ref());
    let mut repo = args.remote.open()?;
    let report = CheckReport {
        commit,
        state,
        context: args.context.clone(),
    };
    let outcome = repo
        .record_check(&report)
        .map_err(|error| classified(&error))?;
    let out = match outcome {
        CheckOutcome::Recorded => {
            say(format_args!(
                "recorded the result for {}: it moves nothing until every check that decides passed (`status` shows them)",
                report.commit.short()
            ));
            "unchanged\n".to_owned()
        }
        CheckOutcome::Accepted { main, changes } => {
            say(format_args!(
                "accepted {} automatic change(s): {} is now at {}",
                changes.len(),
                repo.branch(),
                main.short()
            ));
            format!("{main}\n")
        }
        CheckOutcome::Evicted {
            eviction,
            auto,
            dropped,
        } => {
            say(format_args!(
                "evicted \"{}\" ({}); the auto branch was rebuilt at {}{}",
                cfgupdate_core::adapter::shown(&eviction.subject),
                eviction.reason,
                auto.short(),
                if dropped.is_empty() {
                    String::new()
                } else {
                    format!(", {} later change(s) no longer applied", dropped.len())
                }
            ));
            format!("{auto}\n")
        }
        CheckOutcome::Ignored(why) => {
            say(format_args!("nothing changed: {}", why.reason()));
            "unchanged\n".to_owned()
        }
    };
    crate::failure::print_out(&out)
}
