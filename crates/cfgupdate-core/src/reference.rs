//! Image references: `name[:tag][@digest]`, by the OCI distribution grammar.
//!
//! The grammar is the one of the distribution project's `reference` package, checked here by a
//! hand-written parser so that each refusal can say which part is wrong and why. Nothing is
//! normalised: `nginx` stays `nginx` (no `docker.io/library/` prefix), because cfgupdate writes
//! references back into files that people read and diff.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Which part of an image reference a slot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Part {
    /// The whole reference, `name[:tag][@digest]`.
    Ref,
    /// The repository name, with its registry host if any.
    Name,
    /// The tag.
    Tag,
    /// The digest, `algorithm:hex`.
    Digest,
}

impl Part {
    /// The word used for this part in markers (`S:tag`) and JSON objects (`"tag"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Part::Ref => "ref",
            Part::Name => "name",
            Part::Tag => "tag",
            Part::Digest => "digest",
        }
    }

    /// The part named by `word`, one of `ref`, `name`, `tag`, `digest`.
    pub fn from_word(word: &str) -> Option<Part> {
        match word {
            "ref" => Some(Part::Ref),
            "name" => Some(Part::Name),
            "tag" => Some(Part::Tag),
            "digest" => Some(Part::Digest),
            _ => None,
        }
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a reference or digest was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The text breaks the grammar; `reason` says where and how.
    #[error(
        "`{}` is not a valid image reference: {reason}",
        crate::shown::shown(value)
    )]
    Invalid {
        /// The text given.
        value: String,
        /// What is wrong, in words.
        reason: String,
    },
    /// The text is not a valid digest.
    #[error("`{}` is not a valid digest: {reason}", crate::shown::shown(value))]
    InvalidDigest {
        /// The text given.
        value: String,
        /// What is wrong, in words.
        reason: String,
    },
}

/// Why a reference with the tag and one with the digest do not make one reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// The two name different images.
    #[error("the tag's reference names the image `{tagged}` but the digest's names `{pinned}`")]
    DifferentImages {
        /// The name the reference with the tag gives.
        tagged: String,
        /// The name the reference with the digest gives.
        pinned: String,
    },
    /// Together the parts are not a valid reference.
    #[error(transparent)]
    Invalid(ReferenceError),
}

/// The longest repository name the distribution grammar accepts, registry host included.
pub const NAME_MAX_LEN: usize = 255;

/// The longest tag the distribution grammar accepts.
pub const TAG_MAX_LEN: usize = 128;

/// The hex length of each algorithm go-digest registers; its hex is checked exactly, in lower
/// case.
fn registered_hex_len(algorithm: &str) -> Option<usize> {
    match algorithm {
        "sha256" => Some(64),
        "sha384" => Some(96),
        "sha512" => Some(128),
        _ => None,
    }
}

/// A content digest, `algorithm:hex` (`sha256:` followed by exactly 64 lower-case hex digits).
///
/// The algorithms are those go-digest registers: `sha256`, `sha384` (96 digits) and `sha512`
/// (128 digits). Others are refused, as go-digest refuses them, although the distribution regex
/// alone would let any `[A-Za-z][A-Za-z0-9]*`-style algorithm with 32 or more hex digits pass.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(String);

impl Digest {
    /// Parses a digest.
    pub fn parse(value: &str) -> Result<Self, ReferenceError> {
        check_digest(value).map_err(|reason| ReferenceError::InvalidDigest {
            value: value.to_owned(),
            reason,
        })?;
        Ok(Digest(value.to_owned()))
    }
    /// The digest as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The algorithm, e.g. `sha256`.
    pub fn algorithm(&self) -> &str {
        self.split().0
    }
    /// The encoded hash after the colon.
    pub fn hex(&self) -> &str {
        self.split().1
    }

    /// An algorithm never contains `:`, so the first one separates the two halves; parsing
    /// guaranteed there is one.
    fn split(&self) -> (&str, &str) {
        self.0.split_once(':').unwrap_or((&self.0, ""))
    }
}

