//! The `[strict]` table: strict mode's auto branch (docs/strict.md).

use toml::de::DeValue;

use super::PipelineError;
use super::document::{Place, Table, Value};
use crate::shown::shown;

/// The keys `[strict]` takes.
pub(super) const STRICT_KEYS: &[&str] = &["branch", "contexts"];

/// The longest branch name `[strict] branch` takes.
const BRANCH_MAX_LEN: usize = 200;

/// The longest CI check name `[strict] contexts` and a CI result take (GitHub's `context` is
/// at most 255).
pub(crate) const CONTEXT_MAX_LEN: usize = 255;

/// Whether `name` can be a CI check's name: at most [`CONTEXT_MAX_LEN`] characters, no
/// control characters (an empty name is a check without one).
pub(crate) fn is_check_name(name: &str) -> bool {
    name.chars().count() <= CONTEXT_MAX_LEN && !name.chars().any(char::is_control)
}

/// The `[strict]` table: with it, every automatic commit lands on [`StrictConfig::branch`]
/// first, and reaches the main branch only once the config repository's own CI passed it
/// (docs/strict.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrictConfig {
    /// The auto branch's name (without `refs/heads/`), e.g. `auto`: the main branch plus the
    /// automatic changes not yet accepted. It is cfgupdate's own; nobody deploys it.
    pub branch: String,
    /// The CI checks (GitHub's `context`s) that must all report `success` for a commit before
    /// the main branch is fast-forwarded to it (`contexts`); empty: any check's `success`
    /// accepts a commit once no other check recorded for it is pending or failed. Results of
    /// checks not named here are recorded and shown, and never decide.
    pub contexts: Vec<String>,
}

pub(super) fn read_strict(value: &Value<'_, '_>) -> Result<StrictConfig, PipelineError> {
    let DeValue::Table(entries) = value.raw() else {
        return Err(value.type_error("a table written [strict]"));
    };
    let table = Table::new(value.src(), Place::Strict, value.span(), entries);
    table.check_keys(STRICT_KEYS)?;
    let branch = table.get("branch").ok_or_else(|| {
        table.src().error_at(
            &table.span(),
            "[strict] has no `branch`, the branch automatic commits land on until CI passes them (such as \"auto\")",
        )
    })?;
    let name = branch.string()?;
    if let Err(reason) = check_branch_name(name) {
        return Err(branch.error(format_args!(
            "`branch` in [strict] is `{}`, which is not a branch name git accepts: {reason}",
            shown(name)
        )));
    }
    let contexts = match table.get("contexts") {
        None => Vec::new(),
        Some(value) => read_contexts(&value)?,
    };
    Ok(StrictConfig {
        branch: name.to_owned(),
        contexts,
    })
}

/// `contexts`: CI check names, each given once, none empty.
fn read_contexts(value: &Value<'_, '_>) -> Result<Vec<String>, PipelineError> {
    let mut contexts: Vec<String> = Vec::new();
    for (index, (name, span)) in value.strings()?.into_iter().enumerate() {
        let error = |detail: String| value.src().error_at(&span, detail);
        if name.trim().is_empty() {
            return Err(error(format!(
                "item {} of `contexts` in [strict] is empty; name each CI check as it reports itself (`--context` of `cfgupdate checked`, GitHub's `context`), such as \"kubeconform\"",
                index + 1
            )));
        }
        if !is_check_name(name) {
            return Err(error(format!(
                "item {} of `contexts` in [strict] is `{}`, which is not a CI check name: at most {CONTEXT_MAX_LEN} characters, no control characters",
                index + 1,
                shown(name)
            )));
        }
        if contexts.iter().any(|known| known == name) {
            return Err(error(format!(
                "`contexts` in [strict] lists `{}` twice",
                shown(name)
            )));
        }
        contexts.push(name.to_owned());
    }
    if contexts.is_empty() {
        return Err(value.error(
            "`contexts` in [strict] is empty; leave the key out to let any check's success accept a commit, or name the checks that must all pass",
        ));
    }
    Ok(contexts)
}

