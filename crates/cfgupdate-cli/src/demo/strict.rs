//! `cfgupdate demo --strict`: the same pipeline with strict mode on (docs/strict.md), told step
//! by step. Every automatic commit waits on branch `auto` until the config repository's own CI
//! ([`super::ci`], a policy check the demo runs on each commit's files) passed it.
//!
//! The story: CI announces a build from a feature branch whose images sit in the registry's
//! sandbox, then the next build from master; both wait on `auto` as two commits. The config
//! repository's CI fails the first: the service evicts it and rebuilds `auto` by replaying
//! the second change's intent on master, as a new commit, which CI passes: master is
//! fast-forwarded to it. Argo CD deploys staging; the soak gate's promotion into internal and
//! the approved promotion into production go through `auto` and CI the same way, and
//! production ends up running the second build. CI's retry of the evicted announcement is
//! refused.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

use cfgupdate_core::ConfigRepository;
use serde_json::Value;

use super::ci::{self, ADMITTED, CONTEXT};
use super::example::{self, AUTO_BRANCH, BRANCH, NEXT_APP_COMMIT};
use super::service::{Reporter, Service};
use super::{Narrator, Observer, SOAK_LIMIT, commit_of, expect, short};
use crate::failure::Failure;
use crate::remote::classified;

/// The app commit of the build from a feature branch, whose images the policy refuses.
pub const FEATURE_APP_COMMIT: &str = "7e57b12a0c4d4e5f60718293a4b5c6d7e8f90a1b";

/// The registry path the feature branch's build pushed to by mistake.
pub const SANDBOX: &str = "registry.example.com/sandbox/";

/// The feature branch build's images: the shop's services, in the sandbox path.
pub fn sandbox_images(app_commit: &str) -> BTreeMap<String, String> {
    example::images(app_commit)
        .into_iter()
        .map(|(service, image)| (service, image.replacen(ADMITTED, SANDBOX, 1)))
        .collect()
}

impl Observer {
    /// The main branch's tip on the remote, fetched now.
    fn main_tip(&mut self) -> Result<String, Failure> {
        self.repo
            .refresh()
            .map(|tip| tip.to_string())
            .map_err(|error| classified(&error))
    }

    /// Fails unless the main branch is at `expected`: the narration says nothing the remote
    /// does not show.
    fn main_is(&mut self, expected: &str, why: &str) -> Result<(), Failure> {
        let main = self.main_tip()?;
        if main == expected {
            return Ok(());
        }
        Err(Failure::operational(format!(
            "{BRANCH} is at {}, but {why} should have left it at {}",
            short(&main),
            short(expected)
        )))
    }
}

/// The auto queue (the `strict` member of the status) as `cfgupdate status` prints it.
pub fn queue_lines(queue: &Value) -> Vec<String> {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    let pending = queue["pending"].as_array().cloned().unwrap_or_default();
    let mut lines = vec![format!(
        "strict mode: automatic changes wait on branch `{}` for CI ({} waiting)",
        text(&queue["branch"]),
        pending.len()
    )];
    for change in &pending {
        let ci = match (change["ci"].as_str(), change["context"].as_str()) {
            (Some(state), Some(context)) if !context.is_empty() => format!("{state} ({context})"),
            (Some(state), _) => state.to_owned(),
            (None, _) => "no CI result yet".to_owned(),
        };
        lines.push(format!(
            "  {} {:<8} {:<12} CI: {ci}  {}",
            short(&text(&change["commit"])),
            text(&change["action"]),
            change["wave"].as_str().unwrap_or("-"),
            text(&change["subject"])
        ));
    }
    lines.extend(
        queue["evicted"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|evicted| format!("  {}", eviction_line(evicted))),
    );
    lines
}

