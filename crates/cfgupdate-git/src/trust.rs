//! Whom cfgupdate trusts to be the remote: the CA file for `https://` remotes, and the
//! known_hosts file for `ssh://` ones, checked in libgit2's certificate callback.

use std::cell::RefCell;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use git2::cert::Cert;
use git2::{CertificateCheckStatus, ErrorClass, ErrorCode};

use crate::credentials::{CA_FILE_VAR, Credentials, SSH_KNOWN_HOSTS_VAR};
use crate::known_hosts::{self, KnownHosts, Verdict};
use crate::url::RemoteUrl;
use crate::x509::{self, Validity};

/// What the last certificate check on this thread left for [`explain`].
#[derive(Debug, Clone)]
enum Note {
    /// It refused, with this sentence.
    Refused(String),
    /// It left the verdict to libgit2, and this sentence says why libgit2 would refuse.
    IfUntrusted(String),
}

thread_local! {
    /// libgit2 replaces the message of a refused ssh host key with its own ("invalid or
    /// unknown remote ssh hostkey") and says only "the SSL certificate is invalid" of a TLS
    /// certificate it does not trust; this keeps the sentence that says why.
    static LAST_CHECK: RefCell<Option<Note>> = const { RefCell::new(None) };
}

/// The sentence the last certificate check on this thread left, when `error` is the
/// failure it explains; cleared either way.
pub(crate) fn explain(error: &git2::Error) -> Option<String> {
    match LAST_CHECK.with(|last| last.borrow_mut().take())? {
        Note::Refused(sentence) if error.code() == ErrorCode::Certificate => Some(sentence),
        // libgit2's own words when no trusted CA signed the certificate (or it expired);
        // a wrong host name has words of its own, which are kept.
        Note::IfUntrusted(sentence) if error.message().contains("certificate is invalid") => {
            Some(sentence)
        }
        _ => None,
    }
}

fn leave_note(note: Option<Note>) {
    LAST_CHECK.with(|last| *last.borrow_mut() = note);
}

/// The certificate check for connections to `url`: ssh host keys against the known_hosts
/// file, TLS certificates by libgit2 (which trusts the system's CAs and the CA file), with
/// a sentence of our own for an expired one.
pub(crate) fn certificate_check<'a>(
    credentials: &'a Credentials,
    url: &'a RemoteUrl,
) -> impl FnMut(&Cert<'_>, &str) -> Result<CertificateCheckStatus, git2::Error> + 'a {
    let ca_problem = credentials
        .ca_file()
        .and_then(|path| trust_ca_file(path).err());
    move |cert, host| {
        leave_note(None);
        if let Some(hostkey) = cert.as_hostkey() {
            let Some(key) = hostkey.hostkey() else {
                return Err(refuse(format!(
                    "the ssh server {host} did not show its host key"
                )));
            };
            let fingerprint = hostkey.hash_sha256().map(|hash| {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD_NO_PAD.encode(hash)
            });
            return check_host_key(
                credentials,
                host,
                ssh_port(url.for_libgit2()),
                key,
                fingerprint,
            );
        }
        if let Some(x509) = cert.as_x509() {
            if let Some(problem) = &ca_problem {
                return Err(refuse(problem.clone()));
            }
            if let Some(validity) = Validity::from_der(x509.data()) {
                let now = x509::now();
                if now > validity.not_after {
                    return Err(refuse(format!(
                        "the TLS certificate of {host} expired on {}",
                        x509::format_utc(validity.not_after)
                    )));
                }
                if now < validity.not_before {
                    return Err(refuse(format!(
                        "the TLS certificate of {host} is not valid before {}",
                        x509::format_utc(validity.not_before)
                    )));
                }
            }
            leave_note(Some(Note::IfUntrusted(untrusted_certificate(
                credentials,
                host,
            ))));
        }
        Ok(CertificateCheckStatus::CertificatePassthrough)
    }
}

fn untrusted_certificate(credentials: &Credentials, host: &str) -> String {
    match credentials.ca_file() {
        Some(path) => format!(
            "the TLS certificate of {host} is not signed by the CA in {CA_FILE_VAR} ({}) nor by one this machine trusts",
            path.display()
        ),
        None => format!(
            "the TLS certificate of {host} is not signed by a CA this machine trusts (set {CA_FILE_VAR} to the file of the CA that signed it)"
        ),
    }
}

fn refuse(message: String) -> git2::Error {
    leave_note(Some(Note::Refused(message.clone())));
    git2::Error::new(ErrorCode::Certificate, ErrorClass::Ssh, message)
}

fn check_host_key(
    credentials: &Credentials,
    host: &str,
    port: u16,
    key: &[u8],
    fingerprint: Option<String>,
) -> Result<CertificateCheckStatus, git2::Error> {
    let (file, source) = match credentials.known_hosts() {
        Some(path) => (
            Some(path.to_owned()),
            format!("{SSH_KNOWN_HOSTS_VAR} ({})", path.display()),
        ),
        None => {
            let default = default_known_hosts();
            let source = match &default {
                Some(path) => format!("{} ({SSH_KNOWN_HOSTS_VAR} is not set)", path.display()),
                None => format!("{SSH_KNOWN_HOSTS_VAR}, which is not set"),
            };
            (default, source)
        }
    };
    let text = match &file {
        Some(path) => match fs::read_to_string(path) {
            Ok(text) => text,
            Err(error)
                if error.kind() == std::io::ErrorKind::NotFound
                    && credentials.known_hosts().is_none() =>
            {
                String::new()
            }
            Err(error) => {
                return Err(refuse(format!(
                    "the host key of {host} cannot be checked: {source} cannot be read: {error}"
                )));
            }
        },
        None => String::new(),
    };
    let shown_key = format!(
        "{} SHA256:{}",
        known_hosts::key_type(key).unwrap_or("unknown"),
        fingerprint.as_deref().unwrap_or("?")
    );
    let server = if port == 22 {
        host.to_owned()
    } else {
        format!("{host} port {port}")
    };
    match KnownHosts::parse(&text).check(host, port, key) {
        Verdict::Known => Ok(CertificateCheckStatus::CertificateOk),
        Verdict::Unknown => Err(refuse(format!(
            "the ssh server {server} is unknown: its host key ({shown_key}) is not in {source}; add it there once you have checked it"
        ))),
        Verdict::Changed { listed } => Err(refuse(format!(
            "the host key of the ssh server {server} changed: it showed {shown_key}, but {source} lists another key ({}) for it, so the server was replaced or someone is in between",
            listed.join(", ")
        ))),
        Verdict::Revoked => Err(refuse(format!(
            "the host key of the ssh server {server} ({shown_key}) is marked @revoked in {source}"
        ))),
    }
}

/// `~/.ssh/known_hosts`, what OpenSSH and libgit2 read when nothing else is said.
fn default_known_hosts() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(|home| PathBuf::from(home).join(".ssh").join("known_hosts"))
}

