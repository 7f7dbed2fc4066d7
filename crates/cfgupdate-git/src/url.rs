//! The remote's URL, and the one form of it that may be shown: without credentials.

use std::fmt;
use std::path::{Path, PathBuf};

/// Why a remote URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// The text is empty.
    #[error("the remote URL is empty")]
    Empty,
    /// A scheme libgit2 does not speak.
    #[error(
        "the remote URL `{redacted}` has the scheme `{scheme}`; use a local path, file://, git://, ssh:// or https://"
    )]
    UnknownScheme {
        /// The URL without credentials.
        redacted: String,
        /// The scheme given.
        scheme: String,
    },
    /// A transport this build leaves out.
    #[error(
        "the remote URL `{redacted}` needs the `{feature}` feature of cfgupdate-git, which this build does not have"
    )]
    TransportNotBuilt {
        /// The URL without credentials.
        redacted: String,
        /// The crate feature that adds the transport.
        feature: &'static str,
    },
}

/// A `--repo` that is not a remote cfgupdate can use: the caller's input (exit 2).
impl cfgupdate_core::Classify for UrlError {
    fn class(&self) -> cfgupdate_core::ErrorClass {
        cfgupdate_core::ErrorClass::Invalid
    }
}

/// How the remote is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A path on this machine, or `file://`.
    Local,
    /// `git://`: the git daemon protocol, unauthenticated.
    Git,
    /// `https://` (and plain `http://`).
    Https,
    /// `ssh://` or the scp-like `user@host:path`.
    Ssh,
}

/// The remote's URL as given, with what may be shown of it kept apart.
///
/// Its `Display` and `Debug` never show a credential: `https://user:secret@host/x` shows as
/// `https://***@host/x`. Local paths are made absolute, so one remote has one cache whatever
/// directory the process runs in.
#[derive(Clone, PartialEq, Eq)]
pub struct RemoteUrl {
    /// What libgit2 is given, credentials included.
    raw: String,
    /// What people see.
    redacted: String,
    /// The URL without any user information: what names the cache.
    key: String,
    transport: Transport,
    /// Text that must never appear in a message: the user information and its parts.
    secrets: Vec<String>,
}

