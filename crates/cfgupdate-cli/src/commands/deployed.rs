//! `cfgupdate deployed`: what a post-deploy hook does.

use cfgupdate_core::adapter::shown;
use cfgupdate_core::promotion::{
    DeployReport, DeployStatus, DeploymentOutcome, TargetSelector, record_deployment,
};
use cfgupdate_core::{CommitId, TargetName};

use crate::args::say;
use crate::failure::Failure;
use crate::remote::{RemoteArgs, SystemClock, classified};

#[derive(Debug, clap::Args)]
#[command(
    about = "Record that a target deployed a revision; promote when the wave is complete",
    long_about = "Record that a target is deployed at a config revision (what an Argo CD PostSync \
hook or notification reports). When every target of the target's wave has deployed the same image \
set, exactly that set, as it stood at the reported revision, is promoted into the next wave, once \
the next wave's gates (soak, approval, hold) allow.\n\n\
Prints the promotion commit's SHA, or `unchanged` when the report was recorded and nothing was \
promoted; a sentence on stderr says what was recorded and what was promoted, or why nothing \
was. Repeated reports change nothing.",
    after_help = "Example (in a PostSync hook Job):\n  cfgupdate deployed --repo https://git.example.com/acme/cfg-app.git --target staging-us \\\n    --revision \"$ARGOCD_APP_REVISION\""
)]
pub struct DeployedArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// The target that deployed (its name in cfgupdate.toml).
    #[arg(
        long,
        value_name = "TARGET",
        required_unless_present = "app",
        conflicts_with = "app"
    )]
    pub target: Option<String>,
    /// The Argo CD application that deployed, instead of --target (its `argocd_app`).
    #[arg(long, value_name = "APP")]
    pub app: Option<String>,
    /// The config revision (40 hex digits) it deployed.
    #[arg(long, value_name = "SHA")]
    pub revision: String,
    /// The deployment failed (blocks promotion of that image set until a later success).
    #[arg(long)]
    pub failed: bool,
}

pub fn run(args: &DeployedArgs) -> Result<(), Failure> {
    let revision = CommitId::parse(&args.revision)
        .map_err(|error| Failure::invalid(format!("--revision: {error}")))?;
    let target = match (&args.target, &args.app) {
        (Some(target), _) => TargetSelector::Name(
            TargetName::parse(target)
                .map_err(|error| Failure::invalid(format!("--target: {error}")))?,
        ),
        (None, Some(app)) => TargetSelector::App(app.clone()),
        (None, None) => return Err(Failure::invalid("give --target or --app")),
    };
    let status = if args.failed {
        DeployStatus::Failed
    } else {
        DeployStatus::Succeeded
    };
    let report = DeployReport {
        target,
        revision,
        status,
    };
    let mut repo = args.remote.open()?;
    let outcome = record_deployment(
        &mut *repo,
        &SystemClock,
        &report,
        &crate::commands::state::write_options()?,
    )
    .map_err(|error| classified(&error))?;
    let recorded = format!(
        "recorded that {} {} {}",
        match &report.target {
            TargetSelector::Name(name) => format!("target `{name}`"),
            TargetSelector::App(app) => format!("Argo CD application `{}`", shown(app)),
        },
        match report.status {
            DeployStatus::Succeeded => "deployed",
            DeployStatus::Failed => "failed to deploy",
        },
        report.revision.short()
    );
    match outcome {
        DeploymentOutcome::Promoted { commit, wave, .. } => {
            say(format_args!(
                "{recorded}; promoted into `{wave}`: commit {} on {}",
                commit.short(),
                repo.branch()
            ));
            crate::failure::print_out(&format!("{commit}\n"))?;
        }
        DeploymentOutcome::Pending { wave, gate } => {
            say(format_args!("{recorded}; {}", gate.describe(&wave)));
            crate::failure::print_out("unchanged\n")?;
        }
        DeploymentOutcome::Recorded { reason } => {
            say(format_args!("{recorded}; nothing promoted: {reason}"));
            crate::failure::print_out("unchanged\n")?;
        }
    }
    Ok(())
}
