//! `cfgupdate check [-C DIR]`: validate a checkout, listing every problem.

use std::path::PathBuf;

use cfgupdate_core::Classify;
use cfgupdate_core::render::check_repository;

use cfgupdate_git::CheckoutFiles;

use super::render::load_pipeline;
use crate::failure::{Exit, Failure, classified};

#[derive(Debug, clap::Args)]
#[command(
    about = "Validate the pipeline file, every slot, every target's render, and the committed YAML",
    long_about = "Validate a checkout of the config repository: cfgupdate.toml; that no file is in \
two waves' image sets; every wave's image set (its slots readable and agreeing, and in Jsonnet \
waves a slot for every service of the wave before); that every target renders; and, with a \
[render] table, that every output directory holds exactly the YAML `cfgupdate render --write` \
would write.\n\n\
Every problem is listed on stderr, one per line; the exit code is 2 when there is any. \
Constructs whose output may differ from go-jsonnet's (what Argo CD runs) are listed as \
warnings and do not change the exit code; programs go-jsonnet refuses are problems.",
    after_help = "Example:\n  cfgupdate check -C ~/cfg-app"
)]
pub struct CheckArgs {
    /// The checkout of the config repository.
    #[arg(short = 'C', value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// Also print the verdict as JSON on stdout: `{"ok", "waves", "targets",
    /// "current_files", "problems": [sentences], "warnings": [sentences]}` (the exit code is
    /// the same).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &CheckArgs) -> Result<(), Failure> {
    let files = CheckoutFiles::open(&args.dir).map_err(|error| classified(&error))?;
    // Parsed first on its own, so a broken pipeline file is one clear error.
    load_pipeline(&files)?;
    let report = check_repository(&files, &crate::isolate::render_limits()?)
        .map_err(|error| classified(&error))?;
    for warning in &report.warnings {
        eprintln!("cfgupdate: warning: {warning}");
    }
    if args.json {
        let verdict = serde_json::json!({
            "ok": report.problems.is_empty(),
            "waves": report.pipeline.waves.len(),
            "targets": report.pipeline.targets.len(),
            "current_files": report.current_files,
            "problems": report.problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "warnings": report.warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
        });
        crate::failure::print_out(&format!("{verdict:#}\n"))?;
    }
    if report.problems.is_empty() {
        if args.json {
            return Ok(());
        }
        crate::failure::print_out(&format!(
            "ok: {} waves, {} targets, {} rendered files current\n",
            report.pipeline.waves.len(),
            report.pipeline.targets.len(),
            report.current_files
        ))?;
        return Ok(());
    }
    for problem in &report.problems[..report.problems.len() - 1] {
        eprintln!("cfgupdate: {problem}");
    }
    let last = &report.problems[report.problems.len() - 1];
    let count = report.problems.len();
    let summary = if count == 1 {
        String::new()
    } else {
        format!(" ({count} problems)")
    };
    Err(Failure::new(
        Exit::of(last.class()),
        format!("{last}{summary}"),
    ))
}
