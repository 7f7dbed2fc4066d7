//! Atomic pushes of several refs through libgit2's own transports.
//!
//! git's `receive-pack` applies the ref updates of one push all together or not at all when
//! the client asks for the `atomic` capability (git 2.4 and later offer it; GitHub, GitLab,
//! Gitea and Bitbucket do too). libgit2 1.9 never asks for it: the server then updates or
//! refuses each ref on its own. Strict mode needs one push that moves the main branch only if
//! the pipeline state records the decision (docs/strict.md), so this module asks for it.
//!
//! It does so without replacing any of libgit2's transports: for one push, the remote's
//! `transport` callback (not a process-wide registration) builds libgit2's own smart
//! transport around libgit2's own subtransport for the URL's scheme (`git://`, `http(s)://`,
//! ssh), wrapped in a subtransport that passes every byte through, with two exceptions:
//!
//! - it reads the capabilities of the remote's advertisement as they pass, and
//! - the first write of the push (the update commands, which libgit2 writes in one piece
//!   before any pack data) gets ` atomic` added to the capabilities of its first line when
//!   the remote offered it. When the remote did not, the write fails before anything is
//!   sent, and [`Session::offered`] says so: the caller then pushes the refs one by one.
//!
//! Credentials, certificates, proxies, custom headers and timeouts are libgit2's own, exactly
//! as without the wrapper: the smart transport and the subtransport are libgit2's code.

use std::cell::Cell;
use std::ffi::{CString, c_char, c_int, c_void};
use std::ptr;

use libgit2_sys as raw;

use crate::url::Transport;

// libgit2's constructors of its own subtransports (`git2/sys/transport.h`). They are public
// in libgit2, and libgit2-sys does not declare them.
unsafe extern "C" {
    fn git_smart_subtransport_git(
        out: *mut *mut raw::git_smart_subtransport,
        owner: *mut raw::git_transport,
        param: *mut c_void,
    ) -> c_int;
    fn git_smart_subtransport_http(
        out: *mut *mut raw::git_smart_subtransport,
        owner: *mut raw::git_transport,
        param: *mut c_void,
    ) -> c_int;
    fn git_smart_subtransport_ssh(
        out: *mut *mut raw::git_smart_subtransport,
        owner: *mut raw::git_transport,
        param: *mut c_void,
    ) -> c_int;
}

/// The capability a client sends to have its ref updates applied all or none.
const ATOMIC: &[u8] = b"atomic";
/// A flush packet alone.
const FLUSH: &[u8] = b"0000";
/// The most of the advertisement kept while looking for its capabilities (they are on its
/// first ref line, after at most http's `# service=` line).
const ADVERTISEMENT_LIMIT: usize = 64 * 1024;

thread_local! {
    /// The scheme of the atomic push under way on this thread ([`Session`]).
    static SCHEME: Cell<Option<Transport>> = const { Cell::new(None) };
    /// Whether the remote's advertisement on this thread's push offered `atomic` (`None`:
    /// not read yet).
    static OFFERED: Cell<Option<bool>> = const { Cell::new(None) };
}

/// One atomic push on this thread: while it lives, [`transport`] wraps the push's transport.
/// Pushes are synchronous, and libgit2 calls the callbacks on the thread that pushes.
pub(crate) struct Session {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Session {
    /// Starts an atomic push to a remote reached by `scheme`; `None` for a transport that has
    /// no `receive-pack` to ask (a local path: libgit2 updates its refs itself, one by one).
    pub(crate) fn start(scheme: Transport) -> Option<Session> {
        if scheme == Transport::Local {
            return None;
        }
        SCHEME.set(Some(scheme));
        OFFERED.set(None);
        Some(Session {
            _not_send: std::marker::PhantomData,
        })
    }

