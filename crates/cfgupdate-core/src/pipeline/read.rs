//! Reading each table of the pipeline file into the domain types, keeping the spans that the
//! checks across tables need for their messages.

use toml::de::{DeTable, DeValue};

use super::document::{Place, Source, Span, Table, Value, describe};
use super::duration::{DurationError, parse_duration};
use super::glob;
use super::{ImageSetLayout, Pin, PipelineError, RenderConfig, Target, Wave};
use crate::names::{NameError, ServiceName, TargetName, WaveName};
use crate::path::RepoPath;

pub(super) const TOP_KEYS: &[&str] = &["render", "wave", "target", "strict"];
pub(super) const RENDER_KEYS: &[&str] = &["output", "jpath"];
pub(super) const WAVE_KEYS: &[&str] = &[
    "name", "images", "targets", "soak", "hold", "approval", "pin", "freeze",
];
pub(super) const TARGET_KEYS: &[&str] = &["entrypoint", "ext_vars", "tlas", "argocd_app"];

/// The whole file, read table by table, before the checks across tables.
#[derive(Debug)]
pub(super) struct ReadFile {
    pub(super) render: Option<ReadRender>,
    pub(super) waves: Vec<ReadWave>,
    /// In file order.
    pub(super) targets: Vec<ReadTarget>,
    /// The `[strict]` table (docs/strict.md).
    pub(super) strict: Option<super::StrictConfig>,
}

#[derive(Debug)]
pub(super) struct ReadRender {
    pub(super) render: RenderConfig,
    pub(super) output: Span,
}

#[derive(Debug)]
pub(super) struct ReadWave {
    pub(super) wave: Wave,
    pub(super) place: Place,
    pub(super) name: Span,
    /// The span of each of `wave.targets`.
    pub(super) targets: Vec<Span>,
    pub(super) files: Vec<ImageFile>,
}

/// One path or glob of a wave's image set.
#[derive(Debug)]
pub(super) struct ImageFile {
    pub(super) pattern: String,
    pub(super) is_glob: bool,
    pub(super) span: Span,
    /// "`images` in [[wave]] "staging" is", to begin a sentence about it.
    pub(super) subject: String,
}

#[derive(Debug)]
pub(super) struct ReadTarget {
    pub(super) target: Target,
    pub(super) place: Place,
    pub(super) header: Span,
    pub(super) entrypoint: Span,
    /// The `argocd_app` value's span, when it is written out.
    pub(super) app: Option<Span>,
}

pub(super) fn read_file<'d>(
    src: Source<'d>,
    root: &'d DeTable<'_>,
) -> Result<ReadFile, PipelineError> {
    let top = Table::new(src, Place::Top, 0..0, root);
    top.check_keys(TOP_KEYS)?;
    let render = top
        .get("render")
        .map(|value| read_render(&value))
        .transpose()?;
    let waves = match top.get("wave") {
        None => Vec::new(),
        Some(value) => {
            let DeValue::Array(items) = value.raw() else {
                return Err(value.type_error("an array of tables, each written [[wave]]"));
            };
            items
                .iter()
                .enumerate()
                .map(|(index, item)| match item.get_ref() {
                    DeValue::Table(table) => read_wave(src, index + 1, item.span(), table),
                    other => Err(src.error_at(
                        &item.span(),
                        format_args!(
                            "`wave` must be an array of tables, each written [[wave]]; item {} is {}",
                            index + 1,
                            describe(other)
                        ),
                    )),
                })
                .collect::<Result<_, _>>()?
        }
    };
    let targets = match top.get("target") {
        None => Vec::new(),
        Some(value) => {
            let table = value
                .table()
                .map_err(|_| value.type_error("tables, each written [target.NAME]"))?;
            table
                .entries()
                .into_iter()
                .map(|(name, name_span, value)| read_target(src, name, name_span, &value))
                .collect::<Result<_, _>>()?
        }
    };
    let strict = top
        .get("strict")
        .map(|value| super::strict_table::read_strict(&value))
        .transpose()?;
    Ok(ReadFile {
        render,
        waves,
        targets,
        strict,
    })
}

