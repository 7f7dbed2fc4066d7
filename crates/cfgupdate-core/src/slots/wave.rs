//! A wave's whole image set: the files its [`ImageSetLayout`] names, read and written together.
//!
//! The callers fetch file contents (from a repository at one revision, or from disk); this
//! module decides which files those are and what they become.

use std::collections::{BTreeMap, BTreeSet};

use globset::{Glob, GlobMatcher};

use super::{ImageSet, SlotError, json, jsonnet};
use crate::names::ServiceName;
use crate::path::RepoPath;
use crate::pipeline::ImageSetLayout;
use crate::reference::{ImageRef, Part};

/// Why the files of a wave could not be determined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// A Jsonnet pattern is not a valid glob.
    #[error("`{pattern}` is not a valid file pattern: {reason}")]
    BadPattern {
        /// The pattern.
        pattern: String,
        /// What is wrong.
        reason: String,
    },
    /// A Jsonnet file named without wildcards does not exist.
    #[error("the image file `{path}` does not exist")]
    Missing {
        /// The path.
        path: String,
    },
}

/// One pattern of a Jsonnet layout: a plain path, or a glob with the directory to list.
#[derive(Debug, Clone)]
pub struct FilePattern {
    text: String,
    glob: Option<(String, GlobMatcher)>,
}

impl FilePattern {
    /// Parses a path or glob as written in the pipeline file.
    pub fn parse(text: &str) -> Result<Self, LayoutError> {
        let has_wildcard = text.contains(['*', '?', '[', '{']);
        if !has_wildcard {
            return Ok(Self {
                text: text.to_owned(),
                glob: None,
            });
        }
        let matcher = Glob::new(text)
            .map_err(|error| LayoutError::BadPattern {
                pattern: text.to_owned(),
                reason: error.kind().to_string(),
            })?
            .compile_matcher();
        // List only below the longest directory prefix that holds no wildcard.
        let first_wild = text.find(['*', '?', '[', '{']).unwrap_or(text.len());
        let prefix = match text[..first_wild].rfind('/') {
            Some(slash) => text[..slash].to_owned(),
            None => String::new(),
        };
        Ok(Self {
            text: text.to_owned(),
            glob: Some((prefix, matcher)),
        })
    }

    /// The directory whose files must be listed to resolve this pattern (`None` for a
    /// plain path, which needs no listing; `""` for the whole tree).
    pub fn listing_root(&self) -> Option<&str> {
        self.glob.as_ref().map(|(prefix, _)| prefix.as_str())
    }

