//! The rules that span several tables: unique names, each target in exactly one wave, no file
//! in two waves' image sets, and a render output that cannot overwrite anything else.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use super::PipelineError;
use super::document::Source;
use super::glob;
use super::read::{ImageFile, ReadFile, ReadRender, ReadTarget, ReadWave};
use crate::path::RepoPath;

const ONE_WAVE_PER_FILE: &str =
    "a file belongs to one wave's image set, or writing one wave would change another";
/// Stand-ins for the files rendering writes into a target's output directory.
const RENDERED_PROBES: [&str; 2] = ["deployment.yaml", "apps/deployment.yaml"];
const OUTPUT_ONLY_YAML: &str = "the output directory holds only rendered YAML";

pub(super) fn check(src: Source<'_>, file: &ReadFile) -> Result<(), PipelineError> {
    check_waves(src, &file.waves)?;
    check_membership(src, &file.waves, &file.targets)?;
    check_apps(src, &file.targets)?;
    check_image_sets(src, &file.waves)?;
    if let Some(render) = &file.render {
        check_render(src, render, &file.waves, &file.targets)?;
    }
    Ok(())
}

fn check_waves(src: Source<'_>, waves: &[ReadWave]) -> Result<(), PipelineError> {
    if waves.is_empty() {
        return Err(src.error(
            "the pipeline has no waves; add at least one [[wave]] with a name, images and targets",
        ));
    }
    for (index, later) in waves.iter().enumerate() {
        if let Some(earlier) = waves[..index]
            .iter()
            .find(|earlier| earlier.wave.name == later.wave.name)
        {
            return Err(src.error_at(
                &later.name,
                format_args!(
                    "wave name `{}` is used twice, at lines {} and {}; wave names must be unique",
                    later.wave.name,
                    src.line(earlier.name.start),
                    src.line(later.name.start)
                ),
            ));
        }
    }
    Ok(())
}

fn check_membership(
    src: Source<'_>,
    waves: &[ReadWave],
    targets: &[ReadTarget],
) -> Result<(), PipelineError> {
    let mut member_of: BTreeMap<&str, (&ReadWave, usize)> = BTreeMap::new();
    for wave in waves {
        for (target, span) in wave.wave.targets.iter().zip(&wave.targets) {
            if let Some((other, other_span)) = member_of.get(target.as_str()) {
                let detail = if std::ptr::eq(*other, wave) {
                    format!("`targets` {} lists `{target}` twice", wave.place.within())
                } else {
                    format!(
                        "target `{target}` is listed in {} and already in {} (line {}); a target belongs to exactly one wave",
                        wave.place,
                        other.place,
                        src.line(*other_span)
                    )
                };
                return Err(src.error_at(span, detail));
            }
            member_of.insert(target.as_str(), (wave, span.start));
            if !targets.iter().any(|t| t.target.name == *target) {
                let known = crate::names::Known::new(
                    "[target] tables",
                    target.as_str(),
                    targets.iter().map(|t| &t.target.name),
                );
                return Err(src.error_at(
                    span,
                    format_args!(
                        "`targets` {} lists `{target}`, which has no {} table; every target needs one with its `entrypoint`; {known}",
                        wave.place.within(),
                        super::document::Place::Target(target.to_string())
                    ),
                ));
            }
        }
    }
    if let Some(orphan) = targets
        .iter()
        .find(|t| !member_of.contains_key(t.target.name.as_str()))
    {
        return Err(src.error_at(
            &orphan.header,
            format_args!(
                "{} belongs to no wave; list it in the `targets` of one [[wave]] or remove it",
                orphan.place
            ),
        ));
    }
    Ok(())
}

