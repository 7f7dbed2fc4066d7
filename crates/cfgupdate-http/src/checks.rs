//! `POST /v1/checks` (scope `ci`): the config repository's CI reports a strict mode commit's
//! result (docs/strict.md), in cfgupdate's shape `{"commit", "state", "context"}` or in the
//! shape of GitHub's `status` event (`sha`, `state`, `context`, and whatever else GitHub
//! sends), and the answer to what became of it.

use cfgupdate_core::CommitId;
use cfgupdate_core::adapter::shown;
use cfgupdate_core::strict::{CheckOutcome, CheckReport, CheckState};
use serde_json::{Value, json};

use crate::payload::PayloadError;

/// The CI result a body carries.
pub(crate) fn report(body: &[u8]) -> Result<CheckReport, PayloadError> {
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        PayloadError::Malformed(format!("the body is not what this endpoint takes: {error}"))
    })?;
    let Value::Object(object) = value else {
        return Err(PayloadError::Malformed(
            "the body must be a JSON object: {\"commit\", \"state\", \"context\"} or GitHub's status event".to_owned(),
        ));
    };
    // cfgupdate's own shape takes exactly its fields; GitHub's event carries many more.
    let (commit_key, own) = if object.contains_key("commit") && !object.contains_key("sha") {
        ("commit", true)
    } else {
        ("sha", false)
    };
    if own
        && let Some(unknown) = object
            .keys()
            .find(|key| !matches!(key.as_str(), "commit" | "state" | "context"))
    {
        return Err(PayloadError::Malformed(format!(
            "unknown field `{}`: a CI result has `commit`, `state` and `context` (or GitHub's status event: `sha`, `state`, `context`)",
            shown(unknown)
        )));
    }
    let text = |key: &str, required: bool| -> Result<Option<&str>, PayloadError> {
        match object.get(key) {
            Some(Value::String(text)) => Ok(Some(text)),
            None | Some(Value::Null) if !required => Ok(None),
            None | Some(Value::Null) => {
                Err(PayloadError::Malformed(format!("missing field `{key}`")))
            }
            Some(_) => Err(PayloadError::Malformed(format!("`{key}` must be a string"))),
        }
    };
    let commit = text(commit_key, true)?.unwrap_or_default();
    let commit = CommitId::parse(commit)
        .map_err(|error| PayloadError::Invalid(format!("`{commit_key}`: {error}")))?;
    let state_text = text("state", true)?.unwrap_or_default();
    let state = CheckState::parse(state_text).ok_or_else(|| {
        PayloadError::Invalid(format!(
            "`state` is `{}`; it must be success, failure or pending (or GitHub's error, recorded like pending)",
            shown(state_text)
        ))
    })?;
    let context = text("context", false)?.unwrap_or_default().to_owned();
    Ok(CheckReport {
        commit,
        state,
        context,
    })
}

/// The answer's body.
pub(crate) fn answer(outcome: &CheckOutcome) -> Value {
    match outcome {
        CheckOutcome::Recorded => json!({ "result": "recorded" }),
        CheckOutcome::Accepted { main, changes } => json!({
            "result": "accepted",
            "commit": main.as_str(),
            "accepted": changes,
        }),
        CheckOutcome::Evicted {
            eviction,
            auto,
            dropped,
        } => json!({
            "result": "evicted",
            "commit": auto.as_str(),
            "evicted": eviction.commit.as_str(),
            "reason": eviction.reason,
            "dropped": dropped.iter().map(|d| json!({ "commit": d.commit.as_str(), "reason": d.reason })).collect::<Vec<_>>(),
        }),
        CheckOutcome::Ignored(why) => json!({ "result": "unchanged", "reason": why.reason() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_shapes_are_read_and_bad_values_are_named() {
        let sha = "a".repeat(40);
        let own = report(
            format!("{{\"commit\":\"{sha}\",\"state\":\"failure\",\"context\":\"ci\"}}").as_bytes(),
        )
        .unwrap();
        assert_eq!(own.state, CheckState::Failure);
        assert_eq!(own.context, "ci");
        let github = report(
            format!("{{\"id\":1,\"sha\":\"{sha}\",\"name\":\"acme/cfg\",\"state\":\"error\",\"context\":\"ci/kube\",\"branches\":[]}}").as_bytes(),
        )
        .unwrap();
        assert_eq!(github.commit.as_str(), sha);
        // GitHub's `error` (the check could not run) is no verdict: recorded like pending.
        assert_eq!(github.state, CheckState::Error);
        assert!(matches!(
            report(format!("{{\"commit\":\"{sha}\",\"state\":\"success\",\"extra\":1}}").as_bytes()),
            Err(PayloadError::Malformed(m)) if m.contains("unknown field `extra`")
        ));
        assert!(matches!(
            report(format!("{{\"commit\":\"{sha}\",\"state\":\"green\"}}").as_bytes()),
            Err(PayloadError::Invalid(m)) if m.contains("`green`")
        ));
        assert!(matches!(
            report(b"{\"commit\":\"xyz\",\"state\":\"success\"}"),
            Err(PayloadError::Invalid(m)) if m.contains("`commit`")
        ));
        assert!(matches!(report(b"[]"), Err(PayloadError::Malformed(_))));
    }
}
