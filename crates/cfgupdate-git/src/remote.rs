//! Talking to the remote: fetching the branch and its state ref, and pushing one commit to
//! either, never by force.

use std::cell::RefCell;

use git2::{
    AutotagOption, ErrorClass, ErrorCode, FetchOptions, Oid, ProxyOptions, PushOptions,
    RemoteCallbacks, Repository,
};

use cfgupdate_core::adapter::shown;

use crate::atomic;
use crate::credentials::Credentials;
use crate::options::Branch;
use crate::trust;
use crate::url::RemoteUrl;

/// The ref holding the branch as last fetched (or pushed).
pub(crate) fn tracking_ref(branch: &Branch) -> String {
    format!("refs/remotes/origin/{branch}")
}

/// The ref a new commit is pushed from.
pub(crate) fn outgoing_ref(branch: &Branch) -> String {
    format!("refs/cfgupdate-local/outgoing/{branch}")
}

/// The remote's ref holding the pipeline state of `branch`: outside `refs/heads/` and
/// `refs/tags/`, so neither Argo CD nor a plain `git clone` ever fetches it.
pub(crate) fn state_ref(branch: &Branch) -> String {
    format!("refs/cfgupdate/state/{branch}")
}

/// The ref holding the remote's state ref as last fetched (or pushed).
///
/// Every ref a fetch writes and every ref a push starts from has its own prefix in the
/// cache (`refs/remotes/origin/`, `refs/cfgupdate-local/state/`,
/// `refs/cfgupdate-local/outgoing/`, `refs/cfgupdate-local/outgoing-state/`, and the anchor's
/// `refs/cfgupdate-local/state-anchor/`): whatever the branch is called, none of them can
/// overwrite another.
pub(crate) fn state_tracking_ref(branch: &Branch) -> String {
    format!("refs/cfgupdate-local/state/{branch}")
}

/// The ref holding the state anchor: the newest authentic state commit the core saw through
/// this cache. Never fetched into, never pushed: only the core moves it.
pub(crate) fn state_anchor_ref(branch: &Branch) -> String {
    format!("refs/cfgupdate-local/state-anchor/{branch}")
}

/// The ref a new state commit is pushed from.
pub(crate) fn state_outgoing_ref(branch: &Branch) -> String {
    format!("refs/cfgupdate-local/outgoing-state/{branch}")
}

/// What a refresh fetches, in one round trip: the branch and its state ref.
pub(crate) fn fetch_refspecs(branch: &Branch) -> Vec<String> {
    vec![
        format!("+refs/heads/{branch}:{}", tracking_ref(branch)),
        format!("+{}:{}", state_ref(branch), state_tracking_ref(branch)),
    ]
}

/// What a fetch found; the tracking refs now say the same, and a ref the remote lacks is
/// gone from the cache.
pub(crate) struct Fetched {
    /// The branch's tip, or `None` when the remote has no such branch.
    pub(crate) tip: Option<Oid>,
    /// The state ref's commit, or `None` when the remote has no state yet.
    pub(crate) state: Option<Oid>,
}

/// What became of a push the transport completed.
#[derive(Debug)]
pub(crate) enum Pushed {
    /// The remote's ref now points at the pushed commit.
    Accepted,
    /// The remote's ref was not exactly what the push was built on (it moved on, was rewound
    /// or deleted, or changed between the advertisement and the update): nothing changed.
    Moved(String),
    /// The branch the push was built on is gone from the remote: nothing was sent.
    Missing,
    /// The server refused the update for a reason of its own (a hook, a protected branch):
    /// its words, escaped and bounded.
    Declined(String),
}

/// What the remote's ref must hold for a push to go ahead: a compare-and-swap. It is checked
/// against the value the remote advertised on the connection the push then uses, and the
/// server checks that same old value again, atomically, when it applies the update.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Expect {
    /// Exactly this commit, or no ref at all for `None` (the state ref, which a first push
    /// creates).
    Exactly(Option<Oid>),
    /// Exactly this commit, and a ref the remote no longer has is [`Pushed::Missing`]: a
    /// branch is never created (nor re-created) by a push.
    Existing(Oid),
    /// Exactly this commit (or no ref for `None`), and the new value need not descend from
    /// it: strict mode's auto branch, cfgupdate's own, which a rebuild replaces. Still a
    /// compare-and-swap: only the value the push expects is ever replaced.
    Replacing(Option<Oid>),
}

