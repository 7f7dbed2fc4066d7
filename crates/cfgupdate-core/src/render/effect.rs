//! The effect check (issue 11): a wave write must reach the containers its wave's targets
//! render. A marker on a `local` nothing uses, on the branch of an `if` that is not taken, on a
//! field a later `+` or import overrides, or a wave whose target does not render would
//! otherwise give a commit whose objects still run the old image, and the deploy report would
//! promote an image that never ran.
//!
//! The rule, for each service whose reference the write changes from `old` to `new`
//! (`docs/rendering.md`, "The effect check"):
//! 1. every target of the wave renders after the write (else [`EffectError::NotRenderable`]);
//! 2. at least one container of the wave's targets runs `new`;
//! 3. every target that ran `old` before the write runs `new` after it;
//! 4. no container of the wave's targets still runs `old` (unless `old` and `new` are the same
//!    image).
//!
//! Rules 3 and 4 do not apply when another service of the wave keeps `old` after the write.
//!
//! A container *runs* a reference when its `image` is that reference's text, or names the same
//! repository and the same digest (when the container's image has a digest) or the same tag
//! (when it has none): see [`runs`]. The renders are the render check's own: nothing here
//! renders.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::Value;

use super::objects::KubeObject;
use super::target::{RenderError, RenderedTarget};
use crate::class::{Classify, ErrorClass};
use crate::names::{ServiceName, TargetName, WaveName};
use crate::path::RepoPath;
use crate::pipeline::{ImageSetLayout, Wave};
use crate::reference::ImageRef;
use crate::slots::wave::WaveFiles;

mod slots;

use slots::{SlotSite, slot_sites};

/// One service a write changes: the reference its wave held (if any) and the one written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenImage {
    /// The service.
    pub service: ServiceName,
    /// What the wave held before the write; `None` for a service new to the wave.
    pub old: Option<ImageRef>,
    /// What the write puts in the wave.
    pub new: ImageRef,
    /// Another service of the wave that holds the same image as `old` after the write (two
    /// services built from one image): containers running `old` may then be that service's,
    /// so rules 3 and 4 do not apply.
    pub old_kept_by: Option<ServiceName>,
}

/// What the effect check needs of one target's renders: its containers before and after the
/// write, and the files its render read. Kept instead of the renders, so that the renders of a
/// large pipeline need not all be held at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TargetImages {
    /// Its containers before the write, if it rendered then.
    pub before: Option<Vec<ContainerImage>>,
    /// Its containers after the write.
    pub after: Vec<ContainerImage>,
    /// Every path its render after the write read or looked for.
    pub inputs: BTreeSet<RepoPath>,
}

impl TargetImages {
    /// The containers of `after`, and of `before` when it rendered then.
    pub(crate) fn of(before: Option<&RenderedTarget>, after: &RenderedTarget) -> Self {
        Self {
            before: before.map(|before| container_images(&before.objects)),
            after: container_images(&after.objects),
            inputs: after.inputs.clone(),
        }
    }
}

/// One target of the wave as the render check saw it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TargetRender<'a> {
    /// It rendered after the write (and, when `before` is given, before it too).
    Rendered(&'a TargetImages),
    /// It does not render after the write.
    Broken(&'a RenderError),
}

/// Where a slot is: the file and, where it could be found, the 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotPlace {
    /// The file holding the slot.
    pub file: String,
    /// Its line, when found.
    pub line: Option<usize>,
}

impl fmt::Display for SlotPlace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.file),
            None => write!(f, "{}", self.file),
        }
    }
}

/// One container of a rendered object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerImage {
    /// The object, `Deployment/default/api`.
    pub object: String,
    /// Where the container is in the object, `spec.template.spec.containers[0]`.
    pub path: String,
    /// Its `name`, when it is a string.
    pub name: Option<String>,
    /// Its `image`.
    pub image: String,
}

impl fmt::Display for ContainerImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{} container `{name}`", self.object),
            None => write!(f, "{} {}", self.object, self.path),
        }
    }
}

