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
/// `Cfgupdate-Image: service=reference`, one per image written (an addition to the contract:
/// it makes history and replay detection independent of the files' formats).
pub const IMAGE: &str = "Cfgupdate-Image";

/// The action of a publish.
pub const PUBLISH: &str = "publish";

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
                    if let Some((service, image)) = value.split_once('=')
                        && let (Ok(service), Ok(image)) =
                            (ServiceName::parse(service), ImageRef::parse(image))
                    {
                        record.images.insert(service, image);
                    }
                }
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
