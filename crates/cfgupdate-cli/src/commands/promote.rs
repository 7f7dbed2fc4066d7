//! `cfgupdate promote`: promote by hand what a wave held at a revision.

use cfgupdate_core::promotion::{PromoteOutcome, promote, promote_overriding_freeze};
use cfgupdate_core::{CommitId, WaveName};

use crate::failure::Failure;
use crate::remote::{RemoteArgs, SystemClock, classified};

#[derive(Debug, clap::Args)]
#[command(
    about = "Promote the images a wave held at a revision into the next wave",
    long_about = "Promote the image set WAVE held at the config revision SHA into the next wave, as \
one commit. The next wave's gates still apply: a closed soak or approval gate, or a freeze window \
of the next wave, refuses (exit 3; `--override-freeze` writes through a freeze, an admin's \
decision recorded as the trailer `Cfgupdate-Override: freeze`), \
held services are left as they are, and a revision older than the source of the next wave's last \
promotion is refused as stale (exit 3).\n\n\
Prints the promotion commit's SHA, or `unchanged` when the next wave already holds those images; \
a sentence on stderr says what was done.",
    after_help = "Example (the revision is a commit of the config repository, as `cfgupdate status` and\n`cfgupdate history` show them):\n  cfgupdate promote --repo https://git.example.com/acme/cfg-app.git --branch main \\\n    --from staging --revision 3f0c2a9e1d4b5c6a7f8e9d0c1b2a3f4e5d6c7b8a\n\nThe same with --dry-run: print the commit it would make, push nothing:\n  cfgupdate promote --repo https://git.example.com/acme/cfg-app.git --branch main \\\n    --from staging --revision 3f0c2a9e1d4b5c6a7f8e9d0c1b2a3f4e5d6c7b8a --dry-run\n\n  # into production during its freeze window (an admin's decision):\n  cfgupdate promote --repo https://git.example.com/acme/cfg-app.git --override-freeze \\\n    --from internal --revision 3f0c2a9e1d4b5c6a7f8e9d0c1b2a3f4e5d6c7b8a"
)]
pub struct PromoteArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// The wave to promote from.
    #[arg(long, value_name = "WAVE")]
    pub from: String,
    /// The config revision (40 hex digits) whose image set of WAVE is promoted.
    #[arg(long, value_name = "SHA")]
    pub revision: String,
    /// Print the commit that would be made (subject, trailers, changed files and their
    /// diff) and push nothing; refusals exit as they would without it.
    #[arg(long)]
    pub dry_run: bool,
    /// Write even while the next wave is frozen (an admin's override; the commit carries
    /// `Cfgupdate-Override: freeze`).
    #[arg(long)]
    pub override_freeze: bool,
}

pub fn run(args: &PromoteArgs) -> Result<(), Failure> {
    let from = WaveName::parse(&args.from)
        .map_err(|error| Failure::invalid(format!("--from: {error}")))?;
    let revision = CommitId::parse(&args.revision)
        .map_err(|error| Failure::invalid(format!("--revision: {error}")))?;
    let mut repo = args.remote.open()?;
    let promote = if args.override_freeze {
        promote_overriding_freeze
    } else {
        promote
    };
    if args.dry_run {
        let options = crate::commands::state::write_options()?;
        return crate::dry_run::show(&mut repo, |repo| {
            promote(repo, &SystemClock, &from, &revision, &options)
        });
    }
    match promote(
        &mut *repo,
        &SystemClock,
        &from,
        &revision,
        &crate::commands::state::write_options()?,
    )
    .map_err(|error| classified(&error))?
    {
        PromoteOutcome::Promoted {
            commit,
            wave,
            skipped,
        } => {
            crate::args::say(format_args!(
                "promoted what `{from}` held at {} into `{wave}`: commit {} on {}",
                revision.short(),
                commit.short(),
                repo.branch()
            ));
            if !skipped.is_empty() {
                crate::args::say(format_args!(
                    "skipped {}: held in `{wave}` (`cfgupdate status` says by what; `cfgupdate release` lifts it)",
                    crate::args::listed(skipped.iter())
                ));
            }
            crate::failure::print_out(&format!("{commit}\n"))?
        }
        PromoteOutcome::Unchanged { reason } => {
            eprintln!("nothing promoted: {reason}");
            crate::failure::print_out("unchanged\n")?;
        }
    }
    Ok(())
}
