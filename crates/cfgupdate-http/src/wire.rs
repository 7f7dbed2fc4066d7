//! The JSON of `GET /v1/status` and of `cfgupdate status --json` / `cfgupdate history --json`:
//! one definition of the wire shape, which the service and the CLI both print (docs/http.md).

use cfgupdate_core::promotion::{HistoryEntry, Status};

/// The status as `GET /v1/status` sends it and `cfgupdate status --json` prints it: pretty JSON
/// ending in a newline.
pub fn status_json(status: &Status) -> Result<String, serde_json::Error> {
    pretty(status)
}

/// The automatic commits as `cfgupdate history --json` prints them: pretty JSON ending in a
/// newline.
pub fn history_json(entries: &[HistoryEntry]) -> Result<String, serde_json::Error> {
    pretty(&entries)
}

fn pretty(value: &impl serde::Serialize) -> Result<String, serde_json::Error> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests;
