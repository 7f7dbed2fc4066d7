//! `cfgupdate render [-C DIR] [--target T] [--write]`: render targets to YAML, on stdout or
//! into `[render].output`.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use cfgupdate_core::RepoPath;
use cfgupdate_core::TargetName;
use cfgupdate_core::pipeline::Pipeline;
use cfgupdate_core::render::{
    RenderError, RenderedTarget, SourceError, SourceFiles, read_pipeline, render_target,
};

use crate::failure::{Failure, classified};

#[derive(Debug, clap::Args)]
#[command(
    about = "Render targets to Kubernetes YAML",
    long_about = "Render targets to Kubernetes YAML as Argo CD would: each target's entrypoint is \
evaluated with its ext_vars, tlas and the [render] jpath, imports stay inside the repository, \
and every Kubernetes object found (a single object, an array, a `kind: List`, or objects nested \
under keys as in Tanka) becomes one YAML document.\n\n\
Without --write the documents go to stdout, each starting with `---`. With --write each \
target's [render] output directory is replaced by one file per object, \
`<kind>-<namespace>-<name>.yaml`; stale files are removed, and nothing is written unless every \
target renders; a sentence on stderr says what was written where.",
    after_help = "Examples:\n  cfgupdate render --target staging-us\n  cfgupdate render -C ~/cfg-app --write"
)]
pub struct RenderArgs {
    /// The checkout of the config repository.
    #[arg(short = 'C', value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// Render only this target (default: every target).
    #[arg(long, value_name = "T")]
    pub target: Option<TargetName>,
    /// Replace each target's output directory instead of printing.
    #[arg(long)]
    pub write: bool,
}

pub fn run(args: &RenderArgs) -> Result<(), Failure> {
    let files = DirectoryFiles::open(&args.dir)?;
    let pipeline = load_pipeline(&files)?;
    let targets: Vec<&TargetName> = match &args.target {
        Some(name) => {
            if pipeline.target(name).is_none() {
                return Err(Failure::invalid(format!(
                    "target `{name}` is not in cfgupdate.toml; {}",
                    pipeline.known_targets(name.as_str())
                )));
            }
            vec![name]
        }
        None => pipeline.targets.keys().collect(),
    };
    let limits = crate::isolate::render_limits()?;
    let mut rendered = Vec::new();
    for name in targets {
        let target = &pipeline.targets[name];
        rendered.push(render_target(&files, &pipeline, target, &limits).map_err(render_failure)?);
    }
    if !args.write {
        for target in &rendered {
            crate::failure::print_out(&target.stream())?;
        }
        return Ok(());
    }
    let Some(render) = &pipeline.render else {
        return Err(Failure::invalid(
            "cfgupdate.toml has no [render] table, so there is no output directory to write; add `[render]` with `output = \"generated/{target}\"`",
        ));
    };
    let mut written = Vec::new();
    for target in &rendered {
        let dir = render.output_dir(&target.target);
        replace_directory(&files, &dir, target)?;
        written.push(format!("{} into {dir}", target.target));
    }
    crate::args::say(format_args!(
        "rendered {} files: {}",
        rendered
            .iter()
            .map(|target| target.files.len())
            .sum::<usize>(),
        crate::args::listed(written)
    ));
    Ok(())
}

pub(crate) fn load_pipeline(files: &DirectoryFiles) -> Result<Pipeline, Failure> {
    read_pipeline(files, &format!("in {}", files.root.display()))
        .map_err(|error| classified(&error))
}

pub(crate) fn render_failure(error: RenderError) -> Failure {
    classified(&error)
}

