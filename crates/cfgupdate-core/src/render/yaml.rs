//! Rendered objects as YAML files: one file per object, with stable names.
//!
//! A file is named `<kind>-<namespace>-<name>.yaml` (`<kind>-<name>.yaml` without a namespace),
//! lower-cased, every character other than `a-z`, `0-9`, `.` and `-` replaced by `-`, leading
//! dots and dashes dropped, the stem cut to 200 bytes. When two objects get the same name, the
//! first (in extraction order) keeps it, and each later one gets the first free `-2`, `-3`, ...
//! before `.yaml`, never taking a name another object has by the plain rule.

use std::collections::{BTreeMap, BTreeSet};

use super::objects::KubeObject;

/// The longest file-name stem, in bytes (file systems allow 255 for the whole name).
const MAX_STEM: usize = 200;

/// Why an object could not be written as YAML.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {object} cannot be written as YAML: {reason}")]
pub struct YamlError {
    /// The object, as `Kind/namespace/name`.
    pub object: String,
    /// The emitter's reason.
    pub reason: String,
}

/// One YAML document: the object, keys sorted, two-space indentation, ending in a newline,
/// with no `---` line. Every value reads back the same under YAML 1.1, YAML 1.2 and
/// Kubernetes' reader (see [`super::emit`]).
pub(crate) fn to_yaml(object: &KubeObject) -> Result<String, YamlError> {
    Ok(super::emit::document(&object.value))
}

/// The file name of each object, in the same order, by the rule of this module.
pub(crate) fn file_names(objects: &[KubeObject]) -> Vec<String> {
    let plain: Vec<String> = objects.iter().map(plain_stem).collect();
    let reserved: BTreeSet<&str> = plain.iter().map(String::as_str).collect();
    let mut taken: BTreeSet<String> = BTreeSet::new();
    let mut names = Vec::with_capacity(plain.len());
    for stem in &plain {
        let name = if taken.insert(stem.clone()) {
            stem.clone()
        } else {
            (2..)
                .map(|n| format!("{stem}-{n}"))
                .find(|candidate| {
                    !reserved.contains(candidate.as_str()) && !taken.contains(candidate)
                })
                .inspect(|candidate| {
                    taken.insert(candidate.clone());
                })
                .unwrap_or_default()
        };
        names.push(format!("{name}.yaml"));
    }
    names
}

fn plain_stem(object: &KubeObject) -> String {
    let mut parts = vec![object.kind.as_str()];
    if let Some(namespace) = &object.namespace {
        parts.push(namespace);
    }
    parts.push(&object.name);
    let joined = parts.join("-").to_lowercase();
    let cleaned: String = joined
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '.' | '-' => c,
            _ => '-',
        })
        .collect();
    let trimmed = cleaned.trim_start_matches(['.', '-']);
    let mut stem = if trimmed.is_empty() {
        "object".to_owned()
    } else {
        trimmed.to_owned()
    };
    // Every character is ASCII here, so any byte index is a character boundary.
    stem.truncate(MAX_STEM);
    stem
}

/// The YAML of every object, keyed by file name.
pub fn yaml_files(objects: &[KubeObject]) -> Result<BTreeMap<String, String>, YamlError> {
    file_names(objects)
        .into_iter()
        .zip(objects)
        .map(|(name, object)| Ok((name, to_yaml(object)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(kind: &str, namespace: Option<&str>, name: &str) -> KubeObject {
        KubeObject {
            kind: kind.into(),
            namespace: namespace.map(Into::into),
            name: name.into(),
            found_at: ".".into(),
            value: json!({"kind": kind}),
        }
    }

    #[test]
    fn names_are_lower_cased_and_sanitised() {
        let names = file_names(&[
            object("Deployment", Some("default"), "api"),
            object("ClusterRole", None, "system:admin"),
            object("..Weird", Some("ns"), "a/b"),
        ]);
        assert_eq!(
            names,
            [
                "deployment-default-api.yaml",
                "clusterrole-system-admin.yaml",
                "weird-ns-a-b.yaml"
            ]
        );
    }

    #[test]
    fn colliding_names_get_the_first_free_suffix_that_no_plain_name_uses() {
        let names = file_names(&[
            object("ConfigMap", Some("a-b"), "c"),
            object("ConfigMap", Some("a"), "b-c"),
            object("ConfigMap", Some("a"), "b-c-2"),
            object("ConfigMap", Some("a-b"), "c"),
        ]);
        assert_eq!(
            names,
            [
                "configmap-a-b-c.yaml",
                "configmap-a-b-c-3.yaml",
                "configmap-a-b-c-2.yaml",
                "configmap-a-b-c-4.yaml"
            ]
        );
    }

    #[test]
    fn yaml_quotes_strings_that_would_read_back_as_other_types() {
        let mut cm = object("ConfigMap", None, "x");
        cm.value = json!({"data": {"a": "yes", "b": "1", "c": "null", "d": "on", "e": "multi\nline\n", "f": ""}, "n": 1, "m": 0.5});
        let text = to_yaml(&cm).unwrap();
        for plain in ["a: yes", "b: 1", "c: null", "d: on", "f: \n"] {
            assert!(!text.contains(plain), "{plain} in {text}");
        }
        // `n` is a YAML 1.1 boolean, which Kubernetes' YAML reader still honours, so even
        // the key is quoted.
        assert!(
            text.contains("\"n\": 1\n") && text.contains("m: 0.5\n"),
            "{text}"
        );
        assert!(!text.starts_with("---"));
    }
}