    /// Whether the remote offered atomic pushes (`None`: the push stopped before its
    /// advertisement was read).
    pub(crate) fn offered(&self) -> Option<bool> {
        OFFERED.get()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        SCHEME.set(None);
        OFFERED.set(None);
    }
}

/// The remote's `transport` callback for an atomic push (`git_remote_callbacks.transport`):
/// libgit2's smart transport over the wrapped subtransport of the session's scheme. Without a
/// session (never: it is set only for a push that holds one) the push fails.
pub(crate) extern "C" fn transport(
    out: *mut *mut raw::git_transport,
    owner: *mut raw::git_remote,
    _payload: *mut c_void,
) -> c_int {
    let definition: &'static Definition = match SCHEME.get() {
        Some(Transport::Git) => &GIT,
        Some(Transport::Https) => &HTTP,
        Some(Transport::Ssh) => &SSH,
        // Never without a session: fail rather than push without asking for atomicity.
        Some(Transport::Local) | None => {
            return fail("an atomic push was asked for outside of one (cfgupdate's bug)");
        }
    };
    // SAFETY: `out` and `owner` come from libgit2 for this very call; the definition is a
    // static, so it outlives the transport that keeps a pointer to it.
    unsafe { raw::git_transport_smart(out, owner, ptr::from_ref(&definition.0).cast_mut().cast()) }
}

/// A subtransport definition libgit2 keeps a pointer to.
struct Definition(raw::git_smart_subtransport_definition);
// SAFETY: the definitions are immutable, and their `param` is null.
unsafe impl Sync for Definition {}

static GIT: Definition = Definition(raw::git_smart_subtransport_definition {
    callback: Some(wrap_git),
    rpc: 0,
    param: ptr::null_mut(),
});
static HTTP: Definition = Definition(raw::git_smart_subtransport_definition {
    callback: Some(wrap_http),
    rpc: 1,
    param: ptr::null_mut(),
});
static SSH: Definition = Definition(raw::git_smart_subtransport_definition {
    callback: Some(wrap_ssh),
    rpc: 0,
    param: ptr::null_mut(),
});

type Constructor = unsafe extern "C" fn(
    *mut *mut raw::git_smart_subtransport,
    *mut raw::git_transport,
    *mut c_void,
) -> c_int;

extern "C" fn wrap_git(
    out: *mut *mut raw::git_smart_subtransport,
    owner: *mut raw::git_transport,
    _param: *mut c_void,
) -> c_int {
    wrap(out, owner, git_smart_subtransport_git)
}

extern "C" fn wrap_http(
    out: *mut *mut raw::git_smart_subtransport,
    owner: *mut raw::git_transport,
    _param: *mut c_void,
) -> c_int {
    wrap(out, owner, git_smart_subtransport_http)
}

extern "C" fn wrap_ssh(
    out: *mut *mut raw::git_smart_subtransport,
    owner: *mut raw::git_transport,
    _param: *mut c_void,
) -> c_int {
    wrap(out, owner, git_smart_subtransport_ssh)
}

/// The wrapping subtransport. `parent` comes first: libgit2 holds a pointer to it.
#[repr(C)]
struct Wrapper {
    parent: raw::git_smart_subtransport,
    /// libgit2's own subtransport.
    inner: *mut raw::git_smart_subtransport,
    /// The stream handed out last (libgit2's stateful transports hand the same one out
    /// again for the push after the advertisement).
    stream: *mut Stream,
    /// The advertisement read so far, until its capabilities were found.
    advertisement: Vec<u8>,
    /// Whether the first write (the update commands) went through.
    wrote: bool,
}

/// A wrapped stream; `parent` comes first.
#[repr(C)]
struct Stream {
    parent: raw::git_smart_subtransport_stream,
    inner: *mut raw::git_smart_subtransport_stream,
    wrapper: *mut Wrapper,
}

fn wrap(
    out: *mut *mut raw::git_smart_subtransport,
    owner: *mut raw::git_transport,
    make: Constructor,
) -> c_int {
    let mut inner = ptr::null_mut();
    // SAFETY: libgit2's constructor, called as libgit2's smart transport would call it.
    let made = unsafe { make(&mut inner, owner, ptr::null_mut()) };
    if made < 0 {
        return made;
    }
    let wrapper = Box::new(Wrapper {
        parent: raw::git_smart_subtransport {
            action: Some(action),
            close: Some(close),
            free: Some(free),
        },
        inner,
        stream: ptr::null_mut(),
        advertisement: Vec::new(),
        wrote: false,
    });
    // SAFETY: `out` is libgit2's, for this call.
    unsafe { *out = Box::into_raw(wrapper).cast() };
    0
}

