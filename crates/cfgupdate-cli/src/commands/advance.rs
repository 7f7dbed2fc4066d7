//! `cfgupdate advance`: run whatever is due now, as the service's timer does.

use cfgupdate_core::run_due;
use cfgupdate_http::wire::rfc3339;

use crate::failure::{Failure, classified, print_out};
use crate::remote::{RemoteArgs, SystemClock};

#[derive(Debug, clap::Args)]
#[command(
    about = "Run whatever is due now: promotions whose soak has passed, announcements a freeze deferred",
    long_about = "Fetch the config repository and take every step of the pipeline that is due \
now: a wave complete at images whose next wave's soak has passed since is promoted, without \
waiting for another deploy report; and once the first wave's freeze window ended, the newest \
deferred images of each service are published. It is the same operation `cfgupdate serve` runs on its timer, \
for cron-driven setups without the service; running it when nothing is due changes nothing.\n\n\
Prints each commit it made (one SHA a line, in pipeline order), or `unchanged`; a sentence on \
stderr says what each commit did, which promotion now waits for approval since its soak ended \
(said once, by whichever run or service noticed it first), and when the next soak gate opens. A wave whose promotion is \
refused by its own content (a slot without effect, a target that does not render) does not stop \
the others: each refusal is printed on stderr after the commits, and the exit code is then 2.",
    after_help = "Examples:\n  cfgupdate advance --repo https://git.example.com/acme/cfg-app.git --branch main\n  # every 5 minutes from cron:\n  */5 * * * *  cfgupdate advance --repo https://git.example.com/acme/cfg-app.git --branch main"
)]
pub struct AdvanceArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
}

pub fn run(args: &AdvanceArgs) -> Result<(), Failure> {
    let options = crate::commands::state::write_options()?;
    let mut repo = args.remote.open()?;
    // Everything due, in the order the core decides: promotions, then what a freeze deferred.
    let due = run_due(&mut *repo, &SystemClock, &options).map_err(|error| classified(&error))?;
    let done = &due.advance;
    let mut out = String::new();
    for promotion in &done.promoted {
        crate::args::say(format_args!(
            "{} into `{}`: commit {} on {}",
            promotion.action.as_str(),
            promotion.wave,
            promotion.commit.short(),
            repo.branch()
        ));
        out.push_str(&format!("{}\n", promotion.commit));
    }
    let deferred = due.deferred.as_ref().map_err(classified)?;
    for (commit, wave) in &deferred.published {
        crate::args::say(format_args!(
            "published into `{wave}` what a freeze window deferred: commit {} on {}",
            commit.short(),
            repo.branch()
        ));
        out.push_str(&format!("{commit}\n"));
    }
    for (app_commit, error) in &deferred.refused {
        crate::args::say(format_args!(
            "a deferred announcement (app commit {}) was refused now that its window ended, and forgotten: {error}",
            app_commit.short()
        ));
    }
    if let Some(frozen) = &deferred.waiting {
        crate::args::say(format_args!(
            "{} announcement(s) stay deferred: the first wave is frozen until {} ({})",
            deferred.remaining,
            rfc3339(frozen.until),
            cfgupdate_core::adapter::shown(&frozen.reason)
        ));
    }
    for (wave, revision) in &done.awaiting_approval {
        crate::args::say(format_args!(
            "the soak before `{wave}` ended: its promotion of revision {} waits for approval (`cfgupdate approve --wave {wave}`)",
            revision.short()
        ));
    }
    if due.is_unchanged() {
        crate::args::say("nothing was due");
        out.push_str("unchanged\n");
    }
    if let Some(deadline) = done.next_deadline {
        crate::args::say(format_args!(
            "the next soak gate opens at {}; run `cfgupdate advance` again then",
            rfc3339(deadline)
        ));
    }
    print_out(&out)?;
    // What was promoted stands; a refusal by a wave's own content needs a person's fix.
    let mut refusals = done.refused.iter();
    if let Some(first) = refusals.next() {
        for other in refusals {
            crate::args::say(format_args!("refused: {other}"));
        }
        return Err(classified(first));
    }
    Ok(())
}
