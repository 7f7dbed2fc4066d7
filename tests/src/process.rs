//! What every server the test kit starts has in common: a free port on 127.0.0.1, a process
//! group of its own that dies with the test, and a wait until it accepts connections.

use std::io;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::thread;
use std::time::{Duration, Instant};

/// How long a freshly started server may take to accept connections.
pub(crate) const READY_WITHIN: Duration = Duration::from_secs(10);

/// Another process may take the free port we picked before the server binds it: try again.
pub(crate) const ATTEMPTS: usize = 5;

/// A port nobody listens on right now.
pub(crate) fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// Makes `command` start in a process group of its own (so [`kill_group`] reaches whatever
/// it forks) and receive SIGKILL when the thread that started it ends.
pub(crate) fn die_with_parent(command: &mut Command) {
    command.process_group(0);
    // SAFETY: prctl is async-signal-safe and touches only the child's own state.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Waits until `child` accepts connections on `port`, or fails when it exits or
/// [`READY_WITHIN`] passes.
pub(crate) fn wait_until_ready(child: &mut Child, port: u16, what: &str) -> io::Result<()> {
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        if let Some(status) = child.try_wait()? {
            return Err(io::Error::other(format!(
                "{what} on port {port} exited with {status}"
            )));
        }
        if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(io::Error::other(format!(
                "{what} on port {port} did not accept connections within {READY_WITHIN:?}"
            )));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Kills the child's whole process group, then reaps the child.
pub(crate) fn kill_group(child: &mut Child) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: a plain syscall; the group id is the child's own pid (process_group(0)).
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Whether this process runs as root (servers then need settings of their own).
pub(crate) fn is_root() -> bool {
    // SAFETY: a plain syscall without arguments.
    unsafe { libc::geteuid() == 0 }
}

/// The name of the user this process runs as.
pub(crate) fn user_name() -> io::Result<String> {
    let output = Command::new("id").arg("-un").output()?;
    if !output.status.success() {
        return Err(io::Error::other("`id -un` failed"));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Runs `command` to completion, failing with its standard error when it fails.
pub(crate) fn run(command: &mut Command) -> io::Result<String> {
    let output = command.output()?;
    if !output.status.success() {
        return Err(io::Error::other(format!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
