#!/usr/bin/env bash
# The whole test suite: what README.md names and what CI (.ci/run) runs, nothing else.
#
#   1. the documentation builds without a warning (every public item documented, every
#      intra-doc link resolving);
#   2. every test of the workspace: unit, property, fixture and integration tests against a
#      real `git daemon`, https, sshd, Chromium and go-jsonnet, the doctests, and the
#      examples/embed crate;
#   3. the core's library without its default `render` feature (what an embedder that only
#      edits slots builds) compiles without a warning: the workspace member
#      tests/core-without-render builds it with the tests.
#
# With cargo-nextest (on the project's machines and CI), the workspace is built once, then its
# tests run several at a time (.config/nextest.toml: most of them wait on servers, timers and
# child processes, not on a core) while the doctests and the documentation are built beside
# them on what the waiting leaves of the two cores. Without it, the same steps run one after
# another with `cargo test` (also with CFGUPDATE_NO_NEXTEST=1).
# Extra arguments go to the workspace's test run (`scripts/test.sh -E 'test(publish)'` with
# nextest, `scripts/test.sh -- --nocapture` without).
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
beside=""
scratch=""
cleanup() {
  if [ -n "$tools" ]; then kill "$tools" 2>/dev/null || true; fi
  if [ -n "$beside" ]; then
    # The builds beside the tests have a process group of their own (setsid): stop all of it,
    # cargo's rustc and rustdoc too, before their TMPDIR goes.
    kill -TERM -- "-$beside" 2>/dev/null || kill -TERM "$beside" 2>/dev/null || true
    wait "$beside" 2>/dev/null || true
  fi
  if [ -n "$scratch" ]; then rm -rf "$scratch" || true; fi
}
trap cleanup EXIT
# An interrupted run stops, and cleans up, at once (a background job ignores ^C by itself).
trap 'exit 130' INT
trap 'exit 143' TERM

# Built beside the tests: the doctests, and the documentation with warnings denied. One cargo
# at a time holds the target directory, so these run one after another, and start only once the
# test binaries are built; the documentation comes last because its many small dependencies
# keep both cores busy once the tests have ended.
side_builds() {
  cargo test --workspace --doc
  RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
}

# The tests' temporary repositories, working copies and servers' files on tmpfs when the
# machine has one with room (and TMPDIR is not set already): they create and delete tens of
# thousands of small files, and on ext4 the kernel's inode bookkeeping for them took about 20 s
# of the tests' 190 s of CPU (docs/benchmarks.md, "Test suite build").
# The tests run programs they write there (git hooks, stand-in tools), so a tmpfs mounted
# noexec (Docker's /dev/shm) is not used.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ] \
  && [ "$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 }')" -gt 4194304 ] 2>/dev/null; then
  scratch="$(mktemp -d /dev/shm/cfgupdate-tests.XXXXXX)"
  printf '#!/bin/sh\nexit 0\n' >"$scratch/probe"
  chmod +x "$scratch/probe"
  if "$scratch/probe" 2>/dev/null; then
    rm -f "$scratch/probe"
    export TMPDIR="$scratch"
  else
    rm -rf "$scratch"
    scratch=""
  fi
fi

# cargo-nextest, if installed and at least 0.9.91 (.config/nextest.toml's test priorities).
nextest_usable() {
  [ "${CFGUPDATE_NO_NEXTEST:-}" != 1 ] || return 1
  local version
  version="$(cargo nextest --version 2>/dev/null | sed -n '1s/^cargo-nextest \([0-9][0-9.]*\).*/\1/p')"
  [ -n "$version" ] && printf '%s\n%s\n' 0.9.91 "$version" | sort -V -C
}

# A caller that installs what the tests need beside the build (.ci/run, on a fresh machine)
# names in CFGUPDATE_TESTS_WAIT_FOR a directory with a `lock` it holds until the install has
# ended, then the install's exit `status` and its `log`. The tests start only after it, and not
# at all if it failed.
wait_for_setup() {
  local setup="${CFGUPDATE_TESTS_WAIT_FOR:-}" status
  [ -n "$setup" ] || return 0
  if ! flock -n "$setup/lock" true; then
    echo "== waiting for the packages the tests need (installed beside the build)" >&2
    flock "$setup/lock" true
  fi
  status="$(cat "$setup/status" 2>/dev/null || echo "none recorded")"
  if [ "$status" != 0 ]; then
    echo "error: installing the packages the tests need failed (exit status: $status):" >&2
    cat "$setup/log" >&2 2>/dev/null || true
    return 1
  fi
}

status=0
if nextest_usable; then
  echo "== building the workspace's tests (cargo nextest list)" >&2
  binaries="$target/nextest-binaries.json"
  metadata="$target/nextest-metadata.json"
  cargo nextest list --workspace --list-type binaries-only --message-format json >"$binaries"
  cargo metadata --format-version 1 --filter-platform "$(rustc -vV | sed -n 's/^host: //p')" \
    >"$metadata"

  echo "== running the tests; the doctests and the documentation are built beside them" \
    "(output at the end)" >&2
  side_log="$target/side-builds.log"
  # At a lower priority: the tests' timers and servers come first, the builds take the rest.
  setsid nice -n 10 bash -c \
    "$(declare -f side_builds); set -euo pipefail; side_builds" \
    >"$side_log" 2>&1 &
  beside=$!
  wait_for_setup
  # The binaries just built, without asking cargo again (it would wait for the builds beside).
  cargo nextest run --binaries-metadata "$binaries" --cargo-metadata "$metadata" \
    --no-fail-fast "$@" || status=$?

  side_status=0
  wait "$beside" || side_status=$?
  beside=""
  echo "== the doctests and the documentation" >&2
  cat "$side_log" >&2
  if [ "$side_status" -ne 0 ]; then
    echo "error: the doctests or the documentation failed" \
      "(exit $side_status, output above)" >&2
    [ "$status" -ne 0 ] || status=$side_status
  fi
else
  echo "note: no cargo-nextest 0.9.91 or later (or CFGUPDATE_NO_NEXTEST=1): running the steps" \
    "one after another with cargo test (slower; \`cargo install --locked cargo-nextest\`" \
    "runs them together)" >&2
  RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
  wait_for_setup
  cargo test --workspace "$@"
fi

# The tests made what they needed themselves if this failed; say so, but what they said counts.
if ! wait "$tools"; then
  echo "note: making the Python tools in the background failed:" >&2
  cat "$target/python-tools.log" >&2
fi
tools=""
exit "$status"