impl FromStr for Digest {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// An image reference, keeping the text it was parsed from.
///
/// The spans are a function of the text, so the derived comparisons agree with comparing the
/// text alone. The value is kept small (the spans fit in `u16`, the digest is boxed) because it
/// travels inside error values, which clippy wants small.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageRef {
    text: String,
    /// Byte length of the name at the start of `text` (at most 255).
    name_len: u16,
    /// Byte length of the tag after the name's `:` (at most 128); 0 when there is no tag,
    /// since a tag is never empty.
    tag_len: u16,
    digest: Option<Box<Digest>>,
}

impl ImageRef {
    /// Parses `name[:tag][@digest]` by the distribution grammar, without normalising.
    pub fn parse(value: &str) -> Result<Self, ReferenceError> {
        let invalid = |reason: String| ReferenceError::Invalid {
            value: value.to_owned(),
            reason,
        };
        if value.is_empty() {
            return Err(invalid("the reference is empty".to_owned()));
        }
        // No part may contain `@`, so the first one starts the digest.
        let (before_digest, digest) = match value.split_once('@') {
            Some((before, digest)) => (before, Some(digest)),
            None => (value, None),
        };
        // A name ends in a path component, which has neither `:` nor `/`; a tag has no `/`.
        // So text after the last `:` is the tag exactly when it holds no `/` (otherwise that
        // `:` introduced a registry port).
        let (name, tag) = match before_digest.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
            _ => (before_digest, None),
        };
        let digest = check_parts(name, tag, digest).map_err(invalid)?;
        Ok(ImageRef::assemble(value.to_owned(), name, tag, digest))
    }

    /// Builds a reference from its parts, checking each.
    pub fn from_parts(
        name: &str,
        tag: Option<&str>,
        digest: Option<&str>,
    ) -> Result<Self, ReferenceError> {
        let mut text = name.to_owned();
        if let Some(tag) = tag {
            text.push(':');
            text.push_str(tag);
        }
        if let Some(digest) = digest {
            text.push('@');
            text.push_str(digest);
        }
        // Each part is checked on its own so that a `:` or `@` inside one is blamed on that
        // part instead of shifting the split of the assembled text.
        let digest = check_parts(name, tag, digest).map_err(|reason| ReferenceError::Invalid {
            value: text.clone(),
            reason,
        })?;
        Ok(ImageRef::assemble(text, name, tag, digest))
    }

    /// One reference `name:tag@digest` from a reference that carries the tag (`name:tag`)
    /// and one that carries the digest (`name@digest`) of the same image: the merge of CI's
    /// `Tag` and `Digest` fields and of the two-file layout's halves, decided here once.
    /// Whatever else either carries (a digest beside the tag, a tag beside the digest) is
    /// not used.
    pub fn join(tagged: &ImageRef, pinned: &ImageRef) -> Result<Self, JoinError> {
        if tagged.name() != pinned.name() {
            return Err(JoinError::DifferentImages {
                tagged: tagged.name().to_owned(),
                pinned: pinned.name().to_owned(),
            });
        }
        ImageRef::from_parts(
            tagged.name(),
            tagged.tag(),
            pinned.digest().map(Digest::as_str),
        )
        .map_err(JoinError::Invalid)
    }

    /// Puts together checked parts; `text` is `name[:tag][@digest]`.
    fn assemble(text: String, name: &str, tag: Option<&str>, digest: Option<Digest>) -> Self {
        // Checked lengths: a name has at most 255 bytes and a tag at most 128.
        let span = |s: &str| u16::try_from(s.len()).unwrap_or(u16::MAX);
        ImageRef {
            text,
            name_len: span(name),
            tag_len: tag.map_or(0, span),
            digest: digest.map(Box::new),
        }
    }

    /// The whole reference as it was written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
    /// The repository name, with registry host and port if given.
    pub fn name(&self) -> &str {
        &self.text[..usize::from(self.name_len)]
    }
    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        let start = usize::from(self.name_len) + 1;
        (self.tag_len > 0).then(|| &self.text[start..start + usize::from(self.tag_len)])
    }
    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_deref()
    }
    /// Whether the reference pins content by digest (everything cfgupdate writes does).
    pub fn has_digest(&self) -> bool {
        self.digest.is_some()
    }
    /// One part as text: `Ref` is the whole, the others as their accessors.
    pub fn part(&self, part: Part) -> Option<&str> {
        match part {
            Part::Ref => Some(self.as_str()),
            Part::Name => Some(self.name()),
            Part::Tag => self.tag(),
            Part::Digest => self.digest().map(Digest::as_str),
        }
    }
}

