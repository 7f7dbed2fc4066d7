#!/usr/bin/env bash
# The whole test suite: what README.md names and what CI (.ci/run) runs, nothing else.
#
#   1. the documentation builds without a warning (every public item documented, every
#      intra-doc link resolving);
#   2. every test of the workspace: unit, property, fixture and integration tests against a
#      real `git daemon`, https, sshd, Chromium and go-jsonnet, and the examples/embed crate;
#   3. the core's library without its default `render` feature (what an embedder that only
#      edits slots builds) compiles without a warning.
#
# Extra arguments go to the workspace run (`scripts/test.sh -- --test-threads 1`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The Python tools the tests use as references (go-jsonnet, schemathesis, the Kubernetes
# schemas) are made from PyPI in the background while the workspace compiles: mostly download
# and unpacking, which would otherwise hold up the first test needing each. A test that comes
# first waits on the same lock, so this changes nothing but the time taken.
target="${CARGO_TARGET_DIR:-target}"
mkdir -p "$target"
python3 tests/python-tools.py "$target" >"$target/python-tools.log" 2>&1 &
tools=$!
trap 'kill "$tools" 2>/dev/null || true' EXIT

RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
cargo test --workspace "$@"
# The core's library without `render`, checked with warnings denied (`cargo rustc` gives the
# flag to that crate alone, so nothing else is rebuilt for it). Its code differs from the
# default build only by whole items left out, so a check finds what running its unit tests
# again would: code that no longer compiles without the evaluator, or is left unused.
cargo rustc -p cfgupdate-core --lib --no-default-features --profile check -- -D warnings

# The tests made what they needed themselves if this failed; say so, but what they said counts.
if ! wait "$tools"; then
  echo "note: making the Python tools in the background failed:" >&2
  cat "$target/python-tools.log" >&2
fi