/// The port libgit2 connects to for an ssh remote: the one in `ssh://host:port/...` or in
/// the scp-like `[user@host:port]:path`, else 22.
pub(crate) fn ssh_port(raw: &str) -> u16 {
    let authority = match raw.split_once("://") {
        Some((_, rest)) => rest.split('/').next().unwrap_or(""),
        None => match raw.strip_prefix('[').and_then(|rest| rest.split_once(']')) {
            // `[user@host:port]:path`; `[::1]:path` (an IPv6 address) has no port.
            Some((inside, _)) if !inside.contains("::") => inside,
            _ => return 22,
        },
    };
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let port = match host_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split_once("]:").map(|(_, port)| port),
        None => host_port.rsplit_once(':').map(|(_, port)| port),
    };
    port.and_then(|port| port.parse().ok()).unwrap_or(22)
}

/// CA files already given to libgit2 in this process.
static TRUSTED_CA_FILES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Adds the certificates in `path` to the CAs libgit2 trusts, once per process: a
/// process-wide setting (libgit2 has one TLS context), added to the system's CAs.
fn trust_ca_file(path: &Path) -> Result<(), String> {
    let cannot = |why: String| format!("the CA file in {CA_FILE_VAR} ({}) {why}", path.display());
    let mut trusted = TRUSTED_CA_FILES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if trusted.iter().any(|known| known == path) {
        return Ok(());
    }
    let text = fs::read(path).map_err(|error| cannot(format!("cannot be read: {error}")))?;
    if !text
        .windows(b"-----BEGIN CERTIFICATE-----".len())
        .any(|window| window == b"-----BEGIN CERTIFICATE-----")
    {
        return Err(cannot("holds no PEM certificate".to_owned()));
    }
    // SAFETY: libgit2 reads its TLS context when it opens a connection; this runs before
    // this thread connects, under a lock, and only adds certificates to the context.
    unsafe { git2::opts::set_ssl_cert_file(path) }
        .map_err(|error| cannot(format!("cannot be loaded: {}", error.message())))?;
    trusted.push(path.to_owned());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ssh_port_comes_from_the_url_and_is_22_otherwise() {
        for (url, port) in [
            ("ssh://git@host:2222/x.git", 2222),
            ("ssh://host/x.git", 22),
            ("ssh://git@[::1]:2200/x.git", 2200),
            ("ssh://[::1]/x.git", 22),
            ("git@host:team/x.git", 22),
            ("host:x.git", 22),
            ("[git@host:2222]:/srv/x.git", 2222),
            ("[host:2223]:x.git", 2223),
            ("[::1]:x.git", 22),
            ("ssh://git@host:notaport/x", 22),
        ] {
            assert_eq!(ssh_port(url), port, "{url}");
        }
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        fs::write(&path, "not a certificate\n").unwrap();
        let error = trust_ca_file(&path).unwrap_err();
        assert!(
            error.contains(CA_FILE_VAR) && error.contains("ca.pem"),
            "{error}"
        );
        let missing = trust_ca_file(&dir.path().join("missing.pem")).unwrap_err();
        assert!(missing.contains("cannot be read"), "{missing}");
    }

    #[test]
    fn a_note_explains_only_the_certificate_failure_it_was_left_for() {
        leave_note(Some(Note::Refused("why".into())));
        let other = git2::Error::new(ErrorCode::GenericError, ErrorClass::Net, "timeout");
        assert_eq!(explain(&other), None);
        // Taken, not kept for a later failure.
        let certificate = git2::Error::new(ErrorCode::Certificate, ErrorClass::Ssh, "invalid");
        assert_eq!(explain(&certificate), None);
        leave_note(Some(Note::Refused("why".into())));
        assert_eq!(explain(&certificate).as_deref(), Some("why"));

        // A certificate libgit2 checked and found good leaves a note that explains nothing
        // else, such as a connection lost later.
        let invalid = git2::Error::new(
            ErrorCode::GenericError,
            ErrorClass::Ssl,
            "the SSL certificate is invalid",
        );
        let lost = git2::Error::new(
            ErrorCode::GenericError,
            ErrorClass::Ssl,
            "SSL error: connection failure",
        );
        leave_note(Some(Note::IfUntrusted("untrusted".into())));
        assert_eq!(explain(&lost), None);
        leave_note(Some(Note::IfUntrusted("untrusted".into())));
        assert_eq!(explain(&invalid).as_deref(), Some("untrusted"));
    }
}
