//! The `[strict]` table: strict mode's auto branch (docs/strict.md).

use toml::de::DeValue;

use super::PipelineError;
use super::document::{Place, Table, Value};
use crate::shown::shown;

/// The keys `[strict]` takes.
pub(super) const STRICT_KEYS: &[&str] = &["branch"];

/// The longest branch name `[strict] branch` takes.
const BRANCH_MAX_LEN: usize = 200;

/// The `[strict]` table: with it, every automatic commit lands on [`StrictConfig::branch`]
/// first, and reaches the main branch only once the config repository's own CI passed it
/// (docs/strict.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrictConfig {
    /// The auto branch's name (without `refs/heads/`), e.g. `auto`: the main branch plus the
    /// automatic changes not yet accepted. It is cfgupdate's own; nobody deploys it.
    pub branch: String,
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
    Ok(StrictConfig {
        branch: name.to_owned(),
    })
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
        assert_eq!(pipeline.strict.unwrap().branch, "cfgupdate/auto");
        assert_eq!(parse("").unwrap().strict, None);
    }

    #[test]
    fn a_bad_strict_table_is_refused_naming_line_and_key() {
        assert_eq!(
            parse("[strict]\nbranch = \"a..b\"").unwrap_err(),
            "cfgupdate.toml:2: `branch` in [strict] is `a..b`, which is not a branch name git accepts: it contains `..` or ends with `.`"
        );
        assert_eq!(
            parse("[strict]\nbranche = \"auto\"").unwrap_err(),
            "cfgupdate.toml:2: unknown key `branche` in [strict]; expected one of branch"
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
