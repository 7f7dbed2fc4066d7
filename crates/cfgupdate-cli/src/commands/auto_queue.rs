//! How `status` and `history` show strict mode to people (docs/strict.md): the auto queue, each pending
//! change with its commit and CI state, and the changes evicted or dropped.

use std::fmt::Write as _;

use cfgupdate_core::adapter::shown;
use cfgupdate_core::strict::{AutoQueue, Eviction, EvictionKind};

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
