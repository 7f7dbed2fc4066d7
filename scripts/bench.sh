#!/usr/bin/env bash
# The benchmark of issue 7, in one run against one local `git daemon` on 127.0.0.1:
#
#   1. publish latency through the service (`POST /v1/images`, one announcement at a time),
#      beside the script a team would write instead (shallow clone, edit, commit, push with
#      the git CLI, timed whole) and beside a bare `git push` of a ready commit;
#   2. a burst of BURST concurrent announcements: all land, how many commits, p99;
#   3. scale: the same publish on a repository of FILES files and COMMITS commits;
#   4. rendering against go-jsonnet and the Jsonnet editor (the criterion benches);
#   5. memory: peak resident size of the service idle and under the burst;
#   6. over https with DELAY_MS (20) each way through cfgupdate-delay-proxy, on the small and
#      the large repository: service publish, bare push, the team's script, report to
#      promotion (scripts/bench-wan.sh; WAN=0 skips it).
#
#   scripts/bench.sh
#   ROUNDS=200 SCRIPT_ROUNDS=100 BURST=500 FILES=50000 COMMITS=20000 CRITERION=1 scripts/bench.sh
#
# Sequential figures are taken in interleaved blocks of BLOCK (small service, large service,
# bare push, then a fifth of a block of the git CLI script), so that load from other work on
# the machine falls on every column alike. Set CRITERION=0 to skip part 4 (it compiles the
# bench profile, which takes minutes on two cores). Every process it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=${ROUNDS:-200}
script_rounds=${SCRIPT_ROUNDS:-100}
block=${BLOCK:-20}
burst=${BURST:-500}
files=${FILES:-50000}
commits=${COMMITS:-20000}
criterion=${CRITERION:-1}
root=$PWD

# The daemon, the services' cleanup, load(), and the build measured ($bin: CFGUPDATE_BIN or
# this tree's release build).
source "$root/scripts/lib-bench.sh"
release_binary
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(rustc --version), load average at start $(load)"

# The remotes: one per contender, all from the same seed, on the one daemon.
for remote in small gitcli push; do
  git clone -q --bare "$work/seed" "$work/srv/$remote.git"
done
git init -q --bare -b master "$work/srv/large.git"
t0=$(now)
python3 scripts/make-scale-repo.py "$files" "$commits" "$work/seed" \
  | git -C "$work/srv/large.git" fast-import --quiet
git -C "$work/srv/large.git" gc -q
echo "large repository: $(git -C "$work/srv/large.git" ls-tree -r master | wc -l) files, $(git -C "$work/srv/large.git" rev-list --count master) commits, $(du -sh "$work/srv/large.git" | cut -f1), made in $(( ($(now) - t0) / 1000000 )) ms"
# The bare pushes of the scale comparison go to a copy of their own, so the service's remote
# never moves under it.
git clone -q --bare "$work/srv/large.git" "$work/srv/large-push.git"
wait_served small.git
wait_served large.git

# The services run with state authentication on (docs/promotion.md#state-only-cfgupdate-can-write), as a deployment should.
export CFGUPDATE_STATE_KEY=${CFGUPDATE_STATE_KEY:-bench-state-key-of-scripts-bench-sh}

# Starts `cfgupdate serve` on remote $1 and sets addr_$1 and pid_$1.
start_service() {
  local name=$1 out="$work/$1.out"
  "$bin" serve --repo "git://127.0.0.1:$port/$name.git" --cache-dir "$work/cache-$name" \
    --listen 127.0.0.1:0 --insecure-no-auth >"$out" 2>"$work/$name.log" &
  local pid=$!
  service_pids+=("$pid")
  local deadline=$(( $(date +%s) + 60 ))
  until grep -q '^listening on http://' "$out" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null || [ "$(date +%s)" -gt "$deadline" ]; then
      echo "the service on $name did not start:" >&2; cat "$work/$name.log" >&2; exit 1
    fi
    sleep 0.05
  done
  printf -v "addr_$name" '%s' "$(sed -n 's|^listening on http://||p' "$out" | head -n1)"
  printf -v "pid_$name" '%s' "$pid"
}

# CPU time (user + system) of process $1, in milliseconds.
tick=$(getconf CLK_TCK)
cpu_ms() { awk -v tick="$tick" '{printf "%d\n", ($14 + $15) * 1000 / tick}' "/proc/$1/stat"; }

# Resident memory of process $1 in MiB: "VmRSS VmHWM".
memory() {
  awk '/^VmRSS/ {rss=$2} /^VmHWM/ {hwm=$2} END {printf "%.1f %.1f\n", rss/1024, hwm/1024}' "/proc/$1/status"
}

