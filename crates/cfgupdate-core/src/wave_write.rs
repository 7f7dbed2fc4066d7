//! The step every automatic change shares: write an image set into a wave's files at the tip,
//! regenerate the committed YAML of the targets that change, pass the render check, and say in
//! words what moved.

use crate::names::{CommitId, ServiceName};
use crate::pipeline::Wave;
use crate::render::effect::runs;
use crate::render::{RenderCheckError, RenderLimits, WrittenImage, check_wave_write};
use crate::repository::{Change, CommitMessage, ConfigRepository, FileChange};
use crate::slots::ImageSet;
use crate::slots::wave::{WaveFiles, WaveSlotError, write_wave};

/// Why a wave write failed.
pub(crate) enum WaveWriteError {
    /// The slots could not take the images.
    Slots(WaveSlotError),
    /// The render check refused, or its renders failed.
    Render(RenderCheckError),
}

/// A change that writes images into a wave, with its commit message still to be written.
pub(crate) struct WaveWrite {
    /// The files written (images and regenerated YAML).
    pub(crate) change: Change,
    /// The wave's image set before the write.
    pub(crate) before: ImageSet,
    /// The targets whose YAML was regenerated (empty without committed YAML).
    pub(crate) regenerated: Vec<String>,
    /// What the checks want the commit message to say (targets not rendered).
    pub(crate) notes: Vec<String>,
}

/// Writes `images` into `wave` (whose files at `tip` are `files`, holding the image set
/// `before`, which the caller has read already); `None` when the wave already holds them.
///
/// Then the checks of [`check_wave_write`], with `limits` for its renders: with a `[render]`
/// table, the affected targets' committed YAML is regenerated in the same change and the
/// render check refuses a change that alters anything but container images; and, whenever the
/// wave's targets can be rendered, the effect check refuses a write that would not reach their
/// containers (`docs/rendering.md`).
pub(crate) fn write_into_wave(
    repo: &dyn ConfigRepository,
    tip: &CommitId,
    wave: &Wave,
    files: &WaveFiles,
    before: ImageSet,
    images: &ImageSet,
    limits: &RenderLimits,
) -> Result<Option<WaveWrite>, WaveWriteError> {
    let changed =
        write_wave(&wave.images, wave.pin, files, images).map_err(WaveWriteError::Slots)?;
    if changed.is_empty() {
        return Ok(None);
    }
    let mut after = files.clone();
    for (path, text) in &changed {
        after.insert(path.clone(), Some(text.clone()));
    }
    let mut change = Change {
        files: changed
            .into_iter()
            .map(|(path, text)| (path, FileChange::Write(text.into_bytes())))
            .collect(),
        message: CommitMessage::default(),
    };
    let mut held_after = before.clone();
    held_after.extend(images.iter().map(|(s, i)| (s.clone(), i.clone())));
    let written: Vec<WrittenImage> = images
        .iter()
        .filter(|(service, image)| before.get(*service) != Some(*image))
        .map(|(service, image)| {
            let old = before.get(service).cloned();
            let old_kept_by = old.as_ref().and_then(|old| {
                held_after
                    .iter()
                    .find(|(other, held)| *other != service && runs(held.as_str(), old))
                    .map(|(other, _)| other.clone())
            });
            WrittenImage {
                service: service.clone(),
                old,
                new: image.clone(),
                old_kept_by,
            }
        })
        .collect();
    let checked = check_wave_write(repo, tip, &change, limits, wave, &written, &after)
        .map_err(WaveWriteError::Render)?;
    let regeneration = checked.regeneration;
    let regenerated = if regeneration.files.is_empty() {
        Vec::new()
    } else {
        regeneration
            .affected
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    change.files.extend(regeneration.files);
    Ok(Some(WaveWrite {
        change,
        before,
        regenerated,
        notes: checked.notes,
    }))
}

impl WaveWrite {
    /// The services whose reference changes.
    pub(crate) fn moved<'i>(&self, images: &'i ImageSet) -> Vec<&'i ServiceName> {
        images
            .iter()
            .filter(|(service, image)| self.before.get(*service) != Some(*image))
            .map(|(service, _)| service)
            .collect()
    }

    /// "api, web" or "7 images", for a subject line.
    pub(crate) fn services_phrase(&self, images: &ImageSet) -> String {
        let moved = self.moved(images);
        match moved.len() {
            0 => "images".to_owned(),
            1..=4 => moved
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            n => format!("{n} images"),
        }
    }

    /// One line per moved service, `api: old -> new`, then the regenerated targets.
    pub(crate) fn body(&self, images: &ImageSet, notes: &[String]) -> String {
        let mut lines: Vec<String> = self
            .moved(images)
            .into_iter()
            .map(|service| {
                let new = &images[service];
                match self.before.get(service) {
                    Some(old) => format!("{service}: {old} -> {new}"),
                    None => format!("{service}: (new) {new}"),
                }
            })
            .collect();
        for note in notes.iter().chain(&self.notes) {
            lines.push(format!("\n{note}"));
        }
        if !self.regenerated.is_empty() {
            lines.push(format!(
                "\nRegenerated the YAML of {}.",
                self.regenerated.join(", ")
            ));
        }
        lines.join("\n")
    }
}
