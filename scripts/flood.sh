#!/usr/bin/env bash
# The flood of issue 10 (finding 5), measured: `cfgupdate serve` (release build) on 127.0.0.1
# against a local `git daemon`, then 2,000 half-open connections plus 1,500 half-sent 1 MiB
# unauthenticated bodies, then an announcement; resident memory before, during and after.
#
#   scripts/flood.sh
#   HALF_OPEN=2000 BODIES=1500 SERVE_ARGS="--max-connections 512" scripts/flood.sh
#
# Every process it starts is stopped on exit. Needs `ulimit -n` above HALF_OPEN + BODIES + 100
# for the client side (it raises the soft limit when it can).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
half_open=${HALF_OPEN:-2000}
bodies=${BODIES:-1500}
if [ -n "${CFGUPDATE_BIN:-}" ]; then
  bin=$CFGUPDATE_BIN
else
  cargo build --release -q -p cfgupdate-cli
  bin=${CARGO_TARGET_DIR:-$root/target}/release/cfgupdate
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

source "$root/scripts/lib-bench.sh"
serve_pid=
stop() {
  if [ -n "$serve_pid" ]; then kill "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; fi
  cleanup
}
trap stop EXIT

git clone -q --bare "$work/seed" "$work/srv/flood.git"
wait_served flood.git
token=flood-ci-token
# shellcheck disable=SC2086
CFGUPDATE_CI_TOKEN=$token CFGUPDATE_LOG=warn "$bin" serve --repo "git://127.0.0.1:$port/flood.git" \
  --cache-dir "$work/cache" --listen 127.0.0.1:0 ${SERVE_ARGS:-} \
  >"$work/serve.out" 2>"$work/serve.log" &
serve_pid=$!
for _ in $(seq 1 200); do
  grep -q '^listening on ' "$work/serve.out" 2>/dev/null && break
  sleep 0.05
done
addr=$(sed -n 's|^listening on http://||p' "$work/serve.out")
[ -n "$addr" ] || { cat "$work/serve.log"; exit 1; }
# One announcement first, so the figures start from a warm service.
python3 - "$addr" "$token" <<'PY'
import http.client, json, sys
host, port = sys.argv[1].rsplit(":", 1)
app = "1" * 40
body = json.dumps({"app_commit": app, "images": {"api": f"registry.example.com/api:warm@sha256:{'e' * 64}"}})
conn = http.client.HTTPConnection(host, int(port), timeout=60)
conn.request("POST", "/v1/images", body=body, headers={"Content-Type": "application/json", "Authorization": f"Bearer {sys.argv[2]}"})
print("warm-up:", conn.getresponse().status)
PY
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), soft fd limit $(ulimit -n)"
python3 scripts/flood.py "$addr" "$serve_pid" "$token" "$half_open" "$bodies" "${HOLD:-12}"
echo "service log (warnings):"
sort "$work/serve.log" | uniq -c | sort -rn | head -5 | cut -c1-200
