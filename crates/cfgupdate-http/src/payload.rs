//! Request bodies turned into the core's types, once, at the edge.
//!
//! A body that is not JSON of the expected shape is *malformed* (400); one of the right shape
//! whose values the domain refuses (a commit id that is not 40 hex digits, a bad image
//! reference, a service name outside the grammar) is *invalid* (422).

use std::collections::BTreeMap;

use cfgupdate_core::promotion::{DeployReport, DeployStatus, TargetSelector};
use cfgupdate_core::trailers::BuildInfo;
use cfgupdate_core::{
    Announcement, CommitId, ImageRef, ImageSet, JoinError, ServiceName, TargetName, WaveName,
};
use serde::Deserialize;

/// Why a body could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// Not JSON, or not the shape the endpoint takes (400).
    #[error("{0}")]
    Malformed(String),
    /// Well-formed, but a value is invalid (422).
    #[error("{0}")]
    Invalid(String),
}

impl cfgupdate_core::Classify for PayloadError {
    fn class(&self) -> cfgupdate_core::ErrorClass {
        match self {
            PayloadError::Malformed(_) => cfgupdate_core::ErrorClass::Malformed,
            PayloadError::Invalid(_) => cfgupdate_core::ErrorClass::Invalid,
        }
    }
}

fn malformed(error: serde_json::Error) -> PayloadError {
    PayloadError::Malformed(format!("the body is not what this endpoint takes: {error}"))
}

