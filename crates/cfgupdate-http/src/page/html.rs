//! The page's HTML, written out by hand. Every value that is not a constant of this file goes
//! through [`esc`] (or is a [`CommitId`], hexadecimal by construction, written through it all
//! the same).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use cfgupdate_core::adapter::is_hidden;
use cfgupdate_core::promotion::{
    DeployStatus, HistoryEntry, Status, TargetStatus, TransitionStatus, WaveStatus,
};
use cfgupdate_core::promotion::{Hold, StepState};
use cfgupdate_core::{CommitId, ImageRef, Pin, ServiceName};

use super::{REFRESH, WebUrl};
use crate::wire::{commit_time, rfc3339, soak_text};

/// The most characters of a name (service, target, wave, application) shown.
const NAME_MAX: usize = 80;
/// The most characters of a sentence (a reason, an error) shown.
const SENTENCE_MAX: usize = 600;
/// The most characters of a commit subject shown.
const SUBJECT_MAX: usize = 140;
/// The most characters of an image reference shown in full.
const REFERENCE_MAX: usize = 400;
/// A tag longer than this is shown by its first [`TAG_SHOWN`] characters.
const TAG_MAX: usize = 20;
const TAG_SHOWN: usize = 12;
/// The digits of a digest shown.
const DIGEST_SHOWN: usize = 12;

