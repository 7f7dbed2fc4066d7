#!/usr/bin/env bash
# Two builds side by side in one run: service publish latency (`POST /v1/images`, answered
# once the commit is pushed) of BASE_BIN against CFGUPDATE_BIN (default: this tree's release
# build), on the small repository and on the large one (FILES files, COMMITS commits), in
# interleaved rounds (each round publishes once through each of the four services, the two
# builds' order alternating), so both builds see the same load. Issue 10's "within 5% of today"
# is this comparison with BASE_BIN built at 819ead7.
#
#   BASE_BIN=/path/to/old/cfgupdate scripts/bench-compare.sh            # ROUNDS=100 CLI_ROUNDS=10
#   ROUNDS=30 FILES=10000 COMMITS=5000 BASE_BIN=... scripts/bench-compare.sh
#
# Then, once the services are stopped, CLI_ROUNDS `cfgupdate publish` runs of each build on the
# large repository (each build its own cache, warmed by one run; the two builds alternating):
# what a CI job calling the CLI pays, a cold libgit2 in a new process every time. CLI_ROUNDS=0
# skips it.
#
# Each build's service has its own copy of each remote (a `git daemon` on 127.0.0.1) and its
# own cache, warmed by WARM publishes. This tree's services run with CFGUPDATE_STATE_KEY set
# (BASE_BIN's too; a build older than the state key ignores it). Every process it starts is
# stopped on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=${ROUNDS:-100}
cli_rounds=${CLI_ROUNDS:-10}
warm=${WARM:-5}
files=${FILES:-50000}
commits=${COMMITS:-20000}
base_bin=${BASE_BIN:?set BASE_BIN to the cfgupdate binary to compare against}
if [ -n "${CFGUPDATE_BIN:-}" ]; then
  bin=$CFGUPDATE_BIN
else
  cargo build --release -q -p cfgupdate-cli
  bin=${CARGO_TARGET_DIR:-$PWD/target}/release/cfgupdate
fi

source "$(dirname "${BASH_SOURCE[0]}")/lib-bench.sh"

service_pids=()
stop_services() {
  for pid in "${service_pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
}
trap 'stop_services; cleanup' EXIT

git init -q --bare -b master "$work/srv/large-seed.git"
t0=$(now)
python3 scripts/make-scale-repo.py "$files" "$commits" "$work/seed" \
  | git -C "$work/srv/large-seed.git" fast-import --quiet
git -C "$work/srv/large-seed.git" gc -q
echo "large repository: $(git -C "$work/srv/large-seed.git" ls-tree -r master | wc -l) files, $(git -C "$work/srv/large-seed.git" rev-list --count master) commits, made in $(( ($(now) - t0) / 1000000 )) ms"
for build in base new; do
  git clone -q --bare "$work/seed" "$work/srv/small-$build.git"
  git clone -q --bare "$work/srv/large-seed.git" "$work/srv/large-$build.git"
done
wait_served small-new.git
wait_served large-new.git

export CFGUPDATE_STATE_KEY=${CFGUPDATE_STATE_KEY:-bench-state-key-of-scripts-bench-sh}

addrs=()
start_service() { # build binary repo
  local name="$3-$1" out="$work/$3-$1.out"
  "$2" serve --repo "git://127.0.0.1:$port/$name.git" --cache-dir "$work/cache-$name" \
    --listen 127.0.0.1:0 --insecure-no-auth >"$out" 2>"$work/$name.log" &
  local pid=$!
  service_pids+=("$pid")
  local deadline=$(( $(date +%s) + 60 ))
  until grep -q '^listening on http://' "$out" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null || [ "$(date +%s)" -gt "$deadline" ]; then
      echo "the service $name did not start:" >&2; cat "$work/$name.log" >&2; exit 1
    fi
    sleep 0.05
  done
  addrs+=("$name=$(sed -n 's|^listening on http://||p' "$out" | head -n1)=$pid")
}
start_service base "$base_bin" small
start_service new "$bin" small
start_service base "$base_bin" large
start_service new "$bin" large

echo "base: $base_bin"
echo "new:  $bin (CFGUPDATE_STATE_KEY set)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$rounds" "$warm" "${addrs[@]}" <<'PY'
import hashlib, http.client, json, statistics, sys, time

rounds, warm = int(sys.argv[1]), int(sys.argv[2])
services, pids = {}, {}
for arg in sys.argv[3:]:
    name, addr, pid = arg.split("=")
    services[name], pids[name] = addr, pid
