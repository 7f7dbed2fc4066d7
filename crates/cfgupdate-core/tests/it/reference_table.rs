//! The distribution project's own test cases for its `reference` package, transcribed as data,
//! and run against [`ImageRef`]: every input with its verdict, and for the valid ones the
//! expected name, tag and digest.
//!
//! Sources (inputs and verdicts copied as they are there):
//! - `distribution/distribution`, `reference/reference_test.go` (`TestReferenceParse`,
//!   `TestWithNameFailure`, `TestSplitHostname`, `TestSerialization`, `TestWithTag`,
//!   `TestWithDigest`); the same tables live on in `distribution/reference`, `reference_test.go`.
//! - `distribution/distribution`, `reference/regexp_test.go` as continued in
//!   `distribution/reference`, `regexp_test.go` (`TestDomainRegexp`, `TestFullNameRegexp`,
//!   `TestReferenceRegexp`).
//!
//! Where cfgupdate's verdict differs from upstream on purpose, the case says so and why.

use cfgupdate_core::{Digest, ImageRef, Part, ReferenceError};

/// What parsing an input must give: its parts, or a refusal.
#[derive(Debug)]
enum Verdict {
    Valid {
        name: &'static str,
        tag: Option<&'static str>,
        digest: Option<&'static str>,
    },
    Invalid,
}
use Verdict::{Invalid, Valid};

const fn name(name: &'static str) -> Verdict {
    Valid {
        name,
        tag: None,
        digest: None,
    }
}
const fn tagged(name: &'static str, tag: &'static str) -> Verdict {
    Valid {
        name,
        tag: Some(tag),
        digest: None,
    }
}
const fn digested(name: &'static str, digest: &'static str) -> Verdict {
    Valid {
        name,
        tag: None,
        digest: Some(digest),
    }
}
const fn full(name: &'static str, tag: &'static str, digest: &'static str) -> Verdict {
    Valid {
        name,
        tag: Some(tag),
        digest: Some(digest),
    }
}

const SHA256_F: &str = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
const SHA512_F: &str = "sha512:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
const SHA256_BE: &str = "sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912";