fn object(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, PayloadError> {
    match serde_json::from_slice(body) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(PayloadError::Malformed(
            "the body is JSON but not an object".to_owned(),
        )),
        Err(error) => Err(PayloadError::Malformed(format!(
            "the body is not valid JSON: {error}"
        ))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImagesBody {
    app_commit: String,
    images: BTreeMap<String, String>,
    #[serde(default)]
    build: Option<BuildBody>,
    /// Publish even into a frozen first wave (scope `admin` only: the route checks it).
    #[serde(default)]
    override_freeze: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BuildBody {
    #[serde(default)]
    number: Option<u64>,
    #[serde(default)]
    created_at: Option<String>,
}

/// One service of the original design's payload: `{"Tag": "name:tag", "Digest": "name@sha256:..."}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OriginalImage {
    #[serde(rename = "Tag", default)]
    tag: Option<String>,
    #[serde(rename = "Digest", default)]
    digest: Option<String>,
}

/// CI's announcement, from either payload format of `POST /v1/images`:
/// `{"app_commit", "images", "build"?}`, or the original design's
/// `{"Service": {"Tag", "Digest"}}` with the app commit from the query string.
pub fn announcement(
    body: &[u8],
    query_app_commit: Option<&str>,
) -> Result<Announcement, PayloadError> {
    let map = object(body)?;
    let announcement = if map.contains_key("images") || map.contains_key("app_commit") {
        let body: ImagesBody =
            serde_json::from_value(serde_json::Value::Object(map)).map_err(malformed)?;
        if let Some(query) = query_app_commit
            && !query.eq_ignore_ascii_case(&body.app_commit)
        {
            return Err(PayloadError::Malformed(format!(
                "the app commit in the query string ({query}) differs from the body's `app_commit` ({})",
                body.app_commit
            )));
        }
        let app_commit = commit("app_commit", &body.app_commit)?;
        let mut images = ImageSet::new();
        for (service, reference) in &body.images {
            let service = service_name(service)?;
            let image = ImageRef::parse(reference)
                .map_err(|error| PayloadError::Invalid(format!("images.{service}: {error}")))?;
            images.insert(service, image);
        }
        let build = match body.build {
            Some(build) => build_info(build)?,
            None => BuildInfo::default(),
        };
        let override_freeze = body.override_freeze;
        Announcement::new(app_commit, images).map(|a| {
            let a = a.with_build(build);
            if override_freeze {
                a.overriding_freeze()
            } else {
                a
            }
        })
    } else {
        let Some(query) = query_app_commit else {
            return Err(PayloadError::Malformed(
                "the body has the original design's shape (`{\"Service\": {\"Tag\": ..., \"Digest\": ...}}`), which needs the app commit in the query string: `?app_commit=<40 hex>`".to_owned(),
            ));
        };
        let app_commit = commit("the query's app_commit", query)?;
        let services: BTreeMap<String, OriginalImage> =
            serde_json::from_value(serde_json::Value::Object(map)).map_err(malformed)?;
        let mut images = ImageSet::new();
        for (service, parts) in services {
            let name = service_name(&service)?;
            images.insert(name, original_reference(&service, parts)?);
        }
        Announcement::new(app_commit, images)
    };
    announcement.map_err(|error| PayloadError::Invalid(error.to_string()))
}

/// `Tag` (`name:tag`) and `Digest` (`name@sha256:...`) as one reference `name:tag@sha256:...`.
fn original_reference(service: &str, parts: OriginalImage) -> Result<ImageRef, PayloadError> {
    let parse = |field: &str, text: &str| {
        ImageRef::parse(text)
            .map_err(|error| PayloadError::Invalid(format!("{service}.{field}: {error}")))
    };
    let tag = parts.tag.as_deref().map(|t| parse("Tag", t)).transpose()?;
    let digest = parts
        .digest
        .as_deref()
        .map(|d| parse("Digest", d))
        .transpose()?;
    match (tag, digest) {
        (None, None) => Err(PayloadError::Malformed(format!(
            "service `{service}` has neither `Tag` nor `Digest`"
        ))),
        (Some(only), None) | (None, Some(only)) => Ok(only),
        (Some(tag), Some(digest)) => {
            ImageRef::join(&tag, &digest).map_err(|error| match error {
                JoinError::DifferentImages { tagged, pinned } => PayloadError::Invalid(format!(
                    "service `{service}`: `Tag` names the image `{tagged}` but `Digest` names `{pinned}`"
                )),
                JoinError::Invalid(error) => {
                    PayloadError::Invalid(format!("service `{service}`: {error}"))
                }
            })
        }
    }
}

fn build_info(build: BuildBody) -> Result<BuildInfo, PayloadError> {
    let created_at = build
        .created_at
        .map(|text| {
            text.parse::<jiff::Timestamp>().map_err(|error| {
                PayloadError::Invalid(format!(
                    "build.created_at `{text}` is not an RFC 3339 time: {error}"
                ))
            })
        })
        .transpose()?;
    Ok(BuildInfo {
        number: build.number,
        created_at,
    })
}

fn commit(field: &str, text: &str) -> Result<CommitId, PayloadError> {
    CommitId::parse(text).map_err(|error| PayloadError::Invalid(format!("{field}: {error}")))
}

fn service_name(text: &str) -> Result<ServiceName, PayloadError> {
    ServiceName::parse(text).map_err(|error| PayloadError::Invalid(error.to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportBody {
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    app: Option<String>,
    revision: String,
    status: DeployStatus,
}

/// A deploy report of `POST /v1/deployments`: `target` (or Argo CD's `app`), `revision`,
/// `status`.
pub fn deploy_report(body: &[u8]) -> Result<DeployReport, PayloadError> {
    let body: ReportBody =
        serde_json::from_value(serde_json::Value::Object(object(body)?)).map_err(malformed)?;
    let target = match (body.target, body.app) {
        (Some(_), Some(_)) => {
            return Err(PayloadError::Malformed(
                "give either `target` or `app`, not both".to_owned(),
            ));
        }
        (None, None) => {
            return Err(PayloadError::Malformed(
                "the report names no target: give `target` (its name in cfgupdate.toml) or `app` (its Argo CD application)".to_owned(),
            ));
        }
        (Some(target), None) => TargetSelector::Name(
            TargetName::parse(&target)
                .map_err(|error| PayloadError::Invalid(format!("target: {error}")))?,
        ),
        (None, Some(app)) => TargetSelector::App(app),
    };
    Ok(DeployReport {
        target,
        revision: commit("revision", &body.revision)?,
        status: body.status,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApprovalBody {
    wave: String,
    /// Absent, or a string: `null` is not a revision, so it is refused as malformed.
    #[serde(default, deserialize_with = "present")]
    revision: Option<String>,
}

/// A field that, when present, must be a string.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    String::deserialize(deserializer).map(Some)
}

/// What `POST /v1/approvals` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRequest {
    /// The wave whose approval gate to open.
    pub wave: WaveName,
    /// Only the candidate from this source revision (`"revision"`), when given.
    pub revision: Option<CommitId>,
}

/// The body of `POST /v1/approvals`: `{"wave": "production"}`, optionally with
/// `"revision": "<40 hex>"` (the candidate's source revision that `GET /v1/status` shows).
pub fn approval(body: &[u8]) -> Result<ApprovalRequest, PayloadError> {
    let body: ApprovalBody =
        serde_json::from_value(serde_json::Value::Object(object(body)?)).map_err(malformed)?;
    let wave = WaveName::parse(&body.wave)
        .map_err(|error| PayloadError::Invalid(format!("wave: {error}")))?;
    let revision = body
        .revision
        .as_deref()
        .map(|text| commit("revision", text))
        .transpose()?;
    Ok(ApprovalRequest { wave, revision })
}

/// The body of `POST /v1/rollbacks` and `POST /v1/releases`: `{"wave", "to_revision",
/// "services": [...]}` (`to_revision` only for a rollback; `services` may be left out: all).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HoldBody {
    wave: String,
    #[serde(default)]
    to_revision: Option<String>,
    #[serde(default)]
    services: Vec<String>,
}

/// A wave and services of a hold body, parsed.
fn hold_body(body: &[u8]) -> Result<(HoldBody, WaveName, Vec<ServiceName>), PayloadError> {
    let body: HoldBody =
        serde_json::from_value(serde_json::Value::Object(object(body)?)).map_err(malformed)?;
    let wave = WaveName::parse(&body.wave)
        .map_err(|error| PayloadError::Invalid(format!("wave: {error}")))?;
    let services = body
        .services
        .iter()
        .enumerate()
        .map(|(at, name)| {
            ServiceName::parse(name)
                .map_err(|error| PayloadError::Invalid(format!("services[{at}]: {error}")))
        })
        .collect::<Result<_, _>>()?;
    Ok((body, wave, services))
}

/// The rollback of `POST /v1/rollbacks`: `{"wave": "production", "to_revision": "<40 hex>",
/// "services": ["api"]}`.
pub fn rollback(body: &[u8]) -> Result<cfgupdate_core::promotion::RollbackRequest, PayloadError> {
    let (body, wave, services) = hold_body(body)?;
    let Some(revision) = body.to_revision else {
        return Err(PayloadError::Invalid(
            "to_revision: missing; a rollback names the earlier revision whose images it writes back".to_owned(),
        ));
    };
    let to_revision = CommitId::parse(&revision)
        .map_err(|error| PayloadError::Invalid(format!("to_revision: {error}")))?;
    Ok(cfgupdate_core::promotion::RollbackRequest {
        wave,
        to_revision,
        services,
    })
}

/// The release of `POST /v1/releases`: `{"wave": "production", "services": ["api"]}`.
pub fn release(body: &[u8]) -> Result<(WaveName, Vec<ServiceName>), PayloadError> {
    let (body, wave, services) = hold_body(body)?;
    if body.to_revision.is_some() {
        return Err(PayloadError::Invalid(
            "to_revision: a release takes none; it lifts the holds of the wave (or of `services`)"
                .to_owned(),
        ));
    }
    Ok((wave, services))
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "7d1043473d55bfa90e8530d35801d4e381bc69f0";
    const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    fn images(announcement: &Announcement) -> Vec<(String, String)> {
        announcement
            .images()
            .iter()
            .map(|(s, i)| (s.to_string(), i.to_string()))
            .collect()
    }

    #[test]
    fn the_contract_payload_becomes_an_announcement_with_its_build() {
        let body = format!(
            r#"{{"app_commit": "{APP}", "images": {{"api": "reg.example.com/api:v1@{DIGEST}"}},
                "build": {{"number": 123, "created_at": "2026-05-01T10:00:00Z"}}}}"#
        );
        let announcement = announcement(body.as_bytes(), None).unwrap();
        assert_eq!(announcement.app_commit().as_str(), APP);
        assert_eq!(
            images(&announcement),
            vec![("api".into(), format!("reg.example.com/api:v1@{DIGEST}"))]
        );
        assert_eq!(announcement.build().number, Some(123));
        assert_eq!(
            announcement
                .build()
                .created_at
                .map(|t| t.to_string())
                .as_deref(),
            Some("2026-05-01T10:00:00Z")
        );
    }

    #[test]
    fn the_original_design_payload_becomes_one_reference_per_service() {
        let body = format!(
            r#"{{"Service1": {{"Tag": "reg.example.com/one:abc", "Digest": "reg.example.com/one@{DIGEST}"}},
                "web": {{"Digest": "reg.example.com/web@{DIGEST}"}}}}"#
        );
        let announcement = announcement(body.as_bytes(), Some(APP)).unwrap();
        assert_eq!(
            images(&announcement),
            vec![
                (
                    "Service1".into(),
                    format!("reg.example.com/one:abc@{DIGEST}")
                ),
                ("web".into(), format!("reg.example.com/web@{DIGEST}")),
            ]
        );
    }

    #[test]
    fn the_original_payload_without_the_query_app_commit_is_malformed() {
        let body = format!(r#"{{"api": {{"Digest": "reg.example.com/api@{DIGEST}"}}}}"#);
        let error = announcement(body.as_bytes(), None).unwrap_err();
        assert!(matches!(error, PayloadError::Malformed(_)), "{error}");
        assert!(error.to_string().contains("?app_commit="), "{error}");
    }

    #[test]
    fn tag_and_digest_of_different_images_are_invalid() {
        let body = format!(
            r#"{{"api": {{"Tag": "reg.example.com/api:v1", "Digest": "reg.example.com/web@{DIGEST}"}}}}"#
        );
        let error = announcement(body.as_bytes(), Some(APP)).unwrap_err();
        assert!(matches!(error, PayloadError::Invalid(_)), "{error}");
        assert!(error.to_string().contains("reg.example.com/web"), "{error}");
    }

    #[test]
    fn shapes_the_endpoint_does_not_take_are_malformed() {
        for body in [
            "not json".to_owned(),
            "[1, 2]".to_owned(),
            format!(r#"{{"app_commit": "{APP}"}}"#),
            format!(r#"{{"app_commit": "{APP}", "images": {{"api": 5}}}}"#),
            format!(r#"{{"app_commit": "{APP}", "images": {{}}, "extra": 1}}"#),
            r#"{"api": {"Tag": "reg/api:v1", "Color": "blue"}}"#.to_owned(),
            r#"{"api": {}}"#.to_owned(),
        ] {
            let error = announcement(body.as_bytes(), Some(APP)).unwrap_err();
            assert!(
                matches!(error, PayloadError::Malformed(_)),
                "{body}: {error}"
            );
        }
    }

    #[test]
    fn values_the_domain_refuses_are_invalid_and_named() {
        for (body, named) in [
            (
                format!(r#"{{"app_commit": "abc", "images": {{"api": "reg/api@{DIGEST}"}}}}"#),
                "abc",
            ),
            (
                format!(r#"{{"app_commit": "{APP}", "images": {{"api": "reg/api:v1"}}}}"#),
                "reg/api:v1",
            ),
            (
                format!(r#"{{"app_commit": "{APP}", "images": {{"api": "Reg/API@{DIGEST}"}}}}"#),
                "Reg/API",
            ),
            (
                format!(r#"{{"app_commit": "{APP}", "images": {{"a:b": "reg/api@{DIGEST}"}}}}"#),
                "a:b",
            ),
            (
                format!(r#"{{"app_commit": "{APP}", "images": {{}}}}"#),
                "no image",
            ),
            (
                format!(
                    r#"{{"app_commit": "{APP}", "images": {{"api": "reg/api@{DIGEST}"}}, "build": {{"created_at": "yesterday"}}}}"#
                ),
                "yesterday",
            ),
        ] {
            let error = announcement(body.as_bytes(), None).unwrap_err();
            assert!(matches!(error, PayloadError::Invalid(_)), "{body}: {error}");
            assert!(error.to_string().contains(named), "{body}: {error}");
        }
    }

    #[test]
    fn a_query_app_commit_that_contradicts_the_body_is_malformed() {
        let body = format!(r#"{{"app_commit": "{APP}", "images": {{"api": "reg/api@{DIGEST}"}}}}"#);
        let other = "1".repeat(40);
        assert!(matches!(
            announcement(body.as_bytes(), Some(&other)),
            Err(PayloadError::Malformed(_))
        ));
        assert!(announcement(body.as_bytes(), Some(&APP.to_uppercase())).is_ok());
    }

    #[test]
    fn a_deploy_report_names_its_target_or_argo_cd_application() {
        let report = deploy_report(
            format!(r#"{{"target": "staging-us", "revision": "{APP}", "status": "succeeded"}}"#)
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            report.target,
            TargetSelector::Name(TargetName::parse("staging-us").unwrap())
        );
        assert_eq!(report.status, DeployStatus::Succeeded);
        let report = deploy_report(
            format!(r#"{{"app": "cfg-app-prod", "revision": "{APP}", "status": "failed"}}"#)
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(report.target, TargetSelector::App("cfg-app-prod".into()));
        assert_eq!(report.status, DeployStatus::Failed);
    }

    #[test]
    fn a_deploy_report_of_the_wrong_shape_is_malformed_and_a_bad_value_invalid() {
        for body in [
            format!(r#"{{"target": "a", "app": "b", "revision": "{APP}", "status": "succeeded"}}"#),
            format!(r#"{{"revision": "{APP}", "status": "succeeded"}}"#),
            format!(r#"{{"target": "a", "revision": "{APP}", "status": "great"}}"#),
            format!(r#"{{"target": "a", "revision": "{APP}"}}"#),
        ] {
            assert!(
                matches!(
                    deploy_report(body.as_bytes()),
                    Err(PayloadError::Malformed(_))
                ),
                "{body}"
            );
        }
        for body in [
            r#"{"target": "a", "revision": "HEAD", "status": "succeeded"}"#.to_owned(),
            format!(r#"{{"target": "Staging US", "revision": "{APP}", "status": "succeeded"}}"#),
        ] {
            assert!(
                matches!(
                    deploy_report(body.as_bytes()),
                    Err(PayloadError::Invalid(_))
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn an_approval_names_a_wave() {
        let request = approval(br#"{"wave": "production"}"#).unwrap();
        assert_eq!(request.wave.as_str(), "production");
        assert_eq!(request.revision, None);
        let sha = "7d1043473d55bfa90e8530d35801d4e381bc69f0";
        let request =
            approval(format!(r#"{{"wave": "production", "revision": "{sha}"}}"#).as_bytes())
                .unwrap();
        assert_eq!(request.revision.unwrap().as_str(), sha);
        assert!(matches!(
            approval(br#"{"wave": "production", "revision": "abc"}"#),
            Err(PayloadError::Invalid(message)) if message.starts_with("revision: ")
        ));
        // `null` is not "no revision": a client that meant one must not approve whatever waits.
        assert!(matches!(
            approval(br#"{"wave": "production", "revision": null}"#),
            Err(PayloadError::Malformed(_))
        ));
        assert!(matches!(
            approval(br#"{"wave": "Prod!"}"#),
            Err(PayloadError::Invalid(_))
        ));
        assert!(matches!(
            approval(br#"{"waves": "prod"}"#),
            Err(PayloadError::Malformed(_))
        ));
    }
}
