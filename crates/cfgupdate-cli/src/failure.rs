//! How the binary fails: one sentence on stderr and an exit code from
//! `docs/contract.md#exit-codes`.

use std::fmt;
use std::io::{self, Write};
use std::process::ExitCode;

/// The exit codes of `docs/contract.md#exit-codes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 1: the remote unreachable, a push that kept failing, I/O.
    Operational = 1,
    /// 2: invalid input or usage.
    Invalid = 2,
    /// 3: refused by policy.
    Refused = 3,
}

/// A failure of a command, already phrased for a person.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl Failure {
    pub fn new(exit: Exit, message: impl fmt::Display) -> Self {
        Self {
            exit,
            message: message.to_string(),
        }
    }

    pub fn invalid(message: impl fmt::Display) -> Self {
        Self::new(Exit::Invalid, message)
    }

    pub fn operational(message: impl fmt::Display) -> Self {
        Self::new(Exit::Operational, message)
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.exit as u8)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Writes `text` to standard output. A reader that stopped reading (`cfgupdate history |
/// head`) is no failure: what it did not want is not written, and the command ends as it
/// would have (Rust ignores SIGPIPE, so `print!` would panic with exit 101 instead).
pub fn print_out(text: &str) -> Result<(), Failure> {
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(error) => Err(Failure::operational(format!(
            "cannot write to standard output: {error}"
        ))),
    }
}
