//! `cfgupdate render [-C DIR] [--target T] [--write]`: render targets to YAML, on stdout or
//! into `[render].output`.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use cfgupdate_core::Pipeline;
use cfgupdate_core::RepoPath;
use cfgupdate_core::TargetName;
use cfgupdate_core::render::{RenderAhead, RenderError, RenderedTarget, read_pipeline};
use cfgupdate_git::CheckoutFiles;

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
    let files = CheckoutFiles::open(&args.dir).map_err(|error| classified(&error))?;
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
    // Independent evaluations run a few at a time (`CFGUPDATE_RENDER_WORKERS`); the first
    // target in order that does not render is the one reported, whatever the number.
    let targets = targets.into_iter().map(|name| &pipeline.targets[name]);
    for (_, render) in RenderAhead::new(&files, &pipeline, targets, &limits) {
        rendered.push(render.map_err(render_failure)?);
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

pub(crate) fn load_pipeline(files: &CheckoutFiles) -> Result<Pipeline, Failure> {
    read_pipeline(files, &format!("in {}", files.root().display()))
        .map_err(|error| classified(&error))
}

pub(crate) fn render_failure(error: RenderError) -> Failure {
    classified(&error)
}

/// Writes the target's files into a fresh directory beside the output directory, then swaps
/// it in: a failure leaves the old directory whole, never a mix of old and new files.
fn replace_directory(
    files: &CheckoutFiles,
    dir: &RepoPath,
    rendered: &RenderedTarget,
) -> Result<(), Failure> {
    let io = |what: &str, path: &Path, error: std::io::Error| {
        Failure::operational(format!("cannot {what} {}: {error}", path.display()))
    };
    // The parent is created (and checked) inside the checkout; the output directory itself
    // is only ever renamed or removed as a link, never followed.
    let (parent, leaf) = match dir.as_str().rsplit_once('/') {
        Some((parent, leaf)) => {
            let parent = RepoPath::parse(parent).map_err(Failure::invalid)?;
            let parent = files
                .create_dir_all(&parent)
                .map_err(|error| classified(&error))?;
            (parent, leaf)
        }
        None => (files.root().to_path_buf(), dir.as_str()),
    };
    let final_dir = parent.join(leaf);
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
