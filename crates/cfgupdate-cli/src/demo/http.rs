//! The real HTTP service, started in this process on a free loopback port, and called as CI
//! (an HMAC-signed announcement), Argo CD (the deploy token) and an approver (the admin token)
//! call it: over HTTP, with the JSON of `docs/http.md`.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cfgupdate_git::GitRepository;
use cfgupdate_http::settings::{ADMIN_TOKEN_VAR, CI_HMAC_SECRET_VAR, DEPLOY_TOKEN_VAR};
use cfgupdate_http::{AuthSettings, BackgroundServer, Settings, sign};
use serde_json::{Value, json};

use super::service::{Answer, Reporter, Service};
use crate::failure::Failure;
use crate::remote::SystemClock;

/// The demo's credentials. They protect a service that listens on the loopback interface for
/// a few seconds, so they need not be secret; a real deployment reads them from its
/// environment (`cfgupdate serve`).
const CI_HMAC_SECRET: &str = "demo-ci-signing-secret";
const DEPLOY_TOKEN: &str = "demo-deploy-token";
const ADMIN_TOKEN: &str = "demo-admin-token";

/// How long one request may take before the demo gives up on it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// `cfgupdate serve`, in this process.
pub struct HttpService {
    server: Option<BackgroundServer>,
    base: String,
    agent: ureq::Agent,
}

impl HttpService {
    /// Starts the service on a free port of 127.0.0.1, owning `repo`.
    pub fn start(repo: GitRepository) -> Result<Self, Failure> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|error| {
            Failure::operational(format!("cannot listen on a loopback port: {error}"))
        })?;
        let credentials = BTreeMap::from([
            (CI_HMAC_SECRET_VAR, CI_HMAC_SECRET),
            (DEPLOY_TOKEN_VAR, DEPLOY_TOKEN),
            (ADMIN_TOKEN_VAR, ADMIN_TOKEN),
        ]);
        let settings = Settings {
            auth: AuthSettings::from_lookup(|name| credentials.get(name).map(|v| (*v).to_owned())),
            ..Settings::default()
        };
        let server =
            BackgroundServer::start(listener, Box::new(repo), Arc::new(SystemClock), settings)
                .map_err(|error| {
                    Failure::operational(format!("cannot start the service: {error}"))
                })?;
        let base = format!("http://{}", server.local_addr());
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(REQUEST_TIMEOUT))
            .build()
            .new_agent();
        Ok(Self {
            server: Some(server),
            base,
            agent,
        })
    }

    /// Shuts the service down gracefully.
    pub fn stop(mut self) -> Result<(), Failure> {
        match self.server.take() {
            Some(server) => server.stop().map_err(|error| {
                Failure::operational(format!("the service did not stop cleanly: {error}"))
            }),
            None => Ok(()),
        }
    }

    fn send(
        &self,
        path: &str,
        headers: &[(&str, String)],
        body: &Value,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        let body = body.to_string();
        let mut request = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        request.send(body.as_bytes())
    }

    fn post(
        &self,
        path: &str,
        headers: &[(&str, String)],
        body: &Value,
    ) -> Result<Answer, Failure> {
        let response = self.send(path, headers, body);
        self.answer(path, response)
    }

    /// A body signed as CI signs it.
    fn signed(body: &Value) -> Vec<(&'static str, String)> {
        vec![(
            "X-Hub-Signature-256",
            sign(CI_HMAC_SECRET.as_bytes(), body.to_string().as_bytes()),
        )]
    }

    fn get(&self, path: &str) -> Result<Value, Failure> {
        let response = self.agent.get(format!("{}{path}", self.base)).call();
        let text = self.text(path, response)?;
        serde_json::from_str(&text).map_err(|error| {
            Failure::operational(format!("GET {path} answered with malformed JSON: {error}"))
        })
    }

    fn text(
        &self,
        path: &str,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<String, Failure> {
        let mut response = response.map_err(|error| {
            Failure::operational(format!("{}{path} could not be reached: {error}", self.base))
        })?;
        let status = response.status();
        let text = response.body_mut().read_to_string().map_err(|error| {
            Failure::operational(format!("{path}: the answer could not be read: {error}"))
        })?;
        if !status.is_success() {
            let sentence = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|json| json["error"].as_str().map(str::to_owned))
                .unwrap_or(text);
            return Err(Failure::operational(format!(
                "{path} answered {}: {sentence}",
                status.as_u16()
            )));
        }
        Ok(text)
    }

    fn answer(
        &self,
        path: &str,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Answer, Failure> {
        let text = self.text(path, response)?;
        serde_json::from_str(&text).map_err(|error| {
            Failure::operational(format!(
                "{path} answered with JSON the demo does not understand: {error}"
            ))
        })
    }
}