fn check_apps(src: Source<'_>, targets: &[ReadTarget]) -> Result<(), PipelineError> {
    for (index, later) in targets.iter().enumerate() {
        let app = &later.target.argocd_app;
        let Some(earlier) = targets[..index]
            .iter()
            .find(|earlier| earlier.target.argocd_app == *app)
        else {
            continue;
        };
        let earlier_line = src.line(earlier.app.as_ref().unwrap_or(&earlier.header).start);
        let detail = match &later.app {
            Some(_) => format!("`argocd_app` {} is `{app}`", later.place.within()),
            None => format!(
                "{} has no `argocd_app`, so its application is its name `{app}`",
                later.place
            ),
        };
        return Err(src.error_at(
            later.app.as_ref().unwrap_or(&later.header),
            format_args!(
                "{detail}, already the Argo CD application of {} (line {earlier_line}); each target needs its own",
                earlier.place
            ),
        ));
    }
    Ok(())
}

/// Compares every file of a wave's image set with those of the waves before it. Two globs can
/// only be compared here when they are the same text; whether they match a common file depends
/// on the files in the repository (see `Pipeline::check_image_files`).
fn check_image_sets(src: Source<'_>, waves: &[ReadWave]) -> Result<(), PipelineError> {
    for (index, wave) in waves.iter().enumerate() {
        for earlier in &waves[..index] {
            for file in &wave.files {
                for other in &earlier.files {
                    let Some(how) = shared_file(file, other) else {
                        continue;
                    };
                    return Err(src.error_at(
                        &file.span,
                        format_args!(
                            "{} `{}`, {how} {} (line {}); {ONE_WAVE_PER_FILE}",
                            file.subject,
                            file.pattern,
                            earlier.place,
                            src.line(other.span.start)
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// How `file` shares a file with `other`, completing "PATTERN, … [[wave]] "x"", or `None`.
fn shared_file(file: &ImageFile, other: &ImageFile) -> Option<String> {
    match (file.is_glob, other.is_glob) {
        _ if file.pattern == other.pattern => Some("already in the image set of".to_owned()),
        (false, true) if glob::matches(&other.pattern, &file.pattern) => Some(format!(
            "which `{}` puts in the image set of",
            other.pattern
        )),
        (true, false) if glob::matches(&file.pattern, &other.pattern) => Some(format!(
            "which matches `{}`, in the image set of",
            other.pattern
        )),
        _ => None,
    }
}

fn check_render(
    src: Source<'_>,
    render: &ReadRender,
    waves: &[ReadWave],
    targets: &[ReadTarget],
) -> Result<(), PipelineError> {
    let output = &render.render.output;
    let subject = format!("`output` in [render] is `{}`", crate::shown::shown(output));
    let fail = |detail: String| Err(src.error_at(&render.output, detail));
    if output.replace("{target}", "").contains(['{', '}']) {
        return fail(format!(
            "{subject}; the only placeholder it may hold is {{target}}"
        ));
    }
    if !output.contains("{target}") && targets.len() > 1 {
        return fail(format!(
            "{subject}, which has no {{target}}; with {} targets each needs its own directory",
            targets.len()
        ));
    }
    // A directory `.{target}` or `.g{target}` would be `.git` for some target name; refusing
    // hidden per-target directories keeps `RenderConfig::output_dir` total for every name.
    if output
        .split('/')
        .any(|component| component.starts_with('.') && component.contains("{target}"))
    {
        return fail(format!(
            "{subject}; a directory named after a target must not start with `.`"
        ));
    }
    // Every entrypoint, sorted, so that each output directory is checked against all of them
    // in a few lookups rather than one comparison per target (a pipeline of 2,000 targets
    // would otherwise make 4 million).
    let entrypoints: BTreeSet<&str> = targets
        .iter()
        .map(|other| other.target.entrypoint.as_str())
        .collect();
    for target in targets {
        let name = &target.target.name;
        let dir = match RepoPath::parse(&output.replace("{target}", name.as_str())) {
            Ok(dir) => dir,
            Err(err) => {
                return fail(format!(
                    "{subject}: for target `{name}` it gives `{}`, which is not a path inside the repository: {}",
                    crate::shown::shown(&err.value),
                    err.reason
                ));
            }
        };
        let gives = format!("{subject}: for target `{name}` it gives `{dir}`");
        for wave in waves {
            for file in &wave.files {
                let claimed = if file.is_glob {
                    glob::literal_dir(&file.pattern)
                } else {
                    file.pattern.clone()
                };
                // A glob is refused when all its matches lie in the output directory, or when
                // it would take rendered YAML there for an image file: the YAML's file names
                // are not known here, so two typical ones stand for them.
                let overlap = if file.is_glob {
                    is_within(&claimed, dir.as_str())
                        || RENDERED_PROBES
                            .iter()
                            .any(|probe| glob::matches(&file.pattern, &format!("{dir}/{probe}")))
                } else {
                    overlaps(dir.as_str(), &claimed)
                };
                if overlap {
                    return fail(format!(
                        "{gives}, which overlaps `{}`, in the image set of {} (line {}); {OUTPUT_ONLY_YAML}",
                        file.pattern,
                        wave.place,
                        src.line(file.span.start)
                    ));
                }
            }
        }
        if !overlaps_any(dir.as_str(), &entrypoints) {
            continue;
        }
        for other in targets {
            if overlaps(dir.as_str(), other.target.entrypoint.as_str()) {
                return fail(format!(
                    "{gives}, which overlaps `{}`, the entrypoint of {} (line {}); {OUTPUT_ONLY_YAML}",
                    other.target.entrypoint,
                    other.place,
                    src.line(other.entrypoint.start)
                ));
            }
        }
    }
    Ok(())
}

/// Whether `path` is `dir` or lies inside it.
fn is_within(path: &str, dir: &str) -> bool {
    path == dir
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Whether the directory `dir` and the path `path` share anything: one inside the other.
fn overlaps(dir: &str, path: &str) -> bool {
    is_within(path, dir) || is_within(dir, path)
}

/// Whether `dir` [`overlaps`] any of the sorted `paths`: one of them is `dir`, lies inside it
/// (the first path from `dir/` on starts with it), or is `dir` or one of its parents.
fn overlaps_any(dir: &str, paths: &BTreeSet<&str>) -> bool {
    let inside = format!("{dir}/");
    let below = paths
        .range::<str, _>((Bound::Included(inside.as_str()), Bound::Unbounded))
        .next()
        .is_some_and(|path| path.starts_with(&inside));
    below
        || dir
            .match_indices('/')
            .map(|(at, _)| &dir[..at])
            .chain(std::iter::once(dir))
            .any(|parent| paths.contains(parent))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sorted lookup finds exactly what comparing with every path finds, with the
    /// neighbours that sort between `dir` and `dir/` (`dir-x`, `dir.x`) and parents.
    #[test]
    fn overlaps_any_agrees_with_comparing_every_path() {
        let paths = [
            "envs/a/main.jsonnet",
            "envs/a-b/main.jsonnet",
            "envs/a.b",
            "generated",
            "out/x",
            "out/x-y/z.jsonnet",
            "main.jsonnet",
        ];
        let dirs = [
            "envs/a",
            "envs/a-b",
            "envs/a.b",
            "envs",
            "envs/a/main.jsonnet",
            "envs/a/main.jsonnet/deeper",
            "generated/a",
            "generated",
            "gen",
            "out/x",
            "out/x-",
            "out/x-y",
            "out",
            "main",
            "main.jsonnet",
            "z",
        ];
        for count in 0..=paths.len() {
            let some = &paths[..count];
            let sorted: BTreeSet<&str> = some.iter().copied().collect();
            for dir in dirs {
                let every = some.iter().any(|path| overlaps(dir, path));
                assert_eq!(overlaps_any(dir, &sorted), every, "{dir} against {some:?}");
            }
        }
    }
}