/// `value` for HTML text or a quoted attribute: `&<>"'` escaped, control and bidirectional
/// formatting characters shown as `⟨U+XXXX⟩` (so that a `U+202E` in a commit subject cannot
/// make the text around it read backwards), at most `max` characters of it, then `…`.
pub(super) fn esc(value: &str, max: usize) -> String {
    let mut out = String::with_capacity(value.len().min(max * 2) + 8);
    for (index, c) in value.chars().enumerate() {
        if index == max {
            out.push('…');
            break;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if is_hidden(c) => {
                let _ = write!(out, "⟨U+{:04X}⟩", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// A duration as people say it: `42 s`, `7 min`, `3 h 5 min`, `2 d 4 h`.
pub(super) fn spoken(duration: Duration) -> String {
    let s = duration.as_secs();
    match s {
        0..60 => format!("{s} s"),
        60..600 => match s % 60 {
            0 => format!("{} min", s / 60),
            rest => format!("{} min {rest} s", s / 60),
        },
        600..3600 => format!("{} min", s / 60),
        3600..86400 => match (s % 3600) / 60 {
            0 => format!("{} h", s / 3600),
            rest => format!("{} h {rest} min", s / 3600),
        },
        _ => match (s % 86400) / 3600 {
            0 => format!("{} d", s / 86400),
            rest => format!("{} d {rest} h", s / 86400),
        },
    }
}

/// A tag as the page shows it: whole when short, else its start and `…`.
fn short_tag(tag: &str) -> String {
    if tag.chars().count() > TAG_MAX {
        format!("{}…", esc(tag, TAG_SHOWN).trim_end_matches('…'))
    } else {
        esc(tag, TAG_MAX)
    }
}

/// One page being written.
pub(super) struct Page<'a> {
    out: String,
    style: &'a str,
    links: Option<&'a WebUrl>,
}

impl<'a> Page<'a> {
    pub(super) fn new(style: &'a str, links: Option<&'a WebUrl>) -> Self {
        Self {
            out: String::with_capacity(32 * 1024),
            style,
            links,
        }
    }

    fn head(&mut self) {
        let refresh = REFRESH.as_secs();
        let style = self.style;
        let _ = write!(
            self.out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<meta http-equiv=\"refresh\" content=\"{refresh}\">\n\
<meta name=\"referrer\" content=\"no-referrer\">\n\
<title>Pipeline status · cfgupdate</title>\n<style>{style}</style>\n</head>\n<body>\n"
        );
    }

    fn foot(&mut self, age: Option<Duration>) {
        let refresh = REFRESH.as_secs();
        let age = age.map_or(String::new(), |age| {
            format!(" The status shown was read {} ago.", spoken(age))
        });
        let _ = write!(
            self.out,
            "<footer>\n<p>This page reloads itself every {refresh} s.{age} The same status as JSON: \
<a href=\"v1/status\">/v1/status</a>.</p>\n</footer>\n</body>\n</html>\n"
        );
    }

    /// A commit: its short SHA, linked to its page when a web URL is configured.
    fn commit(&self, commit: &CommitId) -> String {
        let full = esc(commit.as_str(), 64);
        let short = esc(commit.short(), 12);
        match self.links {
            Some(links) => format!(
                "<a class=\"commit\" href=\"{}\" title=\"{full}\"><code>{short}</code></a>",
                esc(&links.commit(commit), 4096)
            ),
            None => format!("<code class=\"commit\" title=\"{full}\">{short}</code>"),
        }
    }

    /// The page of a status read `age` ago, as it stands at `now`.
    pub(super) fn status(mut self, status: &Status, now: SystemTime, age: Duration) -> String {
        self.head();
        let tip = self.commit(&status.revision);
        let _ = write!(
            self.out,
            "<header class=\"top\">\n<h1>Pipeline status</h1>\n<p class=\"meta\">Branch tip {tip} \
· read {} ago</p>\n",
            spoken(age)
        );
        self.state(status);
        self.out.push_str("</header>\n<main>\n");
        self.pipeline(status, now);
        self.images(status);
        self.history(&status.history);
        self.out.push_str("</main>\n");
        self.foot(Some(age));
        self.out
    }

    /// The page saying why there is no status to show.
    pub(super) fn error(mut self, message: &str) -> String {
        self.head();
        let _ = write!(
            self.out,
            "<header class=\"top\">\n<h1>Pipeline status</h1>\n</header>\n<main>\n\
<p class=\"banner bad\" role=\"alert\"><strong>The status cannot be read right now.</strong> {}</p>\n\
<p>This page tries again every {} s.</p>\n</main>\n",
            esc(message, SENTENCE_MAX),
            REFRESH.as_secs()
        );
        self.foot(None);
        self.out
    }

    fn state(&mut self, status: &Status) {
        let state = &status.state;
        if let Some(problem) = &state.problem {
            let _ = writeln!(
                self.out,
                "<p class=\"banner bad\" role=\"alert\"><strong>The pipeline state is not acted on:</strong> {}</p>",
                esc(problem, SENTENCE_MAX)
            );
        } else if let Some(warning) = &state.warning {
            let _ = writeln!(
                self.out,
                "<p class=\"banner warn\"><strong>Not authenticated:</strong> {}</p>",
                esc(warning, SENTENCE_MAX)
            );
        } else if state.authenticated {
            self.out
                .push_str("<p class=\"meta\">Pipeline state authenticated.</p>\n");
        }
    }

    fn pipeline(&mut self, status: &Status, now: SystemTime) {
        self.out.push_str(
            "<section aria-labelledby=\"waves\">\n<h2 id=\"waves\">Waves</h2>\n<div class=\"pipeline\">\n",
        );
        for (index, wave) in status.waves.iter().enumerate() {
            self.wave(index, wave, now);
            if let Some(step) = &wave.promotion {
                let into = status
                    .waves
                    .iter()
                    .find(|w| w.name == step.into)
                    .map(|w| &w.images);
                self.step(wave, step, into, now);
            }
        }
        self.out.push_str("</div>\n</section>\n");
    }

    fn wave(&mut self, index: usize, wave: &WaveStatus, now: SystemTime) {
        let _ = write!(
            self.out,
            "<section class=\"wave\" aria-labelledby=\"wave-{index}\">\n<h3 id=\"wave-{index}\">{}</h3>\n",
            esc(wave.name.as_str(), NAME_MAX)
        );
        let mut gates = Vec::new();
        if let Some(soak) = &wave.soak {
            gates.push(format!("soak {}", esc(&soak_text(*soak), NAME_MAX)));
        }
        if wave.approval {
            gates.push("approval".to_owned());
        }
        if !wave.hold.is_empty() {
            gates.push(format!("hold: {}", names(&wave.hold)));
        }
        if gates.is_empty() {
            self.out
                .push_str("<p class=\"gates\">No gate: changes arrive as they come.</p>\n");
        } else {
            let _ = writeln!(
                self.out,
                "<p class=\"gates\">Gates: {}</p>",
                gates.join(" · ")
            );
        }
        if let Some(frozen) = &wave.frozen {
            let _ = writeln!(
                self.out,
                "<p class=\"note warn\">Frozen until {} ({}): nothing automatic is written here.</p>",
                esc(&rfc3339(frozen.until), NAME_MAX),
                esc(&frozen.reason, SENTENCE_MAX)
            );
        }
        if !wave.deferred.is_empty() {
            let apps: Vec<String> = wave
                .deferred
                .iter()
                .map(|record| esc(record.app.short(), NAME_MAX))
                .collect();
            let services: Vec<ServiceName> = wave
                .deferred
                .iter()
                .flat_map(|record| record.images.keys().cloned())
                .collect();
            let _ = writeln!(
                self.out,
                "<p class=\"note\">Deferred by a freeze, published when it ends: {} (app {}).</p>",
                names(&services),
                apps.join(", ")
            );
        }
        if !wave.digestless.is_empty() {
            let verdict = if wave.pin == Pin::Tag {
                "written by tag, without their digest (pin = tag)"
            } else {
                "cannot be written: their slots cannot hold a digest (pin = digest)"
            };
            let _ = writeln!(
                self.out,
                "<p class=\"note warn\">{}: {verdict}</p>",
                names(&wave.digestless)
            );
        }
        if let Some(error) = &wave.images_error {
            let _ = writeln!(
                self.out,
                "<p class=\"note bad\">Its images cannot be read: {}</p>",
                esc(error, SENTENCE_MAX)
            );
        }
        self.held(wave);
        let _ = writeln!(
            self.out,
            "<h4 id=\"targets-{index}\">Targets</h4>\n<ul class=\"targets\" aria-labelledby=\"targets-{index}\">"
        );
        for target in &wave.targets {
            self.target(target, now);
        }
        self.out.push_str("</ul>\n</section>\n");
    }

    /// The services a rollback or a person's edit holds in the wave: what holds each (the
    /// rollback and its commit, or the person's commit and its author) and since when.
    fn held(&mut self, wave: &WaveStatus) {
        for held in &wave.held {
            let by = match (&held.hold, &held.rollback_commit) {
                (Hold::Rollback { to_revision, .. }, commit) => format!(
                    "rolled back to {}{}",
                    self.commit(to_revision),
                    commit
                        .as_ref()
                        .map(|c| format!(" by commit {}", self.commit(c)))
                        .unwrap_or_default()
                ),
                (Hold::Edit { commit, author, .. }, _) => format!(
                    "pinned by {}'s edit, commit {}",
                    esc(author, SENTENCE_MAX),
                    self.commit(commit)
                ),
            };
            let _ = writeln!(
                self.out,
                "<p class=\"note warn\"><strong>{}</strong> is held: {by}, since {}; automation leaves it until <code>cfgupdate release --wave {} --service {}</code>.</p>",
                esc(held.service.as_str(), NAME_MAX),
                esc(&rfc3339(held.hold.since()), NAME_MAX),
                esc(wave.name.as_str(), NAME_MAX),
                esc(held.service.as_str(), NAME_MAX)
            );
        }
    }

    fn target(&mut self, target: &TargetStatus, now: SystemTime) {
        let app = if target.argocd_app.is_empty() || target.argocd_app == target.name.as_str() {
            String::new()
        } else {
            format!(
                " <span class=\"app\">(Argo CD <bdi>{}</bdi>)</span>",
                esc(&target.argocd_app, NAME_MAX)
            )
        };
        let _ = write!(
            self.out,
            "<li><span class=\"name\">{}</span>{app}<br>",
            esc(target.name.as_str(), NAME_MAX)
        );
        match &target.last_report {
            Some(report) => {
                let (class, word) = match report.status {
                    DeployStatus::Succeeded => ("ok", "deployed"),
                    DeployStatus::Failed => ("bad", "failed"),
                };
                let _ = write!(
                    self.out,
                    "<span class=\"badge {class}\">{word}</span> {} <span class=\"age\"><time datetime=\"{}\">{} ago</time></span>",
                    self.commit(&report.revision),
                    esc(&rfc3339(report.at), 64),
                    spoken(report.age(now))
                );
            }
            None => self
                .out
                .push_str("<span class=\"badge none\">no report yet</span>"),
        }
        self.out.push_str("</li>\n");
    }

    fn step(
        &mut self,
        from: &WaveStatus,
        step: &TransitionStatus,
        into: Option<&cfgupdate_core::slots::ImageSet>,
        now: SystemTime,
    ) {
        let (class, word) = match step.state {
            StepState::Blocked => ("bad", "blocked"),
            StepState::Waiting => ("warn", "waiting"),
            StepState::Ready => ("ok", "ready"),
            StepState::Idle => ("none", "idle"),
        };
        let gate = step.gate.as_ref().map_or(String::new(), |gate| {
            format!(": {}", esc(gate.name(), NAME_MAX))
        });
        let _ = write!(
            self.out,
            "<div class=\"step {class}\" role=\"group\" aria-label=\"from {} into {}\">\n\
<p class=\"into\"><span class=\"arrow\" aria-hidden=\"true\">→</span> into <strong>{}</strong></p>\n\
<p><span class=\"badge {class}\">{word}{gate}</span></p>\n<p class=\"reason\">{}</p>\n",
            esc(from.name.as_str(), NAME_MAX),
            esc(step.into.as_str(), NAME_MAX),
            esc(step.into.as_str(), NAME_MAX),
            // What it waits for in the one sentence status and its JSON show, else why it
            // does not move.
            esc(
                &step
                    .wait
                    .as_ref()
                    .map_or_else(|| step.reason.clone(), |wait| wait.sentence()),
                SENTENCE_MAX
            )
        );
        if let Some(left) = step.soak_left(now) {
            let _ = writeln!(
                self.out,
                "<p class=\"left\"><strong>{}</strong> of soak left</p>",
                spoken(left)
            );
        }
        if let Some(source) = &step.source_revision {
            let _ = writeln!(self.out, "<p>Candidate from {}</p>", self.commit(source));
        }
        if let Some(into) = into {
            let changes = step.changes(into);
            if !changes.is_empty() {
                self.out
                    .push_str("<p class=\"small\">Would change:</p>\n<ul class=\"changes\">\n");
                for (service, image) in changes {
                    let _ = writeln!(
                        self.out,
                        "<li><span class=\"name\">{}</span> {}</li>",
                        esc(service.as_str(), NAME_MAX),
                        short_image(image)
                    );
                }
                self.out.push_str("</ul>\n");
            }
        }
        self.out.push_str("</div>\n");
    }

    fn images(&mut self, status: &Status) {
        let services: BTreeSet<&ServiceName> =
            status.waves.iter().flat_map(|w| w.images.keys()).collect();
        self.out.push_str(
            "<section aria-labelledby=\"images\">\n<h2 id=\"images\">Images per wave</h2>\n",
        );
        if services.is_empty() {
            self.out
                .push_str("<p>No wave holds an image yet.</p>\n</section>\n");
            return;
        }
        self.out.push_str(
            "<div class=\"scroll\" role=\"region\" aria-labelledby=\"images\" tabindex=\"0\">\n\
<table class=\"matrix\">\n<caption>Each service's image in each wave, by tag and digest; open one \
for its full reference.</caption>\n<thead><tr><th scope=\"col\">Service</th>",
        );
        for wave in &status.waves {
            let _ = write!(
                self.out,
                "<th scope=\"col\">{}</th>",
                esc(wave.name.as_str(), NAME_MAX)
            );
        }
        self.out.push_str("</tr></thead>\n<tbody>\n");
        for service in services {
            let _ = write!(
                self.out,
                "<tr><th scope=\"row\">{}</th>",
                esc(service.as_str(), NAME_MAX)
            );
            for wave in &status.waves {
                self.out.push_str("<td>");
                match wave.images.get(service) {
                    Some(image) => self.out.push_str(&full_image(image)),
                    None => self.out.push_str("<span class=\"absent\">none</span>"),
                }
                if wave.hold.contains(service) || wave.held.iter().any(|h| &h.service == service) {
                    self.out.push_str(" <span class=\"badge warn\">held</span>");
                }
                self.out.push_str("</td>");
            }
            self.out.push_str("</tr>\n");
        }
        self.out
            .push_str("</tbody>\n</table>\n</div>\n</section>\n");
    }

    fn history(&mut self, history: &[HistoryEntry]) {
        self.out.push_str(
            "<section aria-labelledby=\"history\">\n<h2 id=\"history\">Recent history</h2>\n",
        );
        if history.is_empty() {
            self.out
                .push_str("<p>No automatic commit yet.</p>\n</section>\n");
            return;
        }
        self.out.push_str(
            "<div class=\"scroll\" role=\"region\" aria-labelledby=\"history\" tabindex=\"0\">\n\
<table class=\"history\">\n<caption>The newest commits cfgupdate made, newest first.</caption>\n\
<thead><tr><th scope=\"col\">When</th><th scope=\"col\">What</th><th scope=\"col\">Commit</th>\
<th scope=\"col\">Images</th></tr></thead>\n<tbody>\n",
        );
        for entry in history {
            let wave = entry.wave.as_ref().map_or(String::new(), |wave| {
                format!(" <bdi>{}</bdi>", esc(wave.as_str(), NAME_MAX))
            });
            let from = entry.source_wave.as_ref().map_or(String::new(), |wave| {
                format!(" from <bdi>{}</bdi>", esc(wave.as_str(), NAME_MAX))
            });
            let _ = write!(
                self.out,
                "<tr><td><time datetime=\"{time}\">{time}</time></td><td><strong>{}</strong>{wave}{from}",
                esc(&entry.action, NAME_MAX),
                time = esc(&commit_time(entry.time), 64),
            );
            if let Some(approver) = &entry.approved_by {
                let _ = write!(
                    self.out,
                    "<br>approved by <bdi>{}</bdi>",
                    esc(approver, NAME_MAX)
                );
            }
            if entry.sealed == Some(false) {
                self.out.push_str(
                    "<br><span class=\"badge bad\">not written by cfgupdate: decides nothing</span>",
                );
            }
            let _ = write!(
                self.out,
                "</td><td>{}<br><span class=\"subject\"><bdi>{}</bdi></span></td><td>",
                self.commit(&entry.commit),
                esc(&entry.subject, SUBJECT_MAX)
            );
            if !entry.images.is_empty() {
                self.out.push_str("<ul class=\"changes\">");
                for (service, image) in &entry.images {
                    let _ = write!(
                        self.out,
                        "<li><span class=\"name\">{}</span> {}</li>",
                        esc(service.as_str(), NAME_MAX),
                        short_image(image)
                    );
                }
                self.out.push_str("</ul>");
            }
            self.out.push_str("</td></tr>\n");
        }
        self.out
            .push_str("</tbody>\n</table>\n</div>\n</section>\n");
    }
}

/// Names, comma-separated, each escaped.
fn names(names: &[ServiceName]) -> String {
    names
        .iter()
        .map(|name| format!("<bdi>{}</bdi>", esc(name.as_str(), NAME_MAX)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An image's short tag and short digest, its full reference in the tooltip.
fn short_image(image: &ImageRef) -> String {
    let tag = image.tag().map_or_else(|| "no tag".to_owned(), short_tag);
    let digest = image.digest().map_or_else(
        || "no digest".to_owned(),
        |digest| {
            esc(
                &format!(
                    "{}:{}",
                    digest.algorithm(),
                    digest.hex().get(..DIGEST_SHOWN).unwrap_or(digest.hex())
                ),
                NAME_MAX,
            )
        },
    );
    format!(
        "<span class=\"image\" title=\"{}\"><code class=\"tag\">{tag}</code> <code class=\"digest\">{digest}</code></span>",
        esc(image.as_str(), REFERENCE_MAX)
    )
}

/// An image shortened, which opens to its full reference.
fn full_image(image: &ImageRef) -> String {
    format!(
        "<details><summary>{}</summary><code class=\"ref\">{}</code></details>",
        short_image(image),
        esc(image.as_str(), REFERENCE_MAX)
    )
}
