//! The git trailers of automatic commits (docs/contract.md#commits): written by the operations,
//! read back by history, promotion and replay detection, and sealed so that only the ones
//! cfgupdate wrote decide anything.
//!
//! # Seals
//!
//! With a state key, every automatic commit ends with `Cfgupdate-Seal: <hex HMAC-SHA256>` over
//! the commit's parent ids and its whole message without that last line. Trailers of a commit
//! whose seal does not check are read as a person's: shown by history, never acted on. The
//! seal binds the message to its place in history (a sealed message copied onto another
//! commit does not check), and it needs nothing but what the core already has when it builds
//! the commit (the parent it builds on and the message), so the adapters stay without the key.
//! Why not the alternatives: the commit's tree id is only known inside the git adapter (which
//! would then have to hold the key and compute policy); a list of cfgupdate's commit ids in the
//! state document would cost a state push per commit and lose commits when a process dies
//! between the two pushes. What the seal does not cover is the tree: someone who can rewrite
//! the branch could pair a sealed message with other file contents on the same parent, but
//! that needs replacing cfgupdate's commit (a force push), which the branch's protection is
//! for; the trailers then still say only what cfgupdate decided at that point. Strict mode's
//! auto branch, which cfgupdate force-updates, does not rely on that protection: the main
//! branch is moved only through commits whose ids the authenticated state records cfgupdate
//! made (a state push per commit there, where nothing is deployed while it waits).

use std::collections::BTreeMap;

use crate::key::StateKey;
use crate::names::{CommitId, ServiceName, WaveName};
use crate::reference::ImageRef;
use crate::repository::{CommitInfo, CommitMessage};

/// What the seal of a message with `parents` covers.
#[cfg_attr(not(feature = "render"), allow(dead_code))]
fn sealed_parts<'a>(parents: &'a str, text: &'a str) -> [&'a [u8]; 3] {
    [b"cfgupdate-seal-v1", parents.as_bytes(), text.as_bytes()]
}

