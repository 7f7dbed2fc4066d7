//! The frames the binary and its evaluation worker exchange over the worker's stdin and
//! stdout: a tag byte, a little-endian `u32` length, and that many bytes.
//!
//! Parent to worker: [`JOB`] (an evaluation, JSON), then one reply per read request:
//! [`FOUND`] (the bytes), [`NOT_FOUND`], [`OUTSIDE`] or [`UNREADABLE`] (JSON `path` and
//! `reason`). Worker to parent: [`READ`] (a repository path), then [`VALUE`] (the value as
//! JSON text) or [`FAILED`] (the error, JSON). A worker evaluates one job after another.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use cfgupdate_core::RepoPath;
use cfgupdate_core::render::{EvaluationError, EvaluationJob, SourceError};
use serde::{Deserialize, Serialize};

pub const JOB: u8 = b'J';
pub const FOUND: u8 = b'F';
pub const NOT_FOUND: u8 = b'N';
pub const OUTSIDE: u8 = b'O';
pub const UNREADABLE: u8 = b'U';
pub const READ: u8 = b'R';
pub const VALUE: u8 = b'V';
pub const FAILED: u8 = b'E';

/// Writes one frame.
pub fn write_frame(out: &mut impl Write, tag: u8, payload: &[u8]) -> io::Result<()> {
    let length = u32::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a frame over 4 GiB"))?;
    let mut header = [0u8; 5];
    header[0] = tag;
    header[1..].copy_from_slice(&length.to_le_bytes());
    out.write_all(&header)?;
    out.write_all(payload)?;
    out.flush()
}

/// Reads one frame, refusing one longer than `limit` bytes.
pub fn read_frame(input: &mut impl Read, limit: u64) -> io::Result<(u8, Vec<u8>)> {
    let mut header = [0u8; 5];
    input.read_exact(&mut header)?;
    let length = u32::from_le_bytes([header[1], header[2], header[3], header[4]]);
    if u64::from(length) > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a frame of {length} bytes, more than the {limit} allowed"),
        ));
    }
    let mut payload = vec![0u8; length as usize];
    input.read_exact(&mut payload)?;
    Ok((header[0], payload))
}

/// An [`EvaluationJob`] as JSON.
#[derive(Debug, Serialize, Deserialize)]
pub struct JobFrame {
    entrypoint: String,
    jpath: Vec<String>,
    ext_vars: BTreeMap<String, String>,
    tlas: BTreeMap<String, String>,
    max_stack: usize,
}

impl JobFrame {
    pub fn from_job(job: &EvaluationJob) -> Self {
        JobFrame {
            entrypoint: job.entrypoint.as_str().to_owned(),
            jpath: job
                .jpath
                .iter()
                .map(|dir| dir.as_str().to_owned())
                .collect(),
            ext_vars: job.ext_vars.clone(),
            tlas: job.tlas.clone(),
            max_stack: job.max_stack,
        }
    }

    pub fn into_job(self) -> Result<EvaluationJob, String> {
        let path = |text: &str| RepoPath::parse(text).map_err(|error| error.to_string());
        Ok(EvaluationJob {
            entrypoint: path(&self.entrypoint)?,
            jpath: self
                .jpath
                .iter()
                .map(|dir| path(dir))
                .collect::<Result<_, _>>()?,
            ext_vars: self.ext_vars,
            tlas: self.tlas,
            max_stack: self.max_stack,
        })
    }
}

/// A read the parent could not serve.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReadRefusal {
    pub path: String,
    pub reason: String,
}

/// An [`EvaluationError`] from the worker. A [`SourceError`] the parent met serving a read
/// crosses as `Source` with its message only: the parent keeps the error itself.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ErrorFrame {
    Missing,
    Refused {
        message: String,
    },
    Jsonnet {
        message: String,
        trace: String,
    },
    TooDeep {
        file: String,
        line: usize,
        depth: usize,
        limit: usize,
    },
    Source {
        message: String,
    },
    Crashed {
        reason: String,
    },
}