/// One evicted or dropped change, as `status` and `history` show it.
fn eviction_line(evicted: &Value) -> String {
    let what = if evicted["kind"] == "dropped" {
        "dropped"
    } else {
        "evicted"
    };
    format!(
        "{what} {} \"{}\": {}",
        short(evicted["commit"].as_str().unwrap_or_default()),
        evicted["subject"].as_str().unwrap_or_default(),
        evicted["reason"].as_str().unwrap_or_default()
    )
}

fn show_queue<W: Write>(service: &mut dyn Service, n: &mut Narrator<W>) -> Result<(), Failure> {
    n.say("`cfgupdate status` (and GET /v1/status) shows the auto queue:")?;
    for line in queue_lines(&service.auto_queue()?) {
        n.say(&format!("  {line}"))?;
    }
    Ok(())
}

/// The config repository's CI checks `commit` (`what` it is, for the narration) and passes
/// it; the service fast-forwards the main branch to it.
fn ci_passes<W: Write>(
    service: &mut dyn Service,
    observer: &mut Observer,
    n: &mut Narrator<W>,
    commit: &str,
    what: &str,
) -> Result<(), Failure> {
    n.say(&format!(
        "CI runs on `{AUTO_BRANCH}`'s new commit {} ({what}): every Deployment runs an image of",
        short(commit)
    ))?;
    n.say(&format!(
        "{ADMITTED}. It passes, and CI reports success (POST /v1/checks)."
    ))?;
    if let Some(violation) = ci::check(&mut observer.repo, AUTO_BRANCH, commit)?.first() {
        return Err(Failure::operational(format!(
            "the demo's CI failed {} ({what}), which it should pass: {} runs {}",
            short(commit),
            violation.path,
            violation.image
        )));
    }
    let answer = service.check(commit, "success", CONTEXT)?;
    expect(&answer, "accepted", "CI's green result")?;
    observer.main_is(commit, "CI's green result")?;
    n.outcome(&format!(
        "accepted: {BRANCH} fast-forwarded to {} (never forced). Argo CD sees it now: it deploys",
        short(commit)
    ))?;
    n.say("   exactly the commit CI checked.")
}

