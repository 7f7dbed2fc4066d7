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
where to look. Needs the git command-line tool; works offline and takes a few seconds.\n\n\
With --strict the repository runs in strict mode (`[strict] branch = \"auto\"`, docs/strict.md): \
automatic commits wait on branch `auto` until the config repository's own CI passed them, and the \
demo plays that CI too (a policy check on each commit's rendered Deployments). Two announcements \
queue on `auto`; CI fails the first, which is evicted while the second is replayed as a new \
commit, passes and is fast-forwarded onto master; the promotions into internal and production \
take the same path, and the auto queue is shown along the way.",
    after_help = "Examples:\n  cfgupdate demo\n  cfgupdate demo --dir /tmp/demo\n  cfgupdate demo --strict    # strict mode: CI evicts one change, the next reaches production"
)]
pub struct DemoArgs {
    /// Where to create the demo's directory (default: the system's temporary directory).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Play strict mode: automatic commits wait on branch `auto` for the config repository's CI,
    /// which fails one announcement (evicted) and passes the next all the way to production.
    #[arg(long)]
    pub strict: bool,
}

pub fn run(args: &DemoArgs) -> Result<(), Failure> {
    crate::demo::run(args.dir.as_deref(), args.strict)
}
