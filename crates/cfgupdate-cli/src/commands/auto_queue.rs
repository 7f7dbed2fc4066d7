//! How `status` and `history` show strict mode (docs/strict.md): the auto queue, each pending
//! change with its commit and CI state, and the changes evicted or dropped.

use std::fmt::Write as _;

use cfgupdate_core::adapter::shown;
use cfgupdate_core::strict::{AutoQueue, Eviction, EvictionKind};
use serde_json::{Value, json};

/// The queue as people read it, after the waves.
pub fn human(queue: &AutoQueue) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "strict mode: automatic changes wait on branch `{}` for CI ({} waiting)",
        queue.branch,
        queue.changes.len()
    );
    for change in &queue.changes {
        let ci = match &change.ci {
            Some(check) if check.context.is_empty() => check.state.to_string(),
            Some(check) => format!("{} ({})", check.state, shown(&check.context)),
            None => "no CI result yet".to_owned(),
        };
        let _ = writeln!(
            out,
            "  {} {:<8} {:<12} CI: {ci}  {}",
            change.commit.short(),
            change.action,
            change.wave.as_ref().map(|w| w.as_str()).unwrap_or("-"),
            shown(&change.subject)
        );
    }
    for eviction in &queue.evicted {
        let _ = writeln!(out, "  {}", eviction_line(eviction));
    }
    out
}

/// One evicted or dropped change, in one line.
pub fn eviction_line(eviction: &Eviction) -> String {
    let what = match eviction.kind {
        EvictionKind::Failed => "evicted",
        EvictionKind::Dropped => "dropped",
    };
    format!(
        "{what} {} \"{}\": {}",
        eviction.commit.short(),
        shown(&eviction.subject),
        shown(&eviction.reason)
    )
}

/// The queue as the `strict` member of `status --json` and `GET /v1/status`.
pub fn json(queue: &AutoQueue) -> Value {
    json!({
        "branch": queue.branch,
        "main": queue.main.as_str(),
        "auto": queue.auto.as_ref().map(|c| c.as_str()),
        "pending": queue.changes.iter().map(|change| json!({
            "commit": change.commit.as_str(),
            "subject": change.subject,
            "action": change.action,
            "wave": change.wave.as_ref().map(|w| w.as_str()),
            "images": change.images.iter().map(|(s, i)| (s.to_string(), Value::from(i.to_string()))).collect::<serde_json::Map<_, _>>(),
            "ci": change.ci.as_ref().map(|c| c.state.as_str()),
            "context": change.ci.as_ref().map(|c| c.context.as_str()),
        })).collect::<Vec<_>>(),
        "evicted": queue.evicted.iter().map(|e| json!({
            "commit": e.commit.as_str(),
            "subject": e.subject,
            "action": e.action,
            "wave": e.wave.as_ref().map(|w| w.as_str()),
            "images": e.images.iter().map(|(s, i)| (s.to_string(), Value::from(i.to_string()))).collect::<serde_json::Map<_, _>>(),
            "kind": match e.kind { EvictionKind::Failed => "failed", EvictionKind::Dropped => "dropped" },
            "reason": e.reason,
        })).collect::<Vec<_>>(),
    })
}
