//! The Slack message of an event: `{"text": "..."}` for an incoming webhook, readable by people,
//! every value escaped as Slack asks (`&`, `<` and `>`), so that nothing from a request or the
//! repository can become a link, a mention or markup of Slack's.

use super::event::{Event, EventKind};

/// How many characters of a commit id the message shows.
const SHORT_COMMIT: usize = 12;

/// The JSON body for a Slack incoming webhook.
pub fn slack_body(event: &Event) -> String {
    serde_json::json!({ "text": slack_text(event) }).to_string()
}

/// The message: a headline, one line per image, the reason.
pub fn slack_text(event: &Event) -> String {
    let wave = event
        .wave
        .as_ref()
        .map(|wave| format!(" `{}`", escape(wave.as_str())))
        .unwrap_or_default();
    let target = event
        .target
        .as_deref()
        .map(|target| format!(" `{}`", escape(target)))
        .unwrap_or_default();
    let mut text = match event.kind {
        EventKind::Published => format!(":package: *Published* into{wave}"),
        EventKind::Promoted => format!(":rocket: *Promoted* into{wave}"),
        EventKind::ApprovalPending => format!(":raised_hand: *Approval pending* for{wave}"),
        EventKind::DeployFailed => format!(":x: *Deploy failed*: target{target}"),
        EventKind::Refused => format!(":no_entry: *Refused*{}", in_wave(&wave)),
        EventKind::Deferred => format!(":snowflake: *Deferred*{}", in_wave(&wave)),
        EventKind::Held => format!(":lock: *Held*{}", in_wave(&wave)),
        EventKind::PushRefused => {
            format!(":no_entry: *Push refused* by the remote{}", in_wave(&wave))
        }
        EventKind::RolledBack => format!(":rewind: *Rolled back*{wave}"),
    };
    if let Some(commit) = &event.commit {
        let short: String = commit.as_str().chars().take(SHORT_COMMIT).collect();
        text.push_str(&format!(" at `{}`", escape(&short)));
    }
    for (service, image) in &event.images {
        text.push_str(&format!(
            "\n• `{}`: `{}`",
            escape(service.as_str()),
            escape(image.as_str())
        ));
    }
    if let Some(reason) = &event.reason {
        text.push('\n');
        text.push_str(&escape(reason));
    }
    text
}

fn in_wave(wave: &str) -> String {
    if wave.is_empty() {
        String::new()
    } else {
        format!(" in{wave}")
    }
}

/// `&`, `<` and `>` as Slack's message text needs them.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}