/// Why a service's write would change no container image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoEffectReason {
    /// The slot's value reaches no rendered container.
    Unused(Unused),
    /// A rendered container shows another value where the slot's should be.
    Overridden {
        /// The target.
        target: TargetName,
        /// The container.
        container: ContainerImage,
    },
    /// The slot is a branch of an `if` that the wave's targets do not take.
    BranchNotTaken {
        /// A target whose container shows the other branch's value, if one does.
        shown: Option<(TargetName, ContainerImage)>,
    },
    /// A target ran the old image and, after the write, no container of it runs the service.
    NoLongerRun {
        /// The target.
        target: TargetName,
    },
}

/// How a slot is unused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unused {
    /// No target of the wave reads the slot's file.
    FileNotRead,
    /// The slot sets a `local` that nothing uses.
    Local {
        /// The local's name.
        name: String,
    },
    /// No container of the wave's targets runs an image of this repository name.
    NoContainer {
        /// The repository name.
        name: String,
    },
}

impl NoEffectReason {
    /// The reason in one word or two: `unused`, `overridden`, `branch not taken`,
    /// `no longer run`.
    pub fn kind(&self) -> &'static str {
        match self {
            NoEffectReason::Unused(_) => "unused",
            NoEffectReason::Overridden { .. } => "overridden",
            NoEffectReason::BranchNotTaken { .. } => "branch not taken",
            NoEffectReason::NoLongerRun { .. } => "no longer run",
        }
    }

    /// The target where the reason was seen, if it is one target's.
    pub fn target(&self) -> Option<&TargetName> {
        match self {
            NoEffectReason::Overridden { target, .. } | NoEffectReason::NoLongerRun { target } => {
                Some(target)
            }
            NoEffectReason::BranchNotTaken { shown } => shown.as_ref().map(|(target, _)| target),
            NoEffectReason::Unused(_) => None,
        }
    }
}

impl fmt::Display for NoEffectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoEffectReason::Unused(Unused::FileNotRead) => f.write_str(
                "the slot is unused: rendering the wave's targets never reads its file",
            ),
            NoEffectReason::Unused(Unused::Local { name }) => write!(
                f,
                "the slot is unused: the local `{}` it sets is used nowhere",
                crate::shown::shown(name)
            ),
            NoEffectReason::Unused(Unused::NoContainer { name }) => write!(
                f,
                "the slot is unused: its value reaches no container of the wave's targets (none runs an image of `{name}`)"
            ),
            NoEffectReason::Overridden { target, container } => write!(
                f,
                "the slot is overridden: in target `{target}`, {container} runs `{}`",
                crate::shown::shown(&container.image)
            ),
            NoEffectReason::BranchNotTaken { shown: None } => f.write_str(
                "the slot is in a branch of an `if` that is not taken: no container of the wave's targets runs it",
            ),
            NoEffectReason::BranchNotTaken {
                shown: Some((target, container)),
            } => write!(
                f,
                "the slot is in a branch of an `if` that is not taken: in target `{target}`, {container} runs `{}`",
                crate::shown::shown(&container.image)
            ),
            NoEffectReason::NoLongerRun { target } => write!(
                f,
                "target `{target}` ran the old image, and after the write none of its containers runs the service's image"
            ),
        }
    }
}

/// Why the effect check refused a wave write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EffectError {
    /// A target of the wave does not render, so what it would run cannot be checked; a target
    /// is never skipped in silence.
    #[error(
        "{error}; target `{target}` of wave `{wave}` cannot be rendered, so whether it would run the written images cannot be checked, and nothing was written"
    )]
    NotRenderable {
        /// The wave.
        wave: WaveName,
        /// The target.
        target: TargetName,
        /// Why it does not render.
        error: Box<RenderError>,
    },
    /// The write would change no container image for a service.
    #[error(
        "{slot}: the write of `{reference}` for service `{service}` does not reach the rendered containers of wave `{wave}`: {reason}; nothing was written"
    )]
    NoEffect {
        /// The wave.
        wave: WaveName,
        /// The service.
        service: ServiceName,
        /// The slot (the first of the service's slots, or the one the reason is about).
        slot: SlotPlace,
        /// The reference written.
        reference: ImageRef,
        /// Why.
        reason: NoEffectReason,
    },
}