impl ErrorFrame {
    pub fn from_error(error: &EvaluationError) -> Self {
        match error {
            EvaluationError::MissingEntrypoint { .. } => ErrorFrame::Missing,
            EvaluationError::ImportRefused { message } => ErrorFrame::Refused {
                message: message.clone(),
            },
            EvaluationError::Jsonnet { message, trace } => ErrorFrame::Jsonnet {
                message: message.clone(),
                trace: trace.clone(),
            },
            EvaluationError::TooDeep {
                file,
                line,
                depth,
                limit,
            } => ErrorFrame::TooDeep {
                file: file.as_str().to_owned(),
                line: *line,
                depth: *depth,
                limit: *limit,
            },
            EvaluationError::Source(error) => ErrorFrame::Source {
                message: error.to_string(),
            },
            other => ErrorFrame::Crashed {
                reason: other.to_string(),
            },
        }
    }

    /// The error, given the entrypoint and the read error the parent met, if any.
    pub fn into_error(
        self,
        entrypoint: &RepoPath,
        read_error: Option<SourceError>,
    ) -> EvaluationError {
        let crashed = |reason: String| EvaluationError::Crashed {
            entrypoint: entrypoint.clone(),
            reason,
        };
        match self {
            ErrorFrame::Missing => EvaluationError::MissingEntrypoint {
                entrypoint: entrypoint.clone(),
            },
            ErrorFrame::Refused { message } => EvaluationError::ImportRefused { message },
            ErrorFrame::Jsonnet { message, trace } => EvaluationError::Jsonnet { message, trace },
            ErrorFrame::TooDeep {
                file,
                line,
                depth,
                limit,
            } => match RepoPath::parse(&file) {
                Ok(file) => EvaluationError::TooDeep {
                    file,
                    line,
                    depth,
                    limit,
                },
                Err(error) => crashed(format!("the worker named a bad path: {error}")),
            },
            ErrorFrame::Source { message } => match read_error {
                Some(error) => EvaluationError::Source(error),
                None => crashed(message),
            },
            ErrorFrame::Crashed { reason } => crashed(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_reads_back_as_written_and_an_oversized_one_is_refused() {
        let mut wire = Vec::new();
        write_frame(&mut wire, READ, b"envs/a.jsonnet").unwrap();
        write_frame(&mut wire, FOUND, &[0, 255, 10]).unwrap();
        let mut input = wire.as_slice();
        assert_eq!(
            read_frame(&mut input, 100).unwrap(),
            (READ, b"envs/a.jsonnet".to_vec())
        );
        assert_eq!(
            read_frame(&mut input, 100).unwrap(),
            (FOUND, vec![0, 255, 10])
        );
        let mut input = wire.as_slice();
        assert!(read_frame(&mut input, 5).is_err());
        // A frame cut short is an error, not a short read.
        let mut cut = &wire[..wire.len() - 1];
        read_frame(&mut cut, 100).unwrap();
        assert!(read_frame(&mut cut, 100).is_err());
    }

    #[test]
    fn every_error_the_worker_can_meet_crosses_as_itself() {
        let entrypoint = RepoPath::parse("envs/t/main.jsonnet").unwrap();
        let errors = [
            EvaluationError::MissingEntrypoint {
                entrypoint: entrypoint.clone(),
            },
            EvaluationError::ImportRefused {
                message: "envs/t/main.jsonnet:1: no".into(),
            },
            EvaluationError::Jsonnet {
                message: "envs/t/main.jsonnet:2: boom".into(),
                trace: "trace".into(),
            },
            EvaluationError::TooDeep {
                file: RepoPath::parse("envs/t/deep.txt").unwrap(),
                line: 3,
                depth: 6_001,
                limit: 6_000,
            },
        ];
        for error in errors {
            let json = serde_json::to_vec(&ErrorFrame::from_error(&error)).unwrap();
            let back: ErrorFrame = serde_json::from_slice(&json).unwrap();
            assert_eq!(back.into_error(&entrypoint, None), error);
        }
        // A read error crosses as the parent's own error.
        let source = SourceError::Unreadable {
            path: "envs/t/x".into(),
            reason: "gone".into(),
        };
        let frame = ErrorFrame::from_error(&EvaluationError::Source(source.clone()));
        assert_eq!(
            frame.into_error(&entrypoint, Some(source.clone())),
            EvaluationError::Source(source)
        );
    }
}