TICK = 100  # clock ticks per second on Linux


def cpu_ms(name: str) -> float:
    fields = open(f"/proc/{pids[name]}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / TICK


def announce(addr: str, i: int) -> int:
    host, port = addr.rsplit(":", 1)
    app = f"{i:040x}"
    digest = hashlib.sha256(str(i).encode()).hexdigest()
    payload = json.dumps({"app_commit": app,
                          "images": {"api": f"registry.example.com/api:{app}@sha256:{digest}"}})
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    t0 = time.perf_counter_ns()
    conn.request("POST", "/v1/images", body=payload, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    answer = response.read().decode(errors="replace")
    elapsed = time.perf_counter_ns() - t0
    conn.close()
    if response.status != 200 or json.loads(answer).get("result") != "committed":
        sys.exit(f"{addr}: announcement {i}: {response.status} {answer[:300]}")
    return elapsed


n = 1
for name, addr in services.items():  # the first publish clones the cache
    for _ in range(warm):
        announce(addr, n)
        n += 1
times = {name: [] for name in services}
cpu0 = {name: cpu_ms(name) for name in services}
for r in range(rounds):
    for repo in ("small", "large"):
        order = ("base", "new") if r % 2 == 0 else ("new", "base")
        for build in order:
            name = f"{repo}-{build}"
            times[name].append(announce(services[name], n) / 1e6)
            n += 1


def p(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


print(f"{'service publish':24} {'n':>4} {'p50 ms':>8} {'p90 ms':>8} {'mean ms':>8} {'CPU ms':>7}")
for name, xs in times.items():
    cpu = (cpu_ms(name) - cpu0[name]) / len(xs)
    print(f"{name:24} {len(xs):4} {p(xs, .5):8.1f} {p(xs, .9):8.1f} {statistics.mean(xs):8.1f} {cpu:7.1f}")
for repo in ("small", "large"):
    base, new = statistics.median(times[f"{repo}-base"]), statistics.median(times[f"{repo}-new"])
    print(f"{repo}: new / base p50 = {new / base:.3f}")
PY
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

[ "$cli_rounds" -gt 0 ] || exit 0
stop_services
service_pids=()
echo "CLI publish on the large repository, $cli_rounds runs each (load average before: $(cut -d' ' -f1-3 /proc/loadavg))"
python3 - "$cli_rounds" "$port" "$work" "base=$base_bin" "new=$bin" <<'PY'
import hashlib, os, resource, statistics, subprocess, sys, time

rounds, port, work = int(sys.argv[1]), sys.argv[2], sys.argv[3]
bins = dict(arg.split("=", 1) for arg in sys.argv[4:])


def publish(build: str, i: int) -> tuple[float, float]:
    app = f"{1_000_000 + i:040x}"
    digest = hashlib.sha256(f"cli-{i}".encode()).hexdigest()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter_ns()
    done = subprocess.run(
        [bins[build], "publish", "--repo", f"git://127.0.0.1:{port}/large-{build}.git",
         "--branch", "master", "--cache-dir", f"{work}/cli-cache-{build}", "--app-commit", app,
         "--image", f"api=registry.example.com/api:{app[:7]}@sha256:{digest}"],
        capture_output=True, env=os.environ)
    elapsed = (time.perf_counter_ns() - t0) / 1e6
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{build}: publish {i}: {done.stderr.decode(errors='replace')[:300]}")
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return elapsed, cpu


n = 0
for build in bins:  # the first run clones the cache
    publish(build, n)
    n += 1
times = {build: [] for build in bins}
cpus = {build: [] for build in bins}
for r in range(rounds):
    for build in (("base", "new") if r % 2 == 0 else ("new", "base")):
        elapsed, cpu = publish(build, n)
        n += 1
        times[build].append(elapsed)
        cpus[build].append(cpu)
print(f"{'CLI publish, large':24} {'n':>4} {'p50 ms':>8} {'mean ms':>8} {'CPU ms p50':>10}")
for build in bins:
    print(f"{build:24} {len(times[build]):4} {statistics.median(times[build]):8.1f} "
          f"{statistics.mean(times[build]):8.1f} {statistics.median(cpus[build]):10.1f}")
print(f"CLI: new / base p50 = {statistics.median(times['new']) / statistics.median(times['base']):.3f}")
PY
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
