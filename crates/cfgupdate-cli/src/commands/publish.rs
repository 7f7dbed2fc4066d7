//! `cfgupdate publish`: what CI's announcement does, from the command line.

use cfgupdate_core::{Announcement, CommitId, PublishOutcome, publish};

use crate::args::{ImageAssignment, image_set, listed, say};
use crate::failure::Failure;
use crate::remote::{RemoteArgs, SystemClock, classified};

#[derive(Debug, clap::Args)]
#[command(
    about = "Write CI's new images into the first wave as one commit",
    long_about = "Write CI's new images into the first wave of the config repository as one commit \
with Cfgupdate-* trailers, pushed without force. When people push to the branch at the same time, \
the images are written again on the new tip: nothing of theirs is lost.\n\n\
Prints the new commit's SHA, or `unchanged` when the first wave already holds these images or \
this announcement was already published; a sentence on stderr says what was done.\n\n\
While the first wave is frozen (a `freeze` window in cfgupdate.toml), the announcement is \
accepted and deferred: it is kept in the pipeline state, `deferred until <RFC 3339>` is printed, \
the exit code is 0, and the newest deferred images of each service are published when the window \
ends (by the service's timer or `cfgupdate advance`). `--override-freeze` writes anyway, an \
admin's decision recorded as the trailer `Cfgupdate-Override: freeze`.",
    after_help = "Examples:\n  cfgupdate publish --repo git@github.com:acme/cfg-app.git --branch main \\\n    --app-commit 7d1043473d55bfa90e8530d35801d4e381bc69f0 \\\n    --image api=registry.example.com/team/api:7d10434@sha256:<64 hex>\n\n  # the same with --dry-run: print the commit it would make, push nothing:\n  cfgupdate publish --repo git@github.com:acme/cfg-app.git --branch main --dry-run \\\n    --app-commit 7d1043473d55bfa90e8530d35801d4e381bc69f0 \\\n    --image api=registry.example.com/team/api:7d10434@sha256:<64 hex>\n\n  # a hotfix during the holiday freeze (an admin's decision):\n  cfgupdate publish --repo git@github.com:acme/cfg-app.git --override-freeze \\\n    --app-commit 7d1043473d55bfa90e8530d35801d4e381bc69f0 \\\n    --image api=registry.example.com/team/api:7d10434@sha256:<64 hex>"
)]
pub struct PublishArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// The app commit (40 hex digits) the images were built from.
    #[arg(long, value_name = "SHA")]
    pub app_commit: String,
    /// A service and its new image, `SERVICE=REF` with a digest (repeatable).
    #[arg(long = "image", value_name = "SERVICE=REF", required = true)]
    pub images: Vec<ImageAssignment>,
    /// Print the commit that would be made (subject, trailers, changed files and their
    /// diff) and push nothing; refusals exit as they would without it.
    #[arg(long)]
    pub dry_run: bool,
    /// Write even while the first wave is frozen (an admin's override; the commit carries
    /// `Cfgupdate-Override: freeze`).
    #[arg(long)]
    pub override_freeze: bool,
}

pub fn run(args: &PublishArgs) -> Result<(), Failure> {
    let app_commit = CommitId::parse(&args.app_commit)
        .map_err(|error| Failure::invalid(format!("--app-commit: {error}")))?;
    let images = image_set(&args.images)?;
    let mut announcement = Announcement::new(app_commit, images).map_err(|e| classified(&e))?;
    if args.override_freeze {
        announcement = announcement.overriding_freeze();
    }
    let mut repo = args.remote.open()?;
    if args.dry_run {
        let options = crate::commands::state::write_options()?;
        return crate::dry_run::show(&mut repo, |repo| {
            publish(repo, &SystemClock, &announcement, &options)
        });
    }
    match publish(
        &mut *repo,
        &SystemClock,
        &announcement,
        &crate::commands::state::write_options()?,
    ) {
        Ok(PublishOutcome::Committed {
            commit,
            wave,
            skipped,
        }) => {
            let published = announcement
                .images()
                .keys()
                .filter(|service| !skipped.contains(service));
            say(format_args!(
                "published {} into `{wave}`: commit {} on {}",
                listed(published),
                commit.short(),
                repo.branch()
            ));
            if !skipped.is_empty() {
                say(format_args!(
                    "skipped {}: held in `{wave}` (`cfgupdate status` says by what; `cfgupdate release` lifts it)",
                    listed(skipped.iter())
                ));
            }
            crate::failure::print_out(&format!("{commit}\n"))?
        }
        Ok(PublishOutcome::Unchanged) => {
            say(
                "nothing published: the first wave already holds these images, or this announcement was published before",
            );
            crate::failure::print_out("unchanged\n")?
        }
        Ok(PublishOutcome::Deferred { until, reason }) => {
            let until = cfgupdate_core::freeze::rfc3339(until);
            say(format_args!(
                "deferred {}: the first wave is frozen until {until} ({}); the images are published when the window ends",
                listed(announcement.images().keys()),
                cfgupdate_core::adapter::shown(&reason)
            ));
            crate::failure::print_out(&format!("deferred until {until}\n"))?
        }
        Err(error) => return Err(classified(&error)),
    }
    Ok(())
}
