//! The evaluation worker: the hidden `cfgupdate evaluate-worker` subcommand that the
//! isolating evaluator starts. It limits its own address space, dies with its parent, and
//! evaluates the jobs its parent sends, asking it for every file (`protocol.rs`).

use std::cell::RefCell;
use std::io::{self, BufReader, BufWriter, Stdin, Stdout};
use std::rc::Rc;

use cfgupdate_core::RepoPath;
use cfgupdate_core::render::{FileReader, SourceError, run_job};

use super::protocol::{
    self, ErrorFrame, FAILED, FOUND, JOB, JobFrame, NOT_FOUND, OUTSIDE, READ, ReadRefusal,
    UNREADABLE, VALUE,
};
use super::{WORKER_ADDRESS_SPACE_EXTRA, WORKER_STACK};

/// The largest frame the worker accepts: a file of the repository.
const MAX_FILE: u64 = 1 << 32;

type Pipe = Rc<RefCell<(BufReader<Stdin>, BufWriter<Stdout>)>>;

/// Runs the worker until its stdin closes. `memory` is the evaluation's memory limit in
/// bytes; the address space is capped at that plus the worker's stack and program.
pub fn run(memory: u64) -> Result<(), String> {
    limit_self(memory)?;
    // The stack is reserved within the address-space limit; its pages are committed only as
    // the evaluation touches them.
    let worker = std::thread::Builder::new()
        .name("evaluate".into())
        .stack_size(WORKER_STACK)
        .spawn(serve)
        .map_err(|error| format!("cannot start the evaluation thread: {error}"))?;
    worker
        .join()
        .map_err(|_| "the evaluation thread panicked".to_owned())?
}

fn serve() -> Result<(), String> {
    let pipe: Pipe = Rc::new(RefCell::new((
        BufReader::new(io::stdin()),
        BufWriter::new(io::stdout()),
    )));
    loop {
        let frame = protocol::read_frame(&mut pipe.borrow_mut().0, MAX_FILE);
        let (tag, payload) = match frame {
            Ok(frame) => frame,
            // The parent closed the pipe: it is done with this worker.
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(error) => return Err(format!("reading a job: {error}")),
        };
        if tag != JOB {
            return Err(format!("expected a job, got a frame tagged {tag}"));
        }
        let job = serde_json::from_slice::<JobFrame>(&payload)
            .map_err(|error| error.to_string())
            .and_then(JobFrame::into_job)
            .map_err(|error| format!("a malformed job: {error}"))?;
        let outcome = run_job(job, Box::new(PipeReader { pipe: pipe.clone() }));
        let (tag, payload) = match outcome {
            Ok(json) => (VALUE, json.into_bytes()),
            Err(error) => (
                FAILED,
                serde_json::to_vec(&ErrorFrame::from_error(&error))
                    .map_err(|error| error.to_string())?,
            ),
        };
        protocol::write_frame(&mut pipe.borrow_mut().1, tag, &payload)
            .map_err(|error| format!("writing a result: {error}"))?;
    }
}

/// Reads files by asking the parent.
struct PipeReader {
    pipe: Pipe,
}

impl FileReader for PipeReader {
    fn read(&self, path: &RepoPath) -> Result<Option<Vec<u8>>, SourceError> {
        let broken = |error: io::Error| SourceError::Unreadable {
            path: path.to_string(),
            reason: format!("the parent process stopped answering: {error}"),
        };
        let mut pipe = self.pipe.borrow_mut();
        protocol::write_frame(&mut pipe.1, READ, path.as_str().as_bytes()).map_err(broken)?;
        let (tag, payload) = protocol::read_frame(&mut pipe.0, MAX_FILE).map_err(broken)?;
        let refusal = || {
            serde_json::from_slice::<ReadRefusal>(&payload).unwrap_or_else(|error| ReadRefusal {
                path: path.to_string(),
                reason: format!("a malformed refusal: {error}"),
            })
        };
        match tag {
            FOUND => Ok(Some(payload)),
            NOT_FOUND => Ok(None),
            OUTSIDE => {
                let ReadRefusal { path, reason } = refusal();
                Err(SourceError::Outside { path, reason })
            }
            UNREADABLE => {
                let ReadRefusal { path, reason } = refusal();
                Err(SourceError::Unreadable { path, reason })
            }
            other => Err(SourceError::Unreadable {
                path: path.to_string(),
                reason: format!("the parent answered with a frame tagged {other}"),
            }),
        }
    }
}

/// Caps the worker's address space, turns core dumps off, and asks the kernel to kill the
/// worker when its parent dies (so that no evaluation outlives the process that wanted it).
fn limit_self(memory: u64) -> Result<(), String> {
    let address_space = memory.saturating_add(WORKER_ADDRESS_SPACE_EXTRA);
    set_limit(libc::RLIMIT_AS, address_space)?;
    set_limit(libc::RLIMIT_CORE, 0)?;
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number and touches no memory.
    let set = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    if set != 0 {
        return Err(format!(
            "cannot ask to die with the parent: {}",
            io::Error::last_os_error()
        ));
    }
    // The parent may have died before the request was made.
    // SAFETY: getppid has no preconditions.
    if unsafe { libc::getppid() } == 1 {
        return Err("the parent process is gone".into());
    }
    Ok(())
}

fn set_limit(resource: libc::__rlimit_resource_t, value: u64) -> Result<(), String> {
    let limit = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: setrlimit reads the struct passed by reference and nothing else.
    if unsafe { libc::setrlimit(resource, &limit) } != 0 {
        return Err(format!(
            "cannot set a resource limit: {}",
            io::Error::last_os_error()
        ));
    }
    Ok(())
}
