//! How the binary fails: one sentence on stderr and an exit code from
//! `docs/contract.md#exit-codes`.

use std::fmt;
use std::io::{self, Write};
use std::process::ExitCode;

use cfgupdate_core::{Classify, ErrorClass};

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

impl Exit {
    /// The exit code of an error class: the one place a class becomes an exit code.
    pub fn of(class: ErrorClass) -> Self {
        match class {
            ErrorClass::Unavailable | ErrorClass::Failed | ErrorClass::Declined => {
                Exit::Operational
            }
            ErrorClass::Invalid
            | ErrorClass::Malformed
            | ErrorClass::Unauthenticated
            | ErrorClass::Forbidden => Exit::Invalid,
            ErrorClass::Stale | ErrorClass::Refused => Exit::Refused,
        }
    }
}

/// A failure phrased by the error itself, with the exit code of its class.
pub fn classified<E: Classify + fmt::Display>(error: &E) -> Failure {
    Failure::new(Exit::of(error.class()), error)
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

#[cfg(test)]
mod tests {
    use cfgupdate_core::ErrorClass;
    use cfgupdate_http::error::status_of;

    use super::Exit;

    /// Each class has one exit code here and one status in the service (`status_of`), as the
    /// table in docs/http.md says: the two adapters cannot disagree about a failure.
    #[test]
    fn every_class_has_the_exit_code_and_status_of_the_table() {
        let table = [
            (ErrorClass::Unavailable, Exit::Operational, 503),
            (ErrorClass::Failed, Exit::Operational, 500),
            (ErrorClass::Declined, Exit::Operational, 502),
            (ErrorClass::Invalid, Exit::Invalid, 422),
            (ErrorClass::Malformed, Exit::Invalid, 400),
            (ErrorClass::Unauthenticated, Exit::Invalid, 401),
            (ErrorClass::Forbidden, Exit::Invalid, 403),
            (ErrorClass::Stale, Exit::Refused, 409),
            (ErrorClass::Refused, Exit::Refused, 409),
        ];
        for (class, exit, status) in table {
            assert_eq!(Exit::of(class), exit, "{class:?}");
            assert_eq!(status_of(class).as_u16(), status, "{class:?}");
        }
    }
}