/// `reference_test.go`, `TestReferenceParse`: `Parse(input)` and its name, tag and digest.
const REFERENCE_PARSE: &[(&str, Verdict)] = &[
    ("test_com", name("test_com")),
    ("test.com:tag", tagged("test.com", "tag")),
    ("test.com:5000", tagged("test.com", "5000")),
    ("test.com/repo:tag", tagged("test.com/repo", "tag")),
    ("test:5000/repo", name("test:5000/repo")),
    ("test:5000/repo:tag", tagged("test:5000/repo", "tag")),
    (
        "test:5000/repo@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        digested("test:5000/repo", SHA256_F),
    ),
    (
        "test:5000/repo:tag@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        full("test:5000/repo", "tag", SHA256_F),
    ),
    ("", Invalid),
    (":justtag", Invalid),
    (
        "@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        Invalid,
    ),
    // digest.ErrDigestInvalidLength
    ("repo@sha256:ffffffffffffffffffffffffffffffffff", Invalid),
    // digest.ErrDigestUnsupported
    (
        "validname@invaliddigest:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        Invalid,
    ),
    // ErrNameContainsUppercase
    ("Uppercase:tag", Invalid),
    // Upstream leaves this commented out with a FIXME: `Uppercase` is read as a registry host,
    // so the reference passes. The grammar says so, and so do we.
    (
        "Uppercase/lowercase:tag",
        tagged("Uppercase/lowercase", "tag"),
    ),
    ("test:5000/Uppercase/lowercase:tag", Invalid),
    ("lowercase:Uppercase", tagged("lowercase", "Uppercase")),
    ("aa/asdf$$^/aa", Invalid),
    (
        "sub-dom1.foo.com/bar/baz/quux",
        name("sub-dom1.foo.com/bar/baz/quux"),
    ),
    (
        "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
        tagged("sub-dom1.foo.com/bar/baz/quux", "some-long-tag"),
    ),
    (
        "b.gcr.io/test.example.com/my-app:test.example.com",
        tagged("b.gcr.io/test.example.com/my-app", "test.example.com"),
    ),
    // ☃.com in punycode
    (
        "xn--n3h.com/myimage:xn--n3h.com",
        tagged("xn--n3h.com/myimage", "xn--n3h.com"),
    ),
    // 🐳.com in punycode
    (
        "xn--7o8h.com/myimage:xn--7o8h.com@sha512:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        full("xn--7o8h.com/myimage", "xn--7o8h.com", SHA512_F),
    ),
    ("foo_bar.com:8080", tagged("foo_bar.com", "8080")),
    ("foo/foo_bar.com:8080", tagged("foo/foo_bar.com", "8080")),
    ("192.168.1.1", name("192.168.1.1")),
    ("192.168.1.1:tag", tagged("192.168.1.1", "tag")),
    ("192.168.1.1:5000", tagged("192.168.1.1", "5000")),
    ("192.168.1.1/repo", name("192.168.1.1/repo")),
    ("192.168.1.1:5000/repo", name("192.168.1.1:5000/repo")),
    (
        "192.168.1.1:5000/repo:5050",
        tagged("192.168.1.1:5000/repo", "5050"),
    ),
    ("[2001:db8::1]", Invalid),
    ("[2001:db8::1]:5000", Invalid),
    ("[2001:db8::1]:tag", Invalid),
    ("[2001:db8::1]/repo", name("[2001:db8::1]/repo")),
    (
        "[2001:db8:1:2:3:4:5:6]/repo:tag",
        tagged("[2001:db8:1:2:3:4:5:6]/repo", "tag"),
    ),
    ("[2001:db8::1]:5000/repo", name("[2001:db8::1]:5000/repo")),
    (
        "[2001:db8::1]:5000/repo:tag",
        tagged("[2001:db8::1]:5000/repo", "tag"),
    ),
    (
        "[2001:db8::1]:5000/repo@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        digested("[2001:db8::1]:5000/repo", SHA256_F),
    ),
    (
        "[2001:db8::1]:5000/repo:tag@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        full("[2001:db8::1]:5000/repo", "tag", SHA256_F),
    ),
    ("[2001:db8::]:5000/repo", name("[2001:db8::]:5000/repo")),
    ("[::1]:5000/repo", name("[::1]:5000/repo")),
    ("[fe80::1%eth0]:5000/repo", Invalid),
    ("[fe80::1%@invalidzone]:5000/repo", Invalid),
];

/// `reference_test.go`, `TestSerialization`: the JSON field holds a reference.
const SERIALIZATION: &[(&str, Verdict)] = &[
    ("", Invalid),
    ("example.com:8000/named", name("example.com:8000/named")),
    (
        "example.com:8000/named:tagged",
        tagged("example.com:8000/named", "tagged"),
    ),
    (
        "other.com/named@sha256:1234567890098765432112345667890098765432112345667890098765432112",
        digested(
            "other.com/named",
            "sha256:1234567890098765432112345667890098765432112345667890098765432112",
        ),
    ),
];

/// `regexp_test.go`, `TestReferenceRegexp`: the whole-reference regex and its three groups.
const REFERENCE_REGEXP: &[(&str, Verdict)] = &[
    (
        "registry.com:8080/myapp:tag",
        tagged("registry.com:8080/myapp", "tag"),
    ),
    (
        "registry.com:8080/myapp@sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912",
        digested("registry.com:8080/myapp", SHA256_BE),
    ),
    (
        "registry.com:8080/myapp:tag2@sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912",
        full("registry.com:8080/myapp", "tag2", SHA256_BE),
    ),
    ("registry.com:8080/myapp@sha256:badbadbadbad", Invalid),
    ("registry.com:8080/myapp:invalid~tag", Invalid),
    ("bad_hostname.com:8080/myapp:tag", Invalid),
    // localhost is read as a name, and 8080 as its tag
    (
        "localhost:8080@sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912",
        full("localhost", "8080", SHA256_BE),
    ),
    (
        "localhost:8080/name@sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912",
        digested("localhost:8080/name", SHA256_BE),
    ),
    (
        "localhost:http/name@sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912",
        Invalid,
    ),
    // localhost is read as a name without a host
    (
        "localhost@sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912",
        digested("localhost", SHA256_BE),
    ),
    ("registry.com:8080/myapp@bad", Invalid),
    ("registry.com:8080/myapp@2bad", Invalid),
];

