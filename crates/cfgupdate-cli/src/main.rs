//! The `cfgupdate` binary: argument handling and wiring. Every decision is the core's.

mod args;
mod argv;
mod commands;
mod demo;
mod dry_run;
mod failure;
mod help;
mod isolate;
mod remote;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::failure::Failure;

#[derive(Debug, Parser)]
#[command(
    name = "cfgupdate",
    version,
    about = "Move container images through a GitOps pipeline whose configuration is Jsonnet",
    long_about = "cfgupdate writes CI's new images into the first wave of a config repository, and \
promotes exactly the images that were deployed into the next wave, wave after wave, while people \
edit the same repository by hand.\n\n\
Exit codes: 0 success (also \"nothing to do\"), 1 operational failure, 2 invalid input or usage, \
3 refused by policy.",
    after_help = "Examples:\n  cfgupdate demo                      # the whole pipeline on a throwaway repository\n  cfgupdate check -C ~/cfg-app        # validate a checkout of your config repository\n  cfgupdate status --repo https://git.example.com/acme/cfg-app.git --branch main\n  cfgupdate help publish              # one command's options and examples\n\nDocs: README.md, docs/config.md (cfgupdate.toml), docs/operations.md (running it)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Publish(commands::publish::PublishArgs),
    Deployed(commands::deployed::DeployedArgs),
    Promote(commands::promote::PromoteArgs),
    Approve(commands::approve::ApproveArgs),
    Advance(commands::advance::AdvanceArgs),
    Rollback(commands::hold::RollbackArgs),
    Release(commands::hold::ReleaseArgs),
    Checked(commands::checked::CheckedArgs),
    Status(commands::status::StatusArgs),
    History(commands::history::HistoryArgs),
    Edit(commands::edit::EditArgs),
    Render(commands::render::RenderArgs),
    Check(commands::check::CheckArgs),
    Schema(commands::schema::SchemaArgs),
    Serve(commands::serve::ServeArgs),
    State(commands::state::StateArgs),
    Demo(commands::demo::DemoArgs),
    Completions(CompletionsArgs),
    Man(ManArgs),
    /// The evaluation worker the binary starts for itself (`docs/rendering.md`); not for people.
    #[command(hide = true)]
    EvaluateWorker(WorkerArgs),
}

#[derive(Debug, clap::Args)]
struct WorkerArgs {
    /// The evaluation's memory limit, in bytes.
    #[arg(long)]
    memory: u64,
}

/// `cfgupdate completions SHELL`.
#[derive(Debug, clap::Args)]
#[command(
    about = "Print shell completions for cfgupdate",
    long_about = "Print the completion script of SHELL for every command, option and value \
cfgupdate takes, generated from its own argument definitions.",
    after_help = "Examples:\n  cfgupdate completions bash > /etc/bash_completion.d/cfgupdate\n  cfgupdate completions zsh > \"${fpath[1]}/_cfgupdate\"\n  cfgupdate completions fish > ~/.config/fish/completions/cfgupdate.fish"
)]
struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// `cfgupdate man`.
#[derive(Debug, clap::Args)]
#[command(
    about = "Print the cfgupdate(1) man page (roff)",
    long_about = "Print the man page of cfgupdate and its commands in roff, generated from its own \
argument definitions.",
    after_help = "Example:\n  cfgupdate man > /usr/local/share/man/man1/cfgupdate.1 && man cfgupdate"
)]
struct ManArgs {}

/// The command line for people: `cfgupdate` without its hidden subcommands, which some of
/// clap_complete's generators would otherwise offer.
fn public_commands() -> clap::Command {
    let full = <Cli as clap::CommandFactory>::command();
    let public: Vec<clap::Command> = full
        .get_subcommands()
        .filter(|command| !command.is_hide_set())
        .cloned()
        .collect();
    let mut command = clap::Command::new("cfgupdate")
        .version(env!("CARGO_PKG_VERSION"))
        .subcommands(public);
    if let Some(about) = full.get_about() {
        command = command.about(about.clone());
    }
    command
}

/// Writes what `write` produces to stdout, through [`failure::print_out`].
fn generated(write: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> Result<(), Failure> {
    let mut out = Vec::new();
    write(&mut out).map_err(|error| Failure::operational(format!("cannot generate: {error}")))?;
    failure::print_out(&String::from_utf8_lossy(&out))
}

fn main() -> ExitCode {
    // Parsed as `Cli::parse()` would, through the command whose help keeps its examples.
    let cli = match Cli::from_arg_matches(&help::keep_examples(Cli::command()).get_matches()) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    // Parsed (copied) by now, and no thread started yet: a token in `--repo` leaves the
    // process list.
    argv::hide_credentials();
    let result: Result<(), Failure> = match &cli.command {
        Command::Publish(args) => commands::publish::run(args),
        Command::Deployed(args) => commands::deployed::run(args),
        Command::Promote(args) => commands::promote::run(args),
        Command::Approve(args) => commands::approve::run(args),
        Command::Advance(args) => commands::advance::run(args),
        Command::Rollback(args) => commands::hold::run_rollback(args),
        Command::Release(args) => commands::hold::run_release(args),
        Command::Checked(args) => commands::checked::run(args),
        Command::Status(args) => commands::status::run(args),
        Command::History(args) => commands::history::run(args),
        Command::Edit(args) => commands::edit::run(args),
        Command::Render(args) => commands::render::run(args),
        Command::Check(args) => commands::check::run(args),
        Command::Schema(args) => commands::schema::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::State(args) => commands::state::run(args),
        Command::Demo(args) => commands::demo::run(args),
        Command::Completions(args) => generated(|out| {
            let mut command = public_commands();
            clap_complete::generate(args.shell, &mut command, "cfgupdate", out);
            Ok(())
        }),
        Command::Man(ManArgs {}) => generated(|out| {
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(out)
        }),
        Command::EvaluateWorker(args) => {
            isolate::worker::run(args.memory).map_err(failure::Failure::operational)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("cfgupdate: {failure}");
            failure.exit_code()
        }
    }
}
