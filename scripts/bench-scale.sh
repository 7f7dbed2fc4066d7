#!/usr/bin/env bash
# Benchmark: the same publish on a small config repository and on a large one (FILES files,
# COMMITS commits; 50,000 and 20,000 by default), in one run against one `git daemon`. The goal:
# the large one within 1.5x of the small one, because the work grows with what changes, not
# with the repository.
#
#   scripts/bench-scale.sh                      # 30 rounds, 50,000 files, 20,000 commits
#   ROUNDS=50 FILES=10000 COMMITS=5000 scripts/bench-scale.sh
#
# Each round is one `cfgupdate publish` process per repository, alternating, with a warm cache
# (the first publish of each, which clones, is reported apart).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=${ROUNDS:-30}
files=${FILES:-50000}
commits=${COMMITS:-20000}

# CFGUPDATE_BIN measures another build (an older commit's, say) instead of this tree's.
if [ -n "${CFGUPDATE_BIN:-}" ]; then
  bin=$CFGUPDATE_BIN
else
  cargo build --release -q -p cfgupdate-cli
  bin=${CARGO_TARGET_DIR:-$PWD/target}/release/cfgupdate
fi

source "$(dirname "${BASH_SOURCE[0]}")/lib-bench.sh"

git clone -q --bare "$work/seed" "$work/srv/small.git"
git init -q --bare -b master "$work/srv/large.git"
t0=$(now)
python3 scripts/make-scale-repo.py "$files" "$commits" "$work/seed" \
  | git -C "$work/srv/large.git" fast-import --quiet
git -C "$work/srv/large.git" gc -q
echo "large repository: $(git -C "$work/srv/large.git" ls-tree -r master | wc -l) files, $(git -C "$work/srv/large.git" rev-list --count master) commits, made in $(( ($(now) - t0) / 1000000 )) ms"
wait_served small.git
wait_served large.git

: > "$work/small.ns"
: > "$work/large.ns"
for i in $(seq 1 "$rounds"); do
  app=$(printf '%040x' "$i")
  ref="registry.example.com/api:$app@$(digest "$i")"
  for repo in small large; do
    t0=$(now)
    out=$("$bin" publish --repo "git://127.0.0.1:$port/$repo.git" --cache-dir "$work/cache" \
      --app-commit "$app" --image "api=$ref")
    t1=$(now)
    [ ${#out} -eq 40 ] || { echo "publish $i to $repo printed: $out" >&2; exit 1; }
    if [ "$i" -eq 1 ]; then
      echo "first publish to $repo (clones the cache): $(( (t1 - t0) / 1000000 )) ms"
    else
      echo $((t1 - t0)) >> "$work/$repo.ns"
    fi
  done
done

report "publish, large repository=$work/large.ns" "publish, small repository=$work/small.ns"
