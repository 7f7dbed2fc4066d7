//! `cfgupdate check`: the whole repository validated at once, every problem listed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::batch::RenderAhead;
use super::divergence::{Divergence, scan};
use super::evaluate::RenderLimits;
use super::regenerate::{RegenerateError, read_pipeline};
use super::source::{SourceError, SourceFiles};
use super::target::{OutputError, OutputProblem, RenderError, compare_output};
use crate::names::{Known, ServiceName, TargetName, WaveName};
use crate::pipeline::{ImageSetLayout, Pin, Pipeline};
use crate::slots::ImageSet;
use crate::slots::wave::{WaveFiles, digestless_services, layout_files, read_wave};

/// Services whose slots cannot hold a digest, with the files holding their slots.
type Digestless = std::collections::BTreeMap<ServiceName, Vec<String>>;

/// One problem `check` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A file is in two waves' image sets.
    ImageFiles(String),
    /// A wave's image set cannot be read (a bad pattern, a missing file, slots that disagree).
    Slots {
        /// The wave.
        wave: WaveName,
        /// Why.
        message: String,
    },
    /// A service of the wave before has no slot in this wave, so it could not be promoted.
    NoSlot {
        /// The wave without the slot.
        wave: WaveName,
        /// The wave it would be promoted from.
        from: WaveName,
        /// The service.
        service: ServiceName,
        /// The files searched.
        files: Vec<String>,
    },
    /// In a wave with `pin = "digest"`, a service whose slots together cannot hold the
    /// digest, so that writing it would drop the pin (docs/slots.md#pins-are-never-dropped).
    Unpinned {
        /// The wave.
        wave: WaveName,
        /// The service.
        service: ServiceName,
        /// The files holding its slots.
        files: Vec<String>,
    },
    /// A wave's `hold` names a service that no wave's image set has (a typo would leave the
    /// service it meant unheld).
    UnknownHold {
        /// The wave whose `hold` names it.
        wave: WaveName,
        /// The service named.
        service: ServiceName,
        /// The services of the image sets, and the nearest to `service`.
        known: Known,
    },
    /// A target does not render.
    Render(RenderError),
    /// A target's files hold a program go-jsonnet refuses (so Argo CD could not render it),
    /// although jrsonnet renders it.
    GoJsonnetRefuses {
        /// The target.
        target: TargetName,
        /// Where and what.
        divergence: Divergence,
    },
    /// A file of a target's output directory is not what the render gives.
    Output {
        /// The target.
        target: TargetName,
        /// What is wrong.
        problem: OutputProblem,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::ImageFiles(message) => f.write_str(message),
            Problem::Slots { wave, message } => write!(f, "wave `{wave}`: {message}"),
            Problem::NoSlot {
                wave,
                from,
                service,
                files,
            } => write!(
                f,
                "wave `{wave}`: service `{service}` of wave `{from}` has no image slot in {}, so it cannot be promoted",
                files.join(", ")
            ),
            Problem::Unpinned {
                wave,
                service,
                files,
            } => write!(
                f,
                "wave `{wave}`: the slots of service `{service}` in {} hold no whole reference, digest or pinned tag (`tag@sha256:...`), so writing it would drop its digest; add a digest slot, or set `pin = \"tag\"` on the wave",
                files.join(", ")
            ),
            Problem::UnknownHold {
                wave,
                service,
                known,
            } => write!(
                f,
                "wave `{wave}`: `hold` names service `{service}`, which no wave's image set has, so it holds nothing; {known}"
            ),
            Problem::Render(error) => error.fmt(f),
            Problem::GoJsonnetRefuses { target, divergence } => write!(
                f,
                "target `{target}`: {divergence}; go-jsonnet, which Argo CD runs, would not render it"
            ),
            Problem::Output { target, problem } => {
                write!(
                    f,
                    "target `{target}`: {problem}; run `cfgupdate render --write`"
                )
            }
        }
    }
}

/// A construct in a target's files whose output may differ from go-jsonnet's
/// ([`Divergence`](super::Divergence)): `check` warns and goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The target whose render reads the file.
    pub target: TargetName,
    /// Where and what.
    pub divergence: Divergence,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "target `{}`: {} (the render may differ from go-jsonnet's, which Argo CD runs)",
            self.target, self.divergence
        )
    }
}

/// What `check` found: the pipeline and every problem, in the order checked.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// The pipeline file, parsed.
    pub pipeline: Pipeline,
    /// Every problem found; empty when the repository is sound.
    pub problems: Vec<Problem>,
    /// How many output files were found current.
    pub current_files: usize,
    /// Constructs whose output may differ from go-jsonnet's, per target that reads them.
    pub warnings: Vec<Warning>,
}

