//! Names of things in the pipeline: services, waves, targets, and commits.
//!
//! Each is parsed once, at the edge, and never re-checked: a function that takes a
//! [`WaveName`] knows it is a valid wave name.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a name or commit id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The text does not match the grammar of its kind.
    #[error("`{}` is not a valid {kind} name: {rule}", crate::shown::shown(value))]
    Invalid {
        /// What kind of name it was meant to be ("wave", "target", "service").
        kind: &'static str,
        /// The text given.
        value: String,
        /// The rule it breaks, in words.
        rule: &'static str,
    },
    /// The text is not a full commit id.
    #[error(
        "`{}` is not a commit id: expected 40 hexadecimal digits",
        crate::shown::shown(value)
    )]
    CommitId {
        /// The text given.
        value: String,
    },
}

/// `[a-z0-9][a-z0-9_.-]{0,62}`: the rule for wave and target names (contract section 2).
fn is_pipeline_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes[1..].iter().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        })
}

const PIPELINE_NAME_RULE: &str = "it must start with a lower-case letter or digit and continue with at most 62 lower-case letters, digits, `_`, `.` or `-`";

/// Service names are keys of image files and Jsonnet fields that teams already have
/// (`Service1` in the original design's payload), so upper case is allowed; `:` is not,
/// because a marker `cfgupdate: S:tag` uses it to name a part.
fn is_service_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && bytes[0].is_ascii_alphanumeric()
        && bytes[1..]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

const SERVICE_NAME_RULE: &str = "it must start with a letter or digit and continue with at most 127 letters, digits, `_`, `.` or `-`";

macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident, $kind:literal, $check:path, $rule:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $ty(String);

        impl $ty {
            /// Parses `value`, refusing anything outside the grammar.
            pub fn parse(value: &str) -> Result<Self, NameError> {
                if $check(value) {
                    Ok(Self(value.to_owned()))
                } else {
                    Err(NameError::Invalid { kind: $kind, value: value.to_owned(), rule: $rule })
                }
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $ty {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $ty {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

name_type!(
    /// The name of a wave (`staging`, `production`).
    WaveName, "wave", is_pipeline_name, PIPELINE_NAME_RULE
);
name_type!(
    /// The name of a target: one Argo CD Application's worth of namespaces.
    TargetName, "target", is_pipeline_name, PIPELINE_NAME_RULE
);
name_type!(
    /// The name of a service: a key of an image set.
    ServiceName, "service", is_service_name, SERVICE_NAME_RULE
);

/// A full git commit id: 40 lower-case hexadecimal digits (upper case is accepted and folded).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommitId(String);

impl CommitId {
    /// Parses a full 40-digit SHA-1 commit id.
    pub fn parse(value: &str) -> Result<Self, NameError> {
        if value.len() == 40 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(value.to_ascii_lowercase()))
        } else {
            Err(NameError::CommitId {
                value: value.to_owned(),
            })
        }
    }

    /// The id as 40 lower-case hexadecimal digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 digits, for messages meant for people.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

impl FromStr for CommitId {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for CommitId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for CommitId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wave_and_target_names_follow_the_contract_grammar() {
        for good in ["staging", "prod-us", "a", "0", "a_b.c-d", &"a".repeat(63)] {
            assert!(WaveName::parse(good).is_ok(), "{good}");
            assert!(TargetName::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Staging",
            "-a",
            "_a",
            ".a",
            "a b",
            "a/b",
            "ä",
            &"a".repeat(64),
        ] {
            assert!(WaveName::parse(bad).is_err(), "{bad}");
            assert!(TargetName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn service_names_allow_upper_case_but_never_a_colon_or_slash() {
        assert!(ServiceName::parse("Service1").is_ok());
        assert!(ServiceName::parse("api-gateway_v2.1").is_ok());
        for bad in ["", "a:tag", "a/b", "-a", "a b", "a\"b"] {
            assert!(ServiceName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn name_errors_name_the_value_and_the_kind() {
        let message = WaveName::parse("Prod").unwrap_err().to_string();
        assert!(
            message.contains("`Prod`") && message.contains("wave"),
            "{message}"
        );
    }

    #[test]
    fn commit_ids_are_forty_hex_digits_folded_to_lower_case() {
        let id = CommitId::parse(&"AB".repeat(20)).unwrap();
        assert_eq!(id.as_str(), "ab".repeat(20));
        assert_eq!(id.short(), "abababababab");
        for bad in ["", "abc", &"g".repeat(40), &"a".repeat(41)] {
            assert!(CommitId::parse(bad).is_err(), "{bad}");
        }
    }
}
