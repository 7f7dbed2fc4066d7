//! `ImageRef::parse` and `Digest::parse` on arbitrary text: they never panic, and whatever
//! parses round-trips through its text, its parts and serde. The input, split at newlines, is
//! also given to `ImageRef::from_parts` as name, tag and digest: whatever it accepts must parse
//! back from its text into the same parts.
#![no_main]

use cfgupdate_core::{Digest, ImageRef, Part};
use libfuzzer_sys::fuzz_target;

fn check_reference(text: &str) {
    let Ok(reference) = ImageRef::parse(text) else {
        return;
    };
    assert_eq!(reference.as_str(), text);
    assert_eq!(reference.to_string(), text);
    assert_eq!(reference.part(Part::Ref), Some(text));
    let name = reference.name();
    let tag = reference.tag();
    let digest = reference.digest().map(Digest::as_str);
    assert!(!name.is_empty() && name.len() <= 255, "name {name:?}");
    assert!(
        tag.is_none_or(|t| !t.is_empty() && t.len() <= 128),
        "tag {tag:?}"
    );
    let mut assembled = name.to_owned();
    if let Some(tag) = tag {
        assembled = format!("{assembled}:{tag}");
    }
    if let Some(digest) = digest {
        assembled = format!("{assembled}@{digest}");
    }
    assert_eq!(assembled, text, "the parts do not make up the text");
    let rebuilt = ImageRef::from_parts(name, tag, digest)
        .unwrap_or_else(|e| panic!("{text:?} parsed, but its parts are refused: {e}"));
    assert_eq!(rebuilt, reference);
    // The name alone is a reference with that name and nothing else.
    let bare = ImageRef::parse(name)
        .unwrap_or_else(|e| panic!("the name of {text:?} alone is refused: {e}"));
    assert_eq!((bare.name(), bare.tag(), bare.digest()), (name, None, None));
    if let Some(digest) = reference.digest() {
        assert_eq!(Digest::parse(digest.as_str()).as_ref(), Ok(digest));
    }
    let json = serde_json::to_string(&reference).expect("a reference serialises");
    let back: ImageRef = serde_json::from_str(&json).expect("a serialised reference deserialises");
    assert_eq!(back, reference);
}

fn check_digest(text: &str) {
    let Ok(digest) = Digest::parse(text) else {
        return;
    };
    assert_eq!(digest.as_str(), text);
    assert_eq!(format!("{}:{}", digest.algorithm(), digest.hex()), text);
    let expected = match digest.algorithm() {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        other => panic!("{text:?} parsed with the unregistered algorithm {other:?}"),
    };
    assert_eq!(digest.hex().len(), expected);
    assert!(
        digest
            .hex()
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    // A name with this digest is a reference.
    assert!(ImageRef::parse(&format!("reg.example.com/app@{text}")).is_ok());
}

fn check_from_parts(text: &str) {
    let mut fields = text.splitn(3, '\n');
    let name = fields.next().unwrap_or_default();
    let tag = fields.next();
    let digest = fields.next();
    let Ok(reference) = ImageRef::from_parts(name, tag, digest) else {
        return;
    };
    let parsed = ImageRef::parse(reference.as_str()).unwrap_or_else(|e| {
        panic!(
            "from_parts({name:?}, {tag:?}, {digest:?}) built {:?}, which does not parse: {e}",
            reference.as_str()
        )
    });
    assert_eq!(
        (
            parsed.name(),
            parsed.tag(),
            parsed.digest().map(Digest::as_str)
        ),
        (name, tag, digest),
        "from_parts and parse disagree on the parts"
    );
    assert_eq!(parsed, reference);
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    check_reference(&text);
    check_digest(&text);
    check_from_parts(&text);
});
