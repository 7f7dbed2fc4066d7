#!/usr/bin/env bash
# Benchmark (issue 12): what a publish, a promotion and `cfgupdate check` cost as the pipeline
# grows, beside what the same work costs without cfgupdate: `render --write` of the targets the
# change affects, and a bare `git push` of the same commit. Time and peak memory
# (`/usr/bin/time`), in one run, for each N:
#
#   scripts/bench-targets.sh                    # N in 10 100 400 1000, 3 rounds each
#   SIZES="10 100" ROUNDS=5 scripts/bench-targets.sh
#   CFGUPDATE_BIN=/path/to/old/cfgupdate scripts/bench-targets.sh   # another build
#
# The generated repository (its own generator, below): N staging targets and N production
# targets, each rendering 30 services as a Deployment and a Service (60 objects), all of a wave's
# targets importing one Jsonnet image file with markers (`images/<wave>.libsonnet`) and one
# library; `[render]` on, the YAML committed. Served by a local `git daemon`.
#
# Per round: one `publish` of one service into staging (warm cache), then the bare `git push`
# of that very commit to a twin remote at the same parent, then one `promote --from staging`
# of that commit. Once per N: `check` of a checkout, and the baselines: `render --write` of
# the staging targets alone (the publish's affected targets), of the production targets alone
# (the promotion's) and of every target (check's), each ROUNDS times. Medians of the rounds are
# printed (wall and CPU time), and the largest resident size seen.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
sizes=${SIZES:-10 100 400 1000}
rounds=${ROUNDS:-3}
# Evaluations run in the measured process, so that its CPU time and peak memory include them
# (evaluation workers outlive the command's wait and would not be counted); set
# CFGUPDATE_RENDER_ISOLATION=process to measure the default instead.
export CFGUPDATE_RENDER_ISOLATION=${CFGUPDATE_RENDER_ISOLATION:-in-process}

if [ -n "${CFGUPDATE_BIN:-}" ]; then
  bin=$CFGUPDATE_BIN
else
  cargo build --release -q -p cfgupdate-cli
  bin=${CARGO_TARGET_DIR:-$PWD/target}/release/cfgupdate
fi