#[cfg_attr(not(feature = "render"), allow(dead_code))]
fn parents_text<'a>(parents: impl IntoIterator<Item = &'a CommitId>) -> String {
    parents
        .into_iter()
        .map(CommitId::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Appends the seal to a message that will be committed on `parent`.
#[cfg_attr(not(feature = "render"), allow(dead_code))]
pub(crate) fn seal(message: &mut CommitMessage, parent: &CommitId, key: &StateKey) {
    message.trailers.retain(|(name, _)| name != SEAL);
    let text = message.render();
    let tag = key.seal_tag(&sealed_parts(&parents_text([parent]), &text));
    message.trailers.push((SEAL.to_owned(), tag));
}

/// Whether a commit carries cfgupdate's seal, made with `key`: its message's last line is the
/// seal, over its parents and the message before that line.
#[cfg_attr(not(feature = "render"), allow(dead_code))]
pub(crate) fn is_sealed(commit: &CommitInfo, key: &StateKey) -> bool {
    let body = commit.message.strip_suffix('\n').unwrap_or(&commit.message);
    let Some((before, last)) = body.rsplit_once('\n') else {
        return false;
    };
    let Some(tag) = last
        .strip_prefix(SEAL)
        .and_then(|rest| rest.strip_prefix(": "))
    else {
        return false;
    };
    let text = format!("{before}\n");
    key.seal_matches(&sealed_parts(&parents_text(&commit.parents), &text), tag)
}

/// Whether a commit's trailers may decide anything: every commit without a key (the unauthenticated
/// mode of docs/promotion.md#state-only-cfgupdate-can-write), only sealed ones with it.
#[cfg_attr(not(feature = "render"), allow(dead_code))]
pub(crate) fn is_trusted(commit: &CommitInfo, key: Option<&StateKey>) -> bool {
    key.is_none_or(|key| is_sealed(commit, key))
}

/// `Cfgupdate-Action`: what the commit did.
pub const ACTION: &str = "Cfgupdate-Action";
/// `Cfgupdate-Wave`: the wave written.
pub const WAVE: &str = "Cfgupdate-Wave";
/// `Cfgupdate-App-Commit`: one per app commit included.
pub const APP_COMMIT: &str = "Cfgupdate-App-Commit";
/// `Cfgupdate-Source-Wave`: the wave promoted from.
pub const SOURCE_WAVE: &str = "Cfgupdate-Source-Wave";
/// `Cfgupdate-Source-Revision`: the revision promoted from.
pub const SOURCE_REVISION: &str = "Cfgupdate-Source-Revision";
/// `Cfgupdate-Image: service=reference [app-commit]`, one per image written (an addition to
/// the contract: it makes history, replay detection and promotion independent of the files'
/// formats, and says which app commit each image was built from).
pub const IMAGE: &str = "Cfgupdate-Image";
/// `Cfgupdate-Build: service [number=N] [created_at=RFC3339]`, the CI build an image came
/// from, for stale-announcement protection (an addition to docs/contract.md#commits).
pub const BUILD: &str = "Cfgupdate-Build";

/// `Cfgupdate-Approved-By: <identity>`: who approved a promotion through an approval gate.
pub const APPROVED_BY: &str = "Cfgupdate-Approved-By";
/// `Cfgupdate-Override: freeze`: written inside a freeze window by an admin's override.
pub const OVERRIDE: &str = "Cfgupdate-Override";
/// The value of [`OVERRIDE`] for a freeze window.
pub const OVERRIDE_FREEZE: &str = "freeze";
/// `Cfgupdate-Seal: <hex>`: the last trailer of a commit cfgupdate wrote with a state key.
pub const SEAL: &str = "Cfgupdate-Seal";

/// The action of a publish.
pub const PUBLISH: &str = "publish";
/// The action of a promotion.
pub const PROMOTE: &str = "promote";
/// The action of a promotion that an approval let through.
pub const APPROVE: &str = "approve";
/// The action of a rollback (`cfgupdate rollback`).
pub const ROLLBACK: &str = "rollback";

/// What an automatic commit did: the value of the `Cfgupdate-Action` trailer cfgupdate writes.
/// The core returns it with every commit it lands, so that no adapter reads it back out of a
/// commit message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// CI's images published into the first wave ([`PUBLISH`]).
    Publish,
    /// Deployed images promoted into the next wave ([`PROMOTE`]).
    Promote,
    /// A promotion an approval let through ([`APPROVE`]).
    Approve,
    /// A wave's images written back to an earlier revision's ([`ROLLBACK`]).
    Rollback,
}

impl Action {
    /// The trailer's value: `publish`, `promote`, `approve` or `rollback`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Publish => PUBLISH,
            Action::Promote => PROMOTE,
            Action::Approve => APPROVE,
            Action::Rollback => ROLLBACK,
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The value of an image trailer.
#[cfg_attr(not(feature = "render"), allow(dead_code))]
pub(crate) fn image_value(
    service: &ServiceName,
    image: &ImageRef,
    app: Option<&CommitId>,
) -> String {
    match app {
        Some(app) => format!("{service}={image} {app}"),
        None => format!("{service}={image}"),
    }
}

/// What an automatic commit's trailers say. Unknown or malformed trailers are passed over:
/// a person may have written anything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// `Cfgupdate-Action`, if present.
    pub action: Option<String>,
    /// `Cfgupdate-Wave`, if present and valid.
    pub wave: Option<WaveName>,
    /// Every valid `Cfgupdate-App-Commit`.
    pub app_commits: Vec<CommitId>,
    /// `Cfgupdate-Source-Wave`, if present and valid.
    pub source_wave: Option<WaveName>,
    /// `Cfgupdate-Source-Revision`, if present and valid.
    pub source_revision: Option<CommitId>,
    /// Every valid `Cfgupdate-Image`.
    pub images: BTreeMap<ServiceName, ImageRef>,
    /// The app commit of each image, where its trailer names one.
    pub image_apps: BTreeMap<ServiceName, CommitId>,
    /// Every image trailer in order, also those a later one for the same service overrides
    /// (a group commit carries every announcement it included).
    pub all_images: Vec<(ServiceName, ImageRef)>,
    /// Every valid `Cfgupdate-Build`.
    pub builds: BTreeMap<ServiceName, BuildInfo>,
    /// Every image trailer in order with the app commit it names, if any.
    pub image_entries: Vec<(ServiceName, ImageRef, Option<CommitId>)>,
    /// `Cfgupdate-Approved-By`, if present.
    pub approved_by: Option<String>,
}

/// Which CI build an image came from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BuildInfo {
    /// The build number.
    pub number: Option<u64>,
    /// When the build was made.
    pub created_at: Option<jiff::Timestamp>,
}

impl BuildInfo {
    /// Whether it says anything at all.
    pub fn is_empty(&self) -> bool {
        self.number.is_none() && self.created_at.is_none()
    }

    /// The value of a build trailer for `service`.
    pub fn trailer_value(&self, service: &ServiceName) -> String {
        let mut value = service.to_string();
        if let Some(number) = self.number {
            value.push_str(&format!(" number={number}"));
        }
        if let Some(created_at) = &self.created_at {
            value.push_str(&format!(" created_at={created_at}"));
        }
        value
    }

    fn parse_trailer(value: &str) -> Option<(ServiceName, BuildInfo)> {
        let mut words = value.split_whitespace();
        let service = ServiceName::parse(words.next()?).ok()?;
        let mut info = BuildInfo::default();
        for word in words {
            match word.split_once('=')? {
                ("number", n) => info.number = Some(n.parse().ok()?),
                ("created_at", t) => info.created_at = Some(t.parse().ok()?),
                _ => {}
            }
        }
        Some((service, info))
    }
}

