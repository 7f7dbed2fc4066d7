# Shared by the benchmark scripts: the build measured, a throwaway work directory, a `git
# daemon` on 127.0.0.1 serving "$work/srv", the small config repository the publish benchmarks
# use, and the services' cleanup. Source it after `set -euo pipefail`; it defines
# release_binary() (sets $bin), $work, $port, service_pids (each `cfgupdate serve` added to it
# is stopped on exit), load(), digest() and now().

# Sets $bin to the build measured: CFGUPDATE_BIN (an older commit's, say), or this tree's
# release build, built first.
release_binary() {
  if [ -n "${CFGUPDATE_BIN:-}" ]; then
    bin=$CFGUPDATE_BIN
  else
    cargo build --release -q -p cfgupdate-cli
    bin=${CARGO_TARGET_DIR:-$PWD/target}/release/cfgupdate
  fi
}

work=$(mktemp -d)
daemon_pid=
cleanup() {
  if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
service_pids=()
stop_services() {
  for pid in "${service_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}
trap 'stop_services; cleanup' EXIT

load() { cut -d' ' -f1-3 /proc/loadavg; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/srv" "$work/seed"
git daemon --reuseaddr --base-path="$work/srv" --export-all --enable=receive-pack \
  --listen=127.0.0.1 --port="$port" "$work/srv" 2>"$work/daemon.log" &
daemon_pid=$!

digest() { printf 'sha256:%s' "$(printf '%s' "$1" | sha256sum | cut -c1-64)"; }

# The config repository: a pipeline with two waves and a JSON image file.
(
  cd "$work/seed"
  git init -q -b master
  cat > cfgupdate.toml <<'TOML'
[[wave]]
name = "staging"
images = "images/staging.json"
targets = ["staging"]

[[wave]]
name = "production"
images = "images/production.json"
targets = ["prod"]

[target.staging]
entrypoint = "envs/staging/main.jsonnet"

[target.prod]
entrypoint = "envs/prod/main.jsonnet"
TOML
  mkdir -p images
  printf '{\n  "api": "registry.example.com/api:0@%s"\n}\n' "$(digest 0)" > images/staging.json
  printf '{}\n' > images/production.json
  mkdir -p envs/staging envs/prod
  for env in staging prod; do
    file=$([ "$env" = staging ] && echo staging || echo production)
    cat > "envs/$env/main.jsonnet" <<JSONNET
local images = import '../../images/$file.json';
[
  { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: s, namespace: '$env' },
    spec: { template: { spec: { containers: [{ name: s, image: images[s] }] } } } }
  for s in std.objectFields(images)
]
JSONNET
  done
  git add -A && git -c user.name=bench -c user.email=bench@localhost commit -q -m seed
)

now() { date +%s%N; }

# Waits until the daemon serves the named bare repository.
wait_served() {
  until git ls-remote "git://127.0.0.1:$port/$1" >/dev/null 2>&1; do sleep 0.05; done
}

# Prints p50, p90 and mean (ms) of the nanosecond figures in each file given as LABEL=FILE.
report() {
  python3 - "$@" <<'PY'
import statistics, sys
rows = []
for arg in sys.argv[1:]:
    label, path = arg.split("=", 1)
    xs = sorted(int(line) / 1e6 for line in open(path) if line.strip())
    rows.append((label, xs))
print(f"{'':40} {'n':>4} {'p50 ms':>8} {'p90 ms':>8} {'mean ms':>8}")
for label, xs in rows:
    p = lambda q: xs[min(len(xs) - 1, int(q * len(xs)))]
    print(f"{label:40} {len(xs):4} {p(0.5):8.1f} {p(0.9):8.1f} {statistics.mean(xs):8.1f}")
if len(rows) == 2:
    print(f"p50 ratio, first / second: {statistics.median(rows[0][1]) / statistics.median(rows[1][1]):.2f}")
PY
}