/// `regexp_test.go`, `TestFullNameRegexp`: names alone, through the anchored name regex.
/// `true` when upstream matches.
const FULL_NAME_REGEXP: &[(&str, bool)] = &[
    ("", false),
    ("short", true),
    ("simple/name", true),
    ("library/ubuntu", true),
    ("docker/stevvooe/app", true),
    ("aa/aa/aa/aa/aa/aa/aa/aa/aa/bb/bb/bb/bb/bb/bb", true),
    ("aa/aa/bb/bb/bb", true),
    ("a/a/a/a", true),
    ("a/a/a/a/", false),
    ("a//a/a", false),
    ("a", true),
    ("a/aa", true),
    ("a/aa/a", true),
    ("foo.com", true),
    ("foo.com/", false),
    ("foo.com:8080/bar", true),
    ("foo.com:http/bar", false),
    ("foo.com/bar", true),
    ("foo.com/bar/baz", true),
    ("localhost:8080/bar", true),
    ("sub-dom1.foo.com/bar/baz/quux", true),
    ("blog.foo.com/bar/baz", true),
    ("a^a", false),
    ("aa/asdf$$^/aa", false),
    ("asdf$$^/aa", false),
    ("aa-a/a", true),
    ("a-/a/a/a", false),
    ("foo.com/a-/a/a", false),
    ("-foo/bar", false),
    ("foo/bar-", false),
    ("foo-/bar", false),
    ("foo/-bar", false),
    ("_foo/bar", false),
    ("foo_bar", true),
    ("foo_bar.com", true),
    ("foo_bar.com:8080", false),
    ("foo_bar.com:8080/app", false),
    ("foo.com/foo_bar", true),
    ("____/____", false),
    ("_docker/_docker", false),
    ("docker_/docker_", false),
    ("b.gcr.io/test.example.com/my-app", true),
    ("xn--n3h.com/myimage", true),
    ("xn--7o8h.com/myimage", true),
    ("example.com/xn--7o8h.com/myimage", true),
    ("example.com/some_separator__underscore/myimage", true),
    ("example.com/__underscore/myimage", false),
    ("example.com/..dots/myimage", false),
    ("example.com/.dots/myimage", false),
    ("example.com/nodouble..dots/myimage", false),
    ("docker./docker", false),
    (".docker/docker", false),
    ("docker-/docker", false),
    ("-docker/docker", false),
    ("do..cker/docker", false),
    ("do__cker:8080/docker", false),
    ("do__cker/docker", true),
    (
        "registry.io/foo/project--id.module--name.ver---sion--name",
        true,
    ),
    // uppercase character in hostname
    ("Asdf.com/foo/bar", true),
    // uppercase characters in remote name
    ("Foo/FarB", false),
];

/// `regexp_test.go`, `TestDomainRegexp`: hosts alone, through `^domainAndPort$`. Run here as the
/// registry host of `<input>/foo`, the only place a host can stand in a reference.
const DOMAIN_REGEXP: &[(&str, bool)] = &[
    ("test.com", true),
    ("test.com:10304", true),
    ("test.com:http", false),
    ("localhost", true),
    ("localhost:8080", true),
    ("a", true),
    ("a.b", true),
    ("ab.cd.com", true),
    ("a-b.com", true),
    ("-ab.com", false),
    ("ab-.com", false),
    ("ab.c-om", true),
    ("ab.-com", false),
    ("ab.com-", false),
    ("0101.com", true),
    ("001a.com", true),
    ("b.gbc.io:443", true),
    ("b.gbc.io", true),
    ("xn--n3h.com", true),
    ("Asdf.com", true),
    ("192.168.1.1:75050", true),
    // upstream: more than 5 port digits passes the regex, "it will fail on validation"; the
    // grammar has no such validation, so neither do we
    ("192.168.1.1:750050", true),
    ("[fd00:1:2::3]:75050", true),
    ("[fd00:1:2::3]75050", false),
    ("[fd00:1:2::3]::75050", false),
    ("[fd00:1:2::3%eth0]:75050", false),
    ("[fd00123123123]:75050", true),
    ("[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:75050", true),
    ("[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:750505", true),
    ("fd00:1:2::3:75050", false),
];