start_service small
start_service large
sleep 1
read -r rss hwm < <(memory "$pid_small"); echo "memory idle after start, small: VmRSS $rss MiB, VmHWM $hwm MiB"
mem_start_small="$rss / $hwm"
read -r rss hwm < <(memory "$pid_large"); echo "memory idle after start, large: VmRSS $rss MiB, VmHWM $hwm MiB"
mem_start_large="$rss / $hwm"

# Announcement numbers: each run of the load generator takes the next range.
next=1
announce() { # mode service count out
  python3 scripts/bench-load.py "$1" "$(eval echo "\$addr_$2")" "$3" "$next" "$4"
  next=$((next + $3))
}

# Warm-up: the first announcement clones the cache; a few more settle it.
t0=$(now); announce seq small 1 "$work/warm.ns"; echo "first announcement, small (clones the cache): $(( ($(now) - t0) / 1000000 )) ms"
t0=$(now); announce seq large 1 "$work/warm.ns"; echo "first announcement, large (clones the cache): $(( ($(now) - t0) / 1000000 )) ms"
announce seq small 4 "$work/warm.ns"
announce seq large 4 "$work/warm.ns"

# The team's script and the bare pushes work on their own remotes; the pushing clones are made
# once.
git clone -q "git://127.0.0.1:$port/push.git" "$work/pushclone"
git clone -q "git://127.0.0.1:$port/large-push.git" "$work/pushclone-large"
# Pushes one ready commit from clone $1 (the change is made first, only the push is timed) and
# appends its time to $2.
bare_push() {
  printf '{\n  "api": "registry.example.com/api:%040x@%s"\n}\n' "$3" "$(digest "$3")" > "$1/images/staging.json"
  git -C "$1" -c user.name=ci -c user.email=ci@localhost commit -q -am "Publish api $3"
  local t0 t1
  t0=$(now); git -C "$1" push -q origin master; t1=$(now)
  echo $((t1 - t0)) >> "$2"
}
script_once() { # i
  local dir="$work/script-$1" ref="registry.example.com/api:$(printf '%040x' "$1")@$(digest "$1")"
  git clone -q --depth 1 "git://127.0.0.1:$port/gitcli.git" "$dir"
  printf '{\n  "api": "%s"\n}\n' "$ref" > "$dir/images/staging.json"
  git -C "$dir" -c user.name=ci -c user.email=ci@localhost commit -q -am "Publish api $1"
  git -C "$dir" push -q origin HEAD:master
  rm -rf "$dir"
}
script_once 0 # warm-up

: > "$work/small.ns"; : > "$work/large.ns"; : > "$work/push.ns"; : > "$work/push-large.ns"; : > "$work/script.ns"
cpu_small=0; cpu_large=0
loads=()
blocks=$(( (rounds + block - 1) / block ))
script_per_block=$(( (script_rounds + blocks - 1) / blocks ))
done_script=0
for b in $(seq 1 "$blocks"); do
  loads+=("$(load)")
  c0=$(cpu_ms "$pid_small")
  announce seq small "$block" "$work/block.ns"; cat "$work/block.ns" >> "$work/small.ns"
  cpu_small=$((cpu_small + $(cpu_ms "$pid_small") - c0))
  c0=$(cpu_ms "$pid_large")
  announce seq large "$block" "$work/block.ns"; cat "$work/block.ns" >> "$work/large.ns"
  cpu_large=$((cpu_large + $(cpu_ms "$pid_large") - c0))
  for j in $(seq 1 "$block"); do
    i=$(( (b - 1) * block + j ))
    bare_push "$work/pushclone" "$work/push.ns" "$i"
    bare_push "$work/pushclone-large" "$work/push-large.ns" "$i"
  done
  for j in $(seq 1 "$script_per_block"); do
    [ "$done_script" -lt "$script_rounds" ] || break
    done_script=$((done_script + 1))
    t0=$(now); script_once "$done_script"; t1=$(now)
    echo $((t1 - t0)) >> "$work/script.ns"
  done
done
loads+=("$(load)")

read -r rss hwm < <(memory "$pid_small"); mem_seq_small="$rss / $hwm"
read -r rss hwm < <(memory "$pid_large"); mem_seq_large="$rss / $hwm"