/// Plays the strict mode story on the repository `service` owns; returns the lines of the
/// changes CI kept off the main branch, for the epilogue.
pub fn play<W: Write>(
    service: &mut dyn Service,
    observer: &mut Observer,
    narrator: &mut Narrator<W>,
) -> Result<Vec<String>, Failure> {
    let n = narrator;
    let initial = observer.main_tip()?;

    n.step("CI announces a build from a feature branch")?;
    let sandbox = sandbox_images(FEATURE_APP_COMMIT);
    n.say(&format!(
        "CI built app commit {} from a feature branch and, by mistake, pushed its images to the",
        short(FEATURE_APP_COMMIT)
    ))?;
    n.say(&format!(
        "registry's sandbox, {SANDBOX}. It announces them (POST /v1/images)."
    ))?;
    let answer = service.announce(FEATURE_APP_COMMIT, &sandbox)?;
    expect(&answer, "committed", "the feature branch's announcement")?;
    let first = commit_of(&answer)?.to_owned();
    observer.main_is(&initial, "an automatic commit in strict mode")?;
    n.outcome(&format!(
        "committed {} into staging on branch `{AUTO_BRANCH}`; {BRANCH}, the branch Argo CD watches,",
        short(&first)
    ))?;
    n.say(&format!(
        "   stays at {}: nothing automatic reaches it before CI said yes.",
        short(&initial)
    ))?;

    n.step("CI announces the next build")?;
    let images = example::images(NEXT_APP_COMMIT);
    n.say(&format!(
        "CI built app commit {} from master, pushed to {ADMITTED}, and announces it.",
        short(NEXT_APP_COMMIT)
    ))?;
    let answer = service.announce(NEXT_APP_COMMIT, &images)?;
    expect(&answer, "committed", "the announcement")?;
    let second = commit_of(&answer)?.to_owned();
    n.outcome(&format!(
        "committed {} on `{AUTO_BRANCH}`, on top of {}: two changes wait, each its own commit.",
        short(&second),
        short(&first)
    ))?;

    n.step(&format!(
        "The config repository's CI fails {}",
        short(&first)
    ))?;
    n.say(&format!(
        "The config repository's CI runs on every push to `{AUTO_BRANCH}`. It reports that it started"
    ))?;
    n.say(&format!(
        "for {} (pending: recorded, it changes nothing):",
        short(&first)
    ))?;
    let answer = service.check(&first, "pending", CONTEXT)?;
    expect(&answer, "recorded", "CI's pending result")?;
    show_queue(service, n)?;
    n.say(&format!(
        "CI checks {}: every Deployment must run an image of {ADMITTED}.",
        short(&first)
    ))?;
    let violations = ci::check(&mut observer.repo, AUTO_BRANCH, &first)?;
    let Some(violation) = violations.first() else {
        return Err(Failure::operational(format!(
            "the demo's CI passed {}, whose images are in the sandbox",
            short(&first)
        )));
    };
    n.say(&format!(
        "It finds {} that do not, e.g. {} runs",
        violations.len(),
        violation.path
    ))?;
    n.say(&format!("{}, and reports failure.", violation.image))?;
    let answer = service.check(&first, "failure", CONTEXT)?;
    expect(&answer, "evicted", "CI's red result")?;
    if answer.evicted.as_deref() != Some(first.as_str()) {
        return Err(Failure::operational(format!(
            "the service evicted {:?} instead of {}",
            answer.evicted,
            short(&first)
        )));
    }
    let replayed = commit_of(&answer)?.to_owned();
    observer.main_is(&initial, "a red CI result")?;
    n.outcome(&format!(
        "evicted {}. The service rebuilt `{AUTO_BRANCH}` from {BRANCH} by replaying the change after it",
        short(&first)
    ))?;
    n.say(&format!(
        "   from its trailers (app {}'s images into staging), never by rebasing a diff: {} is now",
        short(NEXT_APP_COMMIT),
        short(&second)
    ))?;
    n.say(&format!(
        "   {}, a new commit that goes to CI again. One bad build blocks no good one behind it.",
        short(&replayed)
    ))?;
    show_queue(service, n)?;

    n.step(&format!(
        "The config repository's CI passes {}",
        short(&replayed)
    ))?;
    let what = format!("app {}'s images into staging", short(NEXT_APP_COMMIT));
    ci_passes(service, observer, n, &replayed, &what)?;

    n.step("Argo CD deploys staging")?;
    n.say(&format!(
        "Argo CD syncs staging-us and staging-eu to {}; staging-us's PostSync hook reports the target,",
        short(&replayed)
    ))?;
    n.say("staging-eu's Argo CD Notifications report the Application. Reports name master's revisions.")?;
    let answer = service.report(&Reporter::Target("staging-us"), &replayed, true)?;
    expect(&answer, "recorded", "staging-us's report")?;
    let answer = service.report(&Reporter::App("cfg-app-staging-eu"), &replayed, true)?;
    expect(&answer, "pending", "staging-eu's report")?;
    n.outcome("every staging target runs the same images; internal's soak gate (2 s) holds the promotion.")?;

    n.step("The soak time passes")?;
    let waited = Instant::now();
    let internal = service.await_queued("internal", SOAK_LIMIT)?;
    observer.main_is(&replayed, "a promotion in strict mode")?;
    n.outcome(&format!(
        "after {:.1} s the service promoted into internal: commit {} on `{AUTO_BRANCH}`. Promotions",
        waited.elapsed().as_secs_f64(),
        short(&internal)
    ))?;
    n.say("   decide on what master holds and take the same path through CI as announcements.")?;
    show_queue(service, n)?;
    ci_passes(
        service,
        observer,
        n,
        &internal,
        "the promotion into internal",
    )?;
    let tags = observer.read("images/internal/tags.json")?;
    if !tags.contains(&format!("api:{NEXT_APP_COMMIT}")) {
        return Err(Failure::operational(
            "images/internal/tags.json on master lacks the promoted api image",
        ));
    }

    n.step("Argo CD deploys internal")?;
    let answer = service.report(&Reporter::Target("internal"), &internal, true)?;
    expect(&answer, "pending", "internal's report")?;
    n.outcome(&format!(
        "internal reported {}; production has an approval gate: the promotion waits for a person.",
        short(&internal)
    ))?;

    n.step("Alice approves production")?;
    let answer = service.approve("production")?;
    expect(&answer, "promoted", "the approval")?;
    let production = commit_of(&answer)?.to_owned();
    observer.main_is(&internal, "an approved promotion in strict mode")?;
    n.outcome(&format!(
        "promoted into production as {} on `{AUTO_BRANCH}`; it waits for CI like every automatic change.",
        short(&production)
    ))?;
    ci_passes(
        service,
        observer,
        n,
        &production,
        "the promotion into production",
    )?;
    let web = observer.read("generated/prod-eu/deployment-shop-web.yaml")?;
    if !web.contains(&format!("{ADMITTED}web:{NEXT_APP_COMMIT}")) {
        return Err(Failure::operational(
            "generated/prod-eu/deployment-shop-web.yaml on master lacks the promoted web image",
        ));
    }

    n.step("Argo CD deploys production")?;
    for target in ["prod-us", "prod-eu"] {
        let answer = service.report(&Reporter::Target(target), &production, true)?;
        expect(&answer, "recorded", "production's reports")?;
    }
    n.outcome(&format!(
        "prod-us and prod-eu run app {}'s images; the sandbox images never reached {BRANCH}.",
        short(NEXT_APP_COMMIT)
    ))?;

    n.step("CI retries its announcements")?;
    let answer = service.announce(NEXT_APP_COMMIT, &images)?;
    expect(&answer, "unchanged", "the replayed announcement")?;
    n.outcome(&format!(
        "app {}: unchanged, no second commit.",
        short(NEXT_APP_COMMIT)
    ))?;
    let sentence = service.announce_refused(FEATURE_APP_COMMIT, &sandbox)?;
    n.outcome(&format!(
        "app {}: refused (409), an evicted announcement stays evicted: {sentence}",
        short(FEATURE_APP_COMMIT)
    ))?;
    show_queue(service, n)?;

    let queue = service.auto_queue()?;
    Ok(queue["evicted"]
        .as_array()
        .into_iter()
        .flatten()
        .map(eviction_line)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_queue_reads_as_cfgupdate_status_prints_it() {
        let queue = json!({
            "branch": "auto",
            "main": "a".repeat(40),
            "auto": "b".repeat(40),
            "pending": [{
                "commit": "b".repeat(40), "subject": "Publish web to staging", "action": "publish",
                "wave": "staging", "images": {}, "ci": "pending", "context": "policy/registry",
            }],
            "evicted": [{
                "commit": "c".repeat(40), "subject": "Publish api to staging", "action": "publish",
                "wave": "staging", "images": {}, "kind": "failed",
                "reason": "the config repository's CI failed it (policy/registry)",
            }],
        });
        assert_eq!(
            queue_lines(&queue),
            [
                "strict mode: automatic changes wait on branch `auto` for CI (1 waiting)",
                "  bbbbbbb publish  staging      CI: pending (policy/registry)  Publish web to staging",
                "  evicted ccccccc \"Publish api to staging\": the config repository's CI failed it (policy/registry)",
            ]
        );
    }

    #[test]
    fn the_feature_builds_images_are_the_shops_in_the_sandbox() {
        let images = sandbox_images(FEATURE_APP_COMMIT);
        assert_eq!(images.len(), example::SERVICES.len());
        for image in images.values() {
            assert!(image.starts_with(SANDBOX), "{image}");
            cfgupdate_core::ImageRef::parse(image).unwrap();
        }
    }
}
