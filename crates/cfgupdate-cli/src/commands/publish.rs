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
this announcement was already published; a sentence on stderr says what was done.",
    after_help = "Example:\n  cfgupdate publish --repo git@github.com:acme/cfg-app.git --branch main \\\n    --app-commit 7d1043473d55bfa90e8530d35801d4e381bc69f0 \\\n    --image api=registry.example.com/team/api:7d10434@sha256:<64 hex>"
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
}

pub fn run(args: &PublishArgs) -> Result<(), Failure> {
    let app_commit = CommitId::parse(&args.app_commit)
        .map_err(|error| Failure::invalid(format!("--app-commit: {error}")))?;
    let images = image_set(&args.images)?;
    let announcement = Announcement::new(app_commit, images).map_err(|e| classified(&e))?;
    let mut repo = args.remote.open()?;
    match publish(
        &mut repo,
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
        Err(error) => return Err(classified(&error)),
    }
    Ok(())
}
