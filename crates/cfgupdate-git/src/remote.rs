//! Talking to the remote: fetching the branch and its state ref, and pushing one commit to
//! either, never by force.

use std::cell::RefCell;

use git2::{
    AutotagOption, Direction, ErrorClass, ErrorCode, FetchOptions, Oid, ProxyOptions, PushOptions,
    RemoteCallbacks, Repository,
};

use crate::credentials::Credentials;
use crate::options::Branch;
use crate::standins;
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
/// `refs/cfgupdate-local/outgoing/`, `refs/cfgupdate-local/outgoing-state/`): whatever the
/// branch is called, none of them can overwrite another.
pub(crate) fn state_tracking_ref(branch: &Branch) -> String {
    format!("refs/cfgupdate-local/state/{branch}")
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
pub(crate) enum Pushed {
    /// The remote's ref now points at the pushed commit.
    Accepted,
    /// Refused: not what the remote's ref was required to hold, not a fast-forward, or
    /// declined by the server (with its reason).
    Rejected(String),
}

/// What the remote's ref must hold for a push to go ahead. The server checks it again
/// when it applies the update, since the push names the value we saw as the old one.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Expect {
    /// Anything our commit descends from (git's own rule for a push without force).
    FastForward,
    /// Exactly this commit, or no ref at all for `None`.
    Exactly(Option<Oid>),
}

/// The callbacks of every connection to `url`: credentials, and the check of the server's
/// TLS certificate or ssh host key (see [`trust`]).
fn callbacks<'a>(credentials: &'a Credentials, url: &'a RemoteUrl) -> RemoteCallbacks<'a> {
    let mut callbacks = RemoteCallbacks::new();
    callbacks.credentials(credentials.callback());
    callbacks.certificate_check(trust::certificate_check(credentials, url));
    callbacks
}

fn proxy<'a>() -> ProxyOptions<'a> {
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
    let mut options = FetchOptions::new();
    options
        .remote_callbacks(callbacks(credentials, url))
        .proxy_options(proxy())
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
    let advertised = remote.list()?;
    let on_remote = |name: &str| {
        advertised
            .iter()
            .find(|head| head.name() == name)
            .map(|head| head.oid())
    };
    let fetched = Fetched {
        tip: on_remote(&format!("refs/heads/{branch}")),
        state: on_remote(&state_ref(branch)),
    };
    track(repo, &tracking_ref(branch), fetched.tip)?;
    track(repo, &state_tracking_ref(branch), fetched.state)?;
    Ok(fetched)
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
/// remote's ref holds what `expect` requires.
///
/// The push goes through a handle of its own on the cache, with stand-in trees chosen from
/// what the remote advertises on the connection the push then uses, so that building the
/// pack costs what the commit changes and not what the repository holds (see
/// [`standins`]).
pub(crate) fn push(
    repo: &Repository,
    url: &RemoteUrl,
    credentials: &Credentials,
    source: &str,
    destination: &str,
    expect: Expect,
) -> Result<Pushed, git2::Error> {
    standins::init();
    let pushing = Repository::open_bare(repo.path())?;
    let new = pushing.refname_to_id(source)?;
    let mut remote = pushing.remote_anonymous(url.for_libgit2())?;
    let mut connection = remote.connect_auth(
        Direction::Push,
        Some(callbacks(credentials, url)),
        Some(proxy()),
    )?;
    let (on_remote, advertised) = {
        let heads = connection.list()?;
        let on_remote = heads
            .iter()
            .find(|head| head.name() == destination)
            .map(|head| head.oid());
        let advertised: Vec<Oid> = heads.iter().map(|head| head.oid()).collect();
        (on_remote, advertised)
    };
    let stand_ins = standins::choose(&pushing, new, on_remote, &advertised)?;
    standins::install(&pushing, &stand_ins)?;

    // `None` until the remote reports on the ref; then `Some(None)` for accepted and
    // `Some(Some(reason))` for declined.
    let report: RefCell<Option<Option<String>>> = RefCell::new(None);
    let mut callbacks = callbacks(credentials, url);
    callbacks.push_update_reference(|name, status| {
        if name == destination {
            *report.borrow_mut() = Some(status.map(str::to_owned));
        }
        Ok(())
    });
    if let Expect::Exactly(expected) = expect {
        // libgit2 calls this with the remote's refs as just advertised, before it sends
        // anything; refusing here ends the push with nothing sent.
        callbacks.push_negotiation(move |updates| {
            let current = updates
                .iter()
                .find(|update| update.dst_refname_bytes() == destination.as_bytes())
                .map(|update| update.src())
                .filter(|id| !id.is_zero());
            if current == expected {
                return Ok(());
            }
            Err(git2::Error::new(
                ErrorCode::NotFastForward,
                ErrorClass::Reference,
                format!(
                    "the remote's `{destination}` is {}, not {}",
                    describe_target(current),
                    describe_target(expected)
                ),
            ))
        });
    }
    let mut options = PushOptions::new();
    options.remote_callbacks(callbacks).proxy_options(proxy());
    // No `+`: the remote's ref only ever moves forward.
    let refspec = format!("{source}:{destination}");
    // libgit2 pushes on the connection already open, over which the remote advertised
    // what the stand-ins were chosen from.
    match connection.remote().push(&[refspec], Some(&mut options)) {
        Ok(()) => {}
        // Refused on the client: the remote's ref does not hold what `expect` requires, or
        // its commit is not an ancestor of ours, or is not even present locally because
        // someone pushed after our last fetch.
        Err(error) if error.code() == ErrorCode::NotFastForward => {
            return Ok(Pushed::Rejected(error.message().to_owned()));
        }
        Err(error) => return Err(error),
    }
    drop(options);
    match report.into_inner() {
        Some(None) => Ok(Pushed::Accepted),
        Some(Some(reason)) => Ok(Pushed::Rejected(reason)),
        None => Err(git2::Error::from_str(&format!(
            "the remote did not report whether it updated `{destination}`"
        ))),
    }
}

fn describe_target(target: Option<Oid>) -> String {
    match target {
        Some(id) => format!("at {id}"),
        None => "absent".to_owned(),
    }
}
