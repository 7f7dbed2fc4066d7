#!/usr/bin/env bash
# Benchmark (issue 12): one `cfgupdate serve` on a repository of TARGETS staging targets (400 by
# default), each rendering 30 services (a Deployment and a Service each), all importing one
# Jsonnet image file with markers, `[render]` on, a local `git daemon` remote, a state key.
#
#   scripts/bench-burst.sh                              # 400 targets, 500 announcements
#   TARGETS=100 BURST=200 scripts/bench-burst.sh
#
# Measures, in one run: the service's resident memory idle; a burst of BURST concurrent
# announcements (all must land; the commits made and the p50/p99 latency are printed); the
# memory after it, and again after a few idle seconds; then every staging target reporting the
# burst's last commit at once (TARGETS concurrent `POST /v1/deployments`: latencies, state
# commits, promotions) and the memory after that. The goals: the burst lands completely, the
# reports are all answered within 2 s with exactly one promotion, and the service at rest
# comes back within 20 MiB of its idle size (measured SETTLE seconds after, 12 by default: the
# service hands freed memory back every 10 s). CFGUPDATE_BIN measures another build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
targets=${TARGETS:-400}
burst=${BURST:-500}
settle=${SETTLE:-12}
# The service's own default; a machine whose publish of every target takes longer than
# 60 s / 3 (the burst needs two or three group commits) needs more to land the whole burst.
request_timeout=${REQUEST_TIMEOUT:-60s}

if [ -n "${CFGUPDATE_BIN:-}" ]; then
  bin=$CFGUPDATE_BIN
else
  cargo build --release -q -p cfgupdate-cli
  bin=${CARGO_TARGET_DIR:-$PWD/target}/release/cfgupdate
fi

source "$(dirname "${BASH_SOURCE[0]}")/lib-bench.sh"

