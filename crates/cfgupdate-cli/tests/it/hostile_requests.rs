//! Hundreds of malformed and hostile requests against the real `cfgupdate serve`, sent as raw
//! bytes over real TCP so that nothing is normalised on the way: each gets exactly the status
//! docs/http.md#status-codes gives it, with one short `{"error": ...}` sentence, and the remote is
//! exactly as it was afterwards.
//!
//! Bodies that get past a check meant to stop them are built so that the next check still
//! refuses them (a request testing credentials carries an invalid reference), so a hole shows
//! as a wrong status, never as a write.

use crate::serve_support;

use std::collections::BTreeMap;
use std::time::Instant;

use cfgupdate_tests::{GitDaemon, git};
use serde_json::json;
use serve_support::faults::*;
use serve_support::*;

/// One hostile request and the status it must get.
struct Case {
    name: String,
    method: &'static str,
    path: String,
    /// Sent as written, in order, after `Host`; `Content-Length` is added unless given.
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    expect: u16,
}

fn bearer(token: &str) -> (String, Vec<u8>) {
    (
        "Authorization".into(),
        format!("Bearer {token}").into_bytes(),
    )
}

fn json_type() -> (String, Vec<u8>) {
    ("Content-Type".into(), b"application/json".to_vec())
}

fn header(name: &str, value: impl Into<Vec<u8>>) -> (String, Vec<u8>) {
    (name.into(), value.into())
}

impl Case {
    fn new(name: impl Into<String>, method: &'static str, path: &str, expect: u16) -> Case {
        Case {
            name: name.into(),
            method,
            path: path.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            expect,
        }
    }

    /// A POST with a token and `Content-Type: application/json`.
    fn post(
        name: impl Into<String>,
        path: &str,
        token: &str,
        body: impl Into<Vec<u8>>,
        expect: u16,
    ) -> Case {
        Case {
            headers: vec![bearer(token), json_type()],
            body: body.into(),
            ..Case::new(name, "POST", path, expect)
        }
    }