/// The rules of `git check-ref-format --branch`, narrowed to the characters a branch name
/// needs, so that the name can be given to any git server and shell as it is.
fn check_branch_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("it is empty");
    }
    if name.len() > BRANCH_MAX_LEN {
        return Err("it is longer than 200 characters");
    }
    if name.starts_with("refs/") {
        return Err("write the branch's name without `refs/heads/`");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
    {
        return Err("only letters, digits, `.`, `_`, `-` and `/` are taken");
    }
    if name == "HEAD" || name.starts_with('-') {
        return Err("it would be read as something else than a branch");
    }
    for part in name.split('/') {
        if part.is_empty() {
            return Err("it has an empty part between `/`");
        }
        if part.starts_with('.') || part.ends_with(".lock") {
            return Err("a part begins with `.` or ends with `.lock`");
        }
    }
    if name.contains("..") || name.ends_with('.') {
        return Err("it contains `..` or ends with `.`");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::pipeline::Pipeline;

    const WAVES: &str = "[[wave]]\nname = \"staging\"\nimages = \"i.json\"\ntargets = [\"s\"]\n\n[target.s]\nentrypoint = \"s.jsonnet\"\n";

    fn parse(strict: &str) -> Result<Pipeline, String> {
        Pipeline::parse("cfgupdate.toml", &format!("{strict}\n{WAVES}")).map_err(|e| e.message)
    }

    #[test]
    fn a_strict_table_names_the_auto_branch() {
        let pipeline = parse("[strict]\nbranch = \"cfgupdate/auto\"").unwrap();
        let strict = pipeline.strict.unwrap();
        assert_eq!(strict.branch, "cfgupdate/auto");
        assert!(strict.contexts.is_empty());
        assert_eq!(parse("").unwrap().strict, None);
        let pipeline =
            parse("[strict]\nbranch = \"auto\"\ncontexts = [\"kubeconform\", \"policy\"]").unwrap();
        assert_eq!(pipeline.strict.unwrap().contexts, ["kubeconform", "policy"]);
    }

    #[test]
    fn bad_contexts_are_refused_naming_the_value() {
        let contexts =
            |list: &str| parse(&format!("[strict]\nbranch = \"auto\"\ncontexts = {list}"));
        assert_eq!(
            contexts("[\"kubeconform\", \"policy\", \"kubeconform\"]").unwrap_err(),
            "cfgupdate.toml:3: `contexts` in [strict] lists `kubeconform` twice"
        );
        assert!(
            contexts("[\"kubeconform\", \" \"]")
                .unwrap_err()
                .starts_with("cfgupdate.toml:3: item 2 of `contexts` in [strict] is empty"),
        );
        assert!(
            contexts("[]")
                .unwrap_err()
                .starts_with("cfgupdate.toml:3: `contexts` in [strict] is empty"),
        );
        assert!(
            contexts("[\"a\\u0007b\"]")
                .unwrap_err()
                .contains("which is not a CI check name"),
        );
        assert!(
            contexts("\"kubeconform\"")
                .unwrap_err()
                .contains("must be an array of strings"),
        );
        assert!(
            contexts("[\"ci\", 3]")
                .unwrap_err()
                .contains("item 2 is the integer 3")
        );
    }

    #[test]
    fn a_bad_strict_table_is_refused_naming_line_and_key() {
        assert_eq!(
            parse("[strict]\nbranch = \"a..b\"").unwrap_err(),
            "cfgupdate.toml:2: `branch` in [strict] is `a..b`, which is not a branch name git accepts: it contains `..` or ends with `.`"
        );
        assert_eq!(
            parse("[strict]\nbranche = \"auto\"").unwrap_err(),
            "cfgupdate.toml:2: unknown key `branche` in [strict]; expected one of branch, contexts"
        );
        assert!(
            parse("[strict]\n")
                .unwrap_err()
                .starts_with("cfgupdate.toml:1: [strict] has no `branch`"),
        );
        assert!(
            parse("[strict]\nbranch = 3")
                .unwrap_err()
                .contains("must be a string")
        );
        assert!(
            parse("strict = \"auto\"")
                .unwrap_err()
                .contains("a table written [strict]")
        );
        for bad in [
            "",
            "refs/heads/auto",
            "a b",
            "-x",
            "HEAD",
            "a//b",
            ".a",
            "a.lock",
            "a/",
        ] {
            assert!(
                parse(&format!("[strict]\nbranch = \"{bad}\"")).is_err(),
                "{bad:?} was taken"
            );
        }
    }
}
