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

# CFGUPDATE_BIN measures another build (an older commit's, say) instead of this tree's.
if [ -n "${CFGUPDATE_BIN:-}" ]; then
  bin=$CFGUPDATE_BIN
else
  cargo build --release -q -p cfgupdate-cli
  bin=${CARGO_TARGET_DIR:-$PWD/target}/release/cfgupdate
fi

source "$(dirname "${BASH_SOURCE[0]}")/lib-bench.sh"

for remote in cfgupdate gitcli; do
  git clone -q --bare "$work/seed" "$work/srv/$remote.git"
done
wait_served cfgupdate.git
git clone -q "git://127.0.0.1:$port/gitcli.git" "$work/clone"

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

report "cfgupdate publish (whole process)=$work/publish.ns" "git push of a ready commit=$work/push.ns"