fn read_render(value: &Value<'_, '_>) -> Result<ReadRender, PipelineError> {
    let DeValue::Table(entries) = value.raw() else {
        return Err(value.type_error("a table written [render]"));
    };
    let table = Table::new(value.src(), Place::Render, value.span(), entries);
    table.check_keys(RENDER_KEYS)?;
    let output = table.get("output").ok_or_else(|| {
        table.src().error_at(
            &table.span(),
            "[render] has no `output`, the directory pattern that rendered YAML is written to (such as \"generated/{target}\")",
        )
    })?;
    let jpath = match table.get("jpath") {
        None => Vec::new(),
        Some(jpath) => jpath
            .strings()?
            .into_iter()
            .map(|(text, span)| {
                RepoPath::parse(text).map_err(|err| {
                    table.src().error_at(
                        &span,
                        format_args!(
                            "{} lists `{}`, which is not a path inside the repository: {}",
                            jpath.subject(),
                            crate::shown::shown(text),
                            err.reason
                        ),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    };
    Ok(ReadRender {
        render: RenderConfig {
            output: output.string()?.to_owned(),
            jpath,
        },
        output: output.span(),
    })
}

fn read_wave<'d>(
    src: Source<'d>,
    number: usize,
    header: Span,
    entries: &'d DeTable<'_>,
) -> Result<ReadWave, PipelineError> {
    let unnamed = Table::new(
        src,
        Place::Wave { number, name: None },
        header.clone(),
        entries,
    );
    let name_value = unnamed
        .get("name")
        .ok_or_else(|| src.error_at(&header, format_args!("{} has no `name`", unnamed.place())))?;
    let name_text = name_value.string()?;
    let name = WaveName::parse(name_text).map_err(|err| {
        name_value.error(invalid_name(&format!("{} is", name_value.subject()), err))
    })?;
    let place = Place::Wave {
        number,
        name: Some(name.to_string()),
    };
    let table = Table::new(src, place.clone(), header.clone(), entries);
    table.check_keys(WAVE_KEYS)?;

    let images_value = table.get("images").ok_or_else(|| {
        src.error_at(
            &header,
            format_args!(
                "{place} has no `images`, where the wave's image set lives: a path, {{ tags = \"...\", digests = \"...\" }} or {{ jsonnet = [\"...\"] }}"
            ),
        )
    })?;
    let (images, files) = read_images(&images_value)?;

    let mut targets = Vec::new();
    let mut target_spans = Vec::new();
    if let Some(value) = table.get("targets") {
        for (text, span) in value.strings()? {
            let target = TargetName::parse(text).map_err(|err| {
                src.error_at(
                    &span,
                    invalid_name(&format!("{} lists", value.subject()), err),
                )
            })?;
            targets.push(target);
            target_spans.push(span);
        }
    }
    if targets.is_empty() {
        let span = table
            .get("targets")
            .map_or(header.clone(), |value| value.span());
        return Err(src.error_at(
            &span,
            format_args!("{place} has no targets; every wave needs at least one"),
        ));
    }

    let soak = match table.get("soak") {
        None => None,
        Some(value) => {
            let text = value.string()?;
            Some(parse_duration(text).map_err(|reason| {
                let reason = match reason {
                    DurationError::Zero => {
                        "it is zero, and a soak gate of no time is no gate".to_owned()
                    }
                    reason => reason.to_string(),
                };
                value.error(format_args!(
                    "{} is `{}`, which is not a duration: {reason}; write it like 30s, 10m, 1h30m or 2d",
                    value.subject(),
                    crate::shown::shown(text)
                ))
            })?)
        }
    };

    let mut hold: Vec<ServiceName> = Vec::new();
    if let Some(value) = table.get("hold") {
        for (text, span) in value.strings()? {
            let service = ServiceName::parse(text).map_err(|err| {
                src.error_at(
                    &span,
                    invalid_name(&format!("{} lists", value.subject()), err),
                )
            })?;
            if hold.contains(&service) {
                return Err(src.error_at(
                    &span,
                    format_args!("{} lists `{service}` twice", value.subject()),
                ));
            }
            hold.push(service);
        }
    }

    let approval = match table.get("approval") {
        None => false,
        Some(value) => value.boolean()?,
    };

    let pin = match table.get("pin") {
        None => Pin::Digest,
        Some(value) => match value.string()? {
            "digest" => Pin::Digest,
            "tag" => Pin::Tag,
            other => {
                return Err(value.error(format_args!(
                    "{} is `{}`, which is not a pin; write \"digest\" (the default: every service keeps its digest) or \"tag\" (services whose slots cannot hold a digest are written by tag)",
                    value.subject(),
                    crate::shown::shown(other)
                )));
            }
        },
    };

    let freeze = match table.get("freeze") {
        None => Vec::new(),
        Some(value) => super::freeze_windows::read_freeze(&value, &name)?,
    };

    Ok(ReadWave {
        wave: Wave {
            name,
            images,
            targets,
            soak,
            hold,
            approval,
            pin,
            freeze,
        },
        place,
        name: name_value.span(),
        targets: target_spans,
        files,
    })
}

fn read_images(value: &Value<'_, '_>) -> Result<(ImageSetLayout, Vec<ImageFile>), PipelineError> {
    let shape_error = || {
        value.error(format_args!(
            "{} must be a path string (\"images/staging.json\"), a table {{ tags = \"...\", digests = \"...\" }} or a table {{ jsonnet = [\"...\"] }}; found {}",
            value.subject(),
            describe(value.raw())
        ))
    };
    let literal = |value: &Value<'_, '_>, path: &RepoPath| ImageFile {
        pattern: path.to_string(),
        is_glob: false,
        span: value.span(),
        subject: format!("{} is", value.subject()),
    };
    match value.raw() {
        DeValue::String(_) => {
            let path = value.repo_path()?;
            let file = literal(value, &path);
            Ok((ImageSetLayout::Json(path), vec![file]))
        }
        DeValue::Table(entries) => {
            let mut keys: Vec<&str> = entries.iter().map(|(k, _)| k.get_ref().as_ref()).collect();
            keys.sort_unstable();
            let table = value.table()?;
            match keys.as_slice() {
                ["digests", "tags"] => {
                    let (Some(tags_value), Some(digests_value)) =
                        (table.get("tags"), table.get("digests"))
                    else {
                        return Err(shape_error());
                    };
                    let tags = tags_value.repo_path()?;
                    let digests = digests_value.repo_path()?;
                    if tags == digests {
                        return Err(digests_value.error(format_args!(
                            "`images.tags` and `images.digests` {} are both `{tags}`; the two-file layout needs two files",
                            table.place().within()
                        )));
                    }
                    let files = vec![
                        literal(&tags_value, &tags),
                        literal(&digests_value, &digests),
                    ];
                    Ok((ImageSetLayout::TwoFile { tags, digests }, files))
                }
                ["jsonnet"] => {
                    let Some(list) = table.get("jsonnet") else {
                        return Err(shape_error());
                    };
                    let items = list.strings()?;
                    if items.is_empty() {
                        return Err(list.error(format_args!(
                            "{} is empty; list at least one Jsonnet file or glob",
                            list.subject()
                        )));
                    }
                    let mut patterns = Vec::new();
                    let mut files = Vec::new();
                    for (text, span) in items {
                        let pattern = glob::check_pattern(text).map_err(|reason| {
                            value.src().error_at(
                                &span,
                                format_args!(
                                    "{} lists `{}`, which is not a path or glob inside the repository: {reason}",
                                    list.subject(),
                                    crate::shown::shown(text)
                                ),
                            )
                        })?;
                        files.push(ImageFile {
                            is_glob: glob::is_glob(&pattern),
                            pattern: pattern.clone(),
                            span,
                            subject: format!("{} lists", list.subject()),
                        });
                        patterns.push(pattern);
                    }
                    Ok((ImageSetLayout::Jsonnet(patterns), files))
                }
                _ => Err(shape_error()),
            }
        }
        _ => Err(shape_error()),
    }
}

fn read_target<'d>(
    src: Source<'d>,
    name_text: &'d str,
    name_span: Span,
    value: &Value<'d, '_>,
) -> Result<ReadTarget, PipelineError> {
    let place = Place::Target(name_text.to_owned());
    let name = TargetName::parse(name_text).map_err(|err| {
        src.error_at(
            &name_span,
            invalid_name(&format!("{place} names the target"), err),
        )
    })?;
    let DeValue::Table(entries) = value.raw() else {
        return Err(value.type_error("a table written [target.NAME]"));
    };
    let header = value.span();
    let table = Table::new(src, place.clone(), header.clone(), entries);
    table.check_keys(TARGET_KEYS)?;
    let entrypoint_value = table.get("entrypoint").ok_or_else(|| {
        src.error_at(
            &header,
            format_args!(
                "{place} has no `entrypoint`, the Jsonnet file Argo CD renders for the target"
            ),
        )
    })?;
    let entrypoint = entrypoint_value.repo_path()?;
    let ext_vars = match table.get("ext_vars") {
        None => Default::default(),
        Some(value) => value.string_map(" (Argo CD passes ext vars as strings)")?,
    };
    let tlas = match table.get("tlas") {
        None => Default::default(),
        Some(value) => value.string_map(" (Argo CD passes top-level arguments as strings)")?,
    };
    let (argocd_app, app) = match table.get("argocd_app") {
        None => (name.to_string(), None),
        Some(value) => {
            let app = value.string()?;
            if !is_argocd_app_name(app) {
                return Err(value.error(format_args!(
                    "{} is `{}`, which is not an Argo CD application name: lower-case letters, digits, `-` and `.`, starting and ending with a letter or digit, at most 253 characters, optionally after a namespace and `/`",
                    value.subject(),
                    crate::shown::shown(app)
                )));
            }
            (app.to_owned(), Some(value.span()))
        }
    };
    Ok(ReadTarget {
        target: Target {
            name,
            entrypoint,
            ext_vars,
            tlas,
            argocd_app,
        },
        place,
        header,
        entrypoint: entrypoint_value.span(),
        app,
    })
}

/// A Kubernetes object name (RFC 1123 subdomain), as Argo CD names Applications, optionally
/// qualified `namespace/name` for Applications outside Argo CD's own namespace.
fn is_argocd_app_name(text: &str) -> bool {
    let is_name = |part: &str| {
        let bytes = part.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= 253
            && bytes[0].is_ascii_alphanumeric()
            && bytes[bytes.len() - 1].is_ascii_alphanumeric()
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.'))
    };
    match text.split_once('/') {
        Some((namespace, name)) => is_name(namespace) && is_name(name),
        None => is_name(text),
    }
}

/// "`targets` in [[wave]] "staging" lists `Prod`, which is not a valid target name: RULE".
fn invalid_name(subject: &str, err: NameError) -> String {
    match err {
        NameError::Invalid {
            kind, value, rule, ..
        } => {
            format!(
                "{subject} `{}`, which is not a valid {kind} name: {rule}",
                crate::shown::shown(&value)
            )
        }
        other => format!("{subject} a name that is refused: {other}"),
    }
}
