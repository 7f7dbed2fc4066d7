//! Image slots: the places in a config repository's files that hold image references, and
//! their lossless editing (docs/slots.md).
//!
//! Each format is a set of pure functions over file text: [`json`] for JSON image files and the
//! two-file layout, [`jsonnet`] for slots in Jsonnet. Nothing here reads or writes files.

use std::collections::BTreeMap;

use crate::names::{Known, ServiceName};
use crate::reference::{ImageRef, Part};

mod escape;
pub mod json;
pub mod jsonnet;
pub(crate) mod wave;

pub use wave::{LayoutError, WaveFiles, WaveSlotError, read_wave, write_wave};

/// An image set: for each service, the reference a wave runs.
pub type ImageSet = BTreeMap<ServiceName, ImageRef>;

/// Why reading or editing image slots failed. Messages name the file and line where known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlotError {
    /// The file is not valid JSON or breaks the image-file shape.
    #[error(transparent)]
    Json(#[from] json::JsonSlotError),
    /// The file is not valid Jsonnet, or a slot in it cannot be edited.
    #[error(transparent)]
    Jsonnet(#[from] jsonnet::JsonnetSlotError),
    /// A service to be written has no slot in the wave's files.
    #[error("service `{service}` has no image slot in {}; {known}", files.join(", "))]
    NoSlot {
        /// The service.
        service: ServiceName,
        /// The files searched.
        files: Vec<String>,
        /// The services that have a slot there, and the nearest to `service` (a typo).
        known: Known,
    },
    /// In a wave with `pin = "digest"`, a service to be written whose slots together cannot
    /// hold the digest: writing it would drop the pin.
    #[error(
        "service `{service}` would lose its digest: its slots in {} hold no whole reference, digest or pinned tag (`tag@sha256:...`); add a slot for the digest (a `cfgupdate: {service}:digest` marker, or a `digest` field), or set `pin = \"tag\"` on the wave to write it by tag",
        files.join(", ")
    )]
    Unpinned {
        /// The service.
        service: ServiceName,
        /// The files holding its slots.
        files: Vec<String>,
    },
    /// cfgupdate writes only references pinned by digest.
    #[error(
        "the reference `{reference}` for service `{service}` has no digest; cfgupdate writes only references pinned by a digest (`name:tag@sha256:...`)"
    )]
    MissingDigest {
        /// The service.
        service: ServiceName,
        /// The reference given.
        reference: ImageRef,
    },
    /// A slot holds one part of a reference, and the reference to write lacks that part.
    #[error(
        "{file}:{line}: the slot of service `{service}` holds the {part}, but `{reference}` has no {part}"
    )]
    MissingPart {
        /// The file holding the slot.
        file: String,
        /// Its 1-based line.
        line: usize,
        /// The service.
        service: ServiceName,
        /// The part the slot holds.
        part: Part,
        /// The reference to write.
        reference: ImageRef,
    },
    /// A slot holds text that is not a valid reference (or part of one).
    #[error(
        "{file}:{line}: the slot of service `{service}` holds `{value}`, which is not a valid {part}: {reason}"
    )]
    InvalidStored {
        /// The file holding the slot.
        file: String,
        /// Its 1-based line.
        line: usize,
        /// The service.
        service: ServiceName,
        /// The part the slot holds.
        part: Part,
        /// The text found.
        value: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A service's slots hold parts that cannot be put together into one reference, or
    /// whole references that differ.
    #[error("the slots of service `{service}` do not agree: {detail}")]
    Inconsistent {
        /// The service.
        service: ServiceName,
        /// Where they disagree.
        detail: String,
    },
}

impl SlotError {
    /// The [`SlotError::NoSlot`] of `service` in the Jsonnet `files` (path and text): it
    /// lists the services that have a slot there, with the nearest to `service`.
    pub fn no_slot<'a>(
        service: &ServiceName,
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> SlotError {
        let mut searched = Vec::new();
        let mut services: Vec<ServiceName> = Vec::new();
        for (path, text) in files {
            searched.push(path.to_owned());
            // A file whose slots cannot be read offers none; its error is reported elsewhere.
            for slot in jsonnet::find_slots(path, text).unwrap_or_default() {
                if !services.contains(&slot.service) {
                    services.push(slot.service);
                }
            }
        }
        SlotError::NoSlot {
            service: service.clone(),
            files: searched,
            known: Known::new("services with a slot", service.as_str(), &services),
        }
    }
}
