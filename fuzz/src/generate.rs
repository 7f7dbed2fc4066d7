//! Generators driven by fuzz input: valid service names and image references, update sets, and
//! whole JSON and Jsonnet files assembled from a small grammar, so that the fuzzer reaches real
//! slots instead of spending its time on syntax errors.

use arbitrary::{Result, Unstructured};
use cfgupdate_core::{ImageRef, ImageSet, ServiceName};

/// Services the generated files and update sets share, so that they meet often.
const SERVICES: &[&str] = &[
    "api",
    "web",
    "worker",
    "a",
    "b",
    "db-migrate",
    "svc.v2",
    "Api_1",
];

/// Repository names, valid by the distribution grammar, with and without registry and port.
const NAMES: &[&str] = &[
    "reg.example.com/team/api",
    "nginx",
    "localhost:5000/app",
    "ghcr.io/org/x-y_z",
    "registry.example.com/api",
    "192.168.1.1:8080/a/b__c",
    "[::1]:5000/web",
];

const DIGEST_ALGORITHMS: &[(&str, usize)] = &[("sha256", 32), ("sha384", 48), ("sha512", 64)];

/// Maximal runs of service-name characters in `text`, so that update sets for an arbitrary
/// file can name the services it holds.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
        .filter(|w| ServiceName::parse(w).is_ok())
        .take(64)
        .map(str::to_owned)
        .collect()
}

/// A valid service name: one of the shared ones, one found in the file, or a generated one.
pub fn service(u: &mut Unstructured<'_>, found: &[String]) -> Result<ServiceName> {
    let fallback = || ServiceName::parse("api").expect("`api` is a valid service name");
    let name = match u.int_in_range(0..=7u8)? {
        0..=3 => u.choose(SERVICES)?.to_string(),
        4..=6 if !found.is_empty() => u.choose(found)?.clone(),
        _ => {
            let len = u.int_in_range(1..=12usize)?;
            let mut name = String::new();
            for i in 0..len {
                let alphabet: &[u8] = if i == 0 {
                    b"abcdefghijklmnopqrstuvwxyz0123456789"
                } else {
                    b"abcdefghijklmnopqrstuvwxyzABZ0123456789_.-"
                };
                name.push(char::from(*u.choose(alphabet)?));
            }
            name
        }
    };
    Ok(ServiceName::parse(&name).unwrap_or_else(|_| fallback()))
}

fn repository_name(u: &mut Unstructured<'_>) -> Result<String> {
    if u.ratio(2u8, 3)? {
        return Ok(u.choose(NAMES)?.to_string());
    }
    let mut name = String::new();
    if u.arbitrary()? {
        name.push_str(u.choose(&[
            "docker.io/",
            "reg.example.com:443/",
            "localhost/",
            "a.b-c.d/",
        ])?);
    }
    let components = u.int_in_range(1..=3u8)?;
    for c in 0..components {
        if c > 0 {
            name.push('/');
        }
        let len = u.int_in_range(1..=8u8)?;
        for i in 0..len {
            if i > 0 && i + 1 < len && u.ratio(1u8, 5)? {
                name.push_str(u.choose(&[".", "_", "__", "-", "--"])?);
            }
            name.push(char::from(
                *u.choose(b"abcdefghijklmnopqrstuvwxyz0123456789")?,
            ));
        }
    }
    Ok(name)
}

fn tag(u: &mut Unstructured<'_>) -> Result<String> {
    if u.ratio(1u8, 2)? {
        return Ok(u
            .choose(&["v1", "v2", "latest", "1.2.3", "main-0a1b2c3", "_x"])?
            .to_string());
    }
    let len = u.int_in_range(1..=24usize)?;
    let mut tag = String::new();
    for i in 0..len {
        let alphabet: &[u8] = if i == 0 {
            b"abcdefABCDEF0123456789_"
        } else {
            b"abcdefXYZ0123456789_.-"
        };
        tag.push(char::from(*u.choose(alphabet)?));
    }
    Ok(tag)
}

