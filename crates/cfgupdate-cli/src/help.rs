//! `--help` whose examples keep their lines at any terminal width.
//!
//! clap wraps every part of a help text to the terminal, examples included: a command line
//! broken in the middle of an argument can no longer be copied. The examples of every command
//! live in its `after_help` (where the man page finds them too); here each command's help
//! template is given them as literal text, which clap writes as it is, while the prose
//! (about, options) is still wrapped.

use clap::Command;

/// The parts of clap's default help template before its `{after-help}`.
const BEFORE_EXAMPLES: &str =
    "{before-help}{about-with-newline}\n{usage-heading} {usage}\n\n{all-args}";

/// `command` and all its subcommands, each with its examples (`after_help`) written
/// unwrapped at the end of its help.
pub fn keep_examples(command: Command) -> Command {
    let command = match command.get_after_help().map(ToString::to_string) {
        Some(examples) => command.help_template(template(&examples)),
        None => command,
    };
    command.mut_subcommands(keep_examples)
}

/// The help template with `examples` as literal text. clap reads `{name}` in a template as
/// a placeholder, and drops a `{` that no `}` follows: such text cannot be an example, which
/// the tests check by finding every example line in the help as written.
fn template(examples: &str) -> String {
    format!("{BEFORE_EXAMPLES}\n\n{examples}")
}
