//! The Kubernetes objects in what an entrypoint evaluated to.
//!
//! The rule joins Argo CD's directory Jsonnet and Tanka's:
//! - an object with string fields `apiVersion` and `kind` is a Kubernetes object; if its kind
//!   ends in `List` and it has an `items` array (`kind: List`, `DeploymentList`), its items
//!   are taken instead, by this same rule;
//! - an array: each element, in order;
//! - any other object: each field's value, in field-name order (Tanka's nesting);
//! - `null` is skipped; any other value (string, number, boolean) is an error.
//!
//! A Kubernetes object needs a string `metadata.name`.

use std::fmt;

use serde_json::Value;

/// One Kubernetes object of a target's render.
#[derive(Debug, Clone, PartialEq)]
pub struct KubeObject {
    /// `kind`.
    pub kind: String,
    /// `metadata.namespace`, if set.
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
    /// Where it was found in the evaluated value (`.`, `.app.deployment`, `[2]`).
    pub found_at: String,
    /// The whole object.
    pub value: Value,
}

impl KubeObject {
    /// How people name it: `Deployment/default/api`, or `ClusterRole/admin` without a
    /// namespace.
    pub fn id(&self) -> String {
        match &self.namespace {
            Some(namespace) => format!("{}/{namespace}/{}", self.kind, self.name),
            None => format!("{}/{}", self.kind, self.name),
        }
    }
}

/// Why the evaluated value does not hold Kubernetes objects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// A value that is neither an object, an array nor null.
    #[error(
        "the value at `{at}` is {found}, not a Kubernetes object (an object with `apiVersion` and `kind`), an array or an object holding them"
    )]
    NotAnObject {
        /// Where.
        at: String,
        /// What kind of value it is.
        found: &'static str,
    },
    /// A Kubernetes object without a string `metadata.name`.
    #[error("the {kind} at `{at}` has no string `metadata.name`")]
    NoName {
        /// Where.
        at: String,
        /// Its kind.
        kind: String,
    },
}

/// The Kubernetes objects in `value`, in the order the rule finds them.
pub fn extract(value: Value) -> Result<Vec<KubeObject>, ExtractError> {
    let mut found = Vec::new();
    walk(value, &Location::Root, &mut found)?;
    Ok(found)
}

enum Location<'a> {
    Root,
    Field(&'a Location<'a>, &'a str),
    Index(&'a Location<'a>, usize),
}

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Root => f.write_str("."),
            Location::Field(parent, key) => {
                if !matches!(parent, Location::Root) {
                    write!(f, "{parent}")?;
                }
                if is_identifier(key) {
                    write!(f, ".{key}")
                } else {
                    write!(f, "[{}]", Value::String((*key).to_owned()))
                }
            }
            Location::Index(parent, index) => {
                if !matches!(parent, Location::Root) {
                    write!(f, "{parent}")?;
                }
                write!(f, "[{index}]")
            }
        }
    }
}

fn is_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn walk(value: Value, at: &Location<'_>, found: &mut Vec<KubeObject>) -> Result<(), ExtractError> {
    match value {
        Value::Null => Ok(()),
        Value::Array(items) => {
            for (index, item) in items.into_iter().enumerate() {
                walk(item, &Location::Index(at, index), found)?;
            }
            Ok(())
        }
        Value::Object(mut fields) => {
            let kind = fields
                .get("kind")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let has_api_version = fields.get("apiVersion").is_some_and(Value::is_string);
            match kind {
                Some(kind) if has_api_version => {
                    if kind.ends_with("List") && fields.get("items").is_some_and(Value::is_array) {
                        let items_at = Location::Field(at, "items");
                        if let Some(Value::Array(items)) = fields.remove("items") {
                            for (index, item) in items.into_iter().enumerate() {
                                walk(item, &Location::Index(&items_at, index), found)?;
                            }
                        }
                        return Ok(());
                    }
                    found.push(object(Value::Object(fields), kind, at)?);
                    Ok(())
                }
                _ => {
                    let mut entries: Vec<(String, Value)> = fields.into_iter().collect();
                    entries.sort_by(|a, b| a.0.cmp(&b.0));
                    for (key, field) in entries {
                        walk(field, &Location::Field(at, &key), found)?;
                    }
                    Ok(())
                }
            }
        }
        Value::String(_) => not_an_object(at, "a string"),
        Value::Number(_) => not_an_object(at, "a number"),
        Value::Bool(_) => not_an_object(at, "a boolean"),
    }
}

fn not_an_object(at: &Location<'_>, found: &'static str) -> Result<(), ExtractError> {
    Err(ExtractError::NotAnObject {
        at: at.to_string(),
        found,
    })
}

fn object(value: Value, kind: String, at: &Location<'_>) -> Result<KubeObject, ExtractError> {
    let metadata = value.get("metadata");
    let Some(name) = metadata
        .and_then(|metadata| metadata.get("name"))
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return Err(ExtractError::NoName {
            at: at.to_string(),
            kind,
        });
    };
    let namespace = metadata
        .and_then(|metadata| metadata.get("namespace"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(KubeObject {
        kind,
        namespace,
        name,
        found_at: at.to_string(),
        value,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ids(value: Value) -> Vec<String> {
        extract(value).unwrap().iter().map(KubeObject::id).collect()
    }

    fn cm(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "ns"}})
    }

    #[test]
    fn a_single_object_an_array_and_a_list_are_flattened_in_order() {
        assert_eq!(ids(cm("a")), ["ConfigMap/ns/a"]);
        assert_eq!(
            ids(json!([cm("b"), null, cm("a")])),
            ["ConfigMap/ns/b", "ConfigMap/ns/a"]
        );
        let list = json!({"apiVersion": "v1", "kind": "List", "items": [cm("x"), {"apiVersion": "v1", "kind": "List", "items": [cm("y")]}]});
        assert_eq!(ids(list), ["ConfigMap/ns/x", "ConfigMap/ns/y"]);
    }

    #[test]
    fn tanka_style_nesting_is_walked_in_key_order_down_to_the_first_object_with_a_kind() {
        let nested = json!({
            "zeta": {"cm": cm("z")},
            "alpha": {"inner": {"deep": [cm("a")]}, "cm": cm("b")},
        });
        assert_eq!(
            ids(nested),
            ["ConfigMap/ns/b", "ConfigMap/ns/a", "ConfigMap/ns/z"]
        );
    }

    #[test]
    fn a_primitive_where_an_object_belongs_is_refused_with_its_place() {
        let error = extract(json!({"app": {"replicas": 3}})).unwrap_err();
        assert_eq!(error.to_string().split('`').nth(1), Some(".app.replicas"));
        let error = extract(json!([cm("a"), "oops"])).unwrap_err();
        assert!(error.to_string().contains("`[1]` is a string"), "{error}");
    }

    #[test]
    fn an_object_without_a_name_is_refused() {
        let error = extract(json!({"x-y": {"apiVersion": "v1", "kind": "Secret"}})).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the Secret at `[\"x-y\"]` has no string `metadata.name`"
        );
    }
}