fn digest(u: &mut Unstructured<'_>) -> Result<String> {
    let &(algorithm, bytes) = u.choose(DIGEST_ALGORITHMS)?;
    let mut digest = format!("{algorithm}:");
    for _ in 0..bytes {
        let byte: u8 = u.arbitrary()?;
        digest.push_str(&format!("{byte:02x}"));
    }
    Ok(digest)
}

/// A valid image reference. Almost always pinned by digest, as cfgupdate writes; sometimes
/// without one, or without a tag, so that the refusals are reached too.
pub fn reference(u: &mut Unstructured<'_>) -> Result<ImageRef> {
    let name = repository_name(u)?;
    let tag = if u.ratio(3u8, 4)? {
        Some(tag(u)?)
    } else {
        None
    };
    let digest = if u.ratio(7u8, 8)? {
        Some(digest(u)?)
    } else {
        None
    };
    Ok(
        ImageRef::from_parts(&name, tag.as_deref(), digest.as_deref()).unwrap_or_else(|_| {
            ImageRef::parse(
                "reg.example.com/team/api:v1@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            )
            .expect("the fallback reference is valid")
        }),
    )
}

/// Up to four updates, for services among the shared names and `found`.
pub fn update_set(u: &mut Unstructured<'_>, found: &[String]) -> Result<ImageSet> {
    let mut set = ImageSet::new();
    for _ in 0..u.int_in_range(0..=4u8)? {
        set.insert(service(u, found)?, reference(u)?);
    }
    Ok(set)
}

// ---------------------------------------------------------------------------------------------
// JSON image files.

/// A JSON string literal of `value`, with some characters spelled as escapes a real file may
/// use (`\/`, `\u0061`), so that the scanner's unescaping meets the edits.
fn json_literal(u: &mut Unstructured<'_>, value: &str) -> Result<String> {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            '/' if u.ratio(1u8, 8)? => out.push_str("\\/"),
            c if u.ratio(1u8, 32)? => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    Ok(out)
}

/// A member value that is not an image entry, as annotations hold.
fn json_other(u: &mut Unstructured<'_>) -> Result<String> {
    Ok(u.choose(&[
        "1",
        "-0.5e+3",
        "true",
        "null",
        "[]",
        "[1, \"x\", {\"a\": null}]",
        "{}",
        "{\"k\": [true, false]}",
        "\"https://json-schema.org/draft/2020-12/schema\"",
        "\"caf\\u00e9 \\ud83d\\ude00\"",
    ])?
    .to_string())
}

/// A JSON image file: a top-level object of service entries (strings or objects of parts) and
/// annotations, in one of several layouts.
pub fn json_file(u: &mut Unstructured<'_>) -> Result<String> {
    let newline = *u.choose(&["\n", "\r\n"])?;
    let indent = *u.choose(&["", "  ", "    ", "\t"])?;
    let colon = *u.choose(&[": ", ":", " : "])?;
    let one_line = u.ratio(1u8, 4)?;
    let mut out = String::new();
    if u.ratio(1u8, 16)? {
        out.push('\u{feff}');
    }
    out.push('{');
    let members = u.int_in_range(0..=6u8)?;
    for m in 0..members {
        if m > 0 {
            out.push(',');
        }
        if one_line {
            out.push(' ');
        } else {
            out.push_str(newline);
            out.push_str(indent);
        }
        match u.int_in_range(0..=9u8)? {
            0 => {
                let key = *u.choose(&["$schema", "_comment", "//", "/note"])?;
                out.push_str(&json_literal(u, key)?);
                out.push_str(colon);
                out.push_str(&json_other(u)?);
                continue;
            }
            1 => {
                let key = *u.choose(&["Bad Key", "", "-x"])?;
                out.push_str(&json_literal(u, key)?);
            }
            _ => {
                let service = service(u, &[])?;
                out.push_str(&json_literal(u, service.as_str())?);
            }
        }
        out.push_str(colon);
        let reference = reference(u)?;
        match u.int_in_range(0..=7u8)? {
            0..=3 => out.push_str(&json_literal(u, reference.as_str())?),
            4..=6 => {
                out.push('{');
                let mut parts = vec!["ref", "name", "tag", "digest"];
                let keep = u.int_in_range(1..=4usize)?;
                for i in 0..keep {
                    let j = u.int_in_range(i..=3usize)?;
                    parts.swap(i, j);
                }
                for (i, part) in parts[..keep].iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    let value = match *part {
                        "ref" => Some(reference.as_str()),
                        "name" => Some(reference.name()),
                        "tag" => reference.tag(),
                        _ => reference.digest().map(|d| d.as_str()),
                    };
                    out.push_str(&json_literal(u, part)?);
                    out.push_str(colon);
                    match value {
                        Some(value) => out.push_str(&json_literal(u, value)?),
                        None => out.push_str("\"\""),
                    }
                }
                out.push('}');
            }
            _ => match u.int_in_range(0..=2u8)? {
                0 => out.push_str(&json_literal(u, "not a reference!")?),
                1 => out.push_str(&json_other(u)?),
                _ => out.push_str(&json_literal(u, "reg/api:v1")?),
            },
        }
    }
    if members > 0 && !one_line {
        out.push_str(newline);
    }
    out.push('}');
    if u.ratio(3u8, 4)? {
        out.push_str(newline);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Jsonnet.

/// A Jsonnet string literal of `value` in one of the four quoted styles, or a text block.
fn jsonnet_literal(u: &mut Unstructured<'_>, value: &str) -> Result<String> {
    Ok(match u.int_in_range(0..=9u8)? {
        0..=4 => format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'")),
        5..=6 => format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\"")),
        7 => format!("@'{}'", value.replace('\'', "''")),
        8 => format!("@\"{}\"", value.replace('"', "\"\"")),
        _ => format!("|||\n  {value}\n|||"),
    })
}

