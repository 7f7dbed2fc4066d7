//! The integration tests of `cfgupdate-core`, one module per scenario file, linked into one
//! test binary so that the suite links the dependency tree once instead of once per file
//! (docs/benchmarks.md, "Test suite build"). A new scenario file goes in this directory with a
//! `mod` line below; shared helpers stay in `tests/<name>/mod.rs` and are reached as
//! `crate::<name>`.

#[path = "../deep_support/mod.rs"]
mod deep_support;
#[path = "../render_support/mod.rs"]
mod render_support;
#[path = "../support/mod.rs"]
mod support;

mod deep_jsonnet;
mod deep_jsonnet_props;
mod effect;
mod freeze_windows;
mod integration_files;
mod json_fixtures;
mod jsonnet_fixtures;
mod jsonnet_shapes;
mod pipeline_file;
mod promotion_simulation;
mod reference_table;
mod render_check_divergence;
mod render_confinement;
mod render_conformance;
mod render_gojsonnet;
mod render_incremental;
mod render_regenerate;
mod render_workers;
mod render_yaml_roundtrip;
mod strict_simulation;
mod workspace_manifests;