/// Why `check` could not run at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// The pipeline file is missing or invalid.
    #[error(transparent)]
    Pipeline(#[from] RegenerateError),
    /// Reading failed.
    #[error(transparent)]
    Source(#[from] SourceError),
}

/// Validates the repository in `files`: the pipeline file; that no file is in two image
/// sets; every wave's image set (its slots readable and consistent, and, for Jsonnet waves,
/// a slot for every service of the wave before it); that every target renders; and, with a
/// `[render]` table, that every output directory holds exactly the rendered YAML.
pub fn check_repository(
    files: &dyn SourceFiles,
    limits: &RenderLimits,
) -> Result<CheckReport, CheckError> {
    let pipeline = read_pipeline(files, "in this directory")?;
    let mut problems = Vec::new();

    let everything = files.list("")?;
    if let Err(error) = pipeline.check_image_files(&everything) {
        problems.push(Problem::ImageFiles(error.to_string()));
    }

    let mut previous: Option<(WaveName, ImageSet)> = None;
    // Every service of every wave's image set, in pipeline order: what `hold` may name. Only
    // known whole when every image set could be read.
    let mut services: Vec<ServiceName> = Vec::new();
    let mut every_set_read = true;
    for wave in &pipeline.waves {
        let set = match read_wave_set(files, &wave.images)? {
            Ok((set, searched, digestless)) => {
                if wave.pin == Pin::Digest {
                    problems.extend(digestless.into_iter().map(|(service, files)| {
                        Problem::Unpinned {
                            wave: wave.name.clone(),
                            service,
                            files,
                        }
                    }));
                }
                if let (ImageSetLayout::Jsonnet(_), Some((from, before))) =
                    (&wave.images, &previous)
                {
                    for service in before.keys().filter(|service| !set.contains_key(*service)) {
                        problems.push(Problem::NoSlot {
                            wave: wave.name.clone(),
                            from: from.clone(),
                            service: service.clone(),
                            files: searched.clone(),
                        });
                    }
                }
                set
            }
            Err(message) => {
                every_set_read = false;
                problems.push(Problem::Slots {
                    wave: wave.name.clone(),
                    message,
                });
                ImageSet::new()
            }
        };
        for service in set.keys() {
            if !services.contains(service) {
                services.push(service.clone());
            }
        }
        previous = Some((wave.name.clone(), set));
    }
    for wave in pipeline.waves.iter().filter(|_| every_set_read) {
        for service in wave.hold.iter().filter(|held| !services.contains(held)) {
            problems.push(Problem::UnknownHold {
                wave: wave.name.clone(),
                service: service.clone(),
                known: Known::new("services", service.as_str(), &services),
            });
        }
    }

    let mut current_files = 0;
    let mut warnings = Vec::new();
    let mut scanned: BTreeMap<crate::path::RepoPath, Vec<Divergence>> = BTreeMap::new();
    // Every target is evaluated: independent evaluations run on up to `limits.workers`
    // threads, and their results are looked at here in the pipeline's order.
    for (target, rendered) in RenderAhead::new(files, &pipeline, pipeline.targets.values(), limits)
    {
        let rendered = match rendered {
            Ok(rendered) => rendered,
            Err(error) => {
                problems.push(Problem::Render(error));
                continue;
            }
        };
        for path in &rendered.inputs {
            if !(path.as_str().ends_with(".jsonnet") || path.as_str().ends_with(".libsonnet")) {
                continue;
            }
            if !scanned.contains_key(path) {
                let found = match files.read(path)? {
                    Some(bytes) => scan(path, &String::from_utf8_lossy(&bytes)),
                    None => Vec::new(),
                };
                scanned.insert(path.clone(), found);
            }
            for divergence in scanned.get(path).into_iter().flatten() {
                if divergence.refused {
                    problems.push(Problem::GoJsonnetRefuses {
                        target: target.name.clone(),
                        divergence: divergence.clone(),
                    });
                } else {
                    warnings.push(Warning {
                        target: target.name.clone(),
                        divergence: divergence.clone(),
                    });
                }
            }
        }
        let Some(render) = &pipeline.render else {
            continue;
        };
        let dir = render.output_dir(&target.name);
        let found = compare_output(files, &dir, &rendered).map_err(|error| match error {
            OutputError::Source(error) => CheckError::Source(error),
            OutputError::Render(error) => CheckError::Pipeline(RegenerateError::Render(error)),
        })?;
        current_files += rendered.files.len()
            - found
                .iter()
                .filter(|problem| !matches!(problem, OutputProblem::Extra(_)))
                .count();
        problems.extend(found.into_iter().map(|problem| Problem::Output {
            target: target.name.clone(),
            problem,
        }));
    }
    Ok(CheckReport {
        pipeline,
        problems,
        current_files,
        warnings,
    })
}

/// A wave's image set, the files searched and the services whose slots cannot hold a
/// digest, or why it cannot be read.
#[allow(clippy::type_complexity)]
fn read_wave_set(
    files: &dyn SourceFiles,
    layout: &ImageSetLayout,
) -> Result<Result<(ImageSet, Vec<String>, Digestless), String>, SourceError> {
    let paths = layout_files(layout, |dir| files.list(dir))?;
    let mut contents = WaveFiles::new();
    for path in &paths {
        let text = match files.read(path)? {
            None => None,
            Some(bytes) => match String::from_utf8(bytes) {
                Ok(text) => Some(text),
                Err(_) => return Ok(Err(format!("{path} is not UTF-8 text"))),
            },
        };
        contents.insert(path.clone(), text);
    }
    let searched: BTreeSet<String> = paths.iter().map(ToString::to_string).collect();
    Ok(read_wave(layout, &contents)
        .and_then(|set| Ok((set, digestless_services(layout, &contents)?)))
        .map(|(set, digestless)| (set, searched.into_iter().collect(), digestless))
        .map_err(|error| error.to_string()))
}