impl RemoteUrl {
    /// Parses a remote URL: a local path, `file://`, `git://`, `ssh://`, `user@host:path`,
    /// `http://` or `https://`. The last four need the crate features `ssh` and `https`.
    pub fn parse(text: &str) -> Result<Self, UrlError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(UrlError::Empty);
        }
        // As git reads it: `x://` is a URL only when `x` is a scheme's name; otherwise
        // (`deploy:pa://ss@host:path`) the text is an scp-like address or a path.
        let url = match text.split_once("://") {
            Some((scheme, rest)) if is_scheme(scheme) => Self::with_scheme(text, scheme, rest)?,
            _ if is_scp_like(text) => Self::scp_like(text),
            _ => {
                let path = absolute(Path::new(text));
                let shown = path.to_string_lossy().into_owned();
                Self {
                    raw: shown.clone(),
                    redacted: shown.clone(),
                    key: shown,
                    transport: Transport::Local,
                    secrets: Vec::new(),
                }
            }
        };
        url.check_built()?;
        Ok(url)
    }

    /// `user@host:path`: the user name of an ssh remote is no secret, but whatever follows a
    /// colon in it is a password.
    fn scp_like(text: &str) -> Self {
        // The host ends at the last colon (paths rarely hold one); the user information is
        // everything before the last `@` ahead of it, whatever it holds.
        let host_end = text.rfind(':').unwrap_or(text.len());
        let (userinfo, rest) = match text[..host_end].rfind('@') {
            Some(at) => (Some(&text[..at]), &text[at + 1..]),
            None => (None, text),
        };
        let mut secrets = Vec::new();
        let redacted = match userinfo.and_then(|userinfo| userinfo.split_once(':')) {
            Some((user, password)) => {
                push_secret(&mut secrets, password);
                format!("{user}:***@{rest}")
            }
            None => text.to_owned(),
        };
        finish_secrets(&mut secrets);
        Self {
            raw: text.to_owned(),
            redacted,
            key: rest.to_owned(),
            transport: Transport::Ssh,
            secrets,
        }
    }

    fn with_scheme(text: &str, scheme: &str, rest: &str) -> Result<Self, UrlError> {
        let parts = UrlParts::split(rest);
        let mut secrets = Vec::new();
        let transport = match scheme.to_ascii_lowercase().as_str() {
            "file" => Some(Transport::Local),
            "git" => Some(Transport::Git),
            "http" | "https" => Some(Transport::Https),
            "ssh" | "git+ssh" | "ssh+git" => Some(Transport::Ssh),
            _ => None,
        };
        if let Some(userinfo) = parts.userinfo {
            // An ssh user name (`git@`) is no secret, but over https a bare token is often
            // written where the user name goes.
            if transport != Some(Transport::Ssh) {
                push_secret(&mut secrets, userinfo);
            }
            if let Some((_, password)) = userinfo.split_once(':') {
                push_secret(&mut secrets, password);
            }
        }
        for value in parts.query_values() {
            push_secret(&mut secrets, value);
        }
        // A value may itself hold a separator (`token=a;b`): from each value's start to any
        // later separator, the text is secret as well.
        if let Some(query) = parts.query {
            let ends: Vec<usize> = query
                .match_indices(['&', ';'])
                .map(|(at, _)| at)
                .chain([query.len()])
                .collect();
            for (at, _) in query.match_indices('=') {
                for &end in ends.iter().filter(|&&end| end > at + 1) {
                    push_secret(&mut secrets, &query[at + 1..end]);
                }
            }
        }
        // A password holding `?` or `#` (not percent-encoded, as it should be) puts the `@`
        // after where the query or fragment seems to start. Which part is the password then
        // cannot be told from a query value holding an `@`: everything before the last `@`
        // is secret, and the address is shown as its scheme alone.
        let mut redacted = format!("{scheme}://{}", parts.redacted());
        if let Some((before, _)) = rest.rsplit_once('@')
            && parts.userinfo != Some(before)
            && (before.contains('?') || before.contains('#'))
        {
            // The whole address first (the longest is replaced first), so no piece of it is
            // cut in two by another.
            push_secret(&mut secrets, rest);
            if transport != Some(Transport::Ssh) {
                push_secret(&mut secrets, before);
            }
            if let Some((_, password)) = before.split_once(':') {
                push_secret(&mut secrets, password);
            }
            redacted = format!("{scheme}://***");
        }
        finish_secrets(&mut secrets);
        let Some(transport) = transport else {
            return Err(UrlError::UnknownScheme {
                redacted,
                scheme: shown_scheme(scheme),
            });
        };
        Ok(Self {
            raw: text.to_owned(),
            redacted,
            key: format!(
                "{}://{}{}",
                scheme.to_ascii_lowercase(),
                parts.host,
                parts.path
            ),
            transport,
            secrets,
        })
    }

    /// Whether the URL carries a credential (a password or token in its user information,
    /// or any query value): text that anyone who can list this machine's processes reads
    /// when the URL is given on a command line.
    pub fn has_credentials(&self) -> bool {
        !self.secrets.is_empty()
    }

    /// Overwrites this URL's credentials with `*`, byte for byte (the length stays), wherever
    /// `text` holds the URL as it was given; returns whether anything was overwritten. For a
    /// program that hides a URL given on its command line in its own argument memory, so that
    /// the process list no longer shows the secret; the URL in `text` is no longer usable.
    pub fn mask_credentials(&self, text: &mut [u8]) -> bool {
        let raw = self.raw.as_bytes();
        if raw.is_empty() || self.secrets.is_empty() {
            return false;
        }
        let mut masked = false;
        let mut from = 0;
        while let Some(found) = find(&text[from..], raw) {
            let start = from + found;
            let end = start + raw.len();
            for secret in &self.secrets {
                let secret = secret.as_bytes();
                let mut at = start;
                while let Some(offset) = find(&text[at..end], secret) {
                    let hit = at + offset;
                    text[hit..hit + secret.len()].fill(b'*');
                    masked = true;
                    at = hit + secret.len();
                }
            }
            from = end;
        }
        masked
    }

    fn check_built(&self) -> Result<(), UrlError> {
        let missing = match self.transport {
            Transport::Https if !cfg!(feature = "https") => Some("https"),
            Transport::Ssh if !cfg!(feature = "ssh") => Some("ssh"),
            _ => None,
        };
        match missing {
            Some(feature) => Err(UrlError::TransportNotBuilt {
                redacted: self.redacted.clone(),
                feature,
            }),
            None => Ok(()),
        }
    }

    /// The URL as it may be shown: user information replaced by `***`.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// How the remote is reached.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The URL without any user information; two URLs that differ only in credentials
    /// name the same remote.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// What libgit2 connects to, credentials included: never to be shown.
    pub(crate) fn for_libgit2(&self) -> &str {
        &self.raw
    }

    /// `text` with every credential of this URL, and the user information of any URL in
    /// it, replaced by `***`.
    pub(crate) fn redact(&self, text: &str) -> String {
        // The known secrets first, whole: the general rules below could cut one in two.
        let mut text = text.to_owned();
        for secret in &self.secrets {
            text = text.replace(secret.as_str(), "***");
        }
        redact_userinfo(&text)
    }
}