# The burst, on each service: VmHWM is reset first (clear_refs 5), so it is the burst's peak.
burst_on() { # service
  local name=$1 pid before after
  pid=$(eval echo "\$pid_$name")
  before=$(git -C "$work/srv/$name.git" rev-parse master)
  echo 5 > "/proc/$pid/clear_refs" 2>/dev/null || true
  local first=$next
  announce burst "$name" "$burst" "$work/burst-$name.ns" \
    || { echo "the service's last log lines:"; tail -n 5 "$work/$name.log"; }
  after=$(git -C "$work/srv/$name.git" rev-parse master)
  read -r rss hwm < <(memory "$pid")
  printf -v "mem_burst_$name" '%s / %s' "$rss" "$hwm"
  local landed commits_made expected
  git -C "$work/srv/$name.git" log --format=%B "$before..$after" \
    | sed -n 's/^Cfgupdate-App-Commit: *//p' | sort > "$work/burst-$name.landed"
  landed=$(sort -u "$work/burst-$name.landed" | wc -l)
  commits_made=$(git -C "$work/srv/$name.git" rev-list --count "$before..$after")
  expected=$(python3 -c "import sys; [print(f'{i:040x}') for i in range($first, $first + $burst)]" | sort)
  local missing
  missing=$(comm -23 <(echo "$expected") <(sort -u "$work/burst-$name.landed") | wc -l)
  printf -v "burst_$name" '%s of %s app commits landed (%s trailers, %s missing), in %s commits' \
    "$landed" "$burst" "$(wc -l < "$work/burst-$name.landed")" "$missing" "$commits_made"
}
loads+=("$(load)")
burst_on small
burst_on large
loads+=("$(load)")

stats() {
  python3 - "$@" <<'PY'
import statistics, sys
rows = []
for arg in sys.argv[1:]:
    label, path = arg.split("=", 1)
    xs = sorted(int(line) / 1e6 for line in open(path) if line.strip())
    rows.append((label, xs))
print(f"| {'what':58} | {'n':>4} | {'p50 ms':>8} | {'p90 ms':>8} | {'p99 ms':>8} | {'max ms':>8} |")
print(f"|{'-' * 60}|{'-' * 6}:|{'-' * 9}:|{'-' * 9}:|{'-' * 9}:|{'-' * 9}:|")
for label, xs in rows:
    if not xs:
        print(f"| {label:58} | {0:4} | {'':>8} | {'':>8} | {'':>8} | {'':>8} |")
        continue
    p = lambda q: xs[min(len(xs) - 1, int(q * len(xs)))]
    print(f"| {label:58} | {len(xs):4} | {p(0.5):8.1f} | {p(0.9):8.1f} | {p(0.99):8.1f} | {xs[-1]:8.1f} |")
PY
}
ratio() { # a b: p50(a) / p50(b)
  python3 -c "
import statistics, sys
m = lambda p: statistics.median(int(l) for l in open(p) if l.strip())
print(f'{m(sys.argv[1]) / m(sys.argv[2]):.2f}')" "$1" "$2"
}

echo
echo "## Results"
echo
stats "1. service publish, small repository (POST, answer after push)=$work/small.ns" \
  "1. git CLI script: shallow clone, edit, commit, push=$work/script.ns" \
  "1. bare git push of a ready commit=$work/push.ns" \
  "3. service publish, large repository=$work/large.ns" \
  "3. bare git push of a ready commit, large repository=$work/push-large.ns" \
  "2. burst of $burst, small repository: each answer=$work/burst-small.ns" \
  "2. burst of $burst, large repository: each answer=$work/burst-large.ns"
echo
echo "1. script / service (p50): $(ratio "$work/script.ns" "$work/small.ns")x (goal >= 10)"
echo "1. service / bare push (p50): $(ratio "$work/small.ns" "$work/push.ns")x (goal <= 1.5)"
echo "3. large / small (p50): service $(ratio "$work/large.ns" "$work/small.ns")x (goal <= 1.5); bare git push $(ratio "$work/push-large.ns" "$work/push.ns")x, the remote's own share"
echo "3. service CPU time per sequential publish: small $((cpu_small / (blocks * block))) ms, large $((cpu_large / (blocks * block))) ms"
echo "2. small: $burst_small"
echo "2. large: $burst_large"
echo "5. memory, VmRSS / VmHWM in MiB: small idle after start $mem_start_small, after the sequential runs $mem_seq_small, during the burst $mem_burst_small"
echo "5. memory, VmRSS / VmHWM in MiB: large idle after start $mem_start_large, after the sequential runs $mem_seq_large, during the burst $mem_burst_large"
echo "load averages (1, 5, 15 min) seen: ${loads[*]}"

if [ "$criterion" = 1 ]; then
  echo
  echo "## 4. Rendering and editing (criterion benches), load $(load)"
  cargo bench -q -p cfgupdate-benches --bench render 2>&1 | grep -v '^$' || true
  cargo bench -q -p cfgupdate-benches --bench jsonnet_edit -- --noplot 2>&1 | grep -B1 'time:' || true
  echo "load at the end $(load)"
fi

# 6. Over https across a network with a round trip (issue 16): servers of its own.
if [ "${WAN:-1}" = 1 ]; then
  echo
  echo "## 6. Over https, ${DELAY_MS:-20} ms each way"
  FILES=$files COMMITS=$commits "$root/scripts/bench-wan.sh"
fi