fn check(input: &str, verdict: &Verdict, source: &str) {
    let parsed = ImageRef::parse(input);
    match (verdict, parsed) {
        (Valid { name, tag, digest }, Ok(r)) => {
            assert_eq!(r.as_str(), input, "{source}: `{input}` is kept as written");
            assert_eq!(r.name(), *name, "{source}: name of `{input}`");
            assert_eq!(r.tag(), *tag, "{source}: tag of `{input}`");
            assert_eq!(
                r.digest().map(Digest::as_str),
                *digest,
                "{source}: digest of `{input}`"
            );
            assert_eq!(r.part(Part::Ref), Some(input));
            assert_eq!(r.has_digest(), digest.is_some());
            let rebuilt = ImageRef::from_parts(name, *tag, *digest)
                .unwrap_or_else(|e| panic!("{source}: rebuilding `{input}` from its parts: {e}"));
            assert_eq!(rebuilt, r, "{source}: `{input}` rebuilt from its parts");
        }
        (Valid { .. }, Err(e)) => panic!("{source}: `{input}` must parse, got: {e}"),
        (Invalid, Ok(r)) => panic!("{source}: `{input}` must be refused, got {r:?}"),
        (Invalid, Err(e)) => assert_refusal_names_value(&e, input),
    }
}

fn assert_refusal_names_value(e: &ReferenceError, input: &str) {
    let message = e.to_string();
    assert!(
        message.contains(&format!("`{input}`")),
        "the refusal `{message}` must name `{input}`"
    );
    assert!(
        !message.contains('\n'),
        "the refusal `{message}` is one line"
    );
}

#[test]
fn test_reference_parse_cases_give_upstream_verdicts_and_parts() {
    for (input, verdict) in REFERENCE_PARSE {
        check(input, verdict, "TestReferenceParse");
    }
}

#[test]
fn names_of_at_most_255_characters_pass_and_longer_ones_are_refused() {
    // TestReferenceParse: strings.Repeat("a/", 128) + "a:tag" is ErrNameTooLong ...
    let too_long = format!("{}a:tag", "a/".repeat(128));
    let err = ImageRef::parse(&too_long).unwrap_err();
    assert!(
        err.to_string()
            .contains("has 257 characters, more than 255"),
        "{err}"
    );
    // ... and strings.Repeat("a/", 127) + "a:tag-puts-this-over-max" passes: only the name counts.
    let at_max = format!("{}a:tag-puts-this-over-max", "a/".repeat(127));
    let expected_name = format!("{}a", "a/".repeat(127));
    let r = ImageRef::parse(&at_max).unwrap();
    assert_eq!(r.name(), expected_name);
    assert_eq!(r.name().len(), 255);
    assert_eq!(r.tag(), Some("tag-puts-this-over-max"));
    // TestFullNameRegexp: strings.Repeat("a/", 128) + "a" matches the regex; Parse refuses it
    // for its length, and so do we.
    assert!(ImageRef::parse(&format!("{}a", "a/".repeat(128))).is_err());
}

#[test]
fn test_with_name_failure_names_are_refused() {
    // TestWithNameFailure: WithName(input) fails.
    let long = format!("{}a:tag", "a/".repeat(128));
    for input in [
        "",
        ":justtag",
        "@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "validname@invaliddigest:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        long.as_str(),
        "aa/asdf$$^/aa",
    ] {
        let e = ImageRef::from_parts(input, None, None).unwrap_err();
        assert_refusal_names_value(&e, input);
    }
}

