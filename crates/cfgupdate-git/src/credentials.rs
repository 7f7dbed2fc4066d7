//! Credentials for the remote, from the environment or given directly; never shown.

use std::fmt;
use std::path::{Path, PathBuf};

use git2::{Cred, CredentialType, ErrorClass, ErrorCode};

/// Environment variable holding the token for `https://` remotes.
pub const TOKEN_VAR: &str = "CFGUPDATE_GIT_TOKEN";
/// Environment variable holding the user name sent with the token (default
/// [`DEFAULT_TOKEN_USERNAME`]).
pub const USERNAME_VAR: &str = "CFGUPDATE_GIT_USERNAME";
/// Environment variable holding the path of a private key for `ssh://` remotes.
pub const SSH_KEY_VAR: &str = "CFGUPDATE_SSH_KEY";
/// Environment variable holding the passphrase of that key, when it has one.
pub const SSH_KEY_PASSPHRASE_VAR: &str = "CFGUPDATE_SSH_KEY_PASSPHRASE";
/// Environment variable holding the path of a PEM file of CA certificates trusted for
/// `https://` remotes, besides the system's.
pub const CA_FILE_VAR: &str = "CFGUPDATE_GIT_CA_FILE";
/// Environment variable holding the path of the OpenSSH known_hosts file that `ssh://`
/// servers' host keys are checked against (default `~/.ssh/known_hosts`).
pub const SSH_KNOWN_HOSTS_VAR: &str = "CFGUPDATE_SSH_KNOWN_HOSTS";
/// The user name sent with a token when none is configured: what GitHub and Gitea accept
/// for app and access tokens; GitLab accepts any user name with a token.
pub const DEFAULT_TOKEN_USERNAME: &str = "x-access-token";

/// A value that must never be printed: the core's credential type.
pub use cfgupdate_core::Secret;

/// A secret as libgit2 takes it: text. Secrets read from the environment always are; one an
/// embedder made from bytes that are not UTF-8 is refused here, without showing it.
fn text(secret: &Secret) -> Result<&str, git2::Error> {
    secret.expose_str().ok_or_else(|| {
        git2::Error::new(
            ErrorCode::Auth,
            ErrorClass::Callback,
            "a credential is not UTF-8 text, which libgit2 needs",
        )
    })
}

/// How cfgupdate proves who it is to the remote, and how it knows the remote is who it
/// claims to be.
///
/// Over `https://`: a token, sent as the password of [`Credentials::https_username`]; the
/// server's certificate must be signed by a CA the system trusts or by one in
/// [`Credentials::ca_file`]. Over `ssh://`: a private key file, or else whatever keys the
/// ssh-agent holds; the server's host key must be listed in [`Credentials::known_hosts`]
/// (else `~/.ssh/known_hosts`): an unknown or changed host key is refused. Credentials
/// written into the URL itself (`https://user:token@host/...`) are used by libgit2 as well,
/// and are redacted like these.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    https_username: Option<String>,
    https_token: Option<Secret>,
    ssh_key: Option<PathBuf>,
    ssh_key_passphrase: Option<Secret>,
    ca_file: Option<PathBuf>,
    known_hosts: Option<PathBuf>,
}

impl Credentials {
    /// No credentials: enough for local paths, `file://`, `git://` and public remotes (and
    /// ssh through the agent).
    pub fn none() -> Self {
        Self::default()
    }

