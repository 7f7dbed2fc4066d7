//! The integration tests of `cfgupdate-cli`, one module per scenario file, linked into one
//! test binary so that the suite links the dependency tree once instead of once per file
//! (docs/benchmarks.md, "Test suite build"). A new scenario file goes in this directory with a
//! `mod` line below; shared helpers stay in `tests/<name>/mod.rs` and are reached as
//! `crate::<name>`.

#[path = "../serve_support/mod.rs"]
mod serve_support;

mod approvals;
mod default_branch;
mod demo;
mod deploy_manifests;
mod doc_links;
mod dry_run;
mod edit;
mod effect;
mod faults_outage;
mod faults_replicas;
mod faults_sigkill;
mod freeze;
mod help;
mod holds;
mod hostile_requests;
mod notifications;
mod openapi;
mod promotion;
mod publish;
mod remote_trust;
mod render_commands;
mod render_isolation;
mod said;
mod schema;
mod serve_api;
mod serve_checks;
mod serve_crash;
mod serve_declined;
mod serve_limits;
mod serve_pipeline;
mod serve_reports;
mod state_trust;
mod status_page;
mod strict_mode;
mod suggestions;
mod transports;