extern "C" fn action(
    out: *mut *mut raw::git_smart_subtransport_stream,
    subtransport: *mut raw::git_smart_subtransport,
    url: *const c_char,
    service: raw::git_smart_service_t,
) -> c_int {
    // The streams keep this pointer itself (not one derived from a reference made here).
    let wrapper_ptr = subtransport.cast::<Wrapper>();
    // SAFETY: libgit2 passes back the subtransport `wrap` made; `inner` is libgit2's own.
    let wrapper = unsafe { &mut *wrapper_ptr };
    let Some(inner_action) = (unsafe { (*wrapper.inner).action }) else {
        return fail("the transport has no action");
    };
    let mut inner = ptr::null_mut();
    let acted = inner_action(&mut inner, wrapper.inner, url, service);
    if acted < 0 {
        return acted;
    }
    // A new connection reads its own advertisement, and its first write is its own.
    if service == raw::GIT_SERVICE_RECEIVEPACK_LS || service == raw::GIT_SERVICE_UPLOADPACK_LS {
        wrapper.wrote = false;
        wrapper.advertisement.clear();
        OFFERED.set(None);
    }
    // SAFETY: `wrapper.stream` is null or a live stream of this wrapper (a stream clears it
    // when freed).
    if !wrapper.stream.is_null() && unsafe { (*wrapper.stream).inner } == inner {
        // SAFETY: `out` is libgit2's, for this call.
        unsafe { *out = wrapper.stream.cast() };
        return 0;
    }
    let stream = Box::into_raw(Box::new(Stream {
        parent: raw::git_smart_subtransport_stream {
            subtransport,
            read: Some(read),
            write: Some(write),
            free: Some(free_stream),
        },
        inner,
        wrapper: wrapper_ptr,
    }));
    wrapper.stream = stream;
    // SAFETY: as above.
    unsafe { *out = stream.cast() };
    0
}

extern "C" fn close(subtransport: *mut raw::git_smart_subtransport) -> c_int {
    // SAFETY: libgit2 passes back the subtransport `wrap` made.
    let inner = unsafe { (*subtransport.cast::<Wrapper>()).inner };
    match unsafe { (*inner).close } {
        Some(close) => close(inner),
        None => 0,
    }
}

extern "C" fn free(subtransport: *mut raw::git_smart_subtransport) {
    // SAFETY: libgit2 frees the subtransport once, after its streams.
    let wrapper = unsafe { Box::from_raw(subtransport.cast::<Wrapper>()) };
    if let Some(free) = unsafe { (*wrapper.inner).free } {
        free(wrapper.inner);
    }
}

extern "C" fn read(
    stream: *mut raw::git_smart_subtransport_stream,
    buffer: *mut c_char,
    size: usize,
    bytes_read: *mut usize,
) -> c_int {
    // SAFETY: libgit2 passes back a stream `action` made, whose wrapper outlives it.
    let stream = unsafe { &mut *stream.cast::<Stream>() };
    let Some(inner_read) = (unsafe { (*stream.inner).read }) else {
        return fail("the transport cannot read");
    };
    let got = inner_read(stream.inner, buffer, size, bytes_read);
    if got >= 0 && OFFERED.get().is_none() {
        // SAFETY: the inner read filled `*bytes_read` bytes of `buffer`.
        let data = unsafe {
            let count = (*bytes_read).min(size);
            std::slice::from_raw_parts(buffer.cast::<u8>(), count)
        };
        let wrapper = unsafe { &mut *stream.wrapper };
        wrapper.advertisement.extend_from_slice(data);
        if let Some(offered) = offers_atomic(&wrapper.advertisement) {
            OFFERED.set(Some(offered));
            wrapper.advertisement = Vec::new();
        } else if wrapper.advertisement.len() > ADVERTISEMENT_LIMIT {
            OFFERED.set(Some(false));
            wrapper.advertisement = Vec::new();
        }
    }
    got
}

