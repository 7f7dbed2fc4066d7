//! `cfgupdate approve`: open the approval gate into a wave for what waits there.

use cfgupdate_core::WaveName;
use cfgupdate_core::promotion::{ApprovalOutcome, approve};

use crate::failure::Failure;
use crate::remote::{RemoteArgs, SystemClock, classified};

#[derive(Debug, clap::Args)]
#[command(
    about = "Approve the promotion that waits to enter a wave",
    long_about = "Approve exactly the image set that waits at WAVE's approval gate (see `cfgupdate \
status`), and promote it if no other gate still waits. A later, different image set needs its own \
approval.\n\n\
Prints the promotion commit's SHA, or `unchanged` (the reason goes to stderr)."
)]
pub struct ApproveArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// The wave whose approval gate to open.
    #[arg(long, value_name = "WAVE")]
    pub wave: String,
}

pub fn run(args: &ApproveArgs) -> Result<(), Failure> {
    let wave = WaveName::parse(&args.wave)
        .map_err(|error| Failure::invalid(format!("--wave: {error}")))?;
    let mut repo = args.remote.open()?;
    match approve(
        &mut repo,
        &SystemClock,
        &wave,
        &crate::isolate::write_options()?,
    )
    .map_err(|error| classified(&error))?
    {
        ApprovalOutcome::Promoted { commit, .. } => println!("{commit}"),
        ApprovalOutcome::Approved { waiting } => {
            eprintln!("approved; {}", waiting.describe(&wave));
            println!("unchanged");
        }
        ApprovalOutcome::Unchanged { reason } => {
            eprintln!("nothing approved: {reason}");
            println!("unchanged");
        }
    }
    Ok(())
}
