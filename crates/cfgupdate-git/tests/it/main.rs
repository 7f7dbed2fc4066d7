//! The integration tests of `cfgupdate-git`, one module per scenario file, linked into one
//! test binary so that the suite links the dependency tree once instead of once per file
//! (docs/benchmarks.md, "Test suite build"). A new scenario file goes in this directory with a
//! `mod` line below; shared helpers stay in `tests/<name>/mod.rs` and are reached as
//! `crate::<name>`.

#[path = "../common/mod.rs"]
mod common;

mod failures;
mod head;
mod integrity;
mod maintenance;
mod pack;
mod push;
mod reads;
mod side;
mod state;
// Real https and ssh servers: only with both transports built (as the binary builds them).
#[cfg(all(feature = "https", feature = "ssh"))]
mod transports;
