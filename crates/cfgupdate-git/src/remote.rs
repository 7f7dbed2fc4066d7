//! Talking to the remote: fetching the branch and pushing one commit to it, never by force.

use std::cell::RefCell;

use git2::{
    AutotagOption, ErrorCode, FetchOptions, Oid, ProxyOptions, PushOptions, RemoteCallbacks,
    Repository,
};

use crate::credentials::Credentials;
use crate::options::Branch;
use crate::url::RemoteUrl;

/// The ref holding the branch as last fetched (or pushed).
pub(crate) fn tracking_ref(branch: &Branch) -> String {
    format!("refs/remotes/origin/{branch}")
}

/// The ref a new commit is pushed from. It lives outside `refs/cfgupdate/`, which cfgupdate
/// may one day fetch from the remote, so a fetch can never overwrite it.
pub(crate) fn outgoing_ref(branch: &Branch) -> String {
    format!("refs/cfgupdate-local/outgoing/{branch}")
}

/// What a refresh fetches. The branch comes first; more refspecs (such as cfgupdate's own
/// `refs/cfgupdate/*`) can follow without changing anything else.
pub(crate) fn fetch_refspecs(branch: &Branch) -> Vec<String> {
    vec![format!("+refs/heads/{branch}:{}", tracking_ref(branch))]
}

/// What a fetch found.
pub(crate) enum Fetched {
    /// The branch's tip, now in the tracking ref.
    Tip(Oid),
    /// The remote has no such branch; the tracking ref was removed.
    NoBranch,
}

/// What became of a push the transport completed.
pub(crate) enum Pushed {
    /// The remote's branch now points at the pushed commit.
    Accepted,
    /// Refused: not a fast-forward on the client, or declined by the server (with its
    /// reason).
    Rejected(String),
}

fn callbacks(credentials: &Credentials) -> RemoteCallbacks<'_> {
    let mut callbacks = RemoteCallbacks::new();
    callbacks.credentials(credentials.callback());
    callbacks
}

fn proxy<'a>() -> ProxyOptions<'a> {
    let mut proxy = ProxyOptions::new();
    proxy.auto();
    proxy
}

/// Fetches `branch` of `url` into the cache and points the tracking ref at its tip.
pub(crate) fn fetch(
    repo: &Repository,
    url: &RemoteUrl,
    credentials: &Credentials,
    branch: &Branch,
) -> Result<Fetched, git2::Error> {
    let mut remote = repo.remote_anonymous(url.for_libgit2())?;
    let mut options = FetchOptions::new();
    options
        .remote_callbacks(callbacks(credentials))
        .proxy_options(proxy())
        .download_tags(AutotagOption::None)
        .update_fetchhead(false);
    remote.fetch(
        &fetch_refspecs(branch),
        Some(&mut options),
        Some("cfgupdate: fetch"),
    )?;
    // The advertised refs stay readable after the fetch disconnected; they are the truth
    // about the branch, also when it was deleted on the remote since our last fetch.
    let wanted = format!("refs/heads/{branch}");
    let tip = remote
        .list()?
        .iter()
        .find(|head| head.name() == wanted)
        .map(|head| head.oid());
    let tracking = tracking_ref(branch);
    match tip {
        Some(tip) => {
            repo.reference(&tracking, tip, true, "cfgupdate: fetch")?;
            Ok(Fetched::Tip(tip))
        }
        None => {
            match repo.find_reference(&tracking) {
                Ok(mut stale) => stale.delete()?,
                Err(error) if error.code() == ErrorCode::NotFound => {}
                Err(error) => return Err(error),
            }
            Ok(Fetched::NoBranch)
        }
    }
}

/// Pushes the outgoing ref to `branch` of `url` without force.
pub(crate) fn push(
    repo: &Repository,
    url: &RemoteUrl,
    credentials: &Credentials,
    branch: &Branch,
) -> Result<Pushed, git2::Error> {
    let mut remote = repo.remote_anonymous(url.for_libgit2())?;
    let destination = format!("refs/heads/{branch}");
    // `None` until the remote reports on the branch; then `Some(None)` for accepted and
    // `Some(Some(reason))` for declined.
    let report: RefCell<Option<Option<String>>> = RefCell::new(None);
    let mut callbacks = callbacks(credentials);
    callbacks.push_update_reference(|name, status| {
        if name == destination {
            *report.borrow_mut() = Some(status.map(str::to_owned));
        }
        Ok(())
    });
    let mut options = PushOptions::new();
    options.remote_callbacks(callbacks).proxy_options(proxy());
    // No `+`: the remote's branch only ever moves forward.
    let refspec = format!("{}:{destination}", outgoing_ref(branch));
    match remote.push(&[refspec], Some(&mut options)) {
        Ok(()) => {}
        // Refused on the client: the remote's tip is not an ancestor of ours, or is not even
        // present locally because someone pushed after our last fetch.
        Err(error) if error.code() == ErrorCode::NotFastForward => {
            return Ok(Pushed::Rejected(error.message().to_owned()));
        }
        Err(error) => return Err(error),
    }
    drop(options);
    match report.into_inner() {
        Some(None) => Ok(Pushed::Accepted),
        Some(Some(reason)) => Ok(Pushed::Rejected(reason)),
        None => Err(git2::Error::from_str(
            "the remote did not report whether it updated the branch",
        )),
    }
}