/// Writes the target's files into a fresh directory beside the output directory, then swaps
/// it in: a failure leaves the old directory whole, never a mix of old and new files.
fn replace_directory(
    files: &DirectoryFiles,
    dir: &RepoPath,
    rendered: &RenderedTarget,
) -> Result<(), Failure> {
    let io = |what: &str, path: &Path, error: std::io::Error| {
        Failure::operational(format!("cannot {what} {}: {error}", path.display()))
    };
    let final_dir = files.root.join(dir.as_str());
    let parent = final_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| files.root.clone());
    fs::create_dir_all(&parent).map_err(|error| io("create", &parent, error))?;
    files.confine(&parent, dir.as_str())?;
    let leaf = final_dir
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staging = parent.join(format!(".{leaf}.cfgupdate-new-{}", std::process::id()));
    let retired = parent.join(format!(".{leaf}.cfgupdate-old-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir(&staging).map_err(|error| io("create", &staging, error))?;
    let written = rendered.files.iter().try_for_each(|(name, text)| {
        let path = staging.join(name);
        fs::write(&path, text).map_err(|error| io("write", &path, error))
    });
    if let Err(failure) = written {
        let _ = fs::remove_dir_all(&staging);
        return Err(failure);
    }
    let had_old = match fs::rename(&final_dir, &retired) {
        Ok(()) => true,
        Err(error) if error.kind() == ErrorKind::NotFound => false,
        Err(error) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(io("move aside", &final_dir, error));
        }
    };
    if let Err(error) = fs::rename(&staging, &final_dir) {
        if had_old {
            let _ = fs::rename(&retired, &final_dir);
        }
        let _ = fs::remove_dir_all(&staging);
        return Err(io("move into place", &final_dir, error));
    }
    if had_old {
        fs::remove_dir_all(&retired).map_err(|error| io("remove", &retired, error))?;
    }
    Ok(())
}

/// A checkout on disk as rendering sees it: every read is confined below the root, symlinks
/// included.
pub(crate) struct DirectoryFiles {
    root: PathBuf,
}

impl DirectoryFiles {
    pub(crate) fn open(dir: &Path) -> Result<Self, Failure> {
        let root = dir.canonicalize().map_err(|error| {
            Failure::invalid(format!(
                "cannot open the directory {}: {error}",
                dir.display()
            ))
        })?;
        Ok(Self { root })
    }

    /// Refuses `path` (the real location of the repository path `shown`) when it resolves
    /// outside the root.
    fn confine(&self, path: &Path, shown: &str) -> Result<PathBuf, Failure> {
        let real = path.canonicalize().map_err(|error| {
            Failure::operational(format!("cannot resolve {}: {error}", path.display()))
        })?;
        if !real.starts_with(&self.root) {
            return Err(Failure::invalid(SourceError::Outside {
                path: shown.to_owned(),
                reason: format!("it resolves to {}", real.display()),
            }));
        }
        Ok(real)
    }

    fn walk(&self, dir: &Path, out: &mut Vec<RepoPath>) -> Result<(), SourceError> {
        let unreadable = |error: std::io::Error| SourceError::Unreadable {
            path: dir.display().to_string(),
            reason: error.to_string(),
        };
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(unreadable(error)),
        };
        for entry in entries {
            let entry = entry.map_err(unreadable)?;
            let kind = entry.file_type().map_err(unreadable)?;
            let path = entry.path();
            if entry.file_name() == ".git" {
                continue;
            }
            // Symlinked directories are not followed: they could lead out of the checkout.
            if kind.is_dir() {
                self.walk(&path, out)?;
            } else if let Some(relative) = path
                .strip_prefix(&self.root)
                .ok()
                .and_then(Path::to_str)
                .and_then(|text| RepoPath::parse(text).ok())
            {
                out.push(relative);
            }
        }
        Ok(())
    }
}

impl SourceFiles for DirectoryFiles {
    fn read(&self, path: &RepoPath) -> Result<Option<Vec<u8>>, SourceError> {
        let full = self.root.join(path.as_str());
        let real = match full.canonicalize() {
            Ok(real) => real,
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(SourceError::Unreadable {
                    path: path.to_string(),
                    reason: error.to_string(),
                });
            }
        };
        if !real.starts_with(&self.root) {
            return Err(SourceError::Outside {
                path: path.to_string(),
                reason: format!("it is a symlink to {}", real.display()),
            });
        }
        if real.is_dir() {
            return Ok(None);
        }
        fs::read(&real)
            .map(Some)
            .map_err(|error| SourceError::Unreadable {
                path: path.to_string(),
                reason: error.to_string(),
            })
    }

    fn list(&self, dir: &str) -> Result<Vec<RepoPath>, SourceError> {
        let mut out = Vec::new();
        self.walk(&self.root.join(dir), &mut out)?;
        out.sort();
        Ok(out)
    }
}