/// A field name: plain, quoted, or computed.
fn jsonnet_field_name(u: &mut Unstructured<'_>, name: &str) -> Result<String> {
    let plain = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
    Ok(match u.int_in_range(0..=5u8)? {
        0..=2 if plain => name.to_owned(),
        3 => format!("\"{name}\""),
        4 => format!("['{name}']"),
        _ => format!("'{name}'"),
    })
}

/// A trailing comment: a marker for a service and part, a comment that only looks like one,
/// or an ordinary one.
fn jsonnet_comment(u: &mut Unstructured<'_>) -> Result<String> {
    let service = service(u, &[])?;
    let part = *u.choose(&["", ":ref", ":name", ":tag", ":digest", ":bogus"])?;
    Ok(match u.int_in_range(0..=9u8)? {
        0..=2 => format!(" // cfgupdate: {service}{part}"),
        3 => format!(" # cfgupdate:{service}{part}"),
        4 => format!(" /* cfgupdate: {service}{part} */"),
        5 => " // cfgupdate: !!".to_owned(),
        6 => " // an ordinary comment".to_owned(),
        7 => " /* multi\n line */".to_owned(),
        _ => String::new(),
    })
}

/// A field value: an image reference or one part of it as a literal, an object of parts, or
/// something cfgupdate must refuse or ignore.
fn jsonnet_value(u: &mut Unstructured<'_>, depth: u8) -> Result<String> {
    let reference = reference(u)?;
    let pinned_tag = match (reference.tag(), reference.digest()) {
        (Some(tag), Some(digest)) => format!("{tag}@{digest}"),
        _ => "v1".to_owned(),
    };
    Ok(match u.int_in_range(0..=17u8)? {
        // Shapes of issue 11: a tag pinned as Renovate writes it, an empty placeholder,
        // literals formatted or joined into a string, an error message, Renovate's object.
        12 => jsonnet_literal(u, &pinned_tag)?,
        13 => "''".to_owned(),
        14 => {
            let name = jsonnet_literal(u, reference.name())?;
            u.choose(&[
                format!("'%s:%s' % [{name}, 'v1']"),
                format!("std.format('%s:v1', [{name}])"),
                format!("std.join(':', [{name}, 'v1'])"),
                format!("'%(r)s' % {{ r: {name} }}"),
            ])?
            .clone()
        }
        15 => "error 'must provide image'".to_owned(),
        16 => format!(
            "{{ image: {}, tag: {} }}",
            jsonnet_literal(u, reference.name())?,
            jsonnet_literal(u, &pinned_tag)?
        ),
        17 => format!(
            "container.new({}, 'reg/x:1')",
            jsonnet_literal(u, reference.name())?
        ),
        0..=3 => jsonnet_literal(u, reference.as_str())?,
        4..=5 => {
            let mut fields = Vec::new();
            for (part, value) in [
                ("ref", Some(reference.as_str())),
                ("name", Some(reference.name())),
                ("tag", reference.tag()),
                ("digest", reference.digest().map(|d| d.as_str())),
            ] {
                if let Some(value) = value
                    && u.arbitrary()?
                {
                    let literal = jsonnet_literal(u, value)?;
                    let comment = jsonnet_comment(u)?;
                    fields.push(format!("{part}: {literal},{comment}\n"));
                }
            }
            format!("{{\n{}}}", fields.concat())
        }
        6 => format!("'{}:' + std.extVar('tag')", reference.name()),
        7 => u
            .choose(&["42", "null", "std.extVar('image')", "[1, 2]", "self.x"])?
            .to_string(),
        8 if depth < 3 => jsonnet_object(u, depth + 1)?,
        9 => format!(
            "container.new('x', {})",
            jsonnet_literal(u, reference.as_str())?
        ),
        _ => {
            let plain = *u.choose(&["default", "v1", "reg/api", "x y"])?;
            jsonnet_literal(u, plain)?
        }
    })
}

