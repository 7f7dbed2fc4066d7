#!/usr/bin/env bash
# Builds and runs every cargo-fuzz target for SECONDS each (default 60), then prints each
# target's executions, speed, coverage and corpus. Exits non-zero if any target crashes.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). cargo-fuzz passes nightly-only flags to rustc
# (`-Zsanitizer`, `-Cpasses=sancov-module`); with only a stable toolchain, RUSTC_BOOTSTRAP=1
# lets stable rustc accept them, which is what this script sets. Targets are built without a
# sanitizer (`-s none`): the code under test is safe Rust, whose faults are panics, and
# AddressSanitizer would halve the speed for nothing.
#
# The committed seeds in fuzz/corpus/<target>/ are only read; what the fuzzer discovers goes to
# fuzz/corpus-run/<target>/ (not committed), so runs build on each other. Inputs that once
# failed, in fuzz/regressions/<target>/, are replayed first.
set -euo pipefail

seconds="${1:-60}"
shift || true
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/fuzz"
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/fuzz/target}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi

cargo fuzz build -s none >/dev/null
logs="$(mktemp -d)"
status=0
summary=()
for target in "${targets[@]}"; do
    mkdir -p "corpus-run/$target" "corpus/$target"
    if compgen -G "regressions/$target/*" >/dev/null; then
        if ! cargo fuzz run -s none "$target" regressions/"$target"/* >"$logs/$target.regressions" 2>&1; then
            echo "$target: a regression input fails again; see $logs/$target.regressions" >&2
            status=1
        fi
    fi
    echo "== $target: fuzzing for ${seconds}s" >&2
    if cargo fuzz run -s none "$target" "corpus-run/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$logs/$target.log" 2>&1; then
        verdict="ok"
    else
        verdict="CRASH (see fuzz/artifacts/$target/ and $logs/$target.log)"
        grep -m1 -A4 "panicked at" "$logs/$target.log" >&2 || tail -20 "$logs/$target.log" >&2
        status=1
    fi
    # The last status line: `#RUNS DONE cov: N ft: N corp: N/SIZE ... exec/s: N`.
    last="$(grep -E '^#[0-9]+' "$logs/$target.log" | tail -1)"
    runs="$(sed -E 's/^#([0-9]+).*/\1/' <<<"$last")"
    cov="$(grep -oE 'cov: [0-9]+' <<<"$last" | cut -d' ' -f2)"
    ft="$(grep -oE 'ft: [0-9]+' <<<"$last" | cut -d' ' -f2)"
    corp="$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' <<<"$last" | cut -d' ' -f2)"
    speed="$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$logs/$target.log" | grep -oE '[0-9]+$' || true)"
    summary+=("$(printf '%-14s %12s %9s %6s %8s %14s  %s' "$target" "${runs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$verdict")")
done

printf '\n%-14s %12s %9s %6s %8s %14s  %s\n' target executions exec/s cov features corpus result
printf '%s\n' "${summary[@]}"
echo "(${seconds}s per target; logs in $logs)"
exit "$status"