# The generator: TARGETS staging targets and one production target, 30 services.
mkdir -p "$work/many"
python3 - "$targets" "$work/many" <<'PY'
import os, sys
targets, root = int(sys.argv[1]), sys.argv[2]
services = ["api"] + [f"svc{i:02d}" for i in range(1, 30)]
zero = "0" * 64
def write(path, text):
    path = os.path.join(root, path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
names = [f"t{i:04d}" for i in range(targets)]
pipeline = ['[render]\noutput = "generated/{target}"\n',
            '[[wave]]\nname = "staging"\nimages = { jsonnet = ["images/staging.libsonnet"] }',
            "targets = [" + ", ".join(f'"{n}"' for n in names) + "]\n",
            '[[wave]]\nname = "production"\nimages = { jsonnet = ["images/production.libsonnet"] }',
            'targets = ["prod"]\n']
for n in names:
    pipeline.append(f'[target.{n}]\nentrypoint = "envs/staging.jsonnet"\next_vars = {{ ns = "{n}" }}\n')
pipeline.append('[target.prod]\nentrypoint = "envs/production.jsonnet"\next_vars = { ns = "prod" }\n')
write("cfgupdate.toml", "\n".join(pipeline))
for wave in ["staging", "production"]:
    lines = ["{"] + [f"  {s}: 'registry.example.com/{s}:0@sha256:{zero}',  // cfgupdate: {s}" for s in services] + ["}"]
    write(f"images/{wave}.libsonnet", "\n".join(lines) + "\n")
    write(f"envs/{wave}.jsonnet", f"""local images = import '../images/{wave}.libsonnet';
local ns = std.extVar('ns');
std.flattenArrays([
  [
    {{ apiVersion: 'apps/v1', kind: 'Deployment', metadata: {{ name: s, namespace: ns }},
      spec: {{ replicas: 2, selector: {{ matchLabels: {{ app: s }} }},
        template: {{ metadata: {{ labels: {{ app: s }} }},
          spec: {{ containers: [{{ name: s, image: images[s], ports: [{{ containerPort: 8080 }}] }}] }} }} }} }},
    {{ apiVersion: 'v1', kind: 'Service', metadata: {{ name: s, namespace: ns }},
      spec: {{ selector: {{ app: s }}, ports: [{{ port: 80, targetPort: 8080 }}] }} }},
  ]
  for s in std.objectFields(images)
])
""")
PY
(
  cd "$work/many"
  git init -q -b master
  "$bin" render --write >/dev/null
  git add -A && git -c user.name=bench -c user.email=bench@localhost commit -q -m "$targets targets"
)
git clone -q --bare "$work/many" "$work/srv/many.git"
wait_served many.git
echo "repository: $targets staging targets, $(git -C "$work/srv/many.git" ls-tree -r master | wc -l) files"

export CFGUPDATE_STATE_KEY=${CFGUPDATE_STATE_KEY:-burst-state-key-of-scripts-bench-burst-sh}
"$bin" serve --repo "git://127.0.0.1:$port/many.git" --cache-dir "$work/cache" \
  --listen 127.0.0.1:0 --insecure-no-auth --request-timeout "$request_timeout" \
  >"$work/serve.out" 2>"$work/serve.log" &
service_pid=$!
stop_service() {
  kill "$service_pid" 2>/dev/null || true
  wait "$service_pid" 2>/dev/null || true
  cleanup
}
trap stop_service EXIT
deadline=$(( $(date +%s) + 60 ))
until grep -q '^listening on http://' "$work/serve.out" 2>/dev/null; do
  if ! kill -0 "$service_pid" 2>/dev/null || [ "$(date +%s)" -gt "$deadline" ]; then
    echo "the service did not start:" >&2; cat "$work/serve.log" >&2; exit 1
  fi
  sleep 0.05
done
addr=$(sed -n 's|^listening on http://||p' "$work/serve.out" | head -n1)
rss() { awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$service_pid/status"; }
hwm() { awk '/^VmHWM/ {printf "%.1f", $2/1024}' "/proc/$service_pid/status"; }

# One announcement first: it clones the cache; the service is idle after it.
python3 scripts/bench-load.py seq "$addr" 1 0 "$work/warm.ns"
sleep "$settle"
idle=$(rss)
echo "idle after one announcement: VmRSS $idle MiB"

before=$(git -C "$work/srv/many.git" rev-list --count master)
t0=$(now)
landed=yes
python3 scripts/bench-load.py burst "$addr" "$burst" 1 "$work/burst.ns" || landed=no
t1=$(now)
made=$(( $(git -C "$work/srv/many.git" rev-list --count master) - before ))
echo "burst: $burst announcements, all committed: $landed, $(wc -l < "$work/burst.ns") committed in $made commits, $(( (t1 - t0) / 1000000 )) ms in all"
report "burst announcement latency=$work/burst.ns"
python3 - "$work/burst.ns" <<'PY'
import sys
xs = sorted(int(l) / 1e6 for l in open(sys.argv[1]) if l.strip())
print(f"burst p99: {xs[min(len(xs) - 1, int(0.99 * len(xs)))]:.0f} ms, max {xs[-1]:.0f} ms")
PY
echo "right after the burst: VmRSS $(rss) MiB (peak so far $(hwm) MiB)"
sleep "$settle"
after_burst=$(rss)
echo "at rest ${settle}s after the burst: VmRSS $after_burst MiB ($(python3 -c "print(f'{$after_burst - $idle:+.1f}')") MiB from idle)"

# Every staging target reports the tip at once.
revision=$(git -C "$work/srv/many.git" rev-parse master)
state_before=$(git -C "$work/srv/many.git" rev-list --count refs/cfgupdate/state/master)
python3 - "$addr" "$targets" "$revision" "$work/reports.ns" <<'PY'
import http.client, json, sys, threading, time
addr, targets, revision, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
host, port = addr.rsplit(":", 1)
results, lock = [], threading.Lock()
gate = threading.Barrier(targets)
def one(i):
    body = json.dumps({"target": f"t{i:04d}", "revision": revision, "status": "succeeded"})
    gate.wait()
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    t0 = time.perf_counter_ns()
    try:
        conn.request("POST", "/v1/deployments", body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        answer = json.loads(response.read() or b"{}")
        status = response.status
    except (OSError, ValueError) as error:
        status, answer = 0, {"error": str(error)}
    with lock:
        results.append((time.perf_counter_ns() - t0, status, answer))
threads = [threading.Thread(target=one, args=(i,)) for i in range(targets)]
start = time.perf_counter()
for t in threads: t.start()
for t in threads: t.join()
wall = time.perf_counter() - start
bad = [(s, a) for _, s, a in results if s != 200]
kinds = {}
for _, s, a in results:
    kinds[a.get("result", f"HTTP {s}")] = kinds.get(a.get("result", f"HTTP {s}"), 0) + 1
commits = {a.get("commit") for _, s, a in results if a.get("result") == "promoted"}
xs = sorted(ns / 1e6 for ns, _, _ in results)
p = lambda q: xs[min(len(xs) - 1, int(q * len(xs)))]
print(f"reports: {targets} concurrent in {wall:.2f} s; answers {kinds}; promotion commits named: {len(commits)}")
print(f"report latency: p50 {p(0.5):.0f} ms, p99 {p(0.99):.0f} ms, max {xs[-1]:.0f} ms")
for s, a in bad[:5]:
    print(f"  not answered 200: {s} {a}")
with open(out, "w") as f:
    f.writelines(f"{ns}\n" for ns, _, _ in results)
PY
state_after=$(git -C "$work/srv/many.git" rev-list --count refs/cfgupdate/state/master)
promotions=$(git -C "$work/srv/many.git" log --format=%s "$revision..master" | grep -c '^Promote ' || true)
echo "state commits for the reports: $((state_after - state_before)); promotion commits: $promotions"
echo "right after the reports: VmRSS $(rss) MiB (peak so far $(hwm) MiB)"
sleep "$settle"
after_reports=$(rss)
echo "at rest ${settle}s after the reports: VmRSS $after_reports MiB ($(python3 -c "print(f'{$after_reports - $idle:+.1f}')") MiB from idle)"
# What the writer did, as it logged it: group commits and report batches, with their times.
echo "the writer's log:"
grep -E 'group commit|reports recorded together' "$work/serve.log" | sed -E 's/^.*(announcements|reports)=/  \1=/' || true
