//! `cfgupdate approve`: open the approval gate into a wave for what waits there.

use cfgupdate_core::promotion::{ApprovalOutcome, Approver, approve_candidate};
use cfgupdate_core::{CommitId, WaveName};

use crate::failure::Failure;
use crate::remote::{RemoteArgs, SystemClock, classified};

#[derive(Debug, clap::Args)]
#[command(
    about = "Approve the promotion that waits to enter a wave",
    long_about = "Approve exactly the candidate that waits at WAVE's approval gate (`cfgupdate \
status` shows its source revision and images), and promote it if no other gate still waits.\n\n\
An approval is for one image set: only the newest approval of a wave counts, and it lapses when \
the wave promoted from deploys another set. So a later, different candidate needs its own \
approval, and so does the approved one again once another was deployed in between.\n\n\
With `--revision SHA`, only the candidate from that source revision is approved: when another \
one waits (or none does), nothing is recorded and the command exits 3 naming both revisions. \
Use it so that what you approve is what you looked at.\n\n\
The approver (`--by`) is recorded with the approval and named in the promotion commit's \
`Cfgupdate-Approved-By` trailer.\n\n\
Prints the promotion commit's SHA, or `unchanged`; a sentence on stderr says what was done, or \
why nothing was. A wave without an approval gate, or an unknown wave, exits 2.",
    after_help = "Example:\n  cfgupdate status --repo https://git.example.com/acme/cfg-app.git --branch main   # what waits\n  cfgupdate approve --repo https://git.example.com/acme/cfg-app.git --branch main \\\n    --wave production --revision 3f0c2a9e1d4b5c6a7f8e9d0c1b2a3f4e5d6c7b8a --by alice\n\nThe same with --dry-run: print what it would record and commit, push nothing:\n  cfgupdate approve --repo https://git.example.com/acme/cfg-app.git --branch main \\\n    --wave production --revision 3f0c2a9e1d4b5c6a7f8e9d0c1b2a3f4e5d6c7b8a --by alice --dry-run"
)]
pub struct ApproveArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// The wave whose approval gate to open.
    #[arg(long, value_name = "WAVE")]
    pub wave: String,
    /// Approve only the candidate from this source revision (40 hex digits, as `cfgupdate
    /// status` shows it); another candidate waiting exits 3.
    #[arg(long, value_name = "SHA")]
    pub revision: Option<String>,
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
    let revision = args
        .revision
        .as_deref()
        .map(CommitId::parse)
        .transpose()
        .map_err(|error| Failure::invalid(format!("--revision: {error}")))?;
    let by =
        approver(args.by.as_deref()).map_err(|error| Failure::invalid(format!("--by: {error}")))?;
    let options = crate::commands::state::write_options()?;
    let mut repo = args.remote.open()?;
    if args.dry_run {
        return crate::dry_run::show(&mut repo, |repo| {
            approve_candidate(repo, &SystemClock, &wave, revision.as_ref(), &by, &options)
        });
    }
    match approve_candidate(
        &mut *repo,
        &SystemClock,
        &wave,
        revision.as_ref(),
        &by,
        &options,
    )
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