/// An object literal of fields, each followed by a comment that may be a marker.
fn jsonnet_object(u: &mut Unstructured<'_>, depth: u8) -> Result<String> {
    let mut out = String::from("{\n");
    for _ in 0..u.int_in_range(0..=6u8)? {
        let name = if u.ratio(3u8, 4)? {
            service(u, &[])?.to_string()
        } else {
            u.choose(&["namespace", "image", "ref", "tag", "metadata"])?
                .to_string()
        };
        let visibility = *u.choose(&[":", ":", ":", "::", ":::", "+:"])?;
        out.push_str(&jsonnet_field_name(u, &name)?);
        out.push_str(visibility);
        out.push(' ');
        out.push_str(&jsonnet_value(u, depth)?);
        out.push(',');
        out.push_str(&jsonnet_comment(u)?);
        out.push('\n');
        if u.ratio(1u8, 16)? {
            out.push_str("local k = 'v';\n");
        }
    }
    out.push('}');
    Ok(out)
}

/// A Jsonnet file whose evaluated object holds fields and markers, reached through the forms
/// the field finder follows (locals, parentheses, `+`, imports).
pub fn jsonnet_file(u: &mut Unstructured<'_>) -> Result<String> {
    let object = jsonnet_object(u, 0)?;
    let text = match u.int_in_range(0..=7u8)? {
        0..=2 => object,
        3 => format!("local x = {object};\nx\n"),
        4 => format!("local base = {};\nbase + {object}\n", jsonnet_object(u, 1)?),
        5 => format!("(import 'base.libsonnet') + {object}\n"),
        6 => format!(
            "local container = import 'c.libsonnet';\n[{object}, {}]\n",
            jsonnet_object(u, 1)?
        ),
        _ => format!("(local inner = {object}; (inner))"),
    };
    let mut text = if u.ratio(1u8, 8)? {
        text.replace('\n', "\r\n")
    } else {
        text
    };
    // Now and then, a splice of raw text, to step just outside the grammar.
    if u.ratio(1u8, 8)? && !text.is_empty() {
        let at = u.int_in_range(0..=text.len() - 1)?;
        if text.is_char_boundary(at) {
            let insert = *u.choose(&["'", "\"", "/*", "|||", "#", "\\", "@", ",", "}", "é"])?;
            text.insert_str(at, insert);
        }
    }
    Ok(text)
}