impl FromStr for ImageRef {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl AsRef<str> for ImageRef {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl Serialize for ImageRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for ImageRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------------
// The grammar. Each check returns the reason in words, naming the offending value.

/// Checks the parts of a reference from left to right; the digest, once checked, is returned.
fn check_parts(
    name: &str,
    tag: Option<&str>,
    digest: Option<&str>,
) -> Result<Option<Digest>, String> {
    check_name(name)?;
    if let Some(tag) = tag {
        check_tag(tag)?;
    }
    match digest {
        Some(digest) => match check_digest(digest) {
            Ok(()) => Ok(Some(Digest(digest.to_owned()))),
            Err(reason) => Err(format!("in the digest `{digest}`, {reason}")),
        },
        None => Ok(None),
    }
}

/// The first character of `s` that `allowed` refuses, if any.
fn first_outside(s: &str, allowed: impl Fn(char) -> bool) -> Option<char> {
    s.chars().find(|&c| !allowed(c))
}

/// `[a-z0-9]+ (separator [a-z0-9]+)*`, separator `[_.]|__|[-]+`.
fn is_path_component(s: &str) -> bool {
    let bytes = s.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &bytes[start..i];
        let ok = matches!(separator, b"." | b"_" | b"__") || separator.iter().all(|&b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `[a-zA-Z0-9]` or `[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`.
fn is_domain_name_component(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
}

/// Why `domain` (`host[:port]`) is not a registry host, or `None` when it is one.
///
/// The host is a dotted domain name (which covers IPv4) or, as in the distribution regex,
/// `[` hex digits and colons `]` for IPv6.
fn domain_error(domain: &str) -> Option<String> {
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        let Some(close) = rest.find(']') else {
            return Some(format!(
                "the registry host `{domain}` opens `[` for an IPv6 address but never closes it"
            ));
        };
        let address = &rest[..close];
        if address.is_empty() || !address.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return Some(format!(
                "the IPv6 address `[{address}]` of the registry host has a character outside hexadecimal digits and `:`"
            ));
        }
        let after = &rest[close + 1..];
        match after.strip_prefix(':') {
            Some(port) => (&domain[..close + 2], Some(port)),
            None if after.is_empty() => (domain, None),
            None => {
                return Some(format!(
                    "the registry host `{domain}` has `{after}` after its IPv6 address, where only `:port` may follow"
                ));
            }
        }
    } else {
        let (host, port) = match domain.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (domain, None),
        };
        if let Some(bad) = host.split('.').find(|c| !is_domain_name_component(c)) {
            let why = if bad.is_empty() {
                "an empty component".to_owned()
            } else if let Some(c) = first_outside(bad, |c| c.is_ascii_alphanumeric() || c == '-') {
                format!("the component `{bad}` with `{c}` outside `[A-Za-z0-9-]`")
            } else {
                format!("the component `{bad}` starting or ending with `-`")
            };
            return Some(format!("the registry host `{host}` has {why}"));
        }
        (host, port)
    };
    match port {
        Some(port) if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) => Some(
            format!("the port `{port}` of the registry host `{host}` is not a number"),
        ),
        _ => None,
    }
}

/// Splits a name into its registry host, if the grammar reads one, and its path.
///
/// The distribution regex makes `domain "/"` optional and tries it first, so the first
/// component is the host whenever it is a valid host and more components follow, even where it
/// is also a valid path component (`library/ubuntu` has the host `library`, as upstream).
fn split_domain(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, path)) if domain_error(first).is_none() => (Some(first), path),
        _ => (None, name),
    }
}

