//! Image slots in Jsonnet files, edited through a lossless syntax tree.
//!
//! STUB: to be replaced by the full implementation (issue 2). The public API below is fixed.

use std::collections::BTreeSet;

use super::{ImageSet, SlotError};
use crate::names::ServiceName;
use crate::reference::Part;

/// Why a Jsonnet file could not be read or edited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct JsonnetSlotError {
    /// The file.
    pub file: String,
    /// The 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// How a slot was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotKind {
    /// A `cfgupdate: S` comment marks it.
    Marker,
    /// It is a field of the object the file evaluates to.
    Field,
}

/// One image slot in a Jsonnet file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// The service it belongs to.
    pub service: ServiceName,
    /// Which part of the reference it holds.
    pub part: Part,
    /// How it was found.
    pub kind: SlotKind,
    /// Its 1-based line.
    pub line: usize,
    /// The literal's current value, unescaped; `None` when the slot's value is not a string
    /// literal (it can then be neither read nor written).
    pub value: Option<String>,
}

/// The result of writing into one Jsonnet file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The new text of the file.
    pub text: String,
    /// The services that had at least one slot in the file (written, or already holding the value).
    pub written: BTreeSet<ServiceName>,
}

/// Every slot in a Jsonnet file: all markers, then fields of the evaluated object for the
/// services that have no marker.
pub fn find_slots(file: &str, text: &str) -> Result<Vec<Slot>, SlotError> {
    let _ = (file, text);
    todo!()
}

/// Writes those `updates` whose service has a slot in this file; services without a slot here
/// are left for the caller (another file may hold them).
pub fn apply(file: &str, text: &str, updates: &ImageSet) -> Result<Applied, SlotError> {
    let _ = (file, text, updates);
    todo!()
}
