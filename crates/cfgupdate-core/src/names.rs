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
    #[error(
        "`{}` is not a valid {kind} name: {rule}{}",
        crate::shown::shown(value),
        suggestion.as_deref().map(|name| format!("; did you mean `{name}`?")).unwrap_or_default()
    )]
    Invalid {
        /// What kind of name it was meant to be ("wave", "target", "service").
        kind: &'static str,
        /// The text given.
        value: String,
        /// The rule it breaks, in words.
        rule: &'static str,
        /// The text in lower case, when that is a valid name (`Production`, `production`).
        suggestion: Option<String>,
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

/// `[a-z0-9][a-z0-9_.-]{0,62}`: the rule for wave and target names
/// (docs/contract.md#the-pipeline-file).
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
                    // `Production` for `production`: names are lower case, people type capitals.
                    let lower = value.to_ascii_lowercase();
                    let suggestion = (lower != value && $check(&lower)).then_some(lower);
                    Err(NameError::Invalid {
                        kind: $kind,
                        value: value.to_owned(),
                        rule: $rule,
                        suggestion,
                    })
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

/// The most names an error sentence lists; the rest are counted.
const MOST_LISTED: usize = 10;

/// The longest given name a nearest match is looked for: the edit distance costs the product
/// of the two lengths, and a name from a request body may be as long as the body.
const LONGEST_COMPARED: usize = 128;

/// The valid names an unknown one was looked up among, and the nearest of them: what an
/// "unknown wave/target/service" error carries, so that its sentence offers the fix ("the
/// waves are staging, internal, production; did you mean `production`?"). Computed once here;
/// adapters only print it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Known {
    /// What the names are, in the plural: "waves", "targets", "services".
    kind: &'static str,
    /// The first [`MOST_LISTED`] names, in the order given.
    listed: Vec<String>,
    /// How many names there are in all.
    total: usize,
    /// The name most likely meant, when one is close enough to be a typo.
    nearest: Option<String>,
}

impl Known {
    /// The names of `kind` (plural: "waves") that `given` was looked up among, in the order a
    /// person knows them (pipeline order), with the nearest to `given`.
    pub fn new<I, S>(kind: &'static str, given: &str, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut listed = Vec::new();
        let mut total = 0;
        let mut nearest: Option<(usize, String)> = None;
        // Compared in lower case, and only when short enough to be a typo of a name.
        let folded: Option<Vec<char>> = (given.chars().nth(LONGEST_COMPARED).is_none())
            .then(|| given.chars().flat_map(char::to_lowercase).collect());
        for name in names {
            let name = name.as_ref();
            total += 1;
            if listed.len() < MOST_LISTED {
                listed.push(name.to_owned());
            }
            if let Some(distance) = folded
                .as_deref()
                .filter(|_| given != name)
                .and_then(|folded| typo_distance(folded, name))
                && nearest.as_ref().is_none_or(|(best, _)| distance < *best)
            {
                nearest = Some((distance, name.to_owned()));
            }
        }
        Self {
            kind,
            listed,
            total,
            nearest: nearest.map(|(_, name)| name),
        }
    }

    /// The name most likely meant, if any is close enough.
    pub fn nearest(&self) -> Option<&str> {
        self.nearest.as_deref()
    }

    /// The names listed (at most ten), in the order given.
    pub fn listed(&self) -> &[String] {
        &self.listed
    }

    /// How many names there are in all.
    pub fn total(&self) -> usize {
        self.total
    }
}

/// "the waves are a, b, c; did you mean `b`?", each name escaped by [`crate::shown::shown`].
impl fmt::Display for Known {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.total == 0 {
            return write!(f, "there are no {}", self.kind);
        }
        let names: Vec<String> = self
            .listed
            .iter()
            .map(|name| crate::shown::shown(name))
            .collect();
        if self.total > self.listed.len() {
            write!(
                f,
                "the {} include {} (and {} more)",
                self.kind,
                names.join(", "),
                self.total - self.listed.len()
            )?;
        } else {
            write!(f, "the {} are {}", self.kind, names.join(", "))?;
        }
        if let Some(nearest) = &self.nearest {
            write!(f, "; did you mean `{}`?", crate::shown::shown(nearest))?;
        }
        Ok(())
    }
}