impl EffectError {
    /// The target the refusal names, if one.
    pub fn target(&self) -> Option<&TargetName> {
        match self {
            EffectError::NotRenderable { target, .. } => Some(target),
            EffectError::NoEffect { reason, .. } => reason.target(),
        }
    }
}

impl Classify for EffectError {
    fn class(&self) -> ErrorClass {
        match self {
            EffectError::NotRenderable { error, .. } if !error.is_invalid_input() => {
                ErrorClass::Failed
            }
            _ => ErrorClass::Invalid,
        }
    }
}

/// Whether a container whose `image` is `image` runs `reference`: the same text, or the same
/// repository name and then the same digest when `image` has one, else the same tag. (A digest
/// decides what runs; without one, the tag does. Names are compared as written, without
/// Docker's normalisation, as the rest of cfgupdate does.)
pub(crate) fn runs(image: &str, reference: &ImageRef) -> bool {
    if image == reference.as_str() {
        return true;
    }
    let Ok(image) = ImageRef::parse(image) else {
        return false;
    };
    if image.name() != reference.name() {
        return false;
    }
    match image.digest() {
        Some(digest) => reference.digest() == Some(digest),
        None => image.tag().is_some() && image.tag() == reference.tag(),
    }
}

/// The pod specs of an object, by the path to them.
const POD_SPECS: [&[&str]; 2] = [
    &["spec", "template", "spec"],
    &["spec", "jobTemplate", "spec", "template", "spec"],
];

/// The container lists of a pod spec.
const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// Every container with a string `image` in the pod specs of `objects`: a bare Pod's `spec`,
/// a PodTemplate's `template.spec`, `spec.template.spec` (Deployment, StatefulSet, DaemonSet,
/// ReplicaSet, Job, and resources shaped like them) and a CronJob's
/// `spec.jobTemplate.spec.template.spec`; in each, `containers`, `initContainers` and
/// `ephemeralContainers`.
pub(crate) fn container_images<'o>(
    objects: impl IntoIterator<Item = &'o KubeObject>,
) -> Vec<ContainerImage> {
    let mut found = Vec::new();
    for object in objects {
        let mut specs: Vec<&[&str]> = POD_SPECS.to_vec();
        match object.kind.as_str() {
            "Pod" => specs.push(&["spec"]),
            "PodTemplate" => specs.push(&["template", "spec"]),
            _ => {}
        }
        for spec_path in specs {
            let Some(spec) = spec_path
                .iter()
                .try_fold(&object.value, |value, key| value.get(key))
            else {
                continue;
            };
            for list in CONTAINER_LISTS {
                let Some(Value::Array(containers)) = spec.get(list) else {
                    continue;
                };
                for (index, container) in containers.iter().enumerate() {
                    let Some(image) = container.get("image").and_then(Value::as_str) else {
                        continue;
                    };
                    found.push(ContainerImage {
                        object: object.id(),
                        path: format!("{}.{list}[{index}]", spec_path.join(".")),
                        name: container
                            .get("name")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        image: image.to_owned(),
                    });
                }
            }
        }
    }
    found
}

/// The wave's targets' renders and images, ready to be judged.
struct Observed<'a> {
    targets: Vec<ObservedTarget<'a>>,
    inputs: BTreeSet<&'a RepoPath>,
}

/// A target, its containers before the write (if it rendered then) and after it.
type ObservedTarget<'a> = (
    &'a TargetName,
    Option<&'a [ContainerImage]>,
    &'a [ContainerImage],
);

