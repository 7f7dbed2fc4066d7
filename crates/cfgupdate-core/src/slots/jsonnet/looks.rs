//! Whether a slot's current value looks like the part it holds (docs/slots.md).
//!
//! A marker or a field name says which service a literal belongs to, but not that the literal
//! is an image: a marker put on the wrong line, or a field that happens to share a service's
//! name, would otherwise have an image reference written over a container name or an error
//! message. So a slot is written (and read) only where its value already looks like its part:
//!
//! - the whole reference: a reference with a tag or a digest (`reg/api:v1`, `api@sha256:...`);
//!   a bare name such as `kafka` is refused, since names of containers, ports and volumes look
//!   exactly like that;
//! - the name: a repository name (`reg.example.com/team/api`);
//! - the tag: a tag (`v1.2.3`), or a tag with its digest (`v1.2.3@sha256:...`, as Renovate pins
//!   it), which is written the same way;
//! - the digest: `algorithm:hex`.
//!
//! An empty literal is a placeholder for any part.

use crate::reference::{Digest, ImageRef, Part};

/// Why `value` does not look like `part`; `None` when it does (or is an empty placeholder).
pub(super) fn mismatch(part: Part, value: &str) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    match part {
        Part::Ref => match ImageRef::parse(value) {
            Ok(image) if image.tag().is_some() || image.digest().is_some() => None,
            Ok(_) => Some(
                "which has neither a tag nor a digest, so it reads as a name (of a container, a port, a volume...) rather than an image reference `name:tag` or `name@digest`".to_owned(),
            ),
            Err(_) => Some("which is not an image reference".to_owned()),
        },
        Part::Name => match ImageRef::from_parts(value, None, None) {
            Ok(_) => None,
            Err(_) => Some("which is not a repository name".to_owned()),
        },
        Part::Tag => match split_pinned_tag(value) {
            Some(_) => None,
            None => Some("which is not a tag (nor a tag with its digest, `tag@sha256:...`)".to_owned()),
        },
        Part::Digest => match Digest::parse(value) {
            Ok(_) => None,
            Err(_) => Some("which is not a digest (`sha256:<hex>`)".to_owned()),
        },
    }
}

/// A tag slot's value as its tag and, when it is pinned the way Renovate writes it
/// (`1.2.3@sha256:...`), its digest; `None` when it is neither a tag nor a pinned tag.
pub(super) fn split_pinned_tag(value: &str) -> Option<(&str, Option<&str>)> {
    let (tag, digest) = match value.split_once('@') {
        Some((tag, digest)) => (tag, Some(digest)),
        None => (value, None),
    };
    // A tag is checked as the tag of a reference with a name that is surely valid.
    ImageRef::from_parts("x", Some(tag), digest).ok()?;
    Some((tag, digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    #[test]
    fn a_whole_reference_needs_a_tag_or_a_digest() {
        assert_eq!(mismatch(Part::Ref, "reg/api:v1"), None);
        assert_eq!(mismatch(Part::Ref, &format!("api@{DIGEST}")), None);
        assert_eq!(mismatch(Part::Ref, ""), None);
        assert!(
            mismatch(Part::Ref, "kafka")
                .unwrap()
                .contains("neither a tag")
        );
        assert!(mismatch(Part::Ref, "quay.io/x:").is_some());
        assert!(mismatch(Part::Ref, "must provide image").is_some());
    }

    #[test]
    fn parts_look_like_their_part() {
        assert_eq!(mismatch(Part::Name, "reg.example.com:5000/team/api"), None);
        assert!(mismatch(Part::Name, "reg/api:v1").is_some());
        assert_eq!(mismatch(Part::Tag, "43.1.0"), None);
        assert_eq!(mismatch(Part::Tag, &format!("43.1.0@{DIGEST}")), None);
        assert!(mismatch(Part::Tag, "a tag").is_some());
        assert!(mismatch(Part::Tag, "43.1.0@sha256:short").is_some());
        assert_eq!(mismatch(Part::Digest, DIGEST), None);
        assert!(mismatch(Part::Digest, "v1").is_some());
    }

    #[test]
    fn a_pinned_tag_splits_into_tag_and_digest() {
        assert_eq!(split_pinned_tag("v1"), Some(("v1", None)));
        assert_eq!(
            split_pinned_tag(&format!("v1@{DIGEST}")),
            Some(("v1", Some(DIGEST)))
        );
        assert_eq!(split_pinned_tag("@x"), None);
    }
}