impl Expect {
    fn value(self) -> Option<Oid> {
        match self {
            Expect::Exactly(value) | Expect::Replacing(value) => value,
            Expect::Existing(value) => Some(value),
        }
    }
}

/// The header lines sent with every request of a connection to `url`: over `https://` with
/// a token, the token itself ([`Credentials::authorization_header`]), so the first request
/// is not answered 401 and sent again. Not over plain `http://` (the token waits for the
/// server to ask, as before), nor when the URL carries credentials of its own (libgit2 sends
/// those when asked, and they go first). libgit2 follows a redirect of the first request
/// only, to a place the server names; the token went there after a 401 before as well.
fn headers(credentials: &Credentials, url: &RemoteUrl) -> Vec<String> {
    let https = url
        .redacted()
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"));
    if !https || url.has_credentials() {
        return Vec::new();
    }
    credentials.authorization_header().into_iter().collect()
}

/// The callbacks of every connection to `url`: credentials, and the check of the server's
/// TLS certificate or ssh host key (see [`trust`]). `token_sent`: the token goes with the
/// first request already (see [`headers`]).
pub(crate) fn callbacks<'a>(
    credentials: &'a Credentials,
    url: &'a RemoteUrl,
    token_sent: bool,
) -> RemoteCallbacks<'a> {
    let mut callbacks = RemoteCallbacks::new();
    callbacks.credentials(credentials.callback(token_sent));
    callbacks.certificate_check(trust::certificate_check(credentials, url));
    callbacks
}

pub(crate) fn proxy<'a>() -> ProxyOptions<'a> {
    let mut proxy = ProxyOptions::new();
    proxy.auto();
    proxy
}

/// Fetches `branch` of `url` and its state ref into the cache, in one round trip, and
/// points the tracking refs at what the remote has.
pub(crate) fn fetch(
    repo: &Repository,
    url: &RemoteUrl,
    credentials: &Credentials,
    branch: &Branch,
) -> Result<Fetched, git2::Error> {
    let mut remote = repo.remote_anonymous(url.for_libgit2())?;
    let headers = headers(credentials, url);
    let header_refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut options = FetchOptions::new();
    options
        .remote_callbacks(callbacks(credentials, url, !headers.is_empty()))
        .proxy_options(proxy())
        .custom_headers(&header_refs)
        .download_tags(AutotagOption::None)
        .update_fetchhead(false);
    remote.fetch(
        &fetch_refspecs(branch),
        Some(&mut options),
        Some("cfgupdate: fetch"),
    )?;
    // The advertised refs stay readable after the fetch disconnected; they are the truth
    // about each ref, also when it was deleted on the remote since our last fetch (a
    // refspec whose source is missing leaves the old tracking ref in place).
    let advertised = advertised_refs(&remote)?;
    let on_remote = |name: &str| {
        advertised
            .iter()
            .find(|(advertised, _)| advertised.as_slice() == name.as_bytes())
            .map(|(_, oid)| *oid)
    };
    let fetched = Fetched {
        tip: on_remote(&format!("refs/heads/{branch}")),
        state: on_remote(&state_ref(branch)),
    };
    track(repo, &tracking_ref(branch), fetched.tip)?;
    track(repo, &state_tracking_ref(branch), fetched.state)?;
    Ok(fetched)
}