/// The effect check of a write into `wave` that changes `written`, with the wave's targets
/// rendered as `renders` says (in the wave's target order) and the wave's files as they will
/// be after the write in `files` (to name the slots).
pub(crate) fn check_effect<'a>(
    wave: &Wave,
    written: &[WrittenImage],
    renders: &'a [(TargetName, TargetRender<'a>)],
    files: &WaveFiles,
) -> Result<(), Box<EffectError>> {
    let mut observed = Observed {
        targets: Vec::new(),
        inputs: BTreeSet::new(),
    };
    for (target, render) in renders {
        match render {
            TargetRender::Broken(error) => {
                return Err(Box::new(EffectError::NotRenderable {
                    wave: wave.name.clone(),
                    target: target.clone(),
                    error: Box::new((*error).clone()),
                }));
            }
            TargetRender::Rendered(images) => {
                observed.inputs.extend(images.inputs.iter());
                observed
                    .targets
                    .push((target, images.before.as_deref(), &images.after));
            }
        }
    }
    for image in written {
        if let Some(reason) = judge(image, &observed, files, &wave.images) {
            let (slot, reason) = reason;
            return Err(Box::new(EffectError::NoEffect {
                wave: wave.name.clone(),
                service: image.service.clone(),
                slot,
                reference: image.new.clone(),
                reason,
            }));
        }
    }
    Ok(())
}

/// `None` when the write of `image` has its effect; else the slot and why not.
fn judge(
    image: &WrittenImage,
    observed: &Observed<'_>,
    files: &WaveFiles,
    layout: &ImageSetLayout,
) -> Option<(SlotPlace, NoEffectReason)> {
    let new = &image.new;
    // `old` counts only when it is another image than `new`.
    let old = image
        .old
        .as_ref()
        .filter(|old| !runs(old.as_str(), new) && image.old_kept_by.is_none());
    let runs_new = |containers: &[ContainerImage]| containers.iter().any(|c| runs(&c.image, new));
    let shows_old = |containers: &[ContainerImage]| {
        old.and_then(|old| {
            containers
                .iter()
                .find(|c| runs(&c.image, old) && !runs(&c.image, new))
                .cloned()
        })
    };
    // Only a refusal needs the slots (their files are read again).
    let slots = || slot_sites(&image.service, files, layout);

    let anywhere = observed.targets.iter().any(|(_, _, after)| runs_new(after));
    if !anywhere {
        return Some(why_not_run(image, observed, &slots(), wave_place(layout)));
    }
    for (target, before, after) in &observed.targets {
        let ran_old = before
            .as_deref()
            .is_some_and(|before| shows_old(before).is_some());
        if let Some(container) = shows_old(after) {
            let slots = slots();
            let site = slots.iter().find(|site| site.in_branch).or(slots.first());
            let reason = if site.is_some_and(|site| site.in_branch) {
                NoEffectReason::BranchNotTaken {
                    shown: Some(((*target).clone(), container)),
                }
            } else {
                NoEffectReason::Overridden {
                    target: (*target).clone(),
                    container,
                }
            };
            let place = site.map_or_else(|| wave_place(layout), SlotSite::place);
            return Some((place, reason));
        }
        if ran_old && !runs_new(after) {
            let place = slots()
                .first()
                .map_or_else(|| wave_place(layout), SlotSite::place);
            return Some((
                place,
                NoEffectReason::NoLongerRun {
                    target: (*target).clone(),
                },
            ));
        }
    }
    None
}