impl fmt::Display for RemoteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl fmt::Debug for RemoteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RemoteUrl").field(&self.redacted).finish()
    }
}

/// A URL scheme's name as git accepts it: a letter, then letters, digits, `+`, `-` or `.`.
fn is_scheme(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// `user@host:path`, as git reads it: a colon before any slash, and not a Windows drive.
fn is_scp_like(text: &str) -> bool {
    match text.find(':') {
        Some(colon) => !text[..colon].contains('/') && colon > 1,
        None => false,
    }
}

/// The pieces of what follows `scheme://`.
struct UrlParts<'a> {
    /// Up to the last `@` before the query: whatever it holds, even a `/` (a malformed
    /// password), is never shown.
    userinfo: Option<&'a str>,
    host: &'a str,
    path: &'a str,
    /// After `?`, without the fragment.
    query: Option<&'a str>,
    /// After `#`.
    fragment: Option<&'a str>,
}

impl<'a> UrlParts<'a> {
    fn split(rest: &'a str) -> Self {
        let (rest, fragment) = match rest.split_once('#') {
            Some((rest, fragment)) => (rest, Some(fragment)),
            None => (rest, None),
        };
        let (rest, query) = match rest.split_once('?') {
            Some((rest, query)) => (rest, Some(query)),
            None => (rest, None),
        };
        let (userinfo, rest) = match rest.rsplit_once('@') {
            Some((userinfo, rest)) => (Some(userinfo), rest),
            None => (None, rest),
        };
        let (host, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, ""),
        };
        Self {
            userinfo,
            host,
            path,
            query,
            fragment,
        }
    }

    /// Every value of the query (`?access_token=...`, `?private_token=...`): a git remote
    /// has no use for a query but to carry a credential, so all of them are secret.
    fn query_values(&self) -> impl Iterator<Item = &'a str> {
        self.query
            .into_iter()
            .flat_map(|query| query.split(['&', ';']))
            .map(|pair| pair.split_once('=').map_or(pair, |(_, value)| value))
            .chain(self.fragment)
    }

    fn redacted(&self) -> String {
        let mut out = String::new();
        if self.userinfo.is_some() {
            out.push_str("***@");
        }
        out.push_str(self.host);
        out.push_str(self.path);
        if let Some(query) = self.query {
            // Only the first name is shown: any later one may be part of a value that holds a
            // separator.
            out.push('?');
            match query.split_once('=') {
                Some((name, _)) => {
                    out.push_str(name);
                    out.push_str("=***");
                }
                None if query.is_empty() => {}
                None => out.push_str("***"),
            }
        }
        if self.fragment.is_some() {
            out.push_str("#***");
        }
        out
    }
}

/// Adds `secret` and its percent-decoded form to `secrets`.
fn push_secret(secrets: &mut Vec<String>, secret: &str) {
    secrets.push(secret.to_owned());
    secrets.push(percent_decode(secret));
}