/// Fetches the side branch `side` (strict mode's auto branch) into its tracking ref, and
/// returns its tip, `None` when the remote has no such branch (the tracking ref is then gone).
pub(crate) fn fetch_side(
    repo: &Repository,
    url: &RemoteUrl,
    credentials: &Credentials,
    side: &Branch,
) -> Result<Option<Oid>, git2::Error> {
    let mut remote = repo.remote_anonymous(url.for_libgit2())?;
    let headers = headers(credentials, url);
    let header_refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut options = FetchOptions::new();
    options
        .remote_callbacks(callbacks(credentials, url, !headers.is_empty()))
        .proxy_options(proxy())
        .custom_headers(&header_refs)
        .download_tags(AutotagOption::None)
        .update_fetchhead(false);
    remote.fetch(
        &[format!("+refs/heads/{side}:{}", tracking_ref(side))],
        Some(&mut options),
        Some("cfgupdate: fetch the auto branch"),
    )?;
    let advertised = advertised_refs(&remote)?;
    let name = format!("refs/heads/{side}");
    let tip = advertised
        .iter()
        .find(|(advertised, _)| advertised.as_slice() == name.as_bytes())
        .map(|(_, oid)| *oid);
    track(repo, &tracking_ref(side), tip)?;
    Ok(tip)
}

/// The refs the remote advertised on the last connection, by name as the server sent it
/// (bytes) and object id. git2's `Remote::list` gives `RemoteHead`s whose `name` panics on a
/// name that is not UTF-8, which any server can advertise: a hostile remote must never bring
/// the process down, so the list is read here through libgit2 itself.
fn advertised_refs(remote: &git2::Remote<'_>) -> Result<Vec<(Vec<u8>, Oid)>, git2::Error> {
    use git2::Binding;
    let mut base: *mut *const libgit2_sys::git_remote_head = std::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: `remote.raw()` is a live `git_remote`; `git_remote_ls` points `base` at an array
    // of `size` heads it owns, alive until the remote connects again or is freed, which
    // cannot happen while `remote` is borrowed here. Each head's `name` is a NUL-terminated
    // string (a null one is skipped) and its `oid` a plain 20-byte id, both copied out.
    unsafe {
        if libgit2_sys::git_remote_ls(&mut base, &mut size, remote.raw()) < 0 {
            return Err(git2::Error::last_error(-1));
        }
        if base.is_null() {
            return Ok(Vec::new());
        }
        let heads = std::slice::from_raw_parts(base, size);
        let mut out = Vec::with_capacity(heads.len());
        for &head in heads {
            if head.is_null() || (*head).name.is_null() {
                continue;
            }
            let name = std::ffi::CStr::from_ptr((*head).name).to_bytes().to_vec();
            let oid = Oid::from_bytes(&(*head).oid.id)?;
            out.push((name, oid));
        }
        Ok(out)
    }
}

/// Has libgit2's push hide `outline` in place of every advertised ref but those named in
/// `kept`: points the other advertised refs at it.
///
/// libgit2 (1.9, `push.c`) copies each ref's advertised value into the update it will send
/// (`calculate_work`) before it calls `push_negotiation`, and only afterwards hides, for the
/// pack, every advertised value the local repository holds (`queue_objects`, reading the same
/// heads `git_remote_ls` lists): so what changes here is what the pack builder is told the
/// remote has, never the old values sent. Should a later libgit2 copy the heads instead, this
/// changes nothing (the push walks the advertised trees, as without an outline); should it
/// read the old values from them after this, the server refuses the update (its ref is not the
/// outline), which is [`Pushed::Moved`], never a wrong update.
///
/// # Safety
/// `remote` is a live, connected `git_remote` whose push is under way on this thread.
unsafe fn hide_behind_outline(
    remote: *mut libgit2_sys::git_remote,
    outline: Oid,
    kept: &[&str],
) -> Result<(), git2::Error> {
    use git2::Binding;
    let mut base: *mut *const libgit2_sys::git_remote_head = std::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: `git_remote_ls` points `base` at the transport's array of `size` heads, alive
    // while the connection is (the whole push). The heads are the transport's own heap
    // memory, handed out as `const`; their `oid` is a plain 20-byte value with no invariant
    // tied to anything else, and nothing else reads or writes it while this runs (libgit2 is
    // inside the callback, on this thread).
    unsafe {
        if libgit2_sys::git_remote_ls(&mut base, &mut size, remote) < 0 {
            return Err(git2::Error::last_error(-1));
        }
        if base.is_null() {
            return Ok(());
        }
        for &head in std::slice::from_raw_parts(base, size) {
            if head.is_null() {
                continue;
            }
            let head = head.cast_mut();
            let name = (*head).name;
            if !name.is_null() {
                let name = std::ffi::CStr::from_ptr(name).to_bytes();
                if kept.iter().any(|kept| kept.as_bytes() == name) {
                    continue;
                }
            }
            if (*head).oid.id.iter().all(|byte| *byte == 0) {
                continue;
            }
            (*head).oid = *outline.raw();
        }
    }
    Ok(())
}