/// Why no container of the wave runs the new reference.
fn why_not_run(
    image: &WrittenImage,
    observed: &Observed<'_>,
    slots: &[SlotSite],
    fallback: SlotPlace,
) -> (SlotPlace, NoEffectReason) {
    let read = |site: &&SlotSite| observed.inputs.contains(&site.file);
    if let Some(first) = slots.first()
        && !slots.iter().any(|site| read(&site))
    {
        return (first.place(), NoEffectReason::Unused(Unused::FileNotRead));
    }
    // A container of the same repository, or still on the old reference, shows what took
    // the slot's place.
    let shown = observed.targets.iter().find_map(|(target, _, after)| {
        after
            .iter()
            .find(|c| {
                ImageRef::parse(&c.image).is_ok_and(|found| found.name() == image.new.name())
                    || image.old.as_ref().is_some_and(|old| runs(&c.image, old))
            })
            .map(|container| ((*target).clone(), container.clone()))
    });
    let read_slots = || slots.iter().filter(read);
    if let Some(site) = read_slots().find(|site| site.in_branch) {
        return (site.place(), NoEffectReason::BranchNotTaken { shown });
    }
    if let Some((site, name)) =
        read_slots().find_map(|site| site.unused_local.as_ref().map(|name| (site, name)))
    {
        return (
            site.place(),
            NoEffectReason::Unused(Unused::Local { name: name.clone() }),
        );
    }
    let place = read_slots().next().map(SlotSite::place).unwrap_or(fallback);
    match shown {
        Some((target, container)) => (place, NoEffectReason::Overridden { target, container }),
        None => (
            place,
            NoEffectReason::Unused(Unused::NoContainer {
                name: image.new.name().to_owned(),
            }),
        ),
    }
}

/// The slot named when none was found: the wave's first file.
fn wave_place(layout: &ImageSetLayout) -> SlotPlace {
    let file = match layout {
        ImageSetLayout::Json(path) => path.to_string(),
        ImageSetLayout::TwoFile { tags, .. } => tags.to_string(),
        ImageSetLayout::Jsonnet(patterns) => patterns.join(", "),
    };
    SlotPlace { file, line: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(text: &str) -> ImageRef {
        ImageRef::parse(text).unwrap()
    }

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    #[test]
    fn a_container_runs_a_reference_by_its_text_or_by_name_and_digest_or_by_tag_without_one() {
        let new = reference(&format!("reg.example.com/api:2@{D2}"));
        assert!(runs(new.as_str(), &new));
        assert!(runs(&format!("reg.example.com/api@{D2}"), &new));
        assert!(runs(&format!("reg.example.com/api:other@{D2}"), &new));
        assert!(runs("reg.example.com/api:2", &new));
        assert!(!runs(&format!("reg.example.com/api:2@{D1}"), &new));
        assert!(!runs(&format!("reg.example.com/web:2@{D2}"), &new));
        assert!(!runs(&format!("docker.io/api:2@{D2}"), &new));
        assert!(!runs("reg.example.com/api", &new));
        assert!(!runs("reg.example.com/api:1", &new));
        assert!(!runs("not a reference", &new));
    }

    #[test]
    fn containers_are_found_in_every_pod_spec_and_container_list() {
        let objects = crate::render::objects::extract(serde_json::json!([
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
             "spec": {"containers": [{"name": "a", "image": "a:1"}],
                      "ephemeralContainers": [{"name": "debug", "image": "busybox:1"}]}},
            {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
             "spec": {"jobTemplate": {"spec": {"template": {"spec": {"initContainers": [{"image": "c:1"}]}}}}}},
            {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s"},
             "spec": {"template": {"spec": {"containers": [{"name": "s", "image": "s:1"}, {"name": "no-image"}]}}}},
            {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"},
             "template": {"spec": {"containers": [{"name": "t", "image": "t:1"}]}}},
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "m"}, "data": {"image": "m:1"}},
        ]))
        .unwrap();
        let found: Vec<(String, String)> = container_images(&objects)
            .into_iter()
            .map(|c| (c.path, c.image))
            .collect();
        assert_eq!(
            found,
            [
                ("spec.containers[0]".to_owned(), "a:1".to_owned()),
                ("spec.ephemeralContainers[0]".into(), "busybox:1".into()),
                (
                    "spec.jobTemplate.spec.template.spec.initContainers[0]".into(),
                    "c:1".into()
                ),
                ("spec.template.spec.containers[0]".into(), "s:1".into()),
                ("template.spec.containers[0]".into(), "t:1".into()),
            ]
        );
    }
}
