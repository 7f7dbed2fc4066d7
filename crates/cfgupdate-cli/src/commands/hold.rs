//! `cfgupdate rollback` and `cfgupdate release`: write a wave back to an earlier revision's
//! images and hold those services there, and lift such holds (and people's edits' pins).

use cfgupdate_core::promotion::{
    ReleaseOutcome, RollbackOutcome, RollbackRequest, release, rollback,
};
use cfgupdate_core::{CommitId, ServiceName, WaveName};

use crate::args::{listed, say};
use crate::failure::{Failure, print_out};
use crate::remote::{RemoteArgs, SystemClock, classified};

#[derive(Debug, clap::Args)]
#[command(
    about = "Write a wave back to the images it held at an earlier revision, and hold them there",
    long_about = "Write into WAVE the images it held at the config revision SHA (every service it \
held there, or only those named with --service) as one commit with `Cfgupdate-Action: rollback`, \
and hold those services in WAVE: no publish, promotion, approval or `advance` writes them there \
until `cfgupdate release`. A service WAVE already holds at that image is held without a commit.\n\n\
Prints the rollback commit's SHA, or `unchanged` when WAVE already held those images (the holds \
are placed all the same); a sentence on stderr says what is held. An unknown wave, a revision \
that is not on the branch, or a service WAVE did not hold at SHA is refused (exit 2) and nothing \
changes.",
    after_help = "Examples (the revision is a commit of the config repository, as `cfgupdate history` shows them):\n  # production back to what it ran yesterday, every service:\n  cfgupdate rollback --repo https://git.example.com/acme/cfg-app.git --branch main \\\n    --wave production --to-revision 3f0c2a9e1d4b5c6a7f8e9d0c1b2a3f4e5d6c7b8a\n  # only api; later, let automation write it again:\n  cfgupdate rollback --repo https://git.example.com/acme/cfg-app.git --wave production \\\n    --to-revision 3f0c2a9e1d4b5c6a7f8e9d0c1b2a3f4e5d6c7b8a --service api\n  cfgupdate release --repo https://git.example.com/acme/cfg-app.git --wave production --service api\n\nThe same with --dry-run: print the commit and state record it would make, push nothing:\n  cfgupdate rollback --repo https://git.example.com/acme/cfg-app.git --wave production \\\n    --to-revision 3f0c2a9e1d4b5c6a7f8e9d0c1b2a3f4e5d6c7b8a --dry-run"
)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// The wave to roll back.
    #[arg(long, value_name = "WAVE")]
    pub wave: String,
    /// The earlier config revision (40 hex digits) whose images of WAVE are written back.
    #[arg(long, value_name = "SHA")]
    pub to_revision: String,
    /// Roll back only this service (repeatable; default: every service WAVE held at SHA).
    #[arg(long = "service", value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Print the commit and the state record that would be made, and push nothing; refusals
    /// exit as they would without it.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, clap::Args)]
#[command(
    about = "Lift the holds of a rollback or a person's edit, so automation writes those services again",
    long_about = "Lift what holds services in WAVE (every hold there, or only those named with \
--service): the hold a `cfgupdate rollback` placed, or the pin a person's commit placed by changing \
the wave's image by hand (`cfgupdate status` names both). The next publish or promotion writes \
those services again. A change of the pipeline state only: no commit.\n\n\
Prints `unchanged` on stdout (nothing is committed to the branch) and names what it released on \
stderr. A wave where nothing is held, or a service that is not held there, is refused (exit 2).",
    after_help = "Examples:\n  cfgupdate status --repo https://git.example.com/acme/cfg-app.git   # what is held, and by what\n  cfgupdate release --repo https://git.example.com/acme/cfg-app.git --wave production\n  cfgupdate release --repo https://git.example.com/acme/cfg-app.git --wave staging --service api\n  cfgupdate release --repo https://git.example.com/acme/cfg-app.git --wave production --dry-run   # preview"
)]
pub struct ReleaseArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// The wave whose holds to lift.
    #[arg(long, value_name = "WAVE")]
    pub wave: String,
    /// Release only this service (repeatable; default: every service held in WAVE).
    #[arg(long = "service", value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Print the state record that would be made, and push nothing; refusals exit as they
    /// would without it.
    #[arg(long)]
    pub dry_run: bool,
}

fn services(given: &[String]) -> Result<Vec<ServiceName>, Failure> {
    given
        .iter()
        .map(|name| {
            ServiceName::parse(name)
                .map_err(|error| Failure::invalid(format!("--service: {error}")))
        })
        .collect()
}

fn wave(given: &str) -> Result<WaveName, Failure> {
    WaveName::parse(given).map_err(|error| Failure::invalid(format!("--wave: {error}")))
}

pub fn run_rollback(args: &RollbackArgs) -> Result<(), Failure> {
    let request = RollbackRequest {
        wave: wave(&args.wave)?,
        to_revision: CommitId::parse(&args.to_revision)
            .map_err(|error| Failure::invalid(format!("--to-revision: {error}")))?,
        services: services(&args.services)?,
    };
    let options = crate::commands::state::write_options()?;
    let mut repo = args.remote.open()?;
    if args.dry_run {
        return crate::dry_run::show(&mut repo, |repo| {
            rollback(repo, &SystemClock, &request, &options)
        });
    }
    let outcome =
        rollback(&mut *repo, &SystemClock, &request, &options).map_err(|e| classified(&e))?;
    let revision = request.to_revision.short();
    match outcome {
        RollbackOutcome::RolledBack { commit, wave, held } => {
            say(format_args!(
                "rolled `{wave}` back to what it held at {revision}: commit {} on {}; held there until `cfgupdate release`: {}",
                commit.short(),
                repo.branch(),
                listed(held.iter())
            ));
            print_out(&format!("{commit}\n"))
        }
        RollbackOutcome::Unchanged { wave, held } => {
            say(format_args!(
                "`{wave}` already holds what it held at {revision}; held there until `cfgupdate release`: {}",
                listed(held.iter())
            ));
            print_out("unchanged\n")
        }
    }
}

pub fn run_release(args: &ReleaseArgs) -> Result<(), Failure> {
    let wave = wave(&args.wave)?;
    let services = services(&args.services)?;
    let options = crate::commands::state::write_options()?;
    let mut repo = args.remote.open()?;
    if args.dry_run {
        return crate::dry_run::show(&mut repo, |repo| {
            release(repo, &SystemClock, &wave, &services, &options)
        });
    }
    let ReleaseOutcome { wave, released } =
        release(&mut *repo, &SystemClock, &wave, &services, &options)
            .map_err(|e| classified(&e))?;
    let what: Vec<String> = released
        .iter()
        .map(|(service, hold)| format!("{service} ({})", hold.describe()))
        .collect();
    say(format_args!(
        "released in `{wave}`: {}; automation writes them again from the next publish or promotion",
        listed(what)
    ));
    print_out("unchanged\n")
}