/// Points the tracking ref `name` at `target`, or removes it when the remote has no such
/// ref.
fn track(repo: &Repository, name: &str, target: Option<Oid>) -> Result<(), git2::Error> {
    match target {
        Some(target) => repo
            .reference(name, target, true, "cfgupdate: fetch")
            .map(drop),
        None => match repo.find_reference(name) {
            Ok(mut stale) => stale.delete(),
            Err(error) if error.code() == ErrorCode::NotFound => Ok(()),
            Err(error) => Err(error),
        },
    }
}

/// Pushes the local ref `source` to the ref `destination` of `url` without force, when the
/// remote's ref holds exactly what `expect` requires.
///
/// The remote's advertisement is checked on the connection the push uses, before the pack is
/// built: libgit2 sends the advertised value as the update's old value, so the server applies
/// the update only when its ref still holds it. A remote that moved anywhere else (forward,
/// backwards, sideways) is [`Pushed::Moved`], and a branch that is gone [`Pushed::Missing`],
/// before anything is sent. One connection, whose first request carries the token over
/// https (see [`headers`]). `outline`: see [`push_refs`].
pub(crate) fn push(
    repo: &Repository,
    url: &RemoteUrl,
    credentials: &Credentials,
    source: &str,
    destination: &str,
    expect: Expect,
    outline: Option<Oid>,
) -> Result<Pushed, git2::Error> {
    let mut pushed = push_refs(
        repo,
        url,
        credentials,
        &[(source, destination, expect)],
        outline,
    )?;
    pushed
        .pop()
        .ok_or_else(|| git2::Error::from_str("the push reported on no ref"))
}

/// Pushes several local refs to refs of `url` in one push over one connection, each as
/// [`push`] does one (`(source, destination, expect)`), and says what became of each, in the
/// same order. When the advertisement of any of them is not what it must be, nothing is sent:
/// that ref is [`Pushed::Moved`] or [`Pushed::Missing`], the others [`Pushed::Moved`] too.
/// libgit2 has no atomic push: once sent, the server updates (or refuses) each ref on its own.
///
/// With an `outline` (a commit `repo` holds, see `repository/outline.rs`), the pack is built
/// hiding that commit and the old values of the [`Expect::Exactly`] refs instead of every
/// advertised ref: libgit2 would otherwise read the whole tree of each of them. The outline's
/// parent must be the [`Expect::Existing`] ref's old value, and its tree list only objects that
/// commit reaches. The update lines sent keep the advertised old values.
pub(crate) fn push_refs(
    repo: &Repository,
    url: &RemoteUrl,
    credentials: &Credentials,
    refs: &[(&str, &str, Expect)],
    outline: Option<Oid>,
) -> Result<Vec<Pushed>, git2::Error> {
    push_refs_with(repo, url, credentials, refs, outline, None)
}

/// As [`push_refs`], as one atomic push: the server applies every update or none (see
/// [`crate::atomic`]). `None` when the remote cannot be asked for one (a local path, or a
/// server that does not offer it): then nothing was sent.
pub(crate) fn push_refs_atomic(
    repo: &Repository,
    url: &RemoteUrl,
    credentials: &Credentials,
    refs: &[(&str, &str, Expect)],
    outline: Option<Oid>,
) -> Result<Option<Vec<Pushed>>, git2::Error> {
    let Some(session) = atomic::Session::start(url.transport()) else {
        return Ok(None);
    };
    match push_refs_with(repo, url, credentials, refs, outline, Some(&session)) {
        Err(_) if session.offered() == Some(false) => Ok(None),
        pushed => pushed.map(Some),
    }
}