extern "C" fn write(
    stream: *mut raw::git_smart_subtransport_stream,
    buffer: *const c_char,
    length: usize,
) -> c_int {
    // SAFETY: as in `read`.
    let stream = unsafe { &mut *stream.cast::<Stream>() };
    let Some(inner_write) = (unsafe { (*stream.inner).write }) else {
        return fail("the transport cannot write");
    };
    let wrapper = unsafe { &mut *stream.wrapper };
    if wrapper.wrote {
        return inner_write(stream.inner, buffer, length);
    }
    // SAFETY: libgit2 hands `length` bytes at `buffer`.
    let data = unsafe { std::slice::from_raw_parts(buffer.cast::<u8>(), length) };
    // A lone flush before any command is the goodbye libgit2 sends when it closes a
    // connection that pushed nothing (an error before the commands, a push it refused
    // itself): it changes nothing on the server, and failing it would hide that error.
    if data == FLUSH {
        return inner_write(stream.inner, buffer, length);
    }
    wrapper.wrote = true;
    if OFFERED.get() != Some(true) {
        return fail(
            "the remote does not offer atomic pushes (git's receive-pack 2.4 or later does): nothing was sent",
        );
    }
    match with_atomic(data) {
        Some(commands) => inner_write(stream.inner, commands.as_ptr().cast(), commands.len()),
        None => fail("the push's update commands could not be read to ask for an atomic push"),
    }
}

extern "C" fn free_stream(stream: *mut raw::git_smart_subtransport_stream) {
    // SAFETY: libgit2 frees each stream once, before the subtransport.
    let stream = unsafe { Box::from_raw(stream.cast::<Stream>()) };
    let wrapper = unsafe { &mut *stream.wrapper };
    if ptr::eq(wrapper.stream, &*stream) {
        wrapper.stream = ptr::null_mut();
    }
    if let Some(free) = unsafe { (*stream.inner).free } {
        free(stream.inner);
    }
}

/// Sets libgit2's error message and returns its error code.
fn fail(message: &str) -> c_int {
    let message = CString::new(message).unwrap_or_default();
    // SAFETY: libgit2 copies the message.
    unsafe { raw::git_error_set_str(raw::GIT_ERROR_NET as c_int, message.as_ptr()) };
    -1
}

/// Whether the advertisement `data` (pkt-lines, http's `# service=` line and flush included)
/// offers `atomic`; `None` until its first ref line (which carries the capabilities after a
/// NUL) was read whole. Anything that is not a pkt-line stream is `Some(false)`.
pub(crate) fn offers_atomic(data: &[u8]) -> Option<bool> {
    let mut rest = data;
    loop {
        let (length, line) = match pkt_line(rest)? {
            Ok(found) => found,
            Err(()) => return Some(false),
        };
        rest = &rest[length..];
        let Some(line) = line else { continue };
        if let Some(nul) = line.iter().position(|&b| b == 0) {
            let capabilities = line[nul + 1..]
                .strip_suffix(b"\n")
                .unwrap_or(&line[nul + 1..]);
            return Some(
                capabilities
                    .split(|&b| b == b' ')
                    .any(|capability| capability == ATOMIC),
            );
        }
    }
}

/// The update commands `data` (pkt-lines, as libgit2 writes them) with ` atomic` added to the
/// capabilities of the first line; `None` when the first line has no capabilities or the
/// result would not fit a pkt-line.
pub(crate) fn with_atomic(data: &[u8]) -> Option<Vec<u8>> {
    let (length, line) = pkt_line(data)?.ok()?;
    let line = line?;
    line.iter().position(|&b| b == 0)?;
    let (body, newline) = match line.strip_suffix(b"\n") {
        Some(body) => (body, &b"\n"[..]),
        None => (line, &b""[..]),
    };
    let new_length = length + 1 + ATOMIC.len();
    if new_length > 65520 {
        return None;
    }
    let mut out = Vec::with_capacity(data.len() + 1 + ATOMIC.len());
    out.extend_from_slice(format!("{new_length:04x}").as_bytes());
    out.extend_from_slice(body);
    out.push(b' ');
    out.extend_from_slice(ATOMIC);
    out.extend_from_slice(newline);
    out.extend_from_slice(&data[length..]);
    Some(out)
}