/// Longest first, so that a secret holding another is replaced whole; no empty ones.
/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > haystack.len() {
        return None;
    }
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn finish_secrets(secrets: &mut Vec<String>) {
    secrets.retain(|secret| !secret.is_empty());
    secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
    secrets.dedup();
}

/// A scheme as an error may quote it: it was split at the first `://`, so it holds no
/// credential, but it may hold anything else.
fn shown_scheme(scheme: &str) -> String {
    cfgupdate_core::adapter::shown(scheme)
}

fn absolute(path: &Path) -> PathBuf {
    if let Ok(canonical) = path.canonicalize() {
        return canonical;
    }
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Replaces the user information and the query values of every `scheme://...` URL in `text`,
/// and the password of every scp-like `user:password@host:path`, by `***`.
pub(crate) fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| c.is_whitespace() || matches!(c, '\'' | '"' | '`' | '<' | '>'))
            .unwrap_or(rest.len());
        let (word, after) = rest.split_at(end);
        out.push_str(&redact_word(word));
        let separator = after.chars().next().map_or(0, char::len_utf8);
        out.push_str(&after[..separator]);
        rest = &after[separator..];
    }
    out
}

/// One word of a message, redacted as [`redact_userinfo`] says.
fn redact_word(word: &str) -> String {
    if let Some(start) = word.find("://") {
        // `deploy:pa://ss@host:path` is an scp-like address whose password holds `://`:
        // its password goes first, then whatever still reads as a URL.
        if word[..start].contains(':') && word.contains('@') && is_scp_like(word) {
            let scp = RemoteUrl::scp_like(word).redacted;
            if scp != word {
                return redact_word(&scp);
            }
        }
        let (before, after) = word.split_at(start + 3);
        return format!("{before}{}", UrlParts::split(after).redacted());
    }
    if word.contains('@') && is_scp_like(word) {
        return RemoteUrl::scp_like(word).redacted;
    }
    word.to_owned()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_a_url_are_never_shown_and_do_not_change_its_key() {
        let url = RemoteUrl::parse("git://user:s3cr%21t@example.com:9418/config.git").unwrap();
        assert_eq!(url.redacted(), "git://***@example.com:9418/config.git");
        assert_eq!(url.to_string(), url.redacted());
        assert!(!format!("{url:?}").contains("s3cr"));
        let plain = RemoteUrl::parse("git://example.com:9418/config.git").unwrap();
        assert_eq!(url.key(), plain.key());
        assert_eq!(
            url.redact("auth for s3cr!t and s3cr%21t failed"),
            "auth for *** and *** failed"
        );
    }

    #[test]
    fn any_url_in_a_message_loses_its_user_information() {
        assert_eq!(
            redact_userinfo("failed to reach 'https://tok@host/x' and http://a:b@c"),
            "failed to reach 'https://***@host/x' and http://***@c"
        );
        assert_eq!(
            redact_userinfo("see git://host/x"),
            "see git://host/x",
            "a URL without credentials stays as it is"
        );
    }

    #[test]
    fn query_secrets_are_never_shown() {
        for (given, shown) in [
            (
                "git://example.com/config.git?access_token=ghp_SECRET1",
                "git://example.com/config.git?access_token=***",
            ),
            (
                "git://example.com/config.git?private_token=SECRET2&token=SECRET3",
                "git://example.com/config.git?private_token=***",
            ),
            (
                "git://example.com/config.git?SECRET4#SECRET5",
                "git://example.com/config.git?***#***",
            ),
        ] {
            let url = RemoteUrl::parse(given).unwrap();
            assert_eq!(url.redacted(), shown);
            assert!(url.has_credentials(), "{given}");
            let message = url.redact(&format!("cannot reach {given}: refused for SECRET"));
            assert!(
                !message.contains("SECRET1") && !message.contains("SECRET3"),
                "{message}"
            );
            assert!(
                !message.contains("SECRET4") && !message.contains("SECRET5"),
                "{message}"
            );
        }
        assert_eq!(
            redact_userinfo("failed: https://host/x.git?access_token=abc123 (401)"),
            "failed: https://host/x.git?access_token=*** (401)"
        );
        assert!(
            !RemoteUrl::parse("git://example.com/x.git")
                .unwrap()
                .has_credentials()
        );
    }

    #[test]
    fn scp_like_passwords_are_never_shown_and_user_names_are() {
        let url = RemoteUrl::scp_like("deploy:t0ken@example.com:team/config.git");
        assert_eq!(url.redacted(), "deploy:***@example.com:team/config.git");
        assert!(url.has_credentials());
        assert_eq!(
            url.redact("auth for deploy:t0ken@example.com:team/config.git failed"),
            "auth for deploy:***@example.com:team/config.git failed"
        );
        let plain = RemoteUrl::scp_like("git@example.com:team/config.git");
        assert_eq!(plain.redacted(), "git@example.com:team/config.git");
        assert!(!plain.has_credentials());
        assert_eq!(url.key(), plain.key(), "one remote, one cache");
        let odd = RemoteUrl::scp_like("me:pa/ss@example.com:x/y@z.git");
        assert!(!odd.redacted().contains("pa/ss"), "{}", odd.redacted());
    }

    #[test]
    fn credentials_are_masked_in_place_where_the_url_stands_and_nowhere_else() {
        let given = "git://user:s3cret@host.example/r.git?access_token=tok3n";
        let url = RemoteUrl::parse(given).unwrap();
        let mut argv = format!("--repo={given}").into_bytes();
        assert!(url.mask_credentials(&mut argv));
        let shown = String::from_utf8(argv).unwrap();
        assert_eq!(shown.len(), "--repo=".len() + given.len());
        assert!(
            !shown.contains("s3cret") && !shown.contains("tok3n"),
            "{shown}"
        );
        assert!(shown.starts_with("--repo=git://"), "{shown}");
        assert!(shown.contains("@host.example/r.git"), "{shown}");
        // Text that merely contains a secret, not the URL, is left alone.
        let mut other = b"--message=s3cret".to_vec();
        assert!(!url.mask_credentials(&mut other));
        assert_eq!(other, b"--message=s3cret");
        let plain = RemoteUrl::parse("git://host.example/r.git").unwrap();
        let mut same = b"git://host.example/r.git".to_vec();
        assert!(!plain.mask_credentials(&mut same));
    }

    #[test]
    fn malformed_user_information_is_never_shown() {
        for given in [
            "git://user:pa/ss@example.com/config.git",
            "git://user:p@ss@example.com/config.git",
            "git://us/er:pass@example.com/config.git",
            "git://:@example.com/config.git",
            "git://user:pass@",
        ] {
            let url = RemoteUrl::parse(given).unwrap();
            for leaked in ["pa/ss", "ss@", "pass", "us/er"] {
                assert!(!url.redacted().contains(leaked), "{given} -> {url}");
                assert!(!url.redact(given).contains(leaked), "{given}");
                assert!(!redact_userinfo(given).contains(leaked), "{given}");
            }
        }
    }

    #[test]
    fn a_password_holding_a_question_mark_or_a_hash_is_never_shown() {
        for given in [
            "https://deploy:s3cr?etpass@example.com/cfg.git",
            "https://deploy:s3cr#etpass@example.com/cfg.git",
            "https://s3cr?etpass@example.com/cfg.git",
            "foo://deploy:s3cr#etpass@example.com/cfg.git",
        ] {
            let shown = match RemoteUrl::parse(given) {
                Ok(url) => {
                    assert!(!url.redact(given).contains("s3cr"), "{given}");
                    url.redacted().to_owned()
                }
                Err(error) => error.to_string(),
            };
            assert!(!shown.contains("s3cr"), "{given} -> {shown}");
            assert!(!shown.contains("etpass"), "{given} -> {shown}");
        }
    }

    /// Every window of `secret` of `width` characters that holds a capital letter or a digit
    /// (the redacted text has neither of its own).
    fn windows(secret: &str, width: usize) -> Vec<String> {
        let chars: Vec<char> = secret.chars().collect();
        chars
            .windows(width.min(chars.len()))
            .map(|window| window.iter().collect::<String>())
            .filter(|window| {
                window
                    .chars()
                    .any(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            })
            .collect()
    }

    proptest::proptest! {
        #[test]
        fn no_part_of_a_secret_survives_redaction_in_any_message(
            secret in "[A-Z0-9][A-Z0-9!$%+,;=~/:@._-]{5,40}",
            shape in 0_usize..7,
        ) {
            let url_text = match shape {
                0 => format!("git://user:{secret}@example.com/config.git"),
                1 => format!("git://{secret}@example.com/config.git"),
                2 => format!("git://example.com/config.git?access_token={secret}"),
                3 => format!("git://example.com/config.git?private_token={secret}&x=y"),
                4 => format!("https://x-access-token:{secret}@example.com/config.git"),
                5 => format!("ftp://user:{secret}@example.com/config.git"),
                _ => format!("deploy:{secret}@example.com:config.git"),
            };
            // Secrets holding characters that end the URL's own parts where git would not
            // are malformed: they must be hidden just the same.
            let mut shown = Vec::new();
            match RemoteUrl::parse(&url_text) {
                Ok(url) => {
                    shown.push(url.redacted().to_owned());
                    shown.push(format!("{url:?}"));
                    shown.push(url.redact(&format!("cannot reach '{url_text}': {secret} refused")));
                }
                Err(error) => shown.push(error.to_string()),
            }
            shown.push(redact_userinfo(&format!("fatal: unable to access '{url_text}'")));
            for text in &shown {
                for window in windows(&secret, 4) {
                    proptest::prop_assert!(
                        !text.contains(&window),
                        "`{}` of {} survives in {}", window, url_text, text
                    );
                }
            }
        }
    }

    /// Found by the property test below in CI: a password holding `://` made the text before
    /// it read as a URL scheme, which the error then quoted.
    #[test]
    fn an_scp_like_password_holding_a_scheme_separator_is_never_shown() {
        for given in [
            "deploy:0://0_@example.com:config.git",
            "deploy:AB://CD@example.com:config.git",
            "deploy:X9://@example.com:config.git",
        ] {
            let secret = &given["deploy:".len()..given.rfind('@').unwrap()];
            let mut shown = vec![redact_userinfo(&format!("fatal: '{given}' refused"))];
            match RemoteUrl::parse(given) {
                Ok(url) => {
                    shown.push(url.redacted().to_owned());
                    shown.push(url.redact(given));
                }
                Err(error) => shown.push(error.to_string()),
            }
            for text in shown {
                assert!(!text.contains(secret), "{given} -> {text}");
                assert!(!text.contains("://"), "{given} -> {text}");
            }
        }
        assert!(is_scheme("git+ssh") && is_scheme("https"));
        assert!(!is_scheme("deploy:0") && !is_scheme("0x") && !is_scheme(""));
    }

    #[test]
    fn local_paths_become_absolute() {
        let url = RemoteUrl::parse("some/relative/dir").unwrap();
        assert!(Path::new(url.redacted()).is_absolute(), "{url}");
        assert_eq!(url.transport(), Transport::Local);
    }

    #[test]
    fn unknown_schemes_are_refused_without_their_credentials() {
        let error = RemoteUrl::parse("ftp://me:pw@host/x").unwrap_err();
        assert!(matches!(error, UrlError::UnknownScheme { .. }));
        assert!(!error.to_string().contains("pw"), "{error}");
    }

    #[cfg(not(feature = "https"))]
    #[test]
    fn https_without_its_feature_names_the_feature() {
        let error = RemoteUrl::parse("https://host/x").unwrap_err();
        assert!(error.to_string().contains("`https` feature"), "{error}");
    }

    #[test]
    fn scp_like_addresses_are_ssh() {
        let parsed = RemoteUrl::parse("git@example.com:team/config.git");
        if cfg!(feature = "ssh") {
            assert_eq!(parsed.unwrap().transport(), Transport::Ssh);
        } else {
            assert!(matches!(
                parsed,
                Err(UrlError::TransportNotBuilt { feature: "ssh", .. })
            ));
        }
    }
}
