//! A wave's `freeze` list, read into [`FreezeWindow`]s: errors name the wave, the entry (from 1)
//! and the value at fault.

use toml::de::DeValue;

use super::PipelineError;
use super::document::{Place, Table, Value, describe};
use crate::freeze::FreezeWindow;
use crate::names::WaveName;

/// The keys a `freeze` entry may have: `from`, `to` for a fixed window; `cron`, `duration`,
/// `timezone` for a recurring one; `reason` for both.
pub(super) const FREEZE_KEYS: &[&str] = &["from", "to", "cron", "duration", "timezone", "reason"];

/// The most freeze windows a wave may have: every write into the wave and every status looks
/// at each of them, on the service's one writer, so a file in the config repository must not
/// be able to make that look slow.
pub(crate) const MAX_FREEZE_WINDOWS: usize = 32;

pub(super) fn read_freeze(
    value: &Value<'_, '_>,
    wave: &WaveName,
) -> Result<Vec<FreezeWindow>, PipelineError> {
    let DeValue::Array(items) = value.raw() else {
        return Err(value.type_error(
            "an array of tables, such as [{ from = \"...\", to = \"...\", reason = \"...\" }]",
        ));
    };
    let src = value.src();
    if items.len() > MAX_FREEZE_WINDOWS {
        return Err(value.error(format_args!(
            "`freeze` of [[wave]] \"{wave}\" has {} windows; at most {MAX_FREEZE_WINDOWS} are allowed (every write into the wave looks at each): join windows that follow each other, or use one cron schedule for a repeating freeze",
            items.len()
        )));
    }
    let mut windows = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let entry = index + 1;
        let DeValue::Table(entries) = item.get_ref() else {
            return Err(src.error_at(
                &item.span(),
                format_args!(
                    "{} must be an array of tables; entry {entry} is {}",
                    value.subject(),
                    describe(item.get_ref())
                ),
            ));
        };
        let place = Place::Freeze {
            wave: wave.to_string(),
            entry,
        };
        let table = Table::new(src, place.clone(), item.span(), entries);
        table.check_keys(FREEZE_KEYS)?;
        let missing =
            |what: &str| src.error_at(&item.span(), format_args!("{place} has no {what}"));
        let reason = match table.get("reason") {
            Some(reason) => reason,
            None => return Err(missing("`reason`, which status and CI's answers show")),
        };
        let refused = |at: &Value<'_, '_>, error: crate::freeze::FreezeError| {
            at.error(format_args!("{place}: {error}"))
        };
        let window = if let Some(cron) = table.get("cron") {
            for fixed in ["from", "to"] {
                if let Some(value) = table.get(fixed) {
                    return Err(value.error(format_args!(
                        "{place} has both `cron` and `{fixed}`; a window is either fixed (`from`, `to`) or recurring (`cron`, `duration`, `timezone`)"
                    )));
                }
            }
            let Some(duration) = table.get("duration") else {
                return Err(missing(
                    "`duration`, how long each window lasts (such as \"63h\")",
                ));
            };
            let timezone = table.get("timezone");
            let zone = timezone.as_ref().map(Value::string).transpose()?;
            FreezeWindow::recurring(cron.string()?, duration.string()?, zone, reason.string()?)
                .map_err(|error| {
                    let at = match &error {
                        crate::freeze::FreezeError::Cron { .. } => &cron,
                        crate::freeze::FreezeError::Duration { .. } => &duration,
                        crate::freeze::FreezeError::TimeZone { .. } => {
                            timezone.as_ref().unwrap_or(&cron)
                        }
                        _ => &reason,
                    };
                    refused(at, error)
                })?
        } else {
            for recurring in ["duration", "timezone"] {
                if let Some(value) = table.get(recurring) {
                    return Err(value.error(format_args!(
                        "{place} has `{recurring}` but no `cron`; a recurring window needs `cron` (such as \"0 17 * * FRI\"), a fixed one only `from` and `to`"
                    )));
                }
            }
            let (from, to) = match (table.get("from"), table.get("to")) {
                (Some(from), Some(to)) => (from, to),
                (Some(_), None) => return Err(missing("`to`, the end of the fixed window")),
                (None, Some(_)) => return Err(missing("`from`, the start of the fixed window")),
                (None, None) => {
                    return Err(src.error_at(
                        &item.span(),
                        format_args!(
                            "{place} has neither `from` and `to` (a fixed window) nor `cron` and `duration` (a recurring one)"
                        ),
                    ));
                }
            };
            FreezeWindow::fixed(&instant(&from)?, &instant(&to)?, reason.string()?).map_err(
                |error| {
                    let at = match &error {
                        crate::freeze::FreezeError::Instant { key: "to", .. }
                        | crate::freeze::FreezeError::Order { .. } => &to,
                        crate::freeze::FreezeError::Instant { .. } => &from,
                        _ => &reason,
                    };
                    refused(at, error)
                },
            )?
        };
        windows.push(window);
    }
    Ok(windows)
}

/// `from` or `to`: a string, or a TOML date-time (which must carry an offset).
fn instant(value: &Value<'_, '_>) -> Result<String, PipelineError> {
    match value.raw() {
        DeValue::String(text) => Ok(text.to_string()),
        DeValue::Datetime(datetime) => Ok(datetime.to_string()),
        _ => Err(value.type_error("an instant in RFC 3339, such as \"2026-12-20T00:00:00Z\"")),
    }
}
