//! Image references: `name[:tag][@digest]`, by the OCI distribution grammar.
//!
//! STUB: to be replaced by the full implementation (issue 2). The public API below is fixed.

use std::fmt;
use std::str::FromStr;

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

/// A content digest, `algorithm:hex` (`sha256:` followed by exactly 64 lower-case hex digits).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(String);

impl Digest {
    /// Parses a digest.
    pub fn parse(value: &str) -> Result<Self, ReferenceError> {
        let _ = value;
        todo!()
    }
    /// The digest as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The algorithm, e.g. `sha256`.
    pub fn algorithm(&self) -> &str {
        todo!()
    }
    /// The encoded hash after the colon.
    pub fn hex(&self) -> &str {
        todo!()
    }
}

/// An image reference, keeping the text it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageRef {
    text: String,
}

impl ImageRef {
    /// Parses `name[:tag][@digest]` by the distribution grammar, without normalising.
    pub fn parse(value: &str) -> Result<Self, ReferenceError> {
        let _ = value;
        todo!()
    }
    /// Builds a reference from its parts, checking each.
    pub fn from_parts(
        name: &str,
        tag: Option<&str>,
        digest: Option<&str>,
    ) -> Result<Self, ReferenceError> {
        let _ = (name, tag, digest);
        todo!()
    }
    /// The whole reference as it was written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
    /// The repository name, with registry host and port if given.
    pub fn name(&self) -> &str {
        todo!()
    }
    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        todo!()
    }
    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        todo!()
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