#[test]
fn test_split_hostname_names_are_accepted_whole() {
    // TestSplitHostname / TestDomainAndPath: WithName(input) succeeds.
    for input in [
        "test.com/foo",
        "test_com/foo",
        "test:8080/foo",
        "test.com:8080/foo",
        "test-com:8080/foo",
        "xn--n3h.com:18080/foo",
    ] {
        let r = ImageRef::from_parts(input, None, None).unwrap();
        assert_eq!(r.name(), input);
        assert_eq!(r.as_str(), input);
    }
}

#[test]
fn test_serialization_cases_round_trip_through_json() {
    for (input, verdict) in SERIALIZATION {
        check(input, verdict, "TestSerialization");
        let json = serde_json::to_string(input).unwrap();
        match (verdict, serde_json::from_str::<ImageRef>(&json)) {
            (Valid { .. }, Ok(r)) => assert_eq!(serde_json::to_string(&r).unwrap(), json),
            (Invalid, Err(e)) => assert!(e.to_string().contains("not a valid image reference")),
            (_, other) => panic!("TestSerialization: `{input}` gave {other:?}"),
        }
    }
}

#[test]
fn test_with_tag_and_with_digest_combine_as_upstream_when_the_digest_is_valid() {
    // TestWithTag: name + tag (+ digest) give `combined`.
    for (name, tag, combined) in [
        ("test.com/foo", "tag", "test.com/foo:tag"),
        ("foo", "tag2", "foo:tag2"),
        ("test.com:8000/foo", "tag4", "test.com:8000/foo:tag4"),
        ("test.com:8000/foo", "TAG5", "test.com:8000/foo:TAG5"),
    ] {
        let r = ImageRef::from_parts(name, Some(tag), None).unwrap();
        assert_eq!(r.as_str(), combined);
        assert_eq!(ImageRef::parse(combined).unwrap(), r);
    }
    // TestWithTag's last case and every TestWithDigest case attach
    // `sha256:1234567890098765432112345667890098765`, 37 digits: upstream's WithDigest does not
    // validate the digest, but Parse of the combined text would refuse it (go-digest wants 64),
    // and cfgupdate checks every part it is given, so these are refused.
    let short = "sha256:1234567890098765432112345667890098765";
    for (name, tag) in [
        ("test.com:8000/foo", Some("TAG5")),
        ("test.com/foo", None),
        ("foo", None),
        ("test.com:8000/foo", None),
        ("test.com:8000/foo", Some("latest")),
    ] {
        let err = ImageRef::from_parts(name, tag, Some(short)).unwrap_err();
        assert!(
            err.to_string()
                .contains("a sha256 digest has exactly 64 hexadecimal digits, this one has 37"),
            "{err}"
        );
    }
}

#[test]
fn test_reference_regexp_cases_give_upstream_verdicts_and_groups() {
    for (input, verdict) in REFERENCE_REGEXP {
        check(input, verdict, "TestReferenceRegexp");
    }
}

#[test]
fn test_full_name_regexp_cases_give_upstream_verdicts_as_names() {
    // The input is a name alone (`foo_bar.com:8080` is no name, though it is a name and a tag),
    // so it goes through `from_parts`.
    for (input, matches) in FULL_NAME_REGEXP {
        match (*matches, ImageRef::from_parts(input, None, None)) {
            (true, Ok(r)) => {
                assert_eq!(r.name(), *input);
                assert_eq!(ImageRef::parse(input).unwrap(), r, "`{input}` parses alike");
            }
            (false, Err(e)) => assert_refusal_names_value(&e, input),
            (_, other) => panic!("TestFullNameRegexp: `{input}` gave {other:?}"),
        }
    }
}

#[test]
fn test_domain_regexp_hosts_give_upstream_verdicts_as_registry_hosts() {
    for (host, matches) in DOMAIN_REGEXP {
        let input = format!("{host}/foo");
        let parsed = ImageRef::parse(&input);
        assert_eq!(
            parsed.is_ok(),
            *matches,
            "TestDomainRegexp: `{input}` gave {parsed:?}"
        );
        if let Ok(r) = parsed {
            assert_eq!(r.name(), input);
        }
    }
}