impl Record {
    /// Reads the trailers of a commit message.
    pub fn parse(message: &str) -> Self {
        let mut record = Record::default();
        for (key, value) in CommitMessage::parse_trailers(message) {
            match key.as_str() {
                ACTION => record.action = Some(value),
                WAVE => record.wave = WaveName::parse(&value).ok(),
                APP_COMMIT => record.app_commits.extend(CommitId::parse(&value).ok()),
                SOURCE_WAVE => record.source_wave = WaveName::parse(&value).ok(),
                SOURCE_REVISION => record.source_revision = CommitId::parse(&value).ok(),
                IMAGE => {
                    let mut words = value.split_whitespace();
                    if let Some((service, image)) = words.next().and_then(|w| w.split_once('='))
                        && let (Ok(service), Ok(image)) =
                            (ServiceName::parse(service), ImageRef::parse(image))
                    {
                        let app = words.next().and_then(|w| CommitId::parse(w).ok());
                        if let Some(app) = &app {
                            record.image_apps.insert(service.clone(), app.clone());
                        }
                        record
                            .image_entries
                            .push((service.clone(), image.clone(), app));
                        record.all_images.push((service.clone(), image.clone()));
                        record.images.insert(service, image);
                    }
                }
                BUILD => record.builds.extend(BuildInfo::parse_trailer(&value)),
                APPROVED_BY => record.approved_by = Some(value),
                _ => {}
            }
        }
        record
    }

    /// Whether the message is an automatic commit's.
    pub fn is_automatic(&self) -> bool {
        self.action.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_and_build_trailers_read_back_what_was_written() {
        let api = ServiceName::parse("api").unwrap();
        let image =
            ImageRef::parse(&format!("reg.example.com/api:v1@sha256:{}", "a".repeat(64))).unwrap();
        let app = CommitId::parse(&"1".repeat(40)).unwrap();
        let build = BuildInfo {
            number: Some(42),
            created_at: Some("2026-11-26T10:00:00Z".parse().unwrap()),
        };
        let message = CommitMessage {
            subject: "Publish api".into(),
            body: String::new(),
            trailers: vec![
                (ACTION.into(), PUBLISH.into()),
                (IMAGE.into(), image_value(&api, &image, Some(&app))),
                (BUILD.into(), build.trailer_value(&api)),
            ],
        }
        .render();
        let record = Record::parse(&message);
        assert_eq!(record.images[&api], image);
        assert_eq!(record.image_apps[&api], app);
        assert_eq!(record.builds[&api], build);
    }

    fn commit(message: &CommitMessage, parent: &CommitId) -> CommitInfo {
        CommitInfo {
            id: CommitId::parse(&"c".repeat(40)).unwrap(),
            message: message.render(),
            parents: vec![parent.clone()],
            time: 0,
            author: "cfgupdate <cfgupdate@localhost>".into(),
        }
    }

    #[test]
    fn a_sealed_message_checks_only_on_its_parent_with_its_key_and_unchanged() {
        let key = StateKey::new(b"0123456789abcdef").unwrap();
        let parent = CommitId::parse(&"a".repeat(40)).unwrap();
        let mut message = CommitMessage {
            subject: "Publish api".into(),
            body: String::new(),
            trailers: vec![
                (ACTION.into(), PUBLISH.into()),
                (BUILD.into(), "api number=7".into()),
            ],
        };
        assert!(!is_sealed(&commit(&message, &parent), &key));
        seal(&mut message, &parent, &key);
        let sealed = commit(&message, &parent);
        assert!(is_sealed(&sealed, &key));
        assert!(is_trusted(&sealed, Some(&key)) && is_trusted(&sealed, None));
        // Another parent, another key, or an edited message: not cfgupdate's.
        let other = CommitId::parse(&"b".repeat(40)).unwrap();
        assert!(!is_sealed(&commit(&message, &other), &key));
        let other_key = StateKey::new(b"0123456789abcdeF").unwrap();
        assert!(!is_sealed(&sealed, &other_key));
        let mut edited = sealed.clone();
        edited.message = edited.message.replace("number=7", "number=9999999");
        assert!(!is_sealed(&edited, &key));
        assert!(!is_trusted(&edited, Some(&key)));
        // A seal that is not the last line does not count either.
        let mut moved = sealed.clone();
        moved
            .message
            .push_str("Cfgupdate-Build: api number=9999999\n");
        assert!(!is_sealed(&moved, &key));
    }

    #[test]
    fn malformed_trailers_written_by_a_person_are_passed_over() {
        let record = Record::parse(
            "Edit\n\nCfgupdate-Image: api=NOT A REF\nCfgupdate-Build: api number=x\nCfgupdate-Wave: Prod\n",
        );
        assert!(record.images.is_empty() && record.builds.is_empty() && record.wave.is_none());
    }
}
