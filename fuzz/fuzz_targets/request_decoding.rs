//! The HTTP service's body decoding (`cfgupdate_http::payload`) on arbitrary bytes.
//!
//! Input: byte 0 picks the endpoint (images, deployments, approvals), byte 1 the `app_commit`
//! query string (none, valid, upper case, invalid), the rest is the body. Never panics; every
//! refusal has a message; whatever is accepted came from a JSON object, and re-encoding it in
//! the documented format decodes to the same value.
#![no_main]

use cfgupdate_core::promotion::{DeployStatus, TargetSelector};
use cfgupdate_http::payload::{self, PayloadError};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

const APP: &str = "7d1043473d55bfa90e8530d35801d4e381bc69f0";
const APP_UPPER: &str = "7D1043473D55BFA90E8530D35801D4E381BC69F0";

fn is_object(body: &[u8]) -> bool {
    matches!(serde_json::from_slice(body), Ok(Value::Object(_)))
}

fn check_refusal(error: &PayloadError) {
    let message = error.to_string();
    assert!(
        !message.is_empty(),
        "a refusal without a message: {error:?}"
    );
}

fn images(body: &[u8], query: Option<&str>) {
    let announcement = match payload::announcement(body, query) {
        Ok(announcement) => announcement,
        Err(error) => return check_refusal(&error),
    };
    assert!(is_object(body));
    let images: Map<String, Value> = announcement
        .images()
        .iter()
        .map(|(service, image)| (service.to_string(), Value::from(image.as_str())))
        .collect();
    let mut encoded = json!({"app_commit": announcement.app_commit().as_str(), "images": images});
    let build = announcement.build();
    if !build.is_empty() {
        let mut fields = Map::new();
        if let Some(number) = build.number {
            fields.insert("number".into(), number.into());
        }
        if let Some(created_at) = build.created_at {
            fields.insert("created_at".into(), created_at.to_string().into());
        }
        encoded["build"] = Value::Object(fields);
    }
    let encoded = serde_json::to_vec(&encoded).expect("a JSON value encodes");
    let again = payload::announcement(&encoded, None).unwrap_or_else(|e| {
        panic!(
            "re-encoding an accepted announcement is refused: {e}\n{}",
            String::from_utf8_lossy(&encoded)
        )
    });
    assert_eq!(again, announcement);
}

fn deployments(body: &[u8]) {
    let report = match payload::deploy_report(body) {
        Ok(report) => report,
        Err(error) => return check_refusal(&error),
    };
    assert!(is_object(body));
    let status = match report.status {
        DeployStatus::Succeeded => "succeeded",
        DeployStatus::Failed => "failed",
    };
    let encoded = match &report.target {
        TargetSelector::Name(target) => {
            json!({"target": target.as_str(), "revision": report.revision.as_str(), "status": status})
        }
        TargetSelector::App(app) => {
            json!({"app": app, "revision": report.revision.as_str(), "status": status})
        }
    };
    let encoded = serde_json::to_vec(&encoded).expect("a JSON value encodes");
    let again = payload::deploy_report(&encoded).unwrap_or_else(|e| {
        panic!(
            "re-encoding an accepted report is refused: {e}\n{}",
            String::from_utf8_lossy(&encoded)
        )
    });
    assert_eq!(again, report);
}

fn approvals(body: &[u8]) {
    let wave = match payload::approval(body) {
        Ok(wave) => wave,
        Err(error) => return check_refusal(&error),
    };
    assert!(is_object(body));
    let encoded =
        serde_json::to_vec(&json!({"wave": wave.as_str()})).expect("a JSON value encodes");
    assert_eq!(payload::approval(&encoded), Ok(wave));
}

fuzz_target!(|data: &[u8]| {
    let [endpoint, query, body @ ..] = data else {
        return;
    };
    let query = match query % 4 {
        0 => None,
        1 => Some(APP),
        2 => Some(APP_UPPER),
        _ => Some("not-a-commit"),
    };
    match endpoint % 3 {
        0 => images(body, query),
        1 => deployments(body),
        _ => approvals(body),
    }
});
