#!/usr/bin/env bash
# Benchmark of issue 14: in strict mode, the time from a green CI result (POST /v1/checks) to
# the main branch moving on the remote, beside a bare `git push` of a fast-forward, in one run
# against one local `git daemon` on 127.0.0.1, interleaved round by round.
#
#   scripts/bench-strict.sh                                  # 60 rounds after 5 of warm-up
#   ROUNDS=100 scripts/bench-strict.sh
#   BEFORE_BIN=/tmp/cfgupdate-old scripts/bench-strict.sh    # another build beside this one
#   PROFILE=1 scripts/bench-strict.sh                        # connections per green result
#
# Each service (`cfgupdate serve`, the release build, state key set) runs on a remote of its
# own whose cfgupdate.toml has `[strict] branch = "auto"`; the bare pushes go to a remote made
# from the same seed (same files, same history), from a clone made once.
# scripts/bench-strict.py drives them all and checks with `git ls-remote`, outside the timed
# part, that every answer came after `master` had moved. With BEFORE_BIN, a second service runs
# that build and takes its turn in every round, so both builds see the same load. PROFILE=1
# counts, with strace, the connections each service opens to the daemon over 10 more rounds.
# Every process it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=${ROUNDS:-60}
warmup=${WARMUP:-5}
root=$PWD

# The daemon, the services' cleanup, load(), and the build measured ($bin: CFGUPDATE_BIN or
# this tree's release build).
source "$root/scripts/lib-bench.sh"
release_binary
echo "machine: $(nproc) cores, $(rustc --version), load average at start $(load)"

# Strict mode on in the seed, for every remote alike.
(
  cd "$work/seed"
  { printf '[strict]\nbranch = "auto"\n\n'; cat cfgupdate.toml; } > cfgupdate.toml.new
  mv cfgupdate.toml.new cfgupdate.toml
  git -c user.name=bench -c user.email=bench@localhost commit -q -am "Strict mode"
)
names=(after)
bins=("$bin")
if [ -n "${BEFORE_BIN:-}" ]; then
  names=(before after)
  bins=("$BEFORE_BIN" "$bin")
fi
for remote in push "${names[@]}"; do
  git clone -q --bare "$work/seed" "$work/srv/$remote.git"
done
wait_served push.git
git clone -q "git://127.0.0.1:$port/push.git" "$work/pushclone"

export CFGUPDATE_STATE_KEY=${CFGUPDATE_STATE_KEY:-bench-state-key-of-scripts-bench-strict-sh}
services=()
declare -A pid_of
for k in "${!names[@]}"; do
  name=${names[$k]}
  "${bins[$k]}" serve --repo "git://127.0.0.1:$port/$name.git" --cache-dir "$work/cache-$name" \
    --listen 127.0.0.1:0 --insecure-no-auth >"$work/$name.out" 2>"$work/$name.log" &
  pid=$!
  service_pids+=("$pid")
  pid_of[$name]=$pid
  deadline=$(( $(date +%s) + 60 ))
  until grep -q '^listening on http://' "$work/$name.out" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null || [ "$(date +%s)" -gt "$deadline" ]; then
      echo "the service $name did not start:" >&2; cat "$work/$name.log" >&2; exit 1
    fi
    sleep 0.05
  done
  services+=("$name=$(sed -n 's|^listening on http://||p' "$work/$name.out" | head -n1)=git://127.0.0.1:$port/$name.git")
done

loads=("$(load)")
python3 scripts/bench-strict.py "$work/pushclone" "$rounds" "$warmup" 1 "$work" "${services[@]}"
loads+=("$(load)")

if [ "${PROFILE:-0}" = 1 ]; then
  # Where a green result's time goes: each service's connections to the daemon (one per fetch
  # or push) over 10 more rounds of an announcement and a green result, counted by strace
  # (which slows them; these rounds are not in the figures).
  strace_pids=()
  for name in "${names[@]}"; do
    strace -f -qq -e trace=connect -e signal=none -p "${pid_of[$name]}" -o "$work/strace-$name.out" &
    strace_pids+=("$!")
  done
  sleep 1
  mkdir -p "$work/profile"
  python3 scripts/bench-strict.py "$work/pushclone" 10 0 100000 "$work/profile" "${services[@]}"
  for pid in "${strace_pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  for name in "${names[@]}"; do
    echo "profile, $name: $(grep -c "sin_port=htons($port)" "$work/strace-$name.out" || true) connections to the daemon in 10 rounds (an announcement and a green result each)"
  done
fi

echo
rows=()
for name in "${names[@]}"; do
  rows+=("green result to master moved, $name (POST /v1/checks)=$work/green-$name.ns")
done
rows+=("bare git push of a fast-forward, same-sized repository=$work/push.ns")
for name in "${names[@]}"; do
  rows+=("for reference: the announcement onto auto, $name=$work/publish-$name.ns")
done
python3 - "${rows[@]}" <<'PY'
import sys
rows = []
for arg in sys.argv[1:]:
    label, path = arg.split("=", 1)
    rows.append((label, sorted(int(line) / 1e6 for line in open(path) if line.strip())))
p = lambda xs, q: xs[min(len(xs) - 1, int(q * len(xs)))]
print(f"| {'what':58} | {'n':>4} | {'p50 ms':>8} | {'p90 ms':>8} | {'p99 ms':>8} | {'max ms':>8} |")
print(f"|{'-' * 60}|{'-' * 5}:|{'-' * 9}:|{'-' * 9}:|{'-' * 9}:|{'-' * 9}:|")
for label, xs in rows:
    print(f"| {label:58} | {len(xs):4} | {p(xs, 0.5):8.1f} | {p(xs, 0.9):8.1f} | {p(xs, 0.99):8.1f} | {xs[-1]:8.1f} |")
push = next(xs for label, xs in rows if label.startswith("bare"))
print()
for label, xs in rows:
    if label.startswith("green"):
        print(f"{label.split(', ')[1].split(' ')[0]}: green result / bare push, p50 {p(xs, 0.5) / p(push, 0.5):.2f}x, p99 {p(xs, 0.99) / p(push, 0.99):.2f}x (goal <= 1.5)")
PY
echo "load averages (1, 5, 15 min) at the start and the end of the rounds: ${loads[*]}"
