//! `cfgupdate demo`: the whole pipeline end to end on a throwaway local repository, narrated.

use std::path::PathBuf;

use crate::failure::Failure;

#[derive(Debug, clap::Args)]
#[command(
    about = "Run the whole pipeline end to end on a throwaway local repository, narrated",
    long_about = "Create an example config repository (three waves, five targets, Jsonnet with \
committed YAML) as a bare git repository in a new directory, start the service, and play CI and \
Argo CD through every wave: an announcement, deploy reports, a person's hand edit pushed with git, \
a soak gate, an approval. Each step is explained as it happens; the end shows the history and \
where to look. Needs the git command-line tool; works offline and takes a few seconds.",
    after_help = "Example:\n  cfgupdate demo\n  cfgupdate demo --dir /tmp/demo"
)]
pub struct DemoArgs {
    /// Where to create the demo's directory (default: the system's temporary directory).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

pub fn run(args: &DemoArgs) -> Result<(), Failure> {
    crate::demo::run(args.dir.as_deref())
}