fn push_refs_with(
    repo: &Repository,
    url: &RemoteUrl,
    credentials: &Credentials,
    refs: &[(&str, &str, Expect)],
    outline: Option<Oid>,
    atomic: Option<&atomic::Session>,
) -> Result<Vec<Pushed>, git2::Error> {
    let mut remote = repo.remote_anonymous(url.for_libgit2())?;
    let raw_remote = {
        use git2::Binding;
        remote.raw()
    };
    let headers = headers(credentials, url);
    let header_refs: Vec<&str> = headers.iter().map(String::as_str).collect();

    // Per ref, `None` until the remote reports on it; then `Some(None)` for accepted and
    // `Some(Some(status))` for refused.
    let report: RefCell<Vec<Option<Option<String>>>> = RefCell::new(vec![None; refs.len()]);
    // What the server's hooks printed (git shows it as "remote: ..."), bounded.
    let sideband: RefCell<Vec<u8>> = RefCell::new(Vec::new());
    // Why the push stopped before sending anything: an advertisement did not match.
    let stopped: RefCell<Option<(usize, Pushed)>> = RefCell::new(None);
    let mut callbacks = callbacks(credentials, url, !headers.is_empty());
    callbacks.push_update_reference(|name, status| {
        if let Some(index) = refs
            .iter()
            .position(|(_, destination, _)| *destination == name)
        {
            report.borrow_mut()[index] = Some(status.map(str::to_owned));
        }
        Ok(())
    });
    callbacks.sideband_progress(|data| {
        let mut kept = sideband.borrow_mut();
        let room = SIDEBAND_LIMIT.saturating_sub(kept.len());
        kept.extend_from_slice(&data[..data.len().min(room)]);
        true
    });
    // libgit2 calls this with the values it is about to send as the old ones (what the
    // remote advertised on this connection, zero for a ref it lacks), before it builds the
    // pack.
    callbacks.push_negotiation(|updates| {
        for (index, (_, destination, expect)) in refs.iter().enumerate() {
            let expected = expect.value();
            let current = updates
                .iter()
                .find(|update| update.dst_refname_bytes() == destination.as_bytes())
                .map(|update| update.src())
                .filter(|id| !id.is_zero());
            let outcome = match (expect, current) {
                (Expect::Existing(_), None) => Pushed::Missing,
                _ if current == expected => continue,
                _ => Pushed::Moved(format!(
                    "the remote's `{destination}` is {}, not {}",
                    describe_target(current),
                    describe_target(expected)
                )),
            };
            *stopped.borrow_mut() = Some((index, outcome));
            return Err(git2::Error::new(
                ErrorCode::NotFastForward,
                ErrorClass::Reference,
                format!("the remote's `{destination}` is not what the push was built on"),
            ));
        }
        if let Some(outline) = outline {
            let kept: Vec<&str> = refs
                .iter()
                .filter(|(_, _, expect)| {
                    matches!(expect, Expect::Exactly(_) | Expect::Replacing(_))
                })
                .map(|(_, destination, _)| *destination)
                .collect();
            // SAFETY: `raw_remote` is the remote being pushed through, connected (this is
            // called from inside its push); see `hide_behind_outline`.
            unsafe { hide_behind_outline(raw_remote, outline, &kept) }?;
        }
        Ok(())
    });
    let mut options = PushOptions::new();
    options
        .remote_callbacks(callbacks)
        .proxy_options(proxy())
        .custom_headers(&header_refs);
    // No `+`: the remote's refs only ever move forward, but for the auto branch a rebuild
    // replaces (its old value checked all the same, above and by the server).
    let refspecs: Vec<String> = refs
        .iter()
        .map(|(source, destination, expect)| match expect {
            Expect::Replacing(_) => format!("+{source}:{destination}"),
            _ => format!("{source}:{destination}"),
        })
        .collect();
    let pushed = match atomic {
        None => remote.push(&refspecs, Some(&mut options)),
        // SAFETY: `raw_remote` is `remote`'s, alive for the call.
        Some(_) => unsafe { push_atomically(raw_remote, &refspecs, &options) },
    };
    drop(options);
    if let Some((index, outcome)) = stopped.into_inner() {
        let mut outcome = Some(outcome);
        return Ok((0..refs.len())
            .map(|i| match outcome.take_if(|_| i == index) {
                Some(outcome) => outcome,
                None => Pushed::Moved(format!(
                    "nothing was sent: the remote's `{}` moved",
                    refs[index].1
                )),
            })
            .collect());
    }
    match pushed {
        Ok(()) => {}
        // Refused on the client by libgit2's own check (not a fast-forward of what the
        // remote advertised): nothing was sent.
        Err(error) if error.code() == ErrorCode::NotFastForward => {
            return Ok(refs
                .iter()
                .map(|_| Pushed::Moved(error.message().to_owned()))
                .collect());
        }
        Err(error) => return Err(error),
    }
    let sideband = sideband.into_inner();
    report
        .into_inner()
        .into_iter()
        .zip(refs)
        .map(|(report, (_, destination, _))| match report {
            Some(None) => Ok(Pushed::Accepted),
            Some(Some(status)) if is_race(&status) => Ok(Pushed::Moved(status)),
            Some(Some(status)) => Ok(Pushed::Declined(declined_message(&status, &sideband))),
            None => Err(git2::Error::from_str(&format!(
                "the remote did not report whether it updated `{destination}`"
            ))),
        })
        .collect()
}

