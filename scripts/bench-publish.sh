#!/usr/bin/env bash
# Benchmark: `cfgupdate publish` against a local `git daemon`, beside `git push` of an
# equivalent ready commit by the git CLI, in one run on one daemon.
#
#   scripts/bench-publish.sh            # 40 rounds
#   ROUNDS=100 scripts/bench-publish.sh
#
# Each round publishes one new image into the first wave (a fresh process each time, so every
# publish opens its cache, reads the tip, edits, commits and pushes), then pushes an already
# made commit with the same change to a twin remote with `git push` (only the push is timed).
# The first publish (which clones the cache) is reported on its own.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=${ROUNDS:-40}

cargo build --release -q -p cfgupdate-cli
bin=$PWD/target/release/cfgupdate

work=$(mktemp -d)
daemon_pid=
cleanup() {
  if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

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
for remote in cfgupdate gitcli; do
  git clone -q --bare "$work/seed" "$work/srv/$remote.git"
done
until git ls-remote "git://127.0.0.1:$port/cfgupdate.git" >/dev/null 2>&1; do sleep 0.05; done
git clone -q "git://127.0.0.1:$port/gitcli.git" "$work/clone"

now() { date +%s%N; }
: > "$work/publish.ns"
: > "$work/push.ns"
for i in $(seq 1 "$rounds"); do
  app=$(printf '%040x' "$i")
  ref="registry.example.com/api:$app@$(digest "$i")"
  t0=$(now)
  out=$("$bin" publish --repo "git://127.0.0.1:$port/cfgupdate.git" --cache-dir "$work/cache" \
    --app-commit "$app" --image "api=$ref")
  t1=$(now)
  [ ${#out} -eq 40 ] || { echo "publish $i printed: $out" >&2; exit 1; }
  if [ "$i" -eq 1 ]; then echo "first publish (clones the cache): $(( (t1 - t0) / 1000000 )) ms"; else echo $((t1 - t0)) >> "$work/publish.ns"; fi

  (cd "$work/clone" && printf '{\n  "api": "%s"\n}\n' "$ref" > images/staging.json \
    && git -c user.name=bench -c user.email=bench@localhost commit -q -am "Publish api $i")
  t0=$(now)
  git -C "$work/clone" push -q origin master
  t1=$(now)
  [ "$i" -eq 1 ] || echo $((t1 - t0)) >> "$work/push.ns"
done

python3 - "$work/publish.ns" "$work/push.ns" <<'PY'
import statistics, sys
def load(path):
    return sorted(int(line) / 1e6 for line in open(path) if line.strip())
rows = [("cfgupdate publish (whole process)", load(sys.argv[1])), ("git push of a ready commit", load(sys.argv[2]))]
print(f"{'':36} {'n':>4} {'p50 ms':>8} {'p90 ms':>8} {'mean ms':>8}")
for name, xs in rows:
    p = lambda q: xs[min(len(xs) - 1, int(q * len(xs)))]
    print(f"{name:36} {len(xs):4} {p(0.5):8.1f} {p(0.9):8.1f} {statistics.mean(xs):8.1f}")
ratio = statistics.median(rows[0][1]) / statistics.median(rows[1][1])
print(f"publish p50 / push p50: {ratio:.2f}")
PY
