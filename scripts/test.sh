#!/usr/bin/env bash
# The whole test suite: what README.md names and what CI (.ci/run) runs, nothing else.
#
#   1. the documentation builds without a warning (every public item documented, every
#      intra-doc link resolving);
#   2. every test of the workspace: unit, property, fixture and integration tests against a
#      real `git daemon`, https, sshd, Chromium and go-jsonnet, and the examples/embed crate;
#   3. the core without its default `render` feature (what an embedder that only edits slots
#      builds).
#
# Extra arguments go to the workspace run (`scripts/test.sh -- --test-threads 1`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
cargo test --workspace "$@"
cargo test -p cfgupdate-core --no-default-features --lib
