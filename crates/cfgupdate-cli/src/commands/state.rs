//! `cfgupdate state reset`, and where every command gets the state key from (`CFGUPDATE_STATE_KEY`,
//! or `CFGUPDATE_STATE_KEY_FILE`: `docs/promotion.md#state-only-cfgupdate-can-write`).

use std::ffi::OsString;

use cfgupdate_core::promotion::{UNAUTHENTICATED_WARNING, reset_state};
use cfgupdate_core::{StateKey, WriteOptions};

use crate::failure::Failure;
use crate::remote::{RemoteArgs, SystemClock, classified};

/// The variable holding the state key.
pub const KEY_VAR: &str = "CFGUPDATE_STATE_KEY";
/// The variable naming a file that holds the state key.
pub const KEY_FILE_VAR: &str = "CFGUPDATE_STATE_KEY_FILE";

#[derive(Debug, clap::Args)]
#[command(
    about = "Manage the pipeline state (deploy reports, approvals, publish protection)",
    long_about = "The pipeline state lives beside the branch on `refs/cfgupdate/state/<branch>`. \
With CFGUPDATE_STATE_KEY (or CFGUPDATE_STATE_KEY_FILE) every state document is authenticated, \
and one that fails the check is never acted on.",
    after_help = "Example:\n  CFGUPDATE_STATE_KEY_FILE=/run/secrets/state-key \\\n    cfgupdate state reset --repo https://git.example.com/acme/cfg-app.git --branch main"
)]
pub struct StateArgs {
    #[command(subcommand)]
    pub command: StateCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum StateCommand {
    /// Start a fresh, authenticated state document (admin; needs the state key).
    #[command(
        long_about = "Replace whatever the state ref holds (a document that fails \
authentication, one from before the key was set, an unreadable one, or none) with a fresh \
document authenticated with the state key: no deploy reports, no approvals, and the publish \
protection rebuilt from cfgupdate's sealed commits. Pushed without force on the state commit the \
remote holds. Targets report again on their next sync; pending approvals are given again.\n\n\
Prints the new state commit's SHA; a sentence on stderr says what was done.",
        after_help = "Example:\n  CFGUPDATE_STATE_KEY_FILE=/run/secrets/state-key \\\n    cfgupdate state reset --repo https://git.example.com/acme/cfg-app.git --branch main"
    )]
    Reset(ResetArgs),
}

#[derive(Debug, clap::Args)]
pub struct ResetArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
}

pub fn run(args: &StateArgs) -> Result<(), Failure> {
    match &args.command {
        StateCommand::Reset(reset) => {
            let options = write_options()?;
            if options.key.is_none() {
                return Err(classified(
                    &cfgupdate_core::promotion::PromotionError::KeyRequired,
                ));
            }
            let mut repo = reset.remote.open()?;
            let commit = reset_state(
                &mut *repo,
                &SystemClock,
                options.key.as_ref(),
                &options.retry,
            )
            .map_err(|error| classified(&error))?;
            crate::args::say(format_args!(
                "started a fresh state document for {}: commit {} on refs/cfgupdate/state/{}",
                repo.branch(),
                commit.short(),
                repo.branch()
            ));
            crate::failure::print_out(&format!("{commit}\n"))?;
            Ok(())
        }
    }
}

/// The state key from the environment, if one is set.
pub fn state_key() -> Result<Option<StateKey>, Failure> {
    key_from(std::env::var_os(KEY_VAR), std::env::var_os(KEY_FILE_VAR))
}

fn key_from(value: Option<OsString>, file: Option<OsString>) -> Result<Option<StateKey>, Failure> {
    let secret = match (value, file) {
        (Some(_), Some(_)) => {
            return Err(Failure::invalid(format!(
                "both {KEY_VAR} and {KEY_FILE_VAR} are set; set only one"
            )));
        }
        (Some(value), None) => value.into_encoded_bytes(),
        (None, Some(path)) => {
            let mut bytes = std::fs::read(&path).map_err(|error| {
                Failure::operational(format!(
                    "{KEY_FILE_VAR}: cannot read {}: {error}",
                    std::path::Path::new(&path).display()
                ))
            })?;
            // A trailing newline (as editors and `echo` write it) is not part of the key.
            if bytes.last() == Some(&b'\n') {
                bytes.pop();
                if bytes.last() == Some(&b'\r') {
                    bytes.pop();
                }
            }
            bytes
        }
        (None, None) => return Ok(None),
    };
    StateKey::new(&secret)
        .map(Some)
        .map_err(|error| Failure::invalid(format!("{KEY_VAR}: {error}")))
}

/// The write options of every command: the state key and the render limits and evaluator of
/// this process ([`crate::isolate::write_options`]). Without a key, says once on stderr that
/// nothing is authenticated.
pub fn write_options() -> Result<WriteOptions, Failure> {
    let key = state_key()?;
    warn_if_unauthenticated(key.as_ref());
    Ok(WriteOptions {
        key,
        ..crate::isolate::write_options()?
    })
}

/// The one line every command that touches the state prints without a key.
pub fn warn_if_unauthenticated(key: Option<&StateKey>) {
    if key.is_none() {
        eprintln!("cfgupdate: warning: {UNAUTHENTICATED_WARNING}");
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    #[test]
    fn a_key_file_loses_its_trailing_newline_and_both_sources_at_once_are_refused() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"0123456789abcdef\n").unwrap();
        let from_file = key_from(None, Some(file.path().into())).unwrap();
        let from_value = key_from(Some("0123456789abcdef".into()), None).unwrap();
        assert!(from_file.is_some());
        assert_eq!(from_file, from_value);
        let error =
            key_from(Some("0123456789abcdef".into()), Some(file.path().into())).unwrap_err();
        assert!(error.to_string().contains("set only one"), "{error}");
        assert_eq!(key_from(None, None).unwrap(), None);
    }

    #[test]
    fn a_short_key_is_refused_without_showing_it() {
        let error = key_from(Some("hunter2".into()), None).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("at least 16"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