impl Service for HttpService {
    fn describe(&self) -> String {
        format!(
            "`cfgupdate serve` on {}, started in this process.\n\
             CI signs its announcements with an HMAC; Argo CD and the approver send bearer tokens.",
            self.base
        )
    }

    fn announce(
        &mut self,
        app_commit: &str,
        images: &BTreeMap<String, String>,
    ) -> Result<Answer, Failure> {
        let body = json!({ "app_commit": app_commit, "images": images });
        self.post("/v1/images", &Self::signed(&body), &body)
    }

    fn report(
        &mut self,
        reporter: &Reporter,
        revision: &str,
        succeeded: bool,
    ) -> Result<Answer, Failure> {
        let status = if succeeded { "succeeded" } else { "failed" };
        let body = match reporter {
            Reporter::Target(target) => {
                json!({ "target": target, "revision": revision, "status": status })
            }
            Reporter::App(app) => json!({ "app": app, "revision": revision, "status": status }),
        };
        let bearer = format!("Bearer {DEPLOY_TOKEN}");
        self.post("/v1/deployments", &[("Authorization", bearer)], &body)
    }

    fn approve(&mut self, wave: &str) -> Result<Answer, Failure> {
        let bearer = format!("Bearer {ADMIN_TOKEN}");
        self.post(
            "/v1/approvals",
            &[("Authorization", bearer)],
            &json!({ "wave": wave }),
        )
    }

    /// Watches `GET /v1/status` until the promotion into `wave` no longer waits: the service's
    /// own timer makes it when the gate opens.
    fn await_soak(&mut self, wave: &str, limit: Duration) -> Result<Answer, Failure> {
        let started = Instant::now();
        loop {
            let status = self.get("/v1/status")?;
            let waves = status["waves"].as_array().cloned().unwrap_or_default();
            // `ready` is the gate open but the timer not yet through: still to come.
            let waiting = waves.iter().any(|w| {
                w["promotion"]["into"] == wave
                    && matches!(w["promotion"]["state"].as_str(), Some("waiting" | "ready"))
            });
            if !waiting {
                let revision = status["revision"].as_str().unwrap_or_default().to_owned();
                return Ok(Answer {
                    result: "promoted".to_owned(),
                    commit: Some(revision),
                    wave: Some(wave.to_owned()),
                    ..Answer::default()
                });
            }
            if started.elapsed() >= limit {
                return Err(Failure::operational(format!(
                    "the service did not promote into `{wave}` within {} s of its soak gate",
                    limit.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `POST /v1/checks`, signed as CI signs its announcements (scope `ci`).
    fn check(&mut self, commit: &str, state: &str, context: &str) -> Result<Answer, Failure> {
        let body = json!({ "commit": commit, "state": state, "context": context });
        self.post("/v1/checks", &Self::signed(&body), &body)
    }

    fn auto_queue(&mut self) -> Result<Value, Failure> {
        let status = self.get("/v1/status")?;
        match &status["strict"] {
            Value::Object(_) => Ok(status["strict"].clone()),
            _ => Err(Failure::operational(
                "GET /v1/status shows no auto queue: strict mode is off in the demo's repository",
            )),
        }
    }

    /// Watches the auto queue of `GET /v1/status` (a write of the service's own timer makes
    /// the next read fresh).
    fn await_queued(&mut self, wave: &str, limit: Duration) -> Result<String, Failure> {
        let started = Instant::now();
        loop {
            let queue = self.auto_queue()?;
            let queued = queue["pending"].as_array().and_then(|pending| {
                pending
                    .iter()
                    .find(|change| change["wave"] == wave)
                    .and_then(|change| change["commit"].as_str().map(str::to_owned))
            });
            if let Some(commit) = queued {
                return Ok(commit);
            }
            if started.elapsed() >= limit {
                return Err(Failure::operational(format!(
                    "the service queued no change into `{wave}` on the auto branch within {} s",
                    limit.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn announce_refused(
        &mut self,
        app_commit: &str,
        images: &BTreeMap<String, String>,
    ) -> Result<String, Failure> {
        let path = "/v1/images";
        let body = json!({ "app_commit": app_commit, "images": images });
        let mut response = self
            .send(path, &Self::signed(&body), &body)
            .map_err(|error| {
                Failure::operational(format!("{}{path} could not be reached: {error}", self.base))
            })?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().map_err(|error| {
            Failure::operational(format!("{path}: the answer could not be read: {error}"))
        })?;
        let sentence = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|json| json["error"].as_str().map(str::to_owned))
            .unwrap_or(text);
        if status != 409 {
            return Err(Failure::operational(format!(
                "the demo expected the service to refuse the announcement (409), but it answered {status}: {sentence}"
            )));
        }
        Ok(sentence)
    }
}