    /// Reads [`TOKEN_VAR`], [`USERNAME_VAR`], [`SSH_KEY_VAR`], [`SSH_KEY_PASSPHRASE_VAR`],
    /// [`CA_FILE_VAR`] and [`SSH_KNOWN_HOSTS_VAR`]; unset or empty variables are left out.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// As [`Credentials::from_env`], reading variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| lookup(name).filter(|value| !value.is_empty());
        Self {
            https_username: get(USERNAME_VAR),
            https_token: get(TOKEN_VAR).and_then(Secret::new),
            ssh_key: get(SSH_KEY_VAR).map(PathBuf::from),
            ssh_key_passphrase: get(SSH_KEY_PASSPHRASE_VAR).and_then(Secret::new),
            ca_file: get(CA_FILE_VAR).map(PathBuf::from),
            known_hosts: get(SSH_KNOWN_HOSTS_VAR).map(PathBuf::from),
        }
    }

    /// With `token` for `https://` remotes, sent with `username` (default
    /// [`DEFAULT_TOKEN_USERNAME`]).
    pub fn with_https_token(mut self, username: Option<&str>, token: Secret) -> Self {
        self.https_username = username.map(str::to_owned);
        self.https_token = Some(token);
        self
    }

    /// With the private key at `path` (and its passphrase) for `ssh://` remotes, instead of
    /// the ssh-agent.
    pub fn with_ssh_key(mut self, path: impl Into<PathBuf>, passphrase: Option<Secret>) -> Self {
        self.ssh_key = Some(path.into());
        self.ssh_key_passphrase = passphrase;
        self
    }

    /// Trusting the CA certificates in the PEM file at `path` for `https://` remotes, besides
    /// the system's.
    ///
    /// libgit2 has one TLS context per process: the file is added to it before the first
    /// connection that uses these credentials, and from then on its CAs are trusted for
    /// every `https://` remote this process talks to, also through other
    /// [`crate::GitRepository`] values. A file that cannot be read or holds no certificate
    /// fails every `https://` connection with a sentence naming it.
    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Checking `ssh://` servers' host keys against the OpenSSH known_hosts file at `path`
    /// instead of `~/.ssh/known_hosts`.
    pub fn with_known_hosts(mut self, path: impl Into<PathBuf>) -> Self {
        self.known_hosts = Some(path.into());
        self
    }

    /// The CA file trusted for https, when one is configured.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// The known_hosts file ssh host keys are checked against, when one is configured.
    pub fn known_hosts(&self) -> Option<&Path> {
        self.known_hosts.as_deref()
    }

    /// The user name sent with the https token.
    pub fn https_username(&self) -> &str {
        self.https_username
            .as_deref()
            .unwrap_or(DEFAULT_TOKEN_USERNAME)
    }

    /// The private key file for ssh, when one is configured.
    pub fn ssh_key(&self) -> Option<&Path> {
        self.ssh_key.as_deref()
    }

    /// The texts no message may contain.
    pub(crate) fn secrets(&self) -> impl Iterator<Item = &str> {
        self.https_token
            .iter()
            .chain(&self.ssh_key_passphrase)
            .filter_map(Secret::expose_str)
    }

    /// The `Authorization` header line that sends the https token with a connection's first
    /// request: HTTP basic with [`Credentials::https_username`], exactly what libgit2 sends
    /// once the server has answered 401 (a round trip saved per connection). `None` without a
    /// token. It holds the token: never print it. Base64 leaves no line break or NUL in it,
    /// whatever the token holds.
    pub(crate) fn authorization_header(&self) -> Option<String> {
        use base64::Engine as _;
        let token = self.https_token.as_ref()?;
        let mut pair = format!("{}:", self.https_username()).into_bytes();
        pair.extend_from_slice(token.expose_bytes());
        Some(format!(
            "Authorization: Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        ))
    }

    /// A libgit2 credentials callback: answers each kind of question once, so a refused
    /// credential ends the attempt instead of being offered forever. `token_sent` says the
    /// token already went with the first request ([`Credentials::authorization_header`]):
    /// a request for a password then means the server refused it, and it is not sent again.
    pub(crate) fn callback(
        &self,
        token_sent: bool,
    ) -> impl FnMut(&str, Option<&str>, CredentialType) -> Result<Cred, git2::Error> + '_ {
        let mut asked = if token_sent {
            CredentialType::USER_PASS_PLAINTEXT
        } else {
            CredentialType::empty()
        };
        move |_url, username_from_url, allowed| {
            let ssh_user = username_from_url.unwrap_or("git");
            let refused = |what: String| {
                git2::Error::new(
                    ErrorCode::Auth,
                    ErrorClass::Callback,
                    format!("the remote refused {what}"),
                )
            };
            if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                if asked.contains(CredentialType::USER_PASS_PLAINTEXT) {
                    return Err(refused(format!(
                        "the token (from {TOKEN_VAR}, sent with the user name `{}`)",
                        self.https_username()
                    )));
                }
                asked |= CredentialType::USER_PASS_PLAINTEXT;
                return match &self.https_token {
                    Some(token) => Cred::userpass_plaintext(self.https_username(), text(token)?),
                    None => Err(git2::Error::new(
                        ErrorCode::Auth,
                        ErrorClass::Callback,
                        format!("the remote asks for a password and {TOKEN_VAR} is not set"),
                    )),
                };
            }
            if allowed.contains(CredentialType::SSH_KEY) {
                if asked.contains(CredentialType::SSH_KEY) {
                    return Err(refused(match &self.ssh_key {
                        Some(key) => format!(
                            "the ssh key {} ({SSH_KEY_VAR}) for the user `{ssh_user}`",
                            key.display()
                        ),
                        None => format!(
                            "the ssh-agent's keys for the user `{ssh_user}` ({SSH_KEY_VAR} is not set)"
                        ),
                    }));
                }
                asked |= CredentialType::SSH_KEY;
                return match &self.ssh_key {
                    Some(key) => Cred::ssh_key(
                        ssh_user,
                        None,
                        key,
                        self.ssh_key_passphrase.as_ref().map(text).transpose()?,
                    ),
                    None => Cred::ssh_key_from_agent(ssh_user),
                };
            }
            if allowed.contains(CredentialType::USERNAME) {
                if asked.contains(CredentialType::USERNAME) {
                    return Err(refused(format!("the user name `{ssh_user}`")));
                }
                asked |= CredentialType::USERNAME;
                return Cred::username(ssh_user);
            }
            Err(git2::Error::new(
                ErrorCode::Auth,
                ErrorClass::Callback,
                "the remote asks for a kind of credential cfgupdate does not have",
            ))
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("https_username", &self.https_username())
            .field("https_token", &self.https_token)
            .field("ssh_key", &self.ssh_key)
            .field("ssh_key_passphrase", &self.ssh_key_passphrase)
            .field("ca_file", &self.ca_file)
            .field("known_hosts", &self.known_hosts)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_from_the_documented_variables_and_never_print() {
        let credentials = Credentials::from_lookup(|name| match name {
            TOKEN_VAR => Some("tok-123".into()),
            SSH_KEY_VAR => Some("/keys/id".into()),
            SSH_KEY_PASSPHRASE_VAR => Some("phrase-456".into()),
            USERNAME_VAR => Some(String::new()),
            CA_FILE_VAR => Some("/etc/ca.pem".into()),
            SSH_KNOWN_HOSTS_VAR => Some("/etc/known_hosts".into()),
            _ => None,
        });
        assert_eq!(credentials.https_username(), DEFAULT_TOKEN_USERNAME);
        assert_eq!(credentials.ssh_key(), Some(Path::new("/keys/id")));
        assert_eq!(credentials.ca_file(), Some(Path::new("/etc/ca.pem")));
        assert_eq!(
            credentials.known_hosts(),
            Some(Path::new("/etc/known_hosts"))
        );
        let shown = format!("{credentials:?}");
        assert!(
            !shown.contains("tok-123") && !shown.contains("phrase-456"),
            "{shown}"
        );
        assert_eq!(
            credentials.secrets().collect::<Vec<_>>(),
            ["tok-123", "phrase-456"]
        );
    }

    #[test]
    fn a_refused_token_is_not_offered_twice() {
        let credentials = Credentials::none().with_https_token(None, Secret::new("t").unwrap());
        let mut callback = credentials.callback(false);
        let url = "https://host/x";
        assert!(callback(url, None, CredentialType::USER_PASS_PLAINTEXT).is_ok());
        let Err(again) = callback(url, None, CredentialType::USER_PASS_PLAINTEXT) else {
            panic!("a refused token was offered again");
        };
        assert_eq!(again.code(), ErrorCode::Auth);
    }

    #[test]
    fn a_token_sent_with_the_first_request_is_basic_authentication_and_not_offered_again() {
        let credentials = Credentials::none()
            .with_https_token(Some("ci\nbot"), Secret::new("s3cr3t:\r\n\0").unwrap());
        let header = credentials.authorization_header().unwrap();
        use base64::Engine as _;
        let encoded = header.strip_prefix("Authorization: Basic ").unwrap();
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .unwrap(),
            b"ci\nbot:s3cr3t:\r\n\0"
        );
        assert!(!header.contains(['\r', '\n', '\0']), "{header:?}");
        assert_eq!(Credentials::none().authorization_header(), None);
        let mut callback = credentials.callback(true);
        let Err(refused) = callback("https://host/x", None, CredentialType::USER_PASS_PLAINTEXT)
        else {
            panic!("a token the server refused in the header was offered again");
        };
        assert_eq!(refused.code(), ErrorCode::Auth);
        assert!(!refused.message().contains("s3cr3t"), "{refused}");
    }

    #[test]
    fn a_password_prompt_without_a_token_names_the_variable() {
        let credentials = Credentials::none();
        let mut callback = credentials.callback(false);
        let Err(error) = callback("https://host/x", None, CredentialType::USER_PASS_PLAINTEXT)
        else {
            panic!("a password was made up");
        };
        assert!(error.message().contains(TOKEN_VAR), "{error}");
    }
}