/// The first pkt-line of `data`: its whole length and its payload (`None` for a flush or
/// delimiter packet); `None` when it is not all there yet, `Some(Err(()))` when `data` is
/// not a pkt-line.
#[allow(clippy::type_complexity)]
fn pkt_line(data: &[u8]) -> Option<Result<(usize, Option<&[u8]>), ()>> {
    let header = data.get(..4)?;
    let Some(length) = std::str::from_utf8(header)
        .ok()
        .and_then(|hex| usize::from_str_radix(hex, 16).ok())
    else {
        return Some(Err(()));
    };
    match length {
        0..=2 => Some(Ok((4, None))),
        3 => Some(Err(())),
        _ => {
            let line = data.get(4..length)?;
            Some(Ok((length, Some(line))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(payload: &[u8]) -> Vec<u8> {
        let mut out = format!("{:04x}", payload.len() + 4).into_bytes();
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn the_capabilities_are_read_from_the_first_ref_line_also_after_http_s_service_line() {
        let oid = "1".repeat(40);
        let mut git = pkt(format!(
            "{oid} refs/heads/main\0report-status delete-refs atomic ofs-delta\n"
        )
        .as_bytes());
        git.extend(pkt(format!("{oid} refs/heads/x\n").as_bytes()));
        git.extend(b"0000");
        assert_eq!(offers_atomic(&git), Some(true));
        let mut http = pkt(b"# service=git-receive-pack\n");
        http.extend(b"0000");
        http.extend(&git);
        assert_eq!(offers_atomic(&http), Some(true));
        // Cut anywhere before the capabilities end: not decided yet.
        let end = http.len() - pkt(format!("{oid} refs/heads/x\n").as_bytes()).len() - 4;
        for cut in 0..end {
            assert_eq!(offers_atomic(&http[..cut]), None, "cut at {cut}");
        }
    }

    #[test]
    fn a_remote_without_the_capability_or_with_a_ref_named_like_it_does_not_offer_it() {
        let oid = "2".repeat(40);
        let old = pkt(
            format!("{oid} refs/heads/atomic\0report-status atomicity side-band-64k\n").as_bytes(),
        );
        assert_eq!(offers_atomic(&old), Some(false));
        let empty = pkt(format!(
            "{} capabilities^{{}}\0report-status atomic\n",
            "0".repeat(40)
        )
        .as_bytes());
        assert_eq!(offers_atomic(&empty), Some(true));
        assert_eq!(offers_atomic(b"HTTP/1.1 200 OK\r\n"), Some(false));
        assert_eq!(offers_atomic(b"0003"), Some(false));
    }

    #[test]
    fn atomic_is_added_to_the_first_command_s_capabilities_and_nothing_else_changes() {
        let (a, b) = ("a".repeat(40), "b".repeat(40));
        let mut commands =
            pkt(format!("{a} {b} refs/heads/main\0 report-status side-band-64k\n").as_bytes());
        let second = pkt(format!("{a} {b} refs/cfgupdate/state/main\n").as_bytes());
        commands.extend(&second);
        commands.extend(b"0000PACK....");
        let sent = with_atomic(&commands).expect("a command list");
        let mut expected = pkt(format!(
            "{a} {b} refs/heads/main\0 report-status side-band-64k atomic\n"
        )
        .as_bytes());
        expected.extend(&second);
        expected.extend(b"0000PACK....");
        assert_eq!(sent, expected);
        // Not a command list with capabilities: nothing is made up.
        assert_eq!(with_atomic(&second), None);
        assert_eq!(with_atomic(b"0000"), None);
        assert_eq!(with_atomic(b"zz"), None);
    }
}
