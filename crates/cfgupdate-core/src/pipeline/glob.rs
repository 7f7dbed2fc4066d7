//! The paths and globs of a Jsonnet image set (`{ jsonnet = ["envs/**/*.libsonnet"] }`).
//!
//! One place decides what a pattern means, so that the pipeline's checks and the code that
//! finds a wave's files agree: `*` and `?` stay within one path component, `**` crosses them,
//! `[...]` and `{a,b}` are as in globset.

use globset::{Glob, GlobBuilder};

/// The characters that make a pattern a glob rather than one path.
const GLOB_CHARS: &[char] = &['*', '?', '[', ']', '{', '}'];

/// Whether `pattern` is a glob rather than one file's path.
pub(super) fn is_glob(pattern: &str) -> bool {
    pattern.contains(GLOB_CHARS)
}

/// Compiles a pattern with the pipeline's meaning of `*` and `**`.
pub(super) fn compile(pattern: &str) -> Result<Glob, globset::Error> {
    GlobBuilder::new(pattern).literal_separator(true).build()
}

/// Checks that a pattern is relative and stays inside the repository, and returns it without
/// a leading `./` (paths listed from the repository never have one, so it would match nothing).
pub(super) fn check_pattern(text: &str) -> Result<String, String> {
    let pattern = text.strip_prefix("./").unwrap_or(text);
    if pattern.is_empty() {
        return Err("it is empty".to_owned());
    }
    if pattern.starts_with('/') {
        return Err("it is absolute; write it relative to the repository root".to_owned());
    }
    if pattern.contains(['\\', '\0']) {
        return Err("it contains a backslash or NUL; use `/` between components".to_owned());
    }
    for component in pattern.split('/') {
        match component {
            "" => return Err("it has an empty component (`//` or a trailing `/`)".to_owned()),
            "." | ".." => return Err("it has a `.` or `..` component".to_owned()),
            ".git" => return Err("it points into `.git`".to_owned()),
            _ => {}
        }
    }
    compile(pattern).map_err(|err| format!("it is not a valid glob: {}", err.kind()))?;
    Ok(pattern.to_owned())
}

/// The directory every match of `pattern` lies in: its components before the first glob.
pub(super) fn literal_dir(pattern: &str) -> String {
    let components: Vec<&str> = pattern.split('/').collect();
    let literal = components
        .iter()
        .take_while(|component| !is_glob(component))
        .count();
    // A pattern without globs names a file: its directory is all but the last component.
    let literal = literal.min(components.len().saturating_sub(1));
    components[..literal].join("/")
}

/// Whether `pattern` (a glob) matches the path `path`.
pub(super) fn matches(pattern: &str, path: &str) -> bool {
    compile(pattern).is_ok_and(|glob| glob.compile_matcher().is_match(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_star_stays_in_its_directory_and_a_double_star_crosses_them() {
        assert!(matches("envs/*.jsonnet", "envs/a.jsonnet"));
        assert!(!matches("envs/*.jsonnet", "envs/prod/a.jsonnet"));
        assert!(matches("envs/**/*.jsonnet", "envs/prod/us/a.jsonnet"));
        assert!(matches("envs/**/*.jsonnet", "envs/a.jsonnet"));
        assert!(matches("envs/[ab].jsonnet", "envs/b.jsonnet"));
        assert!(matches(
            "envs/{prod,staging}/i.libsonnet",
            "envs/staging/i.libsonnet"
        ));
    }

    #[test]
    fn patterns_that_leave_the_repository_or_do_not_parse_are_refused() {
        assert_eq!(check_pattern("./envs/*.jsonnet").unwrap(), "envs/*.jsonnet");
        for bad in [
            "",
            "/abs/*.jsonnet",
            "../x.jsonnet",
            "a/../../x",
            "a//b",
            "a\\b",
            ".git/*",
            "a/[b",
        ] {
            assert!(check_pattern(bad).is_err(), "{bad}");
        }
        assert_eq!(
            check_pattern("envs/[prod").unwrap_err(),
            "it is not a valid glob: unclosed character class; missing ']'"
        );
    }

    #[test]
    fn the_literal_directory_is_what_comes_before_the_first_glob() {
        assert_eq!(literal_dir("envs/prod/**/*.jsonnet"), "envs/prod");
        assert_eq!(literal_dir("*.jsonnet"), "");
        assert_eq!(literal_dir("envs/p*/images.libsonnet"), "envs");
        assert_eq!(literal_dir("envs/prod/images.libsonnet"), "envs/prod");
    }
}
