//! Turning libgit2's and the filesystem's errors into the core's, without a credential.

use cfgupdate_core::{RepositoryError, RepositoryErrorKind};
use git2::{ErrorClass, ErrorCode};

use crate::credentials::Credentials;
use crate::url::RemoteUrl;

/// Writes error sentences about one remote, with every credential redacted.
#[derive(Clone, Copy)]
pub(crate) struct Describe<'a> {
    pub(crate) url: &'a RemoteUrl,
    pub(crate) credentials: &'a Credentials,
}

impl Describe<'_> {
    /// `text` as it may be shown.
    pub(crate) fn redact(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in self.credentials.secrets() {
            text = text.replace(secret, "***");
        }
        self.url.redact(&text)
    }

    /// An error of `kind` whose sentence is `message`, redacted.
    pub(crate) fn error(&self, kind: RepositoryErrorKind, message: &str) -> RepositoryError {
        RepositoryError::new(kind, self.redact(message))
    }

    /// A failure while talking to the remote: `doing` says what was being done and names
    /// the remote.
    pub(crate) fn remote(&self, doing: &str, error: &git2::Error) -> RepositoryError {
        // libgit2 replaces the sentence of a refused host key or certificate with its own.
        let detail = crate::trust::explain(error).unwrap_or_else(|| detail(error));
        self.error(remote_kind(error), &format!("{doing}: {detail}"))
    }

    /// A failure inside the cache: missing objects are `NotFound`, the rest `Failed`.
    pub(crate) fn local(&self, doing: &str, error: &git2::Error) -> RepositoryError {
        let kind = if error.code() == ErrorCode::NotFound {
            RepositoryErrorKind::NotFound
        } else {
            RepositoryErrorKind::Failed
        };
        self.error(kind, &format!("{doing}: {}", detail(error)))
    }

    /// A failure of the filesystem around the cache.
    pub(crate) fn io(&self, doing: &str, error: &std::io::Error) -> RepositoryError {
        self.error(RepositoryErrorKind::Failed, &format!("{doing}: {error}"))
    }
}

/// libgit2's message without the trailing period, so it can end our sentence.
fn detail(error: &git2::Error) -> String {
    error.message().trim().trim_end_matches('.').to_owned()
}

/// Whether a failure while fetching or pushing may pass: the network, the server, and
/// authentication may; the cache's own objects and refs will not.
fn remote_kind(error: &git2::Error) -> RepositoryErrorKind {
    match error.code() {
        ErrorCode::Auth | ErrorCode::Certificate => return RepositoryErrorKind::Unavailable,
        ErrorCode::Locked => return RepositoryErrorKind::Failed,
        _ => {}
    }
    match error.class() {
        ErrorClass::Odb
        | ErrorClass::Reference
        | ErrorClass::Index
        | ErrorClass::Object
        | ErrorClass::Tree
        | ErrorClass::Indexer
        | ErrorClass::NoMemory => RepositoryErrorKind::Failed,
        _ => RepositoryErrorKind::Unavailable,
    }
}
