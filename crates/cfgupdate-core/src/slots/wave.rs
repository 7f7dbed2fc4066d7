//! A wave's whole image set: the files its [`ImageSetLayout`] names, read and written together.
//!
//! The callers fetch file contents (from a repository at one revision, or from disk); this
//! module decides which files those are and what they become.

use std::collections::{BTreeMap, BTreeSet};

use super::{ImageSet, SlotError, json, jsonnet};
use crate::names::ServiceName;
use crate::path::RepoPath;
use crate::pipeline::{ImageSetLayout, Pin};
use crate::reference::{ImageRef, Part};

/// Why the files of a wave could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// A Jsonnet file named without wildcards does not exist.
    #[error("the image file `{path}` does not exist")]
    Missing {
        /// The path.
        path: String,
    },
}

/// The files an image-set layout reads, given a way to list a directory at the revision in
/// question: its plain paths (whether or not they exist; the caller reads them) and the files
/// its globs match, with the pipeline's meaning of a glob ([`ImageSetLayout::matcher`]).
pub(crate) fn layout_files<E>(
    layout: &ImageSetLayout,
    mut list: impl FnMut(&str) -> Result<Vec<RepoPath>, E>,
) -> Result<Vec<RepoPath>, E> {
    let mut files: BTreeSet<RepoPath> = layout.plain_paths().into_iter().collect();
    let roots = layout.listing_roots();
    if !roots.is_empty() {
        let matcher = layout.matcher();
        for root in roots {
            files.extend(
                list(&root)?
                    .into_iter()
                    .filter(|path| matcher.is_match(path)),
            );
        }
    }
    Ok(files.into_iter().collect())
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
        ImageSetLayout::Json(path) => Ok(json::read(path.as_str(), text_or_empty(files, path))
            .map_err(|error| jsonnet_given_as_json(path, error))?),
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
/// agree with each other, and part slots with them. Slots whose value is not a literal, and
/// empty placeholders, are passed over; a service with only such slots has no readable image.
/// A tag slot pinned the way Renovate writes it (`1.2.3@sha256:...`) holds the tag and the
/// digest.
fn combine_slots(
    service: &ServiceName,
    slots: &[(String, jsonnet::Slot)],
) -> Result<Option<ImageRef>, SlotError> {
    let mut parts: BTreeMap<Part, (&str, &str, usize)> = BTreeMap::new();
    for (file, slot, part, value) in slots.iter().flat_map(|(file, slot)| {
        slot.parts()
            .into_iter()
            .map(move |(part, value)| (file, slot, part, value))
    }) {
        match parts.get(&part) {
            Some((seen, seen_file, seen_line)) if *seen != value => {
                return Err(SlotError::Inconsistent {
                    service: service.clone(),
                    detail: format!(
                        "{seen_file}:{seen_line} holds the {part} `{seen}`, {file}:{line} holds `{value}`",
                        line = slot.line,
                    ),
                });
            }
            Some(_) => {}
            None => {
                parts.insert(part, (value, file.as_str(), slot.line));
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
        Some(&found) => {
            let whole = ImageRef::parse(found.0)
                .map_err(|error| invalid(Part::Ref, found, error.to_string()))?;
            // As writing requires (`docs/slots.md`): a whole reference has a tag or digest.
            if whole.tag().is_none() && whole.digest().is_none() {
                return Err(invalid(
                    Part::Ref,
                    found,
                    "a whole reference needs a tag or a digest".to_owned(),
                ));
            }
            Some(whole)
        }
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
                if let Some(&found) = parts.get(&part)
                    && whole.part(part) != Some(found.0)
                {
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
            whole
        }
    };
    Ok(Some(image))
}

/// The services of a wave whose slots together cannot hold a digest
/// (docs/slots.md#pins-are-never-dropped, `pin`): in Jsonnet, a service none of whose slots is a
/// whole reference, a digest or a tag pinned with its digest; in a JSON image file, an entry of
/// parts without `ref` or `digest`.
/// The two-file layout always holds the digest. Each with the files holding its slots.
#[cfg_attr(not(feature = "render"), allow(dead_code))]
pub(crate) fn digestless_services(
    layout: &ImageSetLayout,
    files: &WaveFiles,
) -> Result<BTreeMap<ServiceName, Vec<String>>, WaveSlotError> {
    let mut found: BTreeMap<ServiceName, (bool, BTreeSet<String>)> = BTreeMap::new();
    match layout {
        ImageSetLayout::Json(path) => {
            for service in json::digestless(path.as_str(), text_or_empty(files, path))? {
                found.insert(service, (false, BTreeSet::from([path.to_string()])));
            }
        }
        ImageSetLayout::TwoFile { .. } => {}
        ImageSetLayout::Jsonnet(_) => {
            for (path, text) in files {
                let text = text.as_deref().ok_or_else(|| LayoutError::Missing {
                    path: path.to_string(),
                })?;
                for slot in jsonnet::find_slots(path.as_str(), text)? {
                    let (carries, paths) = found.entry(slot.service.clone()).or_default();
                    *carries |= slot.carries_digest();
                    paths.insert(path.to_string());
                }
            }
        }
    }
    Ok(found
        .into_iter()
        .filter(|(_, (carries, _))| !carries)
        .map(|(service, (_, paths))| (service, paths.into_iter().collect()))
        .collect())
}

/// Writes `updates` into a wave's files; returns the new text of each file that changed.
///
/// Either every service is written or nothing is: the first error aborts the whole write.
/// With `pin` [`Pin::Digest`], a service whose slots cannot hold the digest is
/// [`SlotError::Unpinned`]; with [`Pin::Tag`] it is written by its other parts.
pub fn write_wave(
    layout: &ImageSetLayout,
    pin: Pin,
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
            let text = text_or_empty(files, path);
            if pin == Pin::Digest
                && let Some(service) = json::digestless(path.as_str(), text)
                    .map_err(|error| jsonnet_given_as_json(path, error))?
                    .into_iter()
                    .find(|service| updates.contains_key(service))
            {
                return Err(SlotError::Unpinned {
                    service,
                    files: vec![path.to_string()],
                }
                .into());
            }
            let new = json::write(path.as_str(), text, updates)
                .map_err(|error| jsonnet_given_as_json(path, error))?;
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
            let mut covered: BTreeMap<ServiceName, Vec<String>> = BTreeMap::new();
            let mut carried = BTreeSet::new();
            for (path, text) in files {
                let text = text.as_deref().ok_or_else(|| LayoutError::Missing {
                    path: path.to_string(),
                })?;
                let applied = jsonnet::apply(path.as_str(), text, updates)?;
                for service in applied.written {
                    covered.entry(service).or_default().push(path.to_string());
                }
                carried.extend(applied.carried);
                keep_if_changed(path, applied.text);
            }
            if pin == Pin::Digest
                && let Some((service, paths)) = covered
                    .iter()
                    .find(|(service, _)| !carried.contains(*service))
            {
                return Err(SlotError::Unpinned {
                    service: service.clone(),
                    files: paths.clone(),
                }
                .into());
            }
            if let Some(service) = updates
                .keys()
                .find(|service| !covered.contains_key(*service))
            {
                return Err(SlotError::no_slot(
                    service,
                    files
                        .iter()
                        .map(|(path, text)| (path.as_str(), text.as_deref().unwrap_or(""))),
                )
                .into());
            }
        }
    }
    Ok(changed)
}

/// A JSON syntax error in a `.libsonnet` or `.jsonnet` file given as `images = "path"`: the
/// likely fix is the Jsonnet layout, which the sentence then says.
fn jsonnet_given_as_json(path: &RepoPath, error: SlotError) -> SlotError {
    match error {
        SlotError::Json(mut error)
            if path.as_str().ends_with(".libsonnet") || path.as_str().ends_with(".jsonnet") =>
        {
            error.message.push_str(&format!(
                "; `images = \"{path}\"` reads a JSON image file: for image slots in Jsonnet, write `images = {{ jsonnet = [\"{path}\"] }}`"
            ));
            SlotError::Json(error)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(list: &[&str]) -> Vec<RepoPath> {
        list.iter().map(|p| RepoPath::parse(p).unwrap()).collect()
    }

    #[test]
    fn a_glob_lists_only_below_its_literal_directory_and_matches_by_the_pipeline_rules() {
        let layout = ImageSetLayout::Jsonnet(vec![
            "envs/prod/images.libsonnet".into(),
            "envs/prod/**/*.jsonnet".into(),
            "envs/prod/*.libsonnet".into(),
        ]);
        let mut asked = Vec::new();
        let files = layout_files(&layout, |root| {
            asked.push(root.to_owned());
            Ok::<_, ()>(paths(&[
                "envs/prod/a.jsonnet",
                "envs/prod/deep/b.jsonnet",
                "envs/prod/c.libsonnet",
                "envs/prod/deep/d.libsonnet",
            ]))
        })
        .unwrap();
        assert_eq!(asked, vec!["envs/prod".to_owned()]);
        // `*` stays within its directory: deep/d.libsonnet is not matched.
        assert_eq!(
            files,
            paths(&[
                "envs/prod/a.jsonnet",
                "envs/prod/c.libsonnet",
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
        let files = layout_files(&layout, |_| Err::<Vec<RepoPath>, _>("listed")).unwrap();
        assert_eq!(files, paths(&["d.json", "t.json"]));
    }
}

#[cfg(test)]
mod wave_tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn path(p: &str) -> RepoPath {
        RepoPath::parse(p).unwrap()
    }

    fn service(s: &str) -> ServiceName {
        ServiceName::parse(s).unwrap()
    }

    fn jsonnet_layout() -> ImageSetLayout {
        ImageSetLayout::Jsonnet(vec!["envs/prod/**/*.libsonnet".into()])
    }

    fn files(entries: &[(&str, Option<&str>)]) -> WaveFiles {
        entries
            .iter()
            .map(|(p, t)| (path(p), t.map(str::to_owned)))
            .collect()
    }

    fn updates(entries: &[(&str, &str)]) -> ImageSet {
        entries
            .iter()
            .map(|(s, r)| (service(s), ImageRef::parse(r).unwrap()))
            .collect()
    }

    #[test]
    fn a_service_split_into_parts_across_lines_reads_as_one_reference() {
        let text = format!(
            "{{\n  name: 'reg.example.com/api',  // cfgupdate: api:name\n  tag: 'v1',  // cfgupdate: api:tag\n  digest: '{D1}',  // cfgupdate: api:digest\n}}\n"
        );
        let set = read_wave(
            &jsonnet_layout(),
            &files(&[("envs/prod/a.libsonnet", Some(&text))]),
        )
        .unwrap();
        assert_eq!(
            set[&service("api")].as_str(),
            format!("reg.example.com/api:v1@{D1}")
        );
    }

    #[test]
    fn whole_references_that_differ_between_files_are_inconsistent_naming_both_places() {
        let a = format!("{{ api: 'reg.example.com/api:v1@{D1}' }}\n");
        let b = format!("{{ api: 'reg.example.com/api:v2@{D2}' }}\n");
        let error = read_wave(
            &jsonnet_layout(),
            &files(&[
                ("envs/prod/a.libsonnet", Some(&a)),
                ("envs/prod/b.libsonnet", Some(&b)),
            ]),
        )
        .unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("envs/prod/a.libsonnet:1")
                && message.contains("envs/prod/b.libsonnet:1"),
            "{message}"
        );
    }

    #[test]
    fn a_tag_slot_without_a_name_slot_cannot_be_read() {
        let text = "{\n  tag: 'v1',  // cfgupdate: api:tag\n}\n";
        let error = read_wave(
            &jsonnet_layout(),
            &files(&[("envs/prod/a.libsonnet", Some(text))]),
        )
        .unwrap_err();
        assert!(
            matches!(error, WaveSlotError::Slot(SlotError::Inconsistent { .. })),
            "{error}"
        );
    }

    #[test]
    fn writing_spreads_over_every_file_holding_a_slot_and_reports_only_changed_files() {
        let a = format!("{{ api: 'reg.example.com/api:v1@{D1}' }}\n");
        let b =
            format!("local x = 'reg.example.com/web:v1@{D1}';  // cfgupdate: web\n{{ web: x }}\n");
        let c = "{ replicas: 3 }\n";
        let wave = files(&[
            ("envs/prod/a.libsonnet", Some(&a)),
            ("envs/prod/b.libsonnet", Some(&b)),
            ("envs/prod/c.libsonnet", Some(c)),
        ]);
        let new_api = format!("reg.example.com/api:v2@{D2}");
        let new_web = format!("reg.example.com/web:v2@{D2}");
        let changed = write_wave(
            &jsonnet_layout(),
            Pin::Digest,
            &wave,
            &updates(&[("api", &new_api), ("web", &new_web)]),
        )
        .unwrap();
        assert_eq!(
            changed.keys().map(RepoPath::as_str).collect::<Vec<_>>(),
            ["envs/prod/a.libsonnet", "envs/prod/b.libsonnet"]
        );
        assert_eq!(
            changed[&path("envs/prod/a.libsonnet")],
            a.replace(&format!("api:v1@{D1}"), &format!("api:v2@{D2}"))
        );
        assert!(changed[&path("envs/prod/b.libsonnet")].contains(&new_web));
    }

    #[test]
    fn a_service_with_no_slot_in_any_file_fails_naming_it_and_every_file_searched() {
        let a = format!("{{ api: 'reg.example.com/api:v1@{D1}' }}\n");
        let wave = files(&[
            ("envs/prod/a.libsonnet", Some(&a)),
            ("envs/prod/b.libsonnet", Some("{}\n")),
        ]);
        let error = write_wave(
            &jsonnet_layout(),
            Pin::Digest,
            &wave,
            &updates(&[
                ("api", &format!("reg.example.com/api:v2@{D2}")),
                ("billing", &format!("reg.example.com/billing:v2@{D2}")),
            ]),
        )
        .unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("`billing`")
                && message.contains("envs/prod/a.libsonnet")
                && message.contains("envs/prod/b.libsonnet"),
            "{message}"
        );
    }

    #[test]
    fn a_libsonnet_file_given_as_a_json_image_file_is_an_error_that_names_the_jsonnet_layout() {
        let layout = ImageSetLayout::Json(path("envs/prod/images.libsonnet"));
        let text = format!("{{\n  api: 'reg.example.com/api:v1@{D1}',  // cfgupdate: api\n}}\n");
        let wave = files(&[("envs/prod/images.libsonnet", Some(&text))]);
        let hint = "write `images = { jsonnet = [\"envs/prod/images.libsonnet\"] }`";
        let read = read_wave(&layout, &wave).unwrap_err().to_string();
        assert!(
            read.contains("envs/prod/images.libsonnet:2") && read.contains(hint),
            "{read}"
        );
        let written = write_wave(
            &layout,
            Pin::Digest,
            &wave,
            &updates(&[("api", &format!("reg.example.com/api:v2@{D2}"))]),
        )
        .unwrap_err()
        .to_string();
        assert!(written.contains(hint), "{written}");
        // A JSON file that is broken gets no such hint: it is a JSON file.
        let json = ImageSetLayout::Json(path("images/staging.json"));
        let broken = files(&[("images/staging.json", Some("{ api: 1 }\n"))]);
        let error = read_wave(&json, &broken).unwrap_err().to_string();
        assert!(!error.contains("jsonnet"), "{error}");
    }

    #[test]
    fn a_service_with_no_slot_is_answered_with_the_services_that_have_one_and_the_nearest() {
        let text = format!(
            "{{\n  api: 'reg.example.com/api:v1@{D1}',  // cfgupdate: api\n  billing: 'reg.example.com/billing:v1@{D1}',\n}}\n"
        );
        let error = write_wave(
            &jsonnet_layout(),
            Pin::Digest,
            &files(&[("envs/prod/a.libsonnet", Some(&text))]),
            &updates(&[("biling", &format!("reg.example.com/billing:v2@{D2}"))]),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "service `biling` has no image slot in envs/prod/a.libsonnet; the services with a slot are api, billing; did you mean `billing`?"
        );
    }

    #[test]
    fn a_missing_json_image_file_is_created_and_a_missing_jsonnet_file_is_an_error() {
        let json = ImageSetLayout::Json(path("images/staging.json"));
        let new_api = format!("reg.example.com/api:v2@{D2}");
        let changed = write_wave(
            &json,
            Pin::Digest,
            &files(&[("images/staging.json", None)]),
            &updates(&[("api", &new_api)]),
        )
        .unwrap();
        assert!(changed[&path("images/staging.json")].contains(&new_api));

        let jsonnet = ImageSetLayout::Jsonnet(vec!["envs/prod/images.libsonnet".into()]);
        let error = write_wave(
            &jsonnet,
            Pin::Digest,
            &files(&[("envs/prod/images.libsonnet", None)]),
            &updates(&[("api", &new_api)]),
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("envs/prod/images.libsonnet"),
            "{error}"
        );
    }

    #[test]
    fn the_two_file_layout_reads_and_writes_both_files() {
        let layout = ImageSetLayout::TwoFile {
            tags: path("images/tags.json"),
            digests: path("images/digests.json"),
        };
        let wave = files(&[
            (
                "images/tags.json",
                Some("{\n  \"api\": \"reg.example.com/api:v1\"\n}\n"),
            ),
            (
                "images/digests.json",
                Some(&format!(
                    "{{\n  \"api\": \"reg.example.com/api@{D1}\"\n}}\n"
                )),
            ),
        ]);
        assert_eq!(
            read_wave(&layout, &wave).unwrap()[&service("api")].as_str(),
            format!("reg.example.com/api:v1@{D1}")
        );
        let changed = write_wave(
            &layout,
            Pin::Digest,
            &wave,
            &updates(&[("api", &format!("reg.example.com/api:v2@{D2}"))]),
        )
        .unwrap();
        assert!(changed[&path("images/tags.json")].contains("\"reg.example.com/api:v2\""));
        assert!(
            changed[&path("images/digests.json")]
                .contains(&format!("\"reg.example.com/api@{D2}\""))
        );
    }

    #[test]
    fn a_service_whose_slots_cannot_hold_the_digest_is_refused_unless_the_wave_pins_by_tag() {
        let a = "{\n  api: { name: 'reg.example.com/api', tag: 'v1' },\n}\n";
        let b = "{\n  web: 'reg.example.com/web:v1',\n}\n";
        let wave = files(&[
            ("envs/prod/a.libsonnet", Some(a)),
            ("envs/prod/b.libsonnet", Some(b)),
        ]);
        let images = updates(&[
            ("api", &format!("reg.example.com/api:v2@{D2}")),
            ("web", &format!("reg.example.com/web:v2@{D2}")),
        ]);
        let error = write_wave(&jsonnet_layout(), Pin::Digest, &wave, &images).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("service `api` would lose its digest")
                && message.contains("envs/prod/a.libsonnet")
                && message.contains("pin = \"tag\""),
            "{message}"
        );
        let digestless = digestless_services(&jsonnet_layout(), &wave).unwrap();
        assert_eq!(
            digestless
                .keys()
                .map(ServiceName::as_str)
                .collect::<Vec<_>>(),
            ["api"]
        );
        let changed = write_wave(&jsonnet_layout(), Pin::Tag, &wave, &images).unwrap();
        assert_eq!(
            changed[&path("envs/prod/a.libsonnet")],
            a.replace("'v1'", "'v2'")
        );
        assert!(changed[&path("envs/prod/b.libsonnet")].contains(&format!("web:v2@{D2}")));
    }

    #[test]
    fn slots_that_hold_the_digest_together_satisfy_the_pin() {
        // The name and tag in one file, the digest in another; and a Renovate-style tag.
        let a = "{\n  api: { name: 'reg.example.com/api', tag: 'v1' },\n}\n";
        let b = format!("{{\n  d: '{D1}', // cfgupdate: api:digest\n}}\n");
        let c = format!(
            "{{\n  n: 'reg.example.com/web', // cfgupdate: web:name\n  t: 'v1@{D1}', // cfgupdate: web:tag\n}}\n"
        );
        let wave = files(&[
            ("envs/prod/a.libsonnet", Some(a)),
            ("envs/prod/b.libsonnet", Some(&b)),
            ("envs/prod/c.libsonnet", Some(&c)),
        ]);
        assert!(
            digestless_services(&jsonnet_layout(), &wave)
                .unwrap()
                .is_empty()
        );
        let set = read_wave(&jsonnet_layout(), &wave).unwrap();
        assert_eq!(
            set[&service("web")].as_str(),
            format!("reg.example.com/web:v1@{D1}")
        );
        let images = updates(&[
            ("api", &format!("reg.example.com/api:v2@{D2}")),
            ("web", &format!("reg.example.com/web:v2@{D2}")),
        ]);
        let changed = write_wave(&jsonnet_layout(), Pin::Digest, &wave, &images).unwrap();
        assert!(changed[&path("envs/prod/b.libsonnet")].contains(D2));
        assert!(changed[&path("envs/prod/c.libsonnet")].contains(&format!("'v2@{D2}'")));
    }

    #[test]
    fn a_json_entry_of_name_and_tag_cannot_hold_the_digest() {
        let layout = ImageSetLayout::Json(path("images/staging.json"));
        let text = "{\n  \"api\": { \"name\": \"reg.example.com/api\", \"tag\": \"v1\" },\n  \"web\": \"reg.example.com/web:v1\"\n}\n";
        let wave = files(&[("images/staging.json", Some(text))]);
        let images = updates(&[("api", &format!("reg.example.com/api:v2@{D2}"))]);
        let error = write_wave(&layout, Pin::Digest, &wave, &images).unwrap_err();
        assert!(
            error.to_string().contains("`api` would lose its digest"),
            "{error}"
        );
        assert_eq!(
            digestless_services(&layout, &wave)
                .unwrap()
                .keys()
                .map(ServiceName::as_str)
                .collect::<Vec<_>>(),
            ["api"]
        );
        let written = write_wave(&layout, Pin::Tag, &wave, &images).unwrap();
        assert!(written[&path("images/staging.json")].contains("\"tag\": \"v2\""));
        // A service the file does not hold yet is added whole, with its digest.
        let web = updates(&[("web", &format!("reg.example.com/web:v2@{D2}"))]);
        assert!(write_wave(&layout, Pin::Digest, &wave, &web).is_ok());
    }

    #[test]
    fn a_ref_part_without_tag_or_digest_is_refused_by_reading_as_by_writing() {
        let a = "{\n  api: { ref: 'nginx' },\n}\n";
        let wave = files(&[("envs/prod/a.libsonnet", Some(a))]);
        let read = read_wave(&jsonnet_layout(), &wave).unwrap_err().to_string();
        assert!(
            read.contains("envs/prod/a.libsonnet:2") && read.contains("tag or a digest"),
            "{read}"
        );
        let images = updates(&[("api", &format!("reg.example.com/api:v2@{D2}"))]);
        let written = write_wave(&jsonnet_layout(), Pin::Digest, &wave, &images).unwrap_err();
        assert!(
            written.to_string().contains("envs/prod/a.libsonnet:2"),
            "{written}"
        );
    }
}