/// `git2::Remote::push`, with the remote's `transport` callback set to [`atomic::transport`]
/// (git2 has no setter for it). The caller holds an [`atomic::Session`].
///
/// # Safety
///
/// `remote` must be a live remote for the length of the call.
unsafe fn push_atomically(
    remote: *mut libgit2_sys::git_remote,
    refspecs: &[String],
    options: &PushOptions<'_>,
) -> Result<(), git2::Error> {
    use git2::Binding;
    let strings = refspecs
        .iter()
        .map(|refspec| std::ffi::CString::new(refspec.as_str()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| git2::Error::from_str("a refspec holds a NUL byte"))?;
    let pointers: Vec<*const std::ffi::c_char> = strings.iter().map(|s| s.as_ptr()).collect();
    let array = libgit2_sys::git_strarray {
        strings: pointers.as_ptr().cast_mut().cast(),
        count: pointers.len(),
    };
    let mut raw_options = options.raw();
    raw_options.callbacks.transport = Some(atomic::transport);
    // SAFETY: `array` and `raw_options` (whose callbacks point into `options`) outlive the
    // call, which is synchronous.
    let code = unsafe { libgit2_sys::git_remote_push(remote, &array, &raw_options) };
    if code < 0 {
        let error = git2::Error::last_error(code);
        // A callback that panicked left its panic with git2, which raises it on the next
        // failing call (`git2::Remote::push` does so at once): one that cannot succeed raises
        // it here, not at some later call.
        let _ = git2::Oid::from_str("");
        return Err(error);
    }
    Ok(())
}

/// The most of the server's own messages kept while pushing.
const SIDEBAND_LIMIT: usize = 16 * 1024;

/// Whether a refusal the server reports for the ref means it changed between the
/// advertisement and the update (git's receive-pack checks the old value under the ref's
/// lock), as opposed to a refusal of its own.
fn is_race(status: &str) -> bool {
    let status = status.to_ascii_lowercase();
    !status.contains("declined")
        && [
            "failed to update ref",
            "failed to lock",
            "cannot lock ref",
            "stale info",
            "fetch first",
            "non-fast-forward",
            // An atomic push: one ref failed (a race, or a refusal the server reports for
            // that ref), so the server applied none (git's `receive-pack`).
            "atomic push failure",
            "atomic transaction failed",
        ]
        .iter()
        .any(|race| status.contains(race))
}

/// The server's reason for declining, in its own words: what its hooks printed, then the
/// status it reported for the ref, escaped and bounded.
fn declined_message(status: &str, sideband: &[u8]) -> String {
    let printed = String::from_utf8_lossy(sideband);
    let lines: Vec<&str> = printed
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let status = status.trim();
    let message = if lines.is_empty() {
        status.to_owned()
    } else {
        format!("{} ({status})", lines.join(" "))
    };
    shown(&message)
}

fn describe_target(target: Option<Oid>) -> String {
    match target {
        Some(id) => format!("at {id}"),
        None => "absent".to_owned(),
    }
}