/// Checks `name := [domain "/"] path`, at most 255 characters.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name is empty".to_owned());
    }
    let (domain, path) = split_domain(name);
    let components: Vec<&str> = path.split('/').collect();
    for (index, component) in components.iter().enumerate() {
        if is_path_component(component) {
            continue;
        }
        if component.is_empty() {
            return Err(format!("the name `{name}` has an empty path component"));
        }
        if is_path_component(&component.to_ascii_lowercase()) {
            return Err(format!("repository names are lower case: `{name}`"));
        }
        // A first component with `:`, `.` or `[` was meant as a registry host: say why it is
        // not one rather than why it is no path component.
        if index == 0
            && domain.is_none()
            && components.len() > 1
            && component.contains([':', '.', '['])
            && let Some(why) = domain_error(component)
        {
            return Err(why);
        }
        if let Some(c) = first_outside(component, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
        }) {
            return Err(format!(
                "the path component `{component}` of the name `{name}` has `{c}`, outside `[a-z0-9._-]`"
            ));
        }
        return Err(format!(
            "the path component `{component}` of the name `{name}` must be lower-case letters and digits joined by `.`, `_`, `__` or dashes"
        ));
    }
    if name.len() > NAME_MAX_LEN {
        return Err(format!(
            "the name `{name}` has {} characters, more than {NAME_MAX_LEN}",
            name.len()
        ));
    }
    Ok(())
}

/// Checks `tag := [\w][\w.-]{0,127}` (`\w` being ASCII letters, digits and `_`).
fn check_tag(tag: &str) -> Result<(), String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let Some(first) = tag.chars().next() else {
        return Err("the tag after `:` is empty".to_owned());
    };
    if let Some(c) = first_outside(tag, |c| word(c) || c == '.' || c == '-') {
        return Err(format!(
            "the tag `{tag}` has a character outside `[A-Za-z0-9_.-]`: `{c}`"
        ));
    }
    if !word(first) {
        return Err(format!(
            "the tag `{tag}` starts with `{first}`; a tag starts with a letter, digit or `_`"
        ));
    }
    if tag.len() > TAG_MAX_LEN {
        return Err(format!(
            "the tag `{tag}` has {} characters, more than {TAG_MAX_LEN}",
            tag.len()
        ));
    }
    Ok(())
}

/// `[A-Za-z][A-Za-z0-9]*` components separated by one of `[+._-]`.
fn is_algorithm(algorithm: &str) -> bool {
    algorithm.split(['+', '.', '_', '-']).all(|component| {
        let mut chars = component.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric())
    })
}

