//! `GET /openapi.json`: the OpenAPI 3.1 document of every endpoint (docs/contract.md#seeing-it).
//!
//! One source: the document is `docs/openapi.json` in the repository, compiled into the
//! binary, so the file a reader finds in `docs/` and what the service answers can never
//! differ. The CLI's `openapi` test checks the running service against it with schemathesis
//! and validates real `GET /v1/status` and `cfgupdate status --json` output against its
//! `Status` schema.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// The document, as `docs/openapi.json` holds it.
pub const DOCUMENT: &str = include_str!("../../../docs/openapi.json");

/// Answers the document as `application/json`.
pub(crate) async fn document() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        DOCUMENT,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::DOCUMENT;

    fn document() -> Value {
        serde_json::from_str(DOCUMENT).expect("docs/openapi.json is JSON")
    }

    #[test]
    fn the_document_is_openapi_3_1_of_this_version() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    }

    /// Every `$ref` points at something the document holds: a dangling one would make the
    /// document unusable for every tool that reads it.
    #[test]
    fn every_reference_resolves() {
        fn walk(doc: &Value, node: &Value, seen: &mut usize) {
            match node {
                Value::Object(map) => {
                    if let Some(Value::String(target)) = map.get("$ref") {
                        let pointer = target
                            .strip_prefix('#')
                            .unwrap_or_else(|| panic!("{target} is not local"));
                        assert!(
                            doc.pointer(pointer).is_some(),
                            "{target} resolves to nothing"
                        );
                        *seen += 1;
                    }
                    map.values().for_each(|v| walk(doc, v, seen));
                }
                Value::Array(items) => items.iter().for_each(|v| walk(doc, v, seen)),
                _ => {}
            }
        }
        let doc = document();
        let mut seen = 0;
        walk(&doc, &doc, &mut seen);
        assert!(seen > 20, "only {seen} references");
    }

    /// Every write documents each status the checks of `routes` can answer, with the error
    /// shape, and every 503 says when to retry.
    #[test]
    fn every_write_documents_every_status_of_its_checks() {
        let doc = document();
        for path in ["/v1/images", "/v1/deployments", "/v1/approvals"] {
            let responses = &doc["paths"][path]["post"]["responses"];
            for code in [
                "200", "400", "401", "403", "408", "409", "413", "415", "422", "500", "502", "503",
            ] {
                assert!(
                    responses.get(code).is_some(),
                    "{path} does not document {code}"
                );
            }
        }
        let unavailable = &doc["components"]["responses"]["Unavailable"];
        assert_eq!(
            unavailable["headers"]["Retry-After"]["$ref"],
            "#/components/headers/RetryAfter"
        );
        assert_eq!(doc["components"]["headers"]["RetryAfter"]["required"], true);
    }
}
