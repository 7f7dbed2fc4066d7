//! The git trailers of automatic commits (contract section 6): written by the operations,
//! read back by history and by replay detection.

use std::collections::BTreeMap;

use crate::names::{CommitId, ServiceName, WaveName};
use crate::reference::ImageRef;
use crate::repository::CommitMessage;

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
/// from, for stale-announcement protection (an addition to the contract).
pub const BUILD: &str = "Cfgupdate-Build";

/// The action of a publish.
pub const PUBLISH: &str = "publish";
/// The action of a promotion.
pub const PROMOTE: &str = "promote";
/// The action of a promotion that an approval let through.
pub const APPROVE: &str = "approve";

/// The value of an image trailer.
pub fn image_value(service: &ServiceName, image: &ImageRef, app: Option<&CommitId>) -> String {
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
                        if let Some(app) = words.next().and_then(|w| CommitId::parse(w).ok()) {
                            record.image_apps.insert(service.clone(), app);
                        }
                        record.all_images.push((service.clone(), image.clone()));
                        record.images.insert(service, image);
                    }
                }
                BUILD => record.builds.extend(BuildInfo::parse_trailer(&value)),
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

    #[test]
    fn malformed_trailers_written_by_a_person_are_passed_over() {
        let record = Record::parse(
            "Edit\n\nCfgupdate-Image: api=NOT A REF\nCfgupdate-Build: api number=x\nCfgupdate-Wave: Prod\n",
        );
        assert!(record.images.is_empty() && record.builds.is_empty() && record.wave.is_none());
    }
}