/// Checks `algorithm ":" hex`; registered algorithms by their exact length in lower case.
fn check_digest(digest: &str) -> Result<(), String> {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err(format!(
            "the digest `{digest}` has no `:` between its algorithm and its hex"
        ));
    };
    if !is_algorithm(algorithm) {
        return Err(format!(
            "the digest algorithm `{algorithm}` must be letters and digits, each component starting with a letter, joined by `+`, `.`, `_` or `-`"
        ));
    }
    // go-digest refuses algorithms it has no hash for (`ErrDigestUnsupported`), and so do the
    // registries and runtimes that will pull what cfgupdate writes.
    let Some(expected) = registered_hex_len(algorithm) else {
        return Err(format!(
            "the digest algorithm `{algorithm}` is not supported; it must be sha256, sha384 or sha512"
        ));
    };
    if let Some(c) = first_outside(hex, |c| c.is_ascii_digit() || matches!(c, 'a'..='f')) {
        return Err(format!(
            "a {algorithm} digest is lower-case hexadecimal, `{hex}` has `{c}`"
        ));
    }
    if hex.len() != expected {
        return Err(format!(
            "a {algorithm} digest has exactly {expected} hexadecimal digits, this one has {}",
            hex.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SHA: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn join_takes_the_tag_of_one_and_the_digest_of_the_other_of_the_same_image() {
        let other = SHA.replace("0123", "4567");
        let tagged = ImageRef::parse(&format!("reg.example.com:5000/api:v1@{other}")).unwrap();
        let pinned = ImageRef::parse(&format!("reg.example.com:5000/api:v9@{SHA}")).unwrap();
        let joined = ImageRef::join(&tagged, &pinned).unwrap();
        assert_eq!(
            joined.as_str(),
            format!("reg.example.com:5000/api:v1@{SHA}")
        );
        // A tag alone and a digest alone.
        let bare = ImageRef::parse("reg.example.com:5000/api").unwrap();
        assert_eq!(
            ImageRef::join(&bare, &pinned).unwrap().as_str(),
            format!("reg.example.com:5000/api@{SHA}")
        );
        assert_eq!(
            ImageRef::join(&tagged, &bare).unwrap().as_str(),
            "reg.example.com:5000/api:v1"
        );
        let web = ImageRef::parse(&format!("reg.example.com:5000/web@{SHA}")).unwrap();
        assert_eq!(
            ImageRef::join(&tagged, &web),
            Err(JoinError::DifferentImages {
                tagged: "reg.example.com:5000/api".into(),
                pinned: "reg.example.com:5000/web".into(),
            })
        );
    }

    #[test]
    fn splits_a_reference_with_registry_port_tag_and_digest() {
        let text = format!("registry.example.com:5000/team/api:v1.2@{SHA}");
        let r = ImageRef::parse(&text).unwrap();
        assert_eq!(r.name(), "registry.example.com:5000/team/api");
        assert_eq!(r.tag(), Some("v1.2"));
        assert_eq!(r.digest().map(Digest::as_str), Some(SHA));
        assert_eq!(r.digest().unwrap().algorithm(), "sha256");
        assert_eq!(r.digest().unwrap().hex(), &SHA[7..]);
        assert_eq!(r.as_str(), text);
        assert_eq!(r.to_string(), text);
        assert_eq!(r.part(Part::Name), Some(r.name()));
        assert_eq!(r.part(Part::Tag), Some("v1.2"));
        assert_eq!(r.part(Part::Digest), Some(SHA));
    }

    #[test]
    fn a_registry_port_is_not_taken_for_a_tag() {
        let r = ImageRef::parse("localhost:5000/api").unwrap();
        assert_eq!(r.name(), "localhost:5000/api");
        assert_eq!(r.tag(), None);
        assert_eq!(r.part(Part::Tag), None);
    }

    #[test]
    fn nothing_is_normalised() {
        let r: ImageRef = "nginx".parse().unwrap();
        assert_eq!(r.name(), "nginx");
        assert_eq!(r.as_str(), "nginx");
        assert!(!r.has_digest());
        assert_eq!(r.part(Part::Digest), None);
    }

    #[test]
    fn image_ref_stays_small_enough_to_travel_inside_errors() {
        assert!(std::mem::size_of::<ImageRef>() <= 40);
    }

    /// `regexp_test.go`, `TestFullNameRegexp`: the (domain, path) groups upstream captures.
    #[test]
    fn the_registry_host_is_split_off_where_upstream_splits_it() {
        let long_path = format!("{}a", "a/".repeat(127));
        let long_name = format!("a/{long_path}");
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("short", None, "short"),
            ("simple/name", Some("simple"), "name"),
            ("library/ubuntu", Some("library"), "ubuntu"),
            ("docker/stevvooe/app", Some("docker"), "stevvooe/app"),
            ("a/a/a/a", Some("a"), "a/a/a"),
            ("a", None, "a"),
            ("foo.com", None, "foo.com"),
            ("foo.com:8080/bar", Some("foo.com:8080"), "bar"),
            ("localhost:8080/bar", Some("localhost:8080"), "bar"),
            ("aa-a/a", Some("aa-a"), "a"),
            ("foo_bar", None, "foo_bar"),
            ("foo.com/foo_bar", Some("foo.com"), "foo_bar"),
            ("do__cker/docker", None, "do__cker/docker"),
            (
                "b.gcr.io/test.example.com/my-app",
                Some("b.gcr.io"),
                "test.example.com/my-app",
            ),
            (
                "registry.io/foo/project--id.module--name.ver---sion--name",
                Some("registry.io"),
                "foo/project--id.module--name.ver---sion--name",
            ),
            // reference_test.go, TestSplitHostname
            ("test_com/foo", None, "test_com/foo"),
            ("test-com:8080/foo", Some("test-com:8080"), "foo"),
            (
                "[2001:db8::1]:5000/repo",
                Some("[2001:db8::1]:5000"),
                "repo",
            ),
            (&long_name, Some("a"), &long_path),
        ];
        for (name, domain, path) in cases {
            assert!(
                check_name(name).is_ok() || name.len() > NAME_MAX_LEN,
                "{name}"
            );
            assert_eq!(split_domain(name), (*domain, *path), "{name}");
        }
    }

    #[test]
    fn refusals_name_the_part_and_the_value() {
        let cases: Vec<(String, &str)> = vec![
            (
                "nginx:x y".into(),
                "the tag `x y` has a character outside `[A-Za-z0-9_.-]`",
            ),
            ("nginx:".into(), "the tag after `:` is empty"),
            ("nginx:-x".into(), "the tag `-x` starts with `-`"),
            (
                format!("nginx:{}", "t".repeat(129)),
                "has 129 characters, more than 128",
            ),
            (
                format!("nginx@{}", &SHA[..SHA.len() - 1]),
                "a sha256 digest has exactly 64 hexadecimal digits, this one has 63",
            ),
            (
                format!("nginx@{}", SHA.to_uppercase().replace("SHA", "sha")),
                "a sha256 digest is lower-case hexadecimal",
            ),
            ("nginx@sha256".into(), "the digest `sha256` has no `:`"),
            (
                "nginx@md5:abc".into(),
                "the digest algorithm `md5` is not supported",
            ),
            (
                "nginx@1x:abc".into(),
                "the digest algorithm `1x` must be letters and digits",
            ),
            ("Foo".into(), "repository names are lower case: `Foo`"),
            (
                "team/Api".into(),
                "repository names are lower case: `team/Api`",
            ),
            ("a//b".into(), "the name `a//b` has an empty path component"),
            (
                "team/a..b".into(),
                "the path component `a..b` of the name `team/a..b`",
            ),
            ("team/a$b".into(), "has `$`, outside `[a-z0-9._-]`"),
            (
                "example.com:http/api".into(),
                "the port `http` of the registry host `example.com`",
            ),
            (
                "-bad.com/api".into(),
                "the registry host `-bad.com` has the component `-bad`",
            ),
            (
                "bad_host.com:5000/api".into(),
                "the registry host `bad_host.com` has the component `bad_host` with `_`",
            ),
            (
                "[fe80::1%eth0]:5000/repo".into(),
                "the IPv6 address `[fe80::1%eth0]`",
            ),
            (
                "[::1:5000/repo".into(),
                "the registry host `[::1:5000` opens `[`",
            ),
            ("[::1]5000/repo".into(), "has `5000` after its IPv6 address"),
            ("".into(), "the reference is empty"),
            // Parts are checked left to right, as they are read.
            (
                "Api:x y@sha256:abc".into(),
                "repository names are lower case: `Api`",
            ),
            ("api:x y@sha256:abc".into(), "the tag `x y`"),
        ];
        for (input, expected) in cases {
            let message = ImageRef::parse(&input).unwrap_err().to_string();
            assert!(
                message.starts_with(&format!("`{input}` is not a valid image reference: ")),
                "{message}"
            );
            assert!(message.contains(expected), "`{input}`: {message}");
        }
    }

    #[test]
    fn from_parts_blames_the_part_that_is_wrong() {
        let err = ImageRef::from_parts("api", Some("v1:x"), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`api:v1:x` is not a valid image reference: the tag `v1:x` has a character outside `[A-Za-z0-9_.-]`: `:`"
        );
        let err = ImageRef::from_parts("api@x", None, None).unwrap_err();
        assert!(
            err.to_string().contains("the path component `api@x`"),
            "{err}"
        );
        let err = ImageRef::from_parts("localhost:5000", None, None).unwrap_err();
        assert!(err.to_string().contains("`localhost:5000`"), "{err}");
        let err = ImageRef::from_parts("api", None, Some("sha256:abc")).unwrap_err();
        assert!(
            err.to_string().contains(
                "in the digest `sha256:abc`, a sha256 digest has exactly 64 hexadecimal digits, this one has 3"
            ),
            "{err}"
        );
    }

    #[test]
    fn digests_of_each_registered_algorithm_have_their_exact_length() {
        for (algorithm, len) in [("sha256", 64), ("sha384", 96), ("sha512", 128)] {
            let text = format!("{algorithm}:{}", "a".repeat(len));
            let d = Digest::parse(&text).unwrap();
            assert_eq!(
                (d.algorithm(), d.hex()),
                (algorithm, &text[algorithm.len() + 1..])
            );
            for wrong in [len - 1, len + 1, 32] {
                let text = format!("{algorithm}:{}", "a".repeat(wrong));
                let err = Digest::parse(&text).unwrap_err();
                assert_eq!(
                    err.to_string(),
                    format!(
                        "`{text}` is not a valid digest: a {algorithm} digest has exactly {len} hexadecimal digits, this one has {wrong}"
                    )
                );
            }
        }
    }

    #[test]
    fn digests_and_references_serialize_as_their_text() {
        let r = ImageRef::parse(&format!("api:v1@{SHA}")).unwrap();
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, format!("\"api:v1@{SHA}\""));
        assert_eq!(serde_json::from_str::<ImageRef>(&json).unwrap(), r);
        let d: Digest = serde_json::from_str(&format!("\"{SHA}\"")).unwrap();
        assert_eq!(Some(&d), r.digest());
        let err = serde_json::from_str::<Digest>("\"sha256:abc\"").unwrap_err();
        assert!(
            err.to_string()
                .contains("`sha256:abc` is not a valid digest"),
            "{err}"
        );
        let err = serde_json::from_str::<ImageRef>("\"Api\"").unwrap_err();
        assert!(
            err.to_string()
                .contains("repository names are lower case: `Api`"),
            "{err}"
        );
    }

    // -----------------------------------------------------------------------------------------
    // Properties.

    /// References generated from the grammar, with the parts they were built from.
    fn grammar_reference() -> impl Strategy<Value = (String, Option<String>, Option<String>)> {
        let domain_component = "[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?";
        let host = prop_oneof![
            prop::collection::vec(domain_component, 1..4).prop_map(|c| c.join(".")),
            "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
            "\\[[0-9a-fA-F:]{1,12}\\]",
        ];
        let domain = (host, prop::option::of("[0-9]{1,5}")).prop_map(|(host, port)| match port {
            Some(port) => format!("{host}:{port}"),
            None => host,
        });
        let path_component = "[a-z0-9]+(([._]|__|-+)[a-z0-9]+){0,3}";
        let path = prop::collection::vec(path_component, 1..4).prop_map(|c| c.join("/"));
        let name = (prop::option::of(domain), path)
            .prop_map(|(domain, path)| match domain {
                Some(domain) => format!("{domain}/{path}"),
                None => path,
            })
            .prop_filter("names have at most 255 characters", |n| {
                n.len() <= NAME_MAX_LEN
            });
        let tag = "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";
        let digest = prop_oneof![
            "[0-9a-f]{64}".prop_map(|h| format!("sha256:{h}")),
            "[0-9a-f]{96}".prop_map(|h| format!("sha384:{h}")),
            "[0-9a-f]{128}".prop_map(|h| format!("sha512:{h}")),
        ];
        (name, prop::option::of(tag), prop::option::of(digest))
    }

    /// The grammar as one regex, after the distribution project's `regexp.go`, for checking the
    /// hand-written parser against an independent statement of the same rules.
    fn grammar_regex() -> regex::Regex {
        let domain_component = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
        let host = format!(r"(?:{domain_component}(?:\.{domain_component})*|\[[a-fA-F0-9:]+\])");
        let domain = format!(r"{host}(?::[0-9]+)?");
        let path_component = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
        let name = format!(r"(?:{domain}/)?{path_component}(?:/{path_component})*");
        let tag = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";
        let algorithm = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*";
        let digest = format!(r"{algorithm}:[0-9a-fA-F]{{32,}}");
        regex::Regex::new(&format!(r"^({name})(?::({tag}))?(?:@({digest}))?$")).unwrap()
    }

    /// What go-digest adds to the regex: a registered algorithm and its exact lower-case length.
    fn go_digest_accepts(digest: &str) -> bool {
        let (algorithm, hex) = digest.split_once(':').unwrap();
        registered_hex_len(algorithm) == Some(hex.len())
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }

    /// Text made of the pieces references are made of, so that near misses are common.
    fn reference_like_text() -> impl Strategy<Value = String> {
        let hex64 = "0123456789abcdef".repeat(4);
        let pieces: Vec<String> = [
            "a",
            "z9",
            "B",
            "0",
            "-",
            ".",
            "_",
            "__",
            ":",
            "/",
            "@",
            "[",
            "]",
            "::1",
            "5000",
            "localhost",
            "example.com",
            " ",
            "é",
        ]
        .into_iter()
        .map(str::to_owned)
        .chain([
            format!("@sha256:{hex64}"),
            format!("sha256:{}", &hex64[1..]),
            format!("sha256:{}", hex64.to_uppercase()),
            format!("foo:{hex64}"),
        ])
        .collect();
        let soup =
            prop::collection::vec(prop::sample::select(pieces), 0..10).prop_map(|p| p.concat());
        // Valid references with up to three characters replaced, inserted or removed.
        let edit = (
            any::<prop::sample::Index>(),
            0..3u8,
            prop::sample::select("aZ0-._:/@[]%é ".chars().collect::<Vec<_>>()),
        );
        let mutated = (grammar_reference(), prop::collection::vec(edit, 0..3)).prop_map(
            |((name, tag, digest), edits)| {
                let mut chars: Vec<char> =
                    ImageRef::from_parts(&name, tag.as_deref(), digest.as_deref())
                        .map(|r| r.as_str().chars().collect())
                        .unwrap_or_default();
                for (at, op, c) in edits {
                    let i = at.index(chars.len() + 1);
                    match op {
                        0 => chars.insert(i, c),
                        1 if i < chars.len() => chars[i] = c,
                        _ if i < chars.len() => {
                            chars.remove(i);
                        }
                        _ => {}
                    }
                }
                chars.into_iter().collect()
            },
        );
        prop_oneof![soup, mutated]
    }

    proptest! {
        #[test]
        fn references_built_from_the_grammar_parse_into_their_parts(
            (name, tag, digest) in grammar_reference()
        ) {
            let from_parts = ImageRef::from_parts(&name, tag.as_deref(), digest.as_deref()).unwrap();
            let text = from_parts.as_str().to_owned();
            let parsed = ImageRef::parse(&text).unwrap();
            prop_assert_eq!(parsed.name(), name.as_str());
            prop_assert_eq!(parsed.tag(), tag.as_deref());
            prop_assert_eq!(parsed.digest().map(Digest::as_str), digest.as_deref());
            prop_assert_eq!(&parsed, &from_parts);
            let rebuilt = ImageRef::from_parts(parsed.name(), parsed.tag(), parsed.part(Part::Digest)).unwrap();
            prop_assert_eq!(rebuilt.as_str(), text.as_str());
        }

        #[test]
        fn the_parser_agrees_with_the_grammar_regex(text in reference_like_text()) {
            let regex = grammar_regex();
            let expected = regex.captures(&text).filter(|c| {
                c[1].len() <= NAME_MAX_LEN && c.get(3).is_none_or(|d| go_digest_accepts(d.as_str()))
            });
            match (expected, ImageRef::parse(&text)) {
                (Some(c), Ok(r)) => {
                    prop_assert_eq!(r.name(), &c[1]);
                    prop_assert_eq!(r.tag(), c.get(2).map(|m| m.as_str()));
                    prop_assert_eq!(r.part(Part::Digest), c.get(3).map(|m| m.as_str()));
                }
                (None, Err(e)) => {
                    let message = e.to_string();
                    prop_assert!(message.contains(&format!("`{text}`")), "{}", message);
                }
                (expected, parsed) => {
                    prop_assert!(false, "`{}`: regex says {:?}, parser says {:?}", text, expected.is_some(), parsed);
                }
            }
        }

        #[test]
        fn ordering_and_equality_follow_the_text(a in reference_like_text(), b in reference_like_text()) {
            if let (Ok(x), Ok(y)) = (ImageRef::parse(&a), ImageRef::parse(&b)) {
                prop_assert_eq!(x.cmp(&y), a.cmp(&b));
                prop_assert_eq!(x == y, a == b);
            }
        }
    }
}