    /// Whether `path` matches this pattern.
    pub fn matches(&self, path: &RepoPath) -> bool {
        match &self.glob {
            Some((_, matcher)) => matcher.is_match(path.as_str()),
            None => path.as_str() == self.text,
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// The files an image-set layout reads, given a way to list a directory at the revision
/// in question. Plain paths are returned whether or not they exist (the caller reads them).
pub fn layout_files<E>(
    layout: &ImageSetLayout,
    mut list: impl FnMut(&str) -> Result<Vec<RepoPath>, E>,
) -> Result<Result<Vec<RepoPath>, LayoutError>, E> {
    let mut files = BTreeSet::new();
    match layout {
        ImageSetLayout::Json(path) => {
            files.insert(path.clone());
        }
        ImageSetLayout::TwoFile { tags, digests } => {
            files.insert(tags.clone());
            files.insert(digests.clone());
        }
        ImageSetLayout::Jsonnet(patterns) => {
            for text in patterns {
                let pattern = match FilePattern::parse(text) {
                    Ok(pattern) => pattern,
                    Err(error) => return Ok(Err(error)),
                };
                match pattern.listing_root() {
                    None => match RepoPath::parse(text) {
                        Ok(path) => {
                            files.insert(path);
                        }
                        Err(error) => {
                            return Ok(Err(LayoutError::BadPattern {
                                pattern: text.clone(),
                                reason: error.reason.to_owned(),
                            }));
                        }
                    },
                    Some(root) => {
                        for path in list(root)? {
                            if pattern.matches(&path) {
                                files.insert(path);
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(Ok(files.into_iter().collect()))
}

/// The contents of a wave's files at one revision: `None` for a file that does not exist.
pub type WaveFiles = BTreeMap<RepoPath, Option<String>>;

/// A JSON image file that does not exist yet holds no images.
const EMPTY_JSON: &str = "{}\n";

fn text_or_empty<'a>(files: &'a WaveFiles, path: &RepoPath) -> &'a str {
    files
        .get(path)
        .and_then(|text| text.as_deref())
        .unwrap_or(EMPTY_JSON)
}

/// Why reading or writing a wave's image set failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaveSlotError {
    /// The layout's files could not be determined.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// A slot could not be read or written.
    #[error(transparent)]
    Slot(#[from] SlotError),
}

/// Reads a wave's image set from the contents of its files.
pub fn read_wave(layout: &ImageSetLayout, files: &WaveFiles) -> Result<ImageSet, WaveSlotError> {
    match layout {
        ImageSetLayout::Json(path) => Ok(json::read(path.as_str(), text_or_empty(files, path))?),
        ImageSetLayout::TwoFile { tags, digests } => Ok(json::read_two_file(
            tags.as_str(),
            text_or_empty(files, tags),
            digests.as_str(),
            text_or_empty(files, digests),
        )?),
        ImageSetLayout::Jsonnet(_) => {
            let mut found: BTreeMap<_, Vec<(String, jsonnet::Slot)>> = BTreeMap::new();
            for (path, text) in files {
                let text = text.as_deref().ok_or_else(|| LayoutError::Missing {
                    path: path.to_string(),
                })?;
                for slot in jsonnet::find_slots(path.as_str(), text)? {
                    found
                        .entry(slot.service.clone())
                        .or_default()
                        .push((path.to_string(), slot));
                }
            }
            let mut set = ImageSet::new();
            for (service, slots) in found {
                if let Some(image) = combine_slots(&service, &slots)? {
                    set.insert(service, image);
                }
            }
            Ok(set)
        }
    }
}

/// Puts one service's Jsonnet slots together into one reference: whole-reference slots must
/// agree with each other, and part slots with them. Slots whose value is not a literal are
/// passed over; a service with only such slots has no readable image.
fn combine_slots(
    service: &ServiceName,
    slots: &[(String, jsonnet::Slot)],
) -> Result<Option<ImageRef>, SlotError> {
    let mut parts: BTreeMap<Part, (&str, &str, usize)> = BTreeMap::new();
    for (file, slot) in slots {
        let Some(value) = slot.value.as_deref() else {
            continue;
        };
        match parts.get(&slot.part) {
            Some((seen, seen_file, seen_line)) if *seen != value => {
                return Err(SlotError::Inconsistent {
                    service: service.clone(),
                    detail: format!(
                        "{seen_file}:{seen_line} holds the {part} `{seen}`, {file}:{line} holds `{value}`",
                        part = slot.part,
                        line = slot.line,
                    ),
                });
            }
            Some(_) => {}
            None => {
                parts.insert(slot.part, (value, file.as_str(), slot.line));
            }
        }
    }
    let invalid = |part: Part, (value, file, line): (&str, &str, usize), reason: String| {
        SlotError::InvalidStored {
            file: file.to_owned(),
            line,
            service: service.clone(),
            part,
            value: value.to_owned(),
            reason,
        }
    };
    let whole = match parts.get(&Part::Ref) {
        Some(&found) => Some(
            ImageRef::parse(found.0)
                .map_err(|error| invalid(Part::Ref, found, error.to_string()))?,
        ),
        None => None,
    };
    let part_of = |part: Part| parts.get(&part).map(|(value, _, _)| *value);
    let image = match (whole, part_of(Part::Name)) {
        (None, None) if parts.is_empty() => return Ok(None),
        (None, None) => {
            return Err(SlotError::Inconsistent {
                service: service.clone(),
                detail: "it has slots for the tag or digest but none for the name or the whole reference".into(),
            });
        }
        (None, Some(name)) => {
            let found = parts[&Part::Name];
            ImageRef::from_parts(name, part_of(Part::Tag), part_of(Part::Digest))
                .map_err(|error| invalid(Part::Name, found, error.to_string()))?
        }
        (Some(whole), _) => {
            for part in [Part::Name, Part::Tag, Part::Digest] {
                if let Some(&found) = parts.get(&part) {
                    if whole.part(part) != Some(found.0) {
                        let (_, whole_file, whole_line) = parts[&Part::Ref];
                        return Err(SlotError::Inconsistent {
                            service: service.clone(),
                            detail: format!(
                                "{whole_file}:{whole_line} holds `{whole}`, but {}:{} holds the {part} `{}`",
                                found.1, found.2, found.0
                            ),
                        });
                    }
                }
            }
            whole
        }
    };
    Ok(Some(image))
}

/// Writes `updates` into a wave's files; returns the new text of each file that changed.
///
/// Either every service is written or nothing is: the first error aborts the whole write.
pub fn write_wave(
    layout: &ImageSetLayout,
    files: &WaveFiles,
    updates: &ImageSet,
) -> Result<BTreeMap<RepoPath, String>, WaveSlotError> {
    let mut changed = BTreeMap::new();
    let mut keep_if_changed = |path: &RepoPath, new: String| {
        if files.get(path).and_then(|text| text.as_deref()) != Some(new.as_str()) {
            changed.insert(path.clone(), new);
        }
    };
    match layout {
        ImageSetLayout::Json(path) => {
            let new = json::write(path.as_str(), text_or_empty(files, path), updates)?;
            keep_if_changed(path, new);
        }
        ImageSetLayout::TwoFile { tags, digests } => {
            let (new_tags, new_digests) = json::write_two_file(
                tags.as_str(),
                text_or_empty(files, tags),
                digests.as_str(),
                text_or_empty(files, digests),
                updates,
            )?;
            keep_if_changed(tags, new_tags);
            keep_if_changed(digests, new_digests);
        }
        ImageSetLayout::Jsonnet(_) => {
            let mut covered = BTreeSet::new();
            for (path, text) in files {
                let text = text.as_deref().ok_or_else(|| LayoutError::Missing {
                    path: path.to_string(),
                })?;
                let applied = jsonnet::apply(path.as_str(), text, updates)?;
                covered.extend(applied.written);
                keep_if_changed(path, applied.text);
            }
            if let Some(service) = updates.keys().find(|service| !covered.contains(*service)) {
                return Err(SlotError::NoSlot {
                    service: service.clone(),
                    files: files.keys().map(ToString::to_string).collect(),
                }
                .into());
            }
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(list: &[&str]) -> Vec<RepoPath> {
        list.iter().map(|p| RepoPath::parse(p).unwrap()).collect()
    }

    #[test]
    fn a_glob_lists_only_below_its_literal_directory_and_matches_recursively() {
        let layout = ImageSetLayout::Jsonnet(vec![
            "envs/prod/images.libsonnet".into(),
            "envs/prod/**/*.jsonnet".into(),
        ]);
        let mut asked = Vec::new();
        let files = layout_files(&layout, |root| {
            asked.push(root.to_owned());
            Ok::<_, ()>(paths(&[
                "envs/prod/a.jsonnet",
                "envs/prod/deep/b.jsonnet",
                "envs/prod/c.libsonnet",
            ]))
        })
        .unwrap()
        .unwrap();
        assert_eq!(asked, vec!["envs/prod".to_owned()]);
        assert_eq!(
            files,
            paths(&[
                "envs/prod/a.jsonnet",
                "envs/prod/deep/b.jsonnet",
                "envs/prod/images.libsonnet"
            ])
        );
    }

    #[test]
    fn a_json_layout_needs_no_listing() {
        let layout = ImageSetLayout::TwoFile {
            tags: RepoPath::parse("t.json").unwrap(),
            digests: RepoPath::parse("d.json").unwrap(),
        };
        let files = layout_files(&layout, |_| Err::<Vec<RepoPath>, _>("listed"))
            .unwrap()
            .unwrap();
        assert_eq!(files, paths(&["d.json", "t.json"]));
    }

    #[test]
    fn an_invalid_glob_is_refused_with_the_pattern() {
        let layout = ImageSetLayout::Jsonnet(vec!["envs/[prod/*.jsonnet".into()]);
        let error = layout_files(&layout, |_| Ok::<_, ()>(Vec::new()))
            .unwrap()
            .unwrap_err();
        assert!(
            error.to_string().contains("envs/[prod/*.jsonnet"),
            "{error}"
        );
    }
}
