//! `cfgupdate approve`: open the approval gate into a wave for what waits there.

use cfgupdate_core::WaveName;
use cfgupdate_core::promotion::{ApprovalOutcome, Approver, approve};

use crate::failure::Failure;
use crate::remote::{RemoteArgs, SystemClock, classified};

#[derive(Debug, clap::Args)]
#[command(
    about = "Approve the promotion that waits to enter a wave",
    long_about = "Approve exactly the image set that waits at WAVE's approval gate (see `cfgupdate \
status`), and promote it if no other gate still waits. A later, different image set needs its own \
approval. The approver (`--by`) is recorded with the approval and named in the promotion \
commit's `Cfgupdate-Approved-By` trailer.\n\n\
Prints the promotion commit's SHA, or `unchanged`; a sentence on stderr says what was done, or \
why nothing was.",
    after_help = "Example:\n  cfgupdate status --repo https://git.example.com/acme/cfg-app.git --branch main   # what waits\n  cfgupdate approve --repo https://git.example.com/acme/cfg-app.git --branch main \\\n    --wave production --by alice\n\nThe same with --dry-run: print what it would record and commit, push nothing:\n  cfgupdate approve --repo https://git.example.com/acme/cfg-app.git --branch main \\\n    --wave production --by alice --dry-run"
)]
pub struct ApproveArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// The wave whose approval gate to open.
    #[arg(long, value_name = "WAVE")]
    pub wave: String,
    /// Who approves (default: GIT_AUTHOR_NAME, else `git config user.name`, else `cli`).
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,
    /// Print what approving would write (the approval recorded in the pipeline state, the
    /// promotion commit it lets through: subject, trailers, changed files and their diff) and push
    /// nothing; refusals exit as they would without it.
    #[arg(long)]
    pub dry_run: bool,
}

/// The approver: `--by`, else the git author name of the environment, else `cli`.
fn approver(by: Option<&str>) -> Result<Approver, cfgupdate_core::promotion::ApproverError> {
    let name = match by {
        Some(name) => name.to_owned(),
        None => std::env::var("GIT_AUTHOR_NAME")
            .ok()
            .filter(|name| !name.trim().is_empty())
            .or_else(git_user_name)
            .unwrap_or_else(|| "cli".to_owned()),
    };
    Approver::parse(&name)
}

/// `git config user.name`, when git is installed and it is set.
fn git_user_name() -> Option<String> {
    let output = std::process::Command::new("git")
        .args(["config", "user.name"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let name = String::from_utf8(output.stdout).ok()?;
    let name = name.trim();
    (output.status.success() && !name.is_empty()).then(|| name.to_owned())
}

pub fn run(args: &ApproveArgs) -> Result<(), Failure> {
    let wave = WaveName::parse(&args.wave)
        .map_err(|error| Failure::invalid(format!("--wave: {error}")))?;
    let by =
        approver(args.by.as_deref()).map_err(|error| Failure::invalid(format!("--by: {error}")))?;
    let options = crate::commands::state::write_options()?;
    let mut repo = args.remote.open()?;
    if args.dry_run {
        return crate::dry_run::show(&mut repo, |repo| {
            approve(repo, &SystemClock, &wave, &by, &options)
        });
    }
    match approve(&mut repo, &SystemClock, &wave, &by, &options)
        .map_err(|error| classified(&error))?
    {
        ApprovalOutcome::Promoted { commit, wave, .. } => {
            crate::args::say(format_args!(
                "approved for `{wave}` by {by} and promoted: commit {} on {}",
                commit.short(),
                repo.branch()
            ));
            crate::failure::print_out(&format!("{commit}\n"))?
        }
        ApprovalOutcome::Approved { waiting } => {
            eprintln!("approved; {}", waiting.describe(&wave));
            crate::failure::print_out("unchanged\n")?;
        }
        ApprovalOutcome::Unchanged { reason } => {
            eprintln!("nothing approved: {reason}");
            crate::failure::print_out("unchanged\n")?;
        }
    }
    Ok(())
}