work=$(mktemp -d)
daemon_pid=
cleanup() {
  if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
# No automatic `git gc` anywhere, in the seed, the clones and the daemon's remotes alike: the
# seed's commit of 120,000 loose objects at N = 1,000 can start one in the background, packing
# and pruning them while `git clone` reads them (an earlier run lost an object file, likely so).
export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=gc.auto GIT_CONFIG_VALUE_0=0
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@localhost
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@localhost
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/srv"
git daemon --reuseaddr --base-path="$work/srv" --export-all --enable=receive-pack \
  --listen=127.0.0.1 --port="$port" "$work/srv" 2>"$work/daemon.log" &
daemon_pid=$!

digest() { printf 'sha256:%s' "$(printf '%s' "$1" | sha256sum | cut -c1-64)"; }
now() { date +%s%N; }

# Writes the source files of an N-target repository into DIR (the generator).
generate() {
  python3 - "$1" "$2" <<'PY'
import hashlib, os, sys
n, root = int(sys.argv[1]), sys.argv[2]
services = [f"svc{i:02d}" for i in range(1, 31)]
waves = [("staging", "s"), ("production", "p")]
def put(path, text):
    path = os.path.join(root, path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)
def ref(service, version):
    digest = hashlib.sha256(f"{service}:{version}".encode()).hexdigest()
    return f"registry.example.com/shop/{service}:{version}@sha256:{digest}"
toml = ['[render]', 'output = "generated/{target}"', '']
for wave, prefix in waves:
    names = ", ".join(f'"{prefix}-{i:04d}"' for i in range(n))
    toml += ['[[wave]]', f'name = "{wave}"', f'images = {{ jsonnet = ["images/{wave}.libsonnet"] }}',
             f'targets = [{names}]', '']
for wave, prefix in waves:
    for i in range(n):
        toml += [f'[target.{prefix}-{i:04d}]', f'entrypoint = "envs/{prefix}-{i:04d}/main.jsonnet"', '']
    lines = ["{"] + [f"  {s}: '{ref(s, 1)}',  // cfgupdate: {s}" for s in services] + ["}"]
    put(f"images/{wave}.libsonnet", "\n".join(lines) + "\n")
    for i in range(n):
        target = f"{prefix}-{i:04d}"
        put(f"envs/{target}/main.jsonnet",
            f"local app = import '../../lib/app.libsonnet';\n"
            f"local images = import '../../images/{wave}.libsonnet';\n"
            f"std.flattenArrays([app.service(name, '{target}', images[name]) for name in std.objectFields(images)])\n")
put("cfgupdate.toml", "\n".join(toml))
put("lib/app.libsonnet", """{
  service(name, namespace, image):: [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: name, namespace: namespace, labels: { app: name } },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: {
            containers: [{
              name: name,
              image: image,
              ports: [{ containerPort: 8080 }],
              resources: { requests: { cpu: '100m', memory: '128Mi' } },
            }],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: name, namespace: namespace },
      spec: { selector: { app: name }, ports: [{ port: 80, targetPort: 8080 }] },
    },
  ],
}
""")
PY
}

# Keeps only WAVE (and its targets) in DIR's pipeline, for a baseline render of those targets.
only_wave() {
  python3 - "$1" "$2" <<'PY'
import re, sys
path, wave = sys.argv[1] + "/cfgupdate.toml", sys.argv[2]
text = open(path).read()
blocks = text.split("\n\n")
keep, prefix = [], {"staging": "s-", "production": "p-"}[wave]
for block in blocks:
    if block.startswith("[[wave]]") and f'name = "{wave}"' not in block:
        continue
    if block.startswith("[target.") and not block.startswith(f"[target.{prefix}"):
        continue
    keep.append(block)
open(path, "w").write("\n\n".join(keep))
PY
}

# Runs the command, appending "<wall ns> <max RSS KiB> <user s> <system s>" to FILE; its
# stdout goes to $work/out, its stderr (the unauthenticated-state warning) to $work/stderr.
measure() {
  local file=$1; shift
  local t0 t1
  t0=$(now)
  /usr/bin/time -f '%M %U %S' -o "$work/rss" "$@" > "$work/out" 2>> "$work/stderr"
  t1=$(now)
  echo "$((t1 - t0)) $(tail -1 "$work/rss")" >> "$file"
}

# The machine may be shared: CPU time (user + system, the process and the evaluation workers
# it waited for) is printed beside wall time, as the steadier of the two.
printf '%-6s %-26s %10s %10s %10s\n' N measured "median s" "CPU s" "peak MiB"
summary() {
  python3 - "$@" <<'PY'
import statistics, sys
n = sys.argv[1]
for arg in sys.argv[2:]:
    label, path = arg.split("=", 1)
    rows = [line.split() for line in open(path) if line.strip()]
    seconds = statistics.median(int(r[0]) / 1e9 for r in rows)
    cpu = statistics.median(float(r[2]) + float(r[3]) for r in rows)
    peak = max(int(r[1]) for r in rows) / 1024
    print(f"{n:<6} {label:<26} {seconds:10.3f} {cpu:10.2f} {peak:10.0f}")
PY
}

for n in $sizes; do
  dir=$work/n$n
  mkdir -p "$dir"
  generate "$n" "$dir/seed"
  (
    cd "$dir/seed"
    git init -q -b master
    "$bin" render -C . --write
    git add -A && git commit -q -m "Generated: $n targets per wave"
  )
  git clone -q --bare --no-local "$dir/seed" "$work/srv/cfg$n.git"
  git clone -q --bare --no-local "$dir/seed" "$work/srv/twin$n.git"
  until git ls-remote "git://127.0.0.1:$port/cfg$n.git" >/dev/null 2>&1; do sleep 0.05; done
  git clone -q "git://127.0.0.1:$port/cfg$n.git" "$dir/clone"
  git -C "$dir/clone" remote add twin "git://127.0.0.1:$port/twin$n.git"
  repo="git://127.0.0.1:$port/cfg$n.git"
  cache="$dir/cache"
  for file in publish push promote check render-staging render-production render-all; do
    : > "$dir/$file"
  done

  # The first publish clones the cache: not measured.
  app=$(printf '%040x' 1)
  "$bin" publish --repo "$repo" --cache-dir "$cache" --app-commit "$app" \
    --image "svc01=registry.example.com/shop/svc01:warm@$(digest "warm$n")" > /dev/null
  git -C "$dir/clone" fetch -q origin
  git -C "$dir/clone" push -q twin origin/master:refs/heads/master

  for round in $(seq 1 "$rounds"); do
    app=$(printf '%040x' "$((round + 1))")
    ref="registry.example.com/shop/svc01:r$round@$(digest "$n-$round")"
    measure "$dir/publish" "$bin" publish --repo "$repo" --cache-dir "$cache" \
      --app-commit "$app" --image "svc01=$ref"
    commit=$(cat "$work/out")
    [ ${#commit} -eq 40 ] || { echo "publish at N=$n printed: $commit" >&2; exit 1; }
    git -C "$dir/clone" fetch -q origin
    measure "$dir/push" git -C "$dir/clone" push -q twin "$commit:refs/heads/master"
    measure "$dir/promote" "$bin" promote --repo "$repo" --cache-dir "$cache" \
      --from staging --revision "$commit"
    promoted=$(cat "$work/out")
    [ ${#promoted} -eq 40 ] || { echo "promote at N=$n printed: $promoted" >&2; exit 1; }
    git -C "$dir/clone" fetch -q origin
    git -C "$dir/clone" push -q twin origin/master:refs/heads/master
  done

  git -C "$dir/clone" merge -q --ff-only origin/master
  for round in $(seq 1 "$rounds"); do
    measure "$dir/check" "$bin" check -C "$dir/clone"
  done
  for wave in staging production all; do
    rm -rf "$dir/render"
    cp -r "$dir/clone" "$dir/render"
    [ "$wave" = all ] || only_wave "$dir/render" "$wave"
    for round in $(seq 1 "$rounds"); do
      measure "$dir/render-$wave" "$bin" render -C "$dir/render" --write
    done
  done

  summary "$n" "publish=$dir/publish" "git push=$dir/push" "render --write staging=$dir/render-staging" \
    "promote=$dir/promote" "render --write production=$dir/render-production" \
    "check=$dir/check" "render --write all=$dir/render-all"
  python3 - "$n" "$dir" <<'PY'
import statistics, sys
n, d = sys.argv[1], sys.argv[2]
def med(name):
    return statistics.median(int(l.split()[0]) / 1e9 for l in open(f"{d}/{name}") if l.strip())
def cpu(name):
    return statistics.median(float(l.split()[2]) + float(l.split()[3]) for l in open(f"{d}/{name}") if l.strip())
def peak(name):
    return max(int(l.split()[1]) for l in open(f"{d}/{name}") if l.strip())
base = med("render-staging") + med("push")
print(f"{n:<6} publish / (render --write staging + git push) = {med('publish') / base:.2f} "
      f"(CPU {cpu('publish') / (cpu('render-staging') + cpu('push')):.2f}); "
      f"peak memory publish / render = {peak('publish') / peak('render-staging'):.2f}")
base = med("render-production") + med("push")
print(f"{n:<6} promote / (render --write production + git push) = {med('promote') / base:.2f} "
      f"(CPU {cpu('promote') / (cpu('render-production') + cpu('push')):.2f}); "
      f"peak memory promote / render = {peak('promote') / peak('render-production'):.2f}")
print(f"{n:<6} check / render --write all = {med('check') / med('render-all'):.2f} "
      f"(CPU {cpu('check') / cpu('render-all'):.2f})")
PY
  rm -rf "$dir" "$work/srv/cfg$n.git" "$work/srv/twin$n.git"
done
