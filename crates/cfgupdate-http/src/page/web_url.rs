//! Where the status page links commits to: the config repository's web page
//! (`serve --web-url`, `CFGUPDATE_WEB_URL`).

use std::fmt;

use cfgupdate_core::CommitId;

/// The placeholder a commit URL pattern holds.
pub const COMMIT_PLACEHOLDER: &str = "{commit}";

/// The longest web URL accepted, in bytes.
pub const MAX_LEN: usize = 2048;

/// The config repository's web address, as the status page links commits to it: either a
/// pattern holding `{commit}` once (`https://bitbucket.org/acme/cfg/commits/{commit}`), or
/// the repository's page, to which `/commit/<sha>` is added (GitHub, GitLab, Gitea and
/// Forgejo all answer that path).
///
/// Only `http://` and `https://` addresses of printable ASCII are accepted, without user
/// information (a credential in it would be shown to every reader of the page) and without
/// characters that would need escaping in an attribute.
#[derive(Clone, PartialEq, Eq)]
pub struct WebUrl {
    /// Before the commit's SHA.
    before: String,
    /// After it.
    after: String,
}

/// Why a web URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebUrlError {
    /// Not `http://` or `https://`.
    #[error("the web URL {shown} must start with `https://` or `http://`", shown = cfgupdate_core::adapter::shown(.url))]
    Scheme {
        /// The value given.
        url: String,
    },
    /// No host after the scheme.
    #[error("the web URL {shown} names no host", shown = cfgupdate_core::adapter::shown(.url))]
    NoHost {
        /// The value given.
        url: String,
    },
    /// User information (`user:password@`) before the host.
    #[error(
        "the web URL must not hold a user name or password (`user@` before the host): every reader of the status page would see it"
    )]
    UserInfo,
    /// A character outside printable ASCII, a space, or one of `"<>\^`{|}` outside the
    /// placeholder.
    #[error("the web URL {shown} holds {character:?}, which a URL must percent-encode", shown = cfgupdate_core::adapter::shown(.url))]
    Character {
        /// The value given.
        url: String,
        /// The first character at fault.
        character: char,
    },
    /// `{commit}` more than once.
    #[error("the web URL {shown} holds `{{commit}}` more than once", shown = cfgupdate_core::adapter::shown(.url))]
    Placeholders {
        /// The value given.
        url: String,
    },
    /// Longer than the longest web URL accepted (`MAX_LEN`, 2,048 bytes).
    #[error("the web URL is {len} bytes long; at most {MAX_LEN} are accepted")]
    TooLong {
        /// Its length.
        len: usize,
    },
}

/// A `--web-url` that cannot be used: a configuration error (exit 2).
impl cfgupdate_core::Classify for WebUrlError {
    fn class(&self) -> cfgupdate_core::ErrorClass {
        cfgupdate_core::ErrorClass::Invalid
    }
}

impl WebUrl {
    /// Checks `url` (spaces around it are dropped).
    pub fn parse(url: &str) -> Result<Self, WebUrlError> {
        let url = url.trim();
        if url.len() > MAX_LEN {
            return Err(WebUrlError::TooLong { len: url.len() });
        }
        let owned = || url.to_owned();
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| WebUrlError::Scheme { url: owned() })?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err(WebUrlError::UserInfo);
        }
        if authority.is_empty() || authority.starts_with(':') {
            return Err(WebUrlError::NoHost { url: owned() });
        }
        let (before, after) = match url.split_once(COMMIT_PLACEHOLDER) {
            Some((before, after)) => {
                if after.contains(COMMIT_PLACEHOLDER) {
                    return Err(WebUrlError::Placeholders { url: owned() });
                }
                (before.to_owned(), after.to_owned())
            }
            None => (
                format!("{}/commit/", url.trim_end_matches('/')),
                String::new(),
            ),
        };
        let refused = |c: char| !c.is_ascii_graphic() || "\"<>\\^`{|}'".contains(c);
        if let Some(character) = before.chars().chain(after.chars()).find(|c| refused(*c)) {
            return Err(WebUrlError::Character {
                url: owned(),
                character,
            });
        }
        Ok(Self { before, after })
    }

    /// The address of `commit`'s page.
    pub fn commit(&self, commit: &CommitId) -> String {
        format!("{}{}{}", self.before, commit.as_str(), self.after)
    }
}

impl fmt::Debug for WebUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "WebUrl({}{COMMIT_PLACEHOLDER}{})",
            self.before, self.after
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit() -> CommitId {
        CommitId::parse(&"ab".repeat(20)).unwrap()
    }

    #[test]
    fn a_repository_page_gets_commit_and_the_sha() {
        let url = WebUrl::parse(" https://git.example.com/acme/cfg-app/ ").unwrap();
        assert_eq!(
            url.commit(&commit()),
            format!(
                "https://git.example.com/acme/cfg-app/commit/{}",
                "ab".repeat(20)
            )
        );
    }

    #[test]
    fn a_pattern_puts_the_sha_where_it_says() {
        let url =
            WebUrl::parse("http://bitbucket.example/acme/cfg/commits/{commit}?at=main").unwrap();
        assert_eq!(
            url.commit(&commit()),
            format!(
                "http://bitbucket.example/acme/cfg/commits/{}?at=main",
                "ab".repeat(20)
            )
        );
    }

    #[test]
    fn addresses_that_could_leak_a_secret_or_break_out_of_an_attribute_are_refused() {
        for (url, expected) in [
            ("javascript:alert(1)", "must start with"),
            ("ftp://example.com/x", "must start with"),
            ("https://", "names no host"),
            ("https:///path", "names no host"),
            ("https://:443/x", "names no host"),
            (
                "https://user:hunter2@git.example.com/x",
                "user name or password",
            ),
            (
                "https://git.example.com/x\" onmouseover=\"alert(1)",
                "percent-encode",
            ),
            ("https://git.example.com/<script>", "percent-encode"),
            ("https://git.example.com/a b", "percent-encode"),
            ("https://git.example.com/x'y", "percent-encode"),
            ("https://git.example.com/\u{202e}x", "percent-encode"),
            ("https://git.example.com/\nx", "percent-encode"),
            (
                "https://git.example.com/{commit}/{commit}",
                "more than once",
            ),
            ("https://git.example.com/{sha}", "percent-encode"),
        ] {
            let error = WebUrl::parse(url).unwrap_err().to_string();
            assert!(error.contains(expected), "{url:?}: {error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
        let long = format!("https://git.example.com/{}", "a".repeat(MAX_LEN));
        assert!(matches!(
            WebUrl::parse(&long),
            Err(WebUrlError::TooLong { .. })
        ));
    }
}
