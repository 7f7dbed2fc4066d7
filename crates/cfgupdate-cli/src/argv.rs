//! The process's own command line as every user of the machine sees it (`ps`,
//! `/proc/<pid>/cmdline`): a credential in a URL argument (`--repo https://user:TOKEN@...`) is
//! overwritten there with `*` right after the arguments are parsed.
//!
//! The kernel shows the bytes the process's `argv` points at, so they are overwritten in place.
//! Rust's std offers no way to write them: glibc calls every function of `.init_array` with
//! `argc`, `argv` and `envp` (std gets its own copy of the pointers that way), and so does the
//! function here. Elsewhere (not glibc) nothing is overwritten, and the warning is all there is.
//!
//! What remains: the URL shows in the process list from `exec` until the arguments are
//! parsed (a few milliseconds), and in the shell's history. Hence the warning, which recommends
//! `CFGUPDATE_GIT_TOKEN` or `CFGUPDATE_GIT_TOKEN_FILE`.

use cfgupdate_git::RemoteUrl;

/// Overwrites the credentials of every URL argument (`URL` or `--repo=URL`) in the process's
/// argument memory. Call it once the arguments are parsed (they are copied by then) and before
/// any thread is started: `std::env::args` reads the same memory, and shows the masked text
/// afterwards.
pub fn hide_credentials() {
    imp::each_argument(|arg| {
        let Ok(text) = std::str::from_utf8(arg) else {
            return;
        };
        let candidate = text.strip_prefix("--repo=").unwrap_or(text);
        if !candidate.contains('@') && !candidate.contains('=') {
            return;
        }
        let Ok(url) = RemoteUrl::parse(candidate) else {
            return;
        };
        if url.has_credentials() {
            url.mask_credentials(arg);
        }
    });
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod imp {
    use std::ffi::{c_char, c_int};
    use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

    static ARGC: AtomicUsize = AtomicUsize::new(0);
    static ARGV: AtomicPtr<*mut c_char> = AtomicPtr::new(std::ptr::null_mut());

    /// Run by glibc before `main`, with the process's arguments.
    #[used]
    #[unsafe(link_section = ".init_array")]
    static CAPTURE: extern "C" fn(c_int, *mut *mut c_char, *mut *mut c_char) = capture;

    extern "C" fn capture(argc: c_int, argv: *mut *mut c_char, _envp: *mut *mut c_char) {
        ARGC.store(usize::try_from(argc).unwrap_or(0), Ordering::Relaxed);
        ARGV.store(argv, Ordering::Relaxed);
    }

    /// Calls `f` with the bytes of each argument (without its NUL), writable in place.
    pub(super) fn each_argument(mut f: impl FnMut(&mut [u8])) {
        let argc = ARGC.load(Ordering::Relaxed);
        let argv = ARGV.load(Ordering::Relaxed);
        if argv.is_null() {
            return;
        }
        for index in 0..argc {
            // SAFETY: glibc passes `argc` pointers to NUL-terminated strings that live as long
            // as the process, in memory the process may write; each slice covers exactly one
            // string without its NUL, and no other reference to those bytes is alive (std
            // copies the arguments when asked for them, and no other thread runs yet).
            unsafe {
                let arg = *argv.add(index);
                if arg.is_null() {
                    break;
                }
                let len = libc::strlen(arg);
                f(std::slice::from_raw_parts_mut(arg.cast::<u8>(), len));
            }
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod imp {
    /// Without glibc's arguments to `.init_array`, there is nothing to overwrite.
    pub(super) fn each_argument(_f: impl FnMut(&mut [u8])) {}
}
