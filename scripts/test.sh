#!/usr/bin/env bash
# The whole test suite: what README.md names and what CI (.ci/run) runs, nothing else.
#
#   1. the documentation builds without a warning (every public item documented, every
#      intra-doc link resolving), beside the tests (step 2) in `target/side`;
#   2. every test of the workspace: unit, property, fixture and integration tests against a
#      real `git daemon`, https, sshd, Chromium and go-jsonnet, and the examples/embed crate;
#   3. the core without its default `render` feature (what an embedder that only edits slots
#      builds).
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

# The documentation and the core without `render` are built and checked beside the workspace's
# tests, in a target directory of their own (no lock shared with the test build): most of the
# tests' time is spent waiting for servers, timers and browsers, and these builds fill it.
side="$target/side"
(
  RUSTDOCFLAGS="-D warnings" CARGO_TARGET_DIR="$side" cargo doc --workspace --no-deps &&
    CARGO_TARGET_DIR="$side" cargo test -p cfgupdate-core --no-default-features --lib
) >"$target/side.log" 2>&1 &
checks=$!
trap 'kill "$tools" "$checks" 2>/dev/null || true' EXIT

status=0
cargo test --workspace "$@" || status=$?
if ! wait "$checks"; then
  echo "error: the documentation, or the core without its render feature, failed:" >&2
  status=1
fi
# Shown whatever happened: what the documentation and the core-only tests said.
cat "$target/side.log"
if [ "$status" != 0 ]; then
  exit "$status"
fi

# The tests made what they needed themselves if this failed; say so, but what they said counts.
if ! wait "$tools"; then
  echo "note: making the Python tools in the background failed:" >&2
  cat "$target/python-tools.log" >&2
fi