/// The edit distance between `given` (folded to lower case) and `name` when `name` is a likely
/// typo of it: at most a third of the longer name's length (so `eu` does not suggest `us`), or
/// a difference in case alone. `None` otherwise.
fn typo_distance(given: &[char], name: &str) -> Option<usize> {
    let name_chars: Vec<char> = name.chars().flat_map(char::to_lowercase).collect();
    if name_chars.len() > LONGEST_COMPARED {
        return None;
    }
    let longer = given.len().max(name_chars.len());
    let limit = longer / 3;
    if given.len().abs_diff(name_chars.len()) > limit {
        return None;
    }
    let distance = edit_distance(given, &name_chars);
    (distance <= limit).then_some(distance)
}

/// The optimal string alignment distance: insertions, deletions, substitutions and swaps of
/// two neighbours (`prdouction`) each cost one.
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let width = b.len() + 1;
    let mut before: Vec<usize> = vec![0; width];
    let mut previous: Vec<usize> = (0..width).collect();
    let mut current: Vec<usize> = vec![0; width];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..width {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            current[j] = best;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[width - 1]
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
    fn a_name_in_capitals_is_answered_with_its_lower_case_when_that_is_valid() {
        let error = WaveName::parse("Production").unwrap_err().to_string();
        assert!(error.contains("did you mean `production`?"), "{error}");
        let error = TargetName::parse("EU-West").unwrap_err().to_string();
        assert!(error.contains("did you mean `eu-west`?"), "{error}");
        // Nothing to suggest when lower case does not make it valid.
        let error = WaveName::parse("Prod/1").unwrap_err().to_string();
        assert!(!error.contains("did you mean"), "{error}");
        let error = WaveName::parse("bad name").unwrap_err().to_string();
        assert!(!error.contains("did you mean"), "{error}");
    }

    #[test]
    fn an_unknown_name_is_answered_with_the_valid_ones_and_the_nearest() {
        let known = Known::new("waves", "prodution", ["staging", "internal", "production"]);
        assert_eq!(
            known.to_string(),
            "the waves are staging, internal, production; did you mean `production`?"
        );
        assert_eq!(
            Known::new("services", "biling", ["api", "billing"]).nearest(),
            Some("billing")
        );
        // Swapped neighbours and case count as typos.
        assert_eq!(
            Known::new("waves", "prdouction", ["production"]).nearest(),
            Some("production")
        );
        assert_eq!(
            Known::new("services", "API", ["api", "web"]).nearest(),
            Some("api")
        );
    }

    #[test]
    fn a_name_far_from_every_valid_one_suggests_nothing() {
        let known = Known::new("targets", "eu", ["us", "prod-us"]);
        assert_eq!(known.nearest(), None);
        assert_eq!(known.to_string(), "the targets are us, prod-us");
        assert_eq!(
            Known::new("waves", "staging", Vec::<String>::new()).to_string(),
            "there are no waves"
        );
    }

    #[test]
    fn the_nearest_of_several_close_names_wins_and_ties_go_to_the_first() {
        assert_eq!(
            Known::new("targets", "prod-uss", ["prod-eu", "prod-us"]).nearest(),
            Some("prod-us")
        );
        assert_eq!(
            Known::new("targets", "prod-ux", ["prod-us", "prod-uk"]).nearest(),
            Some("prod-us")
        );
    }

    #[test]
    fn long_lists_are_cut_at_ten_and_counted() {
        let names: Vec<String> = (0..25).map(|i| format!("svc{i:02}")).collect();
        let known = Known::new("services", "svc2", &names);
        let text = known.to_string();
        assert!(
            text.starts_with("the services include svc00, svc01,")
                && text.contains("svc09 (and 15 more)"),
            "{text}"
        );
        assert_eq!(known.listed().len(), 10);
        assert_eq!(known.total(), 25);
    }

    #[test]
    fn names_in_the_sentence_are_escaped_and_huge_given_names_cost_nothing() {
        let known = Known::new("services", "a\nb", ["a\nc", "x\u{202e}y"]);
        let text = known.to_string();
        assert!(!text.contains('\n') && !text.contains('\u{202e}'), "{text}");
        assert!(
            text.contains("a\\nc") && text.contains("did you mean `a\\nc`"),
            "{text}"
        );
        // A name as long as a request body is never compared character by character.
        let huge = "a".repeat(1_000_000);
        assert_eq!(Known::new("targets", &huge, ["a"]).nearest(), None);
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
