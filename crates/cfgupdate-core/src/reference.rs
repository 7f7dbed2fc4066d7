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
    #[error("`{value}` is not a valid image reference: {reason}")]
    Invalid {
        /// The text given.
        value: String,
        /// What is wrong, in words.
        reason: String,
    },
    /// The text is not a valid digest.
    #[error("`{value}` is not a valid digest: {reason}")]
    InvalidDigest {
        /// The text given.
        value: String,
        /// What is wrong, in words.
        reason: String,
    },
}

/// The longest repository name the distribution grammar accepts, registry host included.
pub const NAME_MAX_LEN: usize = 255;

/// The longest tag the distribution grammar accepts.
pub const TAG_MAX_LEN: usize = 128;

/// The hex length of the algorithms go-digest registers; these are checked exactly (and in lower
/// case), any other algorithm only by the generic grammar.
fn registered_hex_len(algorithm: &str) -> Option<usize> {
    match algorithm {
        "sha256" => Some(64),
        "sha384" => Some(96),
        "sha512" => Some(128),
        _ => None,
    }
}

/// A content digest, `algorithm:hex` (`sha256:` followed by exactly 64 lower-case hex digits).
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
            Some((before, digest)) => {
                check_digest(digest)
                    .map_err(|reason| invalid(format!("in the digest `{digest}`, {reason}")))?;
                (before, Some(Digest(digest.to_owned())))
            }
            None => (value, None),
        };
        // A name ends in a path component, which has neither `:` nor `/`; a tag has no `/`.
        // So text after the last `:` is the tag exactly when it holds no `/` (otherwise that
        // `:` introduced a registry port).
        let (name, tag) = match before_digest.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
            _ => (before_digest, None),
        };
        check_name(name).map_err(invalid)?;
        if let Some(tag) = tag {
            check_tag(tag).map_err(invalid)?;
        }
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
        let invalid = |reason: String| ReferenceError::Invalid {
            value: text.clone(),
            reason,
        };
        check_name(name).map_err(invalid)?;
        if let Some(tag) = tag {
            check_tag(tag).map_err(invalid)?;
        }
        let digest = match digest {
            Some(digest) => {
                check_digest(digest)
                    .map_err(|reason| invalid(format!("in the digest `{digest}`, {reason}")))?;
                Some(Digest(digest.to_owned()))
            }
            None => None,
        };
        Ok(ImageRef::assemble(text, name, tag, digest))
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

/// Checks `name := [domain "/"] path`, at most 255 characters.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name is empty".to_owned());
    }
    let components: Vec<&str> = name.split('/').collect();
    // The distribution regex makes the domain optional, so a first component that is both a
    // valid host and a valid path component (`library/nginx`) is fine either way; only when the
    // first component is no path component must it be a host.
    let path_from = if components.len() > 1 && domain_error(components[0]).is_none() {
        1
    } else {
        0
    };
    for (index, component) in components.iter().enumerate().skip(path_from) {
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
    if let Some(expected) = registered_hex_len(algorithm) {
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
        return Ok(());
    }
    if let Some(c) = first_outside(hex, |c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "the hex `{hex}` of the digest has `{c}`, which is no hexadecimal digit"
        ));
    }
    if hex.len() < 32 {
        return Err(format!(
            "the hex `{hex}` of the digest has {} digits, fewer than 32",
            hex.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

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
    }

    #[test]
    fn a_registry_port_is_not_taken_for_a_tag() {
        let r = ImageRef::parse("localhost:5000/api").unwrap();
        assert_eq!(r.name(), "localhost:5000/api");
        assert_eq!(r.tag(), None);
    }

    #[test]
    fn image_ref_stays_small_enough_to_travel_inside_errors() {
        assert!(std::mem::size_of::<ImageRef>() <= 40);
    }

    #[test]
    fn refusals_name_the_part_and_the_value() {
        let err = ImageRef::parse("nginx:x y").unwrap_err().to_string();
        assert!(
            err.contains("the tag `x y` has a character outside `[A-Za-z0-9_.-]`"),
            "{err}"
        );
        let err = ImageRef::parse(&format!("nginx@{}", &SHA[..SHA.len() - 1]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("a sha256 digest has exactly 64 hexadecimal digits, this one has 63"),
            "{err}"
        );
        let err = ImageRef::parse("Foo").unwrap_err().to_string();
        assert!(
            err.contains("repository names are lower case: `Foo`"),
            "{err}"
        );
    }
}