    fn bytes(&self, host: &str) -> Vec<u8> {
        let mut out = format!(
            "{} {} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n",
            self.method, self.path
        )
        .into_bytes();
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        if !self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        {
            out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

fn good_ref() -> String {
    format!("reg.example.com/api:v1@{DIGEST}")
}

/// A body of the contract's shape that is refused only at the last check (a reference
/// without a digest): what credential and content-type cases carry.
fn late_refused() -> String {
    json!({"app_commit": app(77), "images": {"api": "reg.example.com/api:no-digest"}}).to_string()
}

fn images_with(images: serde_json::Value) -> String {
    json!({"app_commit": app(60), "images": images}).to_string()
}

fn cases(c1: &str, state_commit: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let endpoints = [
        ("/v1/images", CI_TOKEN),
        ("/v1/deployments", DEPLOY_TOKEN),
        ("/v1/approvals", ADMIN_TOKEN),
    ];

    // Broken JSON, on every write endpoint: 400.
    let broken: Vec<(&str, Vec<u8>)> = vec![
        ("empty", b"".to_vec()),
        ("open brace", b"{".to_vec()),
        ("close brace", b"}".to_vec()),
        ("open bracket", b"[".to_vec()),
        ("cut off", b"{\"app_commit\": ".to_vec()),
        ("single quotes", b"{'app_commit': 'x'}".to_vec()),
        ("trailing comma", b"{\"a\": 1,}".to_vec()),
        ("two documents", b"{\"a\": 1}{\"b\": 2}".to_vec()),
        ("bare word", b"nul".to_vec()),
        ("NaN", b"NaN".to_vec()),
        ("line comment", b"// c\n{}".to_vec()),
        ("block comment", b"/* c */ {}".to_vec()),
        ("unterminated string", b"{\"a\": \"open}".to_vec()),
        ("byte order mark", "\u{feff}{}".as_bytes().to_vec()),
        ("lone surrogate", br#"{"a": "\ud800"}"#.to_vec()),
        ("bad escape", br#"{"a": "\x41"}"#.to_vec()),
        ("invalid UTF-8", b"{\"a\": \"\xff\xfe\"}".to_vec()),
        ("raw control character", b"{\"a\": \"tab\there\"}".to_vec()),
        ("null", b"null".to_vec()),
        ("true", b"true".to_vec()),
        ("number", b"42".to_vec()),
        ("string", b"\"text\"".to_vec()),
        ("array", b"[]".to_vec()),
        ("array of object", b"[{}]".to_vec()),
        ("missing colon", b"{\"app_commit\" \"x\"}".to_vec()),
        ("lone comma", b"{,}".to_vec()),
        ("XSSI prefix", b")]}'\n{}".to_vec()),
        ("empty object", b"{}".to_vec()),
    ];
    for (path, token) in endpoints {
        for (name, body) in &broken {
            cases.push(Case::post(
                format!("{path}: broken JSON, {name}"),
                path,
                token,
                body.clone(),
                400,
            ));
        }
    }

    // Wrong types and shapes: 400.
    let images = "/v1/images";
    for (name, body) in [
        (
            "app_commit a number",
            json!({"app_commit": 123, "images": {"api": good_ref()}}),
        ),
        (
            "app_commit null",
            json!({"app_commit": null, "images": {"api": good_ref()}}),
        ),
        (
            "app_commit an array",
            json!({"app_commit": [app(1)], "images": {"api": good_ref()}}),
        ),
        (
            "app_commit an object",
            json!({"app_commit": {}, "images": {"api": good_ref()}}),
        ),
        (
            "app_commit a boolean",
            json!({"app_commit": true, "images": {"api": good_ref()}}),
        ),
        (
            "images an array",
            json!({"app_commit": app(1), "images": ["api"]}),
        ),
        (
            "images a string",
            json!({"app_commit": app(1), "images": "api"}),
        ),
        (
            "images a number",
            json!({"app_commit": app(1), "images": 5}),
        ),
        ("images null", json!({"app_commit": app(1), "images": null})),
        (
            "an image a number",
            json!({"app_commit": app(1), "images": {"api": 5}}),
        ),
        (
            "an image null",
            json!({"app_commit": app(1), "images": {"api": null}}),
        ),
        (
            "an image an array",
            json!({"app_commit": app(1), "images": {"api": [good_ref()]}}),
        ),
        (
            "an image an object",
            json!({"app_commit": app(1), "images": {"api": {"Tag": "x"}}}),
        ),
        ("no images", json!({"app_commit": app(1)})),
        ("no app_commit", json!({"images": {"api": good_ref()}})),
        (
            "an unknown field",
            json!({"app_commit": app(1), "images": {"api": good_ref()}, "force": true}),
        ),
        (
            "a field in the wrong case",
            json!({"App_Commit": app(1), "images": {"api": good_ref()}}),
        ),
        (
            "build a string",
            json!({"app_commit": app(1), "images": {"api": good_ref()}, "build": "12"}),
        ),
        (
            "build a number",
            json!({"app_commit": app(1), "images": {"api": good_ref()}, "build": 12}),
        ),
        (
            "build number a string",
            json!({"app_commit": app(1), "images": {"api": good_ref()}, "build": {"number": "12"}}),
        ),
        (
            "build number negative",
            json!({"app_commit": app(1), "images": {"api": good_ref()}, "build": {"number": -1}}),
        ),
        (
            "build number a fraction",
            json!({"app_commit": app(1), "images": {"api": good_ref()}, "build": {"number": 1.5}}),
        ),
        (
            "build number too big",
            json!({"app_commit": app(1), "images": {"api": good_ref()}, "build": {"number": 1e30}}),
        ),
        (
            "build created_at a number",
            json!({"app_commit": app(1), "images": {"api": good_ref()}, "build": {"created_at": 5}}),
        ),
        (
            "build with an unknown field",
            json!({"app_commit": app(1), "images": {"api": good_ref()}, "build": {"number": 1, "by": "me"}}),
        ),
    ] {
        cases.push(Case::post(
            format!("{images}: {name}"),
            images,
            CI_TOKEN,
            body.to_string(),
            400,
        ));
    }
    let original = format!("/v1/images?app_commit={}", app(61));
    for (name, body) in [
        ("original shape, a string", json!({"api": good_ref()})),
        ("original shape, Tag a number", json!({"api": {"Tag": 5}})),
        ("original shape, empty", json!({"api": {}})),
        (
            "original shape, an unknown part",
            json!({"api": {"Tag": "reg.example.com/api:v1", "Color": "blue"}}),
        ),
        (
            "original shape without the query",
            json!({"api": {"Digest": format!("reg.example.com/api@{DIGEST}")}}),
        ),
    ] {
        let path = if name.ends_with("query") {
            images
        } else {
            original.as_str()
        };
        cases.push(Case::post(
            format!("{images}: {name}"),
            path,
            CI_TOKEN,
            body.to_string(),
            400,
        ));
    }
    let deployments = "/v1/deployments";
    for (name, body) in [
        (
            "target a number",
            json!({"target": 5, "revision": c1, "status": "succeeded"}),
        ),
        (
            "app a number",
            json!({"app": 5, "revision": c1, "status": "succeeded"}),
        ),
        (
            "revision a number",
            json!({"target": "staging-us", "revision": 5, "status": "succeeded"}),
        ),
        (
            "status a boolean",
            json!({"target": "staging-us", "revision": c1, "status": true}),
        ),
        (
            "status in capitals",
            json!({"target": "staging-us", "revision": c1, "status": "SUCCEEDED"}),
        ),
        (
            "status unknown",
            json!({"target": "staging-us", "revision": c1, "status": "ok"}),
        ),
        (
            "status null",
            json!({"target": "staging-us", "revision": c1, "status": null}),
        ),
        ("no status", json!({"target": "staging-us", "revision": c1})),
        (
            "no revision",
            json!({"target": "staging-us", "status": "succeeded"}),
        ),
        (
            "target and app",
            json!({"target": "staging-us", "app": "cfg-app-staging-us", "revision": c1, "status": "succeeded"}),
        ),
        (
            "neither target nor app",
            json!({"revision": c1, "status": "succeeded"}),
        ),
        (
            "target null",
            json!({"target": null, "revision": c1, "status": "succeeded"}),
        ),
        (
            "an unknown field",
            json!({"target": "staging-us", "revision": c1, "status": "succeeded", "force": true}),
        ),
    ] {
        cases.push(Case::post(
            format!("{deployments}: {name}"),
            deployments,
            DEPLOY_TOKEN,
            body.to_string(),
            400,
        ));
    }
    let approvals = "/v1/approvals";
    for (name, body) in [
        ("wave a number", json!({"wave": 5})),
        ("wave null", json!({"wave": null})),
        ("wave an array", json!({"wave": ["production"]})),
        ("wave an object", json!({"wave": {}})),
        ("a misspelt field", json!({"waves": "production"})),
        (
            "an unknown field",
            json!({"wave": "production", "force": true}),
        ),
        // `null` is not "no revision": it would approve whatever waits.
        (
            "revision null",
            json!({"wave": "production", "revision": null}),
        ),
        (
            "revision a number",
            json!({"wave": "production", "revision": 5}),
        ),
    ] {
        cases.push(Case::post(
            format!("{approvals}: {name}"),
            approvals,
            ADMIN_TOKEN,
            body.to_string(),
            400,
        ));
    }

    // Huge and deeply nested bodies.
    let huge = format!(
        "{{\"app_commit\": \"{}\", \"pad\": \"{}\"}}",
        app(1),
        "x".repeat(2 * 1024 * 1024)
    );
    for (path, token) in endpoints {
        cases.push(Case::post(
            format!("{path}: a 2 MiB body"),
            path,
            token,
            huge.clone(),
            413,
        ));
    }
    cases.push(Case {
        headers: vec![json_type()],
        ..Case::post(
            // Refused on its missing credentials, before a byte of the body is read.
            format!("{images}: a 2 MiB body without credentials"),
            images,
            CI_TOKEN,
            huge.clone(),
            401,
        )
    });
    let deep_array = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_object = format!("{}1{}", "{\"a\":".repeat(20_000), "}".repeat(20_000));
    for (path, token) in endpoints {
        cases.push(Case::post(
            format!("{path}: arrays nested 100,000 deep"),
            path,
            token,
            deep_array.clone(),
            400,
        ));
        cases.push(Case::post(
            format!("{path}: objects nested 20,000 deep"),
            path,
            token,
            deep_object.clone(),
            400,
        ));
    }
    cases.push(Case::post(
        format!("{images}: images nested 10,000 deep"),
        images,
        CI_TOKEN,
        format!(
            "{{\"app_commit\": \"{}\", \"images\": {}{}}}",
            app(1),
            "[".repeat(10_000),
            "]".repeat(10_000)
        ),
        400,
    ));
    cases.push(Case::post(
        format!("{images}: a 900 KB app_commit"),
        images,
        CI_TOKEN,
        json!({"app_commit": "a".repeat(900_000), "images": {"api": good_ref()}}).to_string(),
        422,
    ));
    cases.push(Case::post(
        format!("{images}: a 900 KB reference"),
        images,
        CI_TOKEN,
        json!({"app_commit": app(1), "images": {"api": format!("reg.example.com/api:{}@{DIGEST}", "v".repeat(900_000))}}).to_string(),
        422,
    ));
    let many: serde_json::Map<String, serde_json::Value> = (0..5000)
        .map(|i| {
            (
                format!("svc{i}"),
                json!(format!("reg.example.com/svc{i}:v1@{DIGEST}")),
            )
        })
        .collect();
    cases.push(Case::post(
        format!("{images}: 5,000 services with no slot"),
        images,
        CI_TOKEN,
        images_with(json!(many)),
        422,
    ));

    // Invalid or injected references: 422.
    let d = DIGEST;
    for (name, reference) in [
        ("a shell command", "x\"; rm -rf /".to_owned()),
        ("a newline inside", format!("reg.example.com/api:v1\n@{d}")),
        (
            "a trailing newline",
            format!("reg.example.com/api:v1@{d}\n"),
        ),
        (
            "a CRLF and a header",
            format!("reg.example.com/api:v1@{d}\r\nX-Injected: 1"),
        ),
        ("a leading space", format!(" reg.example.com/api:v1@{d}")),
        ("a space inside", format!("reg.example.com/api:v1 @{d}")),
        ("a trailing tab", format!("reg.example.com/api:v1@{d}\t")),
        ("a single quote", format!("reg.example.com/api:v1'@{d}")),
        ("a double quote", format!("reg.example.com/api:v1\"@{d}")),
        (
            "a Jsonnet text block",
            format!("reg.example.com/api:|||@{d}"),
        ),
        (
            "Jsonnet after a quote",
            format!("reg.example.com/api:v1@{d}' + std.extVar('x') + '"),
        ),
        ("a line comment", format!("reg.example.com/api:v1@{d} // c")),
        ("a hash comment", format!("reg.example.com/api:v1@{d}#")),
        (
            "a block comment",
            format!("reg.example.com/api:v1/*x*/@{d}"),
        ),
        ("a substitution", format!("reg.example.com/api:${{x}}@{d}")),
        ("backticks", format!("reg.example.com/api:`id`@{d}")),
        ("a NUL", format!("reg.example.com/api:v1\u{0}@{d}")),
        (
            "capitals in the name",
            format!("reg.example.com/API:v1@{d}"),
        ),
        ("a non-ASCII host", format!("reg.éxample.com/api:v1@{d}")),
        (
            "a parent directory",
            format!("reg.example.com/../api:v1@{d}"),
        ),
        ("an absolute path", format!("/etc/passwd@{d}")),
        ("no name", format!("@{d}")),
        ("only a tag", format!(":v1@{d}")),
        ("two tags", format!("reg.example.com/api:v1:v2@{d}")),
        ("two digests", format!("reg.example.com/api:v1@{d}@{d}")),
        (
            "a tag of 200 characters",
            format!("reg.example.com/api:{}@{d}", "a".repeat(200)),
        ),
        (
            "a name of 400 characters",
            format!("reg.example.com/{}@{d}", "a/".repeat(200)),
        ),
        (
            "63 digest digits",
            format!("reg.example.com/api:v1@sha256:{}", "1".repeat(63)),
        ),
        (
            "capital digest digits",
            format!("reg.example.com/api:v1@sha256:{}", "A".repeat(64)),
        ),
        (
            "md5",
            format!("reg.example.com/api:v1@md5:{}", "1".repeat(32)),
        ),
        (
            "an empty digest",
            "reg.example.com/api:v1@sha256:".to_owned(),
        ),
        ("no digest", "reg.example.com/api:v1".to_owned()),
        ("empty", String::new()),
        ("a space", " ".to_owned()),
    ] {
        cases.push(Case::post(
            format!("{images}: reference with {name}"),
            images,
            CI_TOKEN,
            images_with(json!({"api": reference})),
            422,
        ));
    }
    cases.push(Case::post(
        format!("{images}: original shape with a quote in Tag"),
        &original,
        CI_TOKEN,
        json!({"api": {"Tag": "reg.example.com/api:x'; y", "Digest": format!("reg.example.com/api@{d}")}}).to_string(),
        422,
    ));
    cases.push(Case::post(
        format!("{images}: original shape, Tag and Digest of different images"),
        &original,
        CI_TOKEN,
        json!({"api": {"Tag": "reg.example.com/api:v1", "Digest": format!("reg.example.com/web@{d}")}}).to_string(),
        422,
    ));

    // App commits that are not commit ids: 422.
    for (name, commit) in [
        ("empty", String::new()),
        ("short", "abc".to_owned()),
        ("not hex", "g".repeat(40)),
        ("39 digits", "a".repeat(39)),
        ("41 digits", "a".repeat(41)),
        ("HEAD", "HEAD".to_owned()),
        ("a branch", "master".to_owned()),
        ("a path", "../../../../etc/passwd".to_owned()),
        ("a trailing newline", format!("{}\n", app(1))),
        ("a leading space", format!(" {}", &app(1)[1..])),
        ("0x", format!("0x{}", &app(1)[2..])),
        ("a NUL", format!("{}\u{0}", &app(1)[1..])),
    ] {
        cases.push(Case::post(
            format!("{images}: app_commit {name}"),
            images,
            CI_TOKEN,
            json!({"app_commit": commit, "images": {"api": good_ref()}}).to_string(),
            422,
        ));
    }

    // Service names outside the grammar, and services with no slot in the Jsonnet wave: 422.
    for service in [
        "../api",
        "..",
        "%2e%2e",
        "/etc/passwd",
        "api/../web",
        "api\u{0}",
        "a b",
        "",
        ".hidden",
        "-api",
        "api'",
        "api\n",
        "|||",
        "//",
        "/*",
        "a:b",
        "api;rm",
        "$(id)",
        "ápi",
    ] {
        cases.push(Case::post(
            format!("{images}: service named {service:?}"),
            images,
            CI_TOKEN,
            images_with(json!({ service: good_ref() })),
            422,
        ));
    }
    cases.push(Case::post(
        format!("{images}: a service name of 129 characters"),
        images,
        CI_TOKEN,
        images_with(json!({ "a".repeat(129): good_ref() })),
        422,
    ));
    for service in [
        "billing", "local", "function", "import", "self", "std", "api2", "API", "Api", "$",
    ] {
        let expect = 422;
        cases.push(Case::post(
            format!("{images}: service {service:?} with no slot"),
            images,
            CI_TOKEN,
            images_with(json!({ service: format!("reg.example.com/{}:v1@{DIGEST}", service.to_lowercase().replace('$', "x")) })),
            expect,
        ));
    }
    cases.push(Case::post(
        format!("{images}: a known and an unknown service together"),
        images,
        CI_TOKEN,
        images_with(
            json!({"api": good_ref(), "billing": format!("reg.example.com/billing:v1@{DIGEST}")}),
        ),
        422,
    ));

    // Unknown or malformed targets, applications, revisions and waves: 422.
    let report = |selector: (&str, &str), revision: &str| {
        json!({ selector.0: selector.1, "revision": revision, "status": "succeeded" }).to_string()
    };
    for (name, selector, revision) in [
        ("an unknown target", ("target", "mars"), c1),
        (
            "a target with a trailing space",
            ("target", "staging-us "),
            c1,
        ),
        ("a target in capitals", ("target", "STAGING-US"), c1),
        ("a target with ../", ("target", "../staging-us"), c1),
        (
            "a target with a path",
            ("target", "staging-us/../internal"),
            c1,
        ),
        ("an empty target", ("target", ""), c1),
        ("a target named like one", ("target", "staging_us"), c1),
        ("a target %2e%2e", ("target", "%2e%2e"), c1),
        ("a target with a newline", ("target", "internal\n"), c1),
        ("an unknown application", ("app", "no-such-app"), c1),
        (
            "an application with ../",
            ("app", "../cfg-app-staging-us"),
            c1,
        ),
        ("an empty application", ("app", ""), c1),
        (
            "a revision not in the repository",
            ("target", "staging-us"),
            &"f".repeat(40),
        ),
        (
            "the state ref's commit as revision",
            ("target", "staging-us"),
            state_commit,
        ),
        ("HEAD as revision", ("target", "staging-us"), "HEAD"),
        ("a branch as revision", ("target", "staging-us"), "master"),
        ("a short revision", ("target", "staging-us"), &c1[..12]),
        (
            "a revision with ../",
            ("target", "staging-us"),
            "../../refs/heads/master",
        ),
    ] {
        cases.push(Case::post(
            format!("{deployments}: {name}"),
            deployments,
            DEPLOY_TOKEN,
            report(selector, revision),
            422,
        ));
    }
    for wave in [
        "staging2",
        "../production",
        "Production",
        "",
        "production\n",
        "prod",
        "/production",
    ] {
        cases.push(Case::post(
            format!("{approvals}: wave {wave:?}"),
            approvals,
            ADMIN_TOKEN,
            json!({ "wave": wave }).to_string(),
            422,
        ));
    }

    // Path tricks in the URL: no such endpoint, 404, before anything else.
    for path in [
        "/v1/images/../images",
        "/v1/%2e%2e/v1/images",
        "/v1/images/",
        "//v1/images",
        "/V1/IMAGES",
        "/v1/images%00",
        "/v1/./images",
        "/v1/images;x",
        "/v1/images/..%2fdeployments",
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/v1/images/%2e%2e/approvals",
        "/v1",
    ] {
        cases.push(Case::post(
            format!("POST {path}"),
            path,
            CI_TOKEN,
            late_refused(),
            404,
        ));
    }
    // `/` is the status page: it is read, never posted to.
    cases.push(Case::post(
        "POST /".to_owned(),
        "/",
        CI_TOKEN,
        late_refused(),
        405,
    ));
    // The query string: the original shape with a bad app commit (422), or a contradiction or
    // repetition (400).
    let original_body =
        json!({"api": {"Digest": format!("reg.example.com/api@{DIGEST}")}}).to_string();
    for (query, expect) in [
        ("app_commit=../../etc/passwd", 422),
        ("app_commit=%00", 422),
        ("app_commit=", 422),
        ("app_commit=a&app_commit=b", 400),
        ("app_commit=%ff%fe", 422),
    ] {
        cases.push(Case::post(
            format!("{images}?{query}"),
            &format!("{images}?{query}"),
            CI_TOKEN,
            original_body.clone(),
            expect,
        ));
    }
    cases.push(Case::post(
        format!("{images}: a query app_commit contradicting the body's"),
        &format!("{images}?app_commit={}", app(62)),
        CI_TOKEN,
        json!({"app_commit": app(63), "images": {"api": good_ref()}}).to_string(),
        400,
    ));

    // Credentials: missing, forged, replayed, of another scope, ambiguous.
    let body = late_refused();
    let with = |name: &str, path: &str, headers: Vec<(String, Vec<u8>)>, expect: u16| Case {
        name: format!("{path}: {name}"),
        method: "POST",
        path: path.to_owned(),
        headers,
        body: body.clone().into_bytes(),
        expect,
    };
    for (path, _) in endpoints {
        cases.push(with("no credentials", path, vec![json_type()], 401));
        cases.push(with(
            "a wrong token",
            path,
            vec![bearer("not-a-token"), json_type()],
            401,
        ));
        cases.push(with(
            "an empty Authorization",
            path,
            vec![header("Authorization", ""), json_type()],
            401,
        ));
    }
    for (name, value) in [
        (
            "a token with a word after it",
            format!("Bearer {CI_TOKEN} extra"),
        ),
        (
            "a token with a space inside",
            format!("Bearer {} {}", &CI_TOKEN[..4], &CI_TOKEN[4..]),
        ),
        (
            "Basic credentials",
            "Basic Y2k6Y2ktdG9rZW4tN2YzYQ==".to_owned(),
        ),
        ("another scheme", format!("Token {CI_TOKEN}")),
        ("no scheme", CI_TOKEN.to_owned()),
        ("a scheme without token", "Bearer".to_owned()),
        ("a scheme and spaces", "Bearer    ".to_owned()),
        (
            "the token in capitals",
            format!("Bearer {}", CI_TOKEN.to_uppercase()),
        ),
        (
            "a prefix of the token",
            format!("Bearer {}", &CI_TOKEN[..CI_TOKEN.len() - 1]),
        ),
        (
            "the token and one more character",
            format!("Bearer {CI_TOKEN}a"),
        ),
        ("the HMAC secret as token", format!("Bearer {HMAC_SECRET}")),
        ("a 100 KB token", format!("Bearer {}", "t".repeat(100_000))),
    ] {
        cases.push(with(
            name,
            images,
            vec![header("Authorization", value), json_type()],
            401,
        ));
    }
    cases.push(with(
        "a token with a non-ASCII byte",
        images,
        vec![
            header("Authorization", b"Bearer ci-token-7f3a\xff".to_vec()),
            json_type(),
        ],
        401,
    ));
    for (path, token) in [
        (images, DEPLOY_TOKEN),
        (deployments, CI_TOKEN),
        (approvals, CI_TOKEN),
        (approvals, DEPLOY_TOKEN),
    ] {
        cases.push(with(
            "a token of another scope",
            path,
            vec![bearer(token), json_type()],
            403,
        ));
    }
    let signed = |b: &str| cfgupdate_http::sign(HMAC_SECRET.as_bytes(), b.as_bytes());
    let other_body =
        json!({"app_commit": app(78), "images": {"api": "reg.example.com/api:other"}}).to_string();
    let signature = |value: String| header("X-Hub-Signature-256", value);
    for (name, value) in [
        (
            "a good signature of another body (replayed)",
            signed(&other_body),
        ),
        (
            "a signature of the body with a space added",
            signed(&format!("{body} ")),
        ),
        (
            "a signature with another key",
            cfgupdate_http::sign(b"guess", body.as_bytes()),
        ),
        ("a sha1 signature", format!("sha1={}", "0".repeat(40))),
        ("an empty signature", "sha256=".to_owned()),
        (
            "a signature that is not hex",
            format!("sha256={}", "z".repeat(64)),
        ),
        ("a cut signature", signed(&body)[..40].to_owned()),
        ("a signature without prefix", signed(&body)[7..].to_owned()),
    ] {
        cases.push(with(name, images, vec![signature(value), json_type()], 401));
    }
    cases.push(with(
        "a good token and a bad signature",
        images,
        vec![
            bearer(CI_TOKEN),
            signature(signed(&other_body)),
            json_type(),
        ],
        401,
    ));
    cases.push(with(
        "a good signature and a bad token",
        images,
        vec![signature(signed(&body)), bearer("nope"), json_type()],
        401,
    ));
    cases.push(with(
        "a good signature for scope deploy",
        deployments,
        vec![signature(signed(&body)), json_type()],
        403,
    ));
    for (path, token) in endpoints {
        cases.push(with(
            "two Authorization headers, the good one first",
            path,
            vec![bearer(token), bearer("forged"), json_type()],
            401,
        ));
        cases.push(with(
            "two Authorization headers, the good one last",
            path,
            vec![bearer("forged"), bearer(token), json_type()],
            401,
        ));
    }
    cases.push(with(
        "two signatures, the good one first",
        images,
        vec![
            signature(signed(&body)),
            signature(signed(&other_body)),
            json_type(),
        ],
        401,
    ));
    cases.push(with(
        "two signatures, the good one last",
        images,
        vec![
            signature(signed(&other_body)),
            signature(signed(&body)),
            json_type(),
        ],
        401,
    ));

    // Wrong methods: 405.
    for path in ["/v1/images", "/v1/deployments", "/v1/approvals"] {
        for method in ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"] {
            cases.push(Case {
                headers: vec![bearer(ADMIN_TOKEN), json_type()],
                body: body.clone().into_bytes(),
                ..Case::new(format!("{method} {path}"), method, path, 405)
            });
        }
    }
    for path in ["/v1/status", "/healthz", "/readyz", "/metrics"] {
        for method in ["POST", "PUT", "DELETE"] {
            cases.push(Case {
                headers: vec![bearer(ADMIN_TOKEN), json_type()],
                body: body.clone().into_bytes(),
                ..Case::new(format!("{method} {path}"), method, path, 405)
            });
        }
    }

    // Content types other than JSON: 415.
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/jsonx"),
        Some("text/json"),
        Some("application/json-patch+json"),
        Some("application/json, text/plain"),
        Some(""),
        Some("application/xml"),
        Some("json"),
        Some("application/*"),
    ] {
        let mut headers = vec![bearer(CI_TOKEN)];
        if let Some(value) = content_type {
            headers.push(header("Content-Type", value));
        }
        cases.push(with(
            &format!("Content-Type {content_type:?}"),
            images,
            headers,
            415,
        ));
    }

    // Oversized and too many headers: refused before any endpoint sees them.
    cases.push(with(
        "a 1 MiB header",
        images,
        vec![
            bearer(CI_TOKEN),
            json_type(),
            header("X-Pad", "p".repeat(1024 * 1024)),
        ],
        431,
    ));
    let mut many_headers = vec![bearer(CI_TOKEN), json_type()];
    many_headers.extend((0..200).map(|i| header(&format!("X-Pad-{i}"), "p")));
    cases.push(with("200 headers", images, many_headers, 431));
    cases
}

#[test]
fn hundreds_of_hostile_requests_each_get_their_4xx_and_one_sentence_and_leave_the_remote_unchanged()
{
    let daemon = GitDaemon::start().unwrap();
    let files = files();
    let bare = daemon.create_remote("config.git", "master", &file_refs(&files));
    let dir = tempfile::tempdir().unwrap();
    let url = daemon.url("config.git");
    let server = Server::start(Options {
        repo: &url,
        cache: &dir.path().join("cache"),
        log: dir.path().join("serve.log"),
        env: all_credentials(),
        args: vec![],
    });
    // A branch commit and a state commit to aim at.
    let published = post_as(&server.at("/v1/images"), CI_TOKEN, &announcement(1, "api"));
    assert_eq!(published.status, 200, "{}", published.text);
    let c1 = published.json()["commit"].as_str().unwrap().to_owned();
    let recorded = post_as(
        &server.at("/v1/deployments"),
        DEPLOY_TOKEN,
        &json!({"target": "staging-us", "revision": c1, "status": "succeeded"}).to_string(),
    );
    assert_eq!(recorded.status, 200, "{}", recorded.text);
    let state_commit = git(&bare, &["rev-parse", "refs/cfgupdate/state/master"]);
    let before = refs(&bare);

    let cases = cases(&c1, &state_commit);
    let host = server.url.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    for case in &cases {
        let Some(answer) = raw(&server.url, &case.bytes(&host)) else {
            failures.push(format!("{}: no answer at all", case.name));
            continue;
        };
        *by_status.entry(answer.status).or_default() += 1;
        if answer.status != case.expect {
            failures.push(format!(
                "{}: {} instead of {}: {}",
                case.name, answer.status, case.expect, answer.text
            ));
            continue;
        }
        if answer.status == 431 {
            // Refused by the HTTP layer, before the service: no body to check.
            continue;
        }
        let error = serde_json::from_str::<serde_json::Value>(&answer.text)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned));
        match error {
            Some(sentence) if sentence.is_empty() || sentence.contains(['\n', '\r', '\0']) => {
                failures.push(format!(
                    "{}: the error is not one line: {sentence:?}",
                    case.name
                ))
            }
            Some(sentence) if sentence.chars().count() > 1000 => failures.push(format!(
                "{}: an error of {} characters: {}…",
                case.name,
                sentence.chars().count(),
                sentence.chars().take(200).collect::<String>()
            )),
            Some(_) => {}
            None => failures.push(format!(
                "{}: no {{\"error\": ...}} sentence: {:?}",
                case.name,
                answer.text.chars().take(300).collect::<String>()
            )),
        }
        if answer.status == 401 && answer.header("www-authenticate").is_none() {
            failures.push(format!("{}: 401 without WWW-Authenticate", case.name));
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(
        get(&server.at("/healthz")).status,
        200,
        "the service survived"
    );
    assert_eq!(refs(&bare), before, "a hostile request changed the remote");
    assert_fsck_clean(&bare);
    let log = server.log();
    for secret in [CI_TOKEN, DEPLOY_TOKEN, ADMIN_TOKEN, HMAC_SECRET] {
        assert!(!log.contains(secret), "the log shows a secret");
    }
    assert!(cases.len() >= 200, "only {} cases", cases.len());
    eprintln!(
        "{} hostile requests in {elapsed:?}: {by_status:?}",
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
