#!/usr/bin/env bash
# Soak: one `cfgupdate serve` process (release build, state key set) takes N announcements in a
# row on the small benchmark repository, pushed to a local `git daemon`, one service each.
# Issue 12: a long-running service must stay as fast and as small as a fresh one.
#
#   scripts/soak.sh             # 2,000 announcements
#   N=20000 scripts/soak.sh     # the goal's figure
#
# Prints, per eighth of the run: the median and p99 latency of its announcements, the service's
# resident memory (VmRSS) at its end, the cache's size on disk, loose objects, packs and ref
# files, and the remote's size on disk beside it. With N of
# 2,000 or more it also prints the first and last thousand's medians and their ratio, and the
# resident memory after the first thousand and at the end (the goals: a ratio within 1.2, a
# growth within 20 MiB). Then a fresh process on the same cache and remote takes FRESH (250)
# more, so a slowdown held in the process shows apart from one held in the repository.
# CFGUPDATE_BIN measures another build instead of this tree's.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
count=${N:-2000}

if [ -n "${CFGUPDATE_BIN:-}" ]; then
  bin=$CFGUPDATE_BIN
else
  cargo build --release -q -p cfgupdate-cli
  bin=${CARGO_TARGET_DIR:-$PWD/target}/release/cfgupdate
fi

source "$(dirname "${BASH_SOURCE[0]}")/lib-bench.sh"

git clone -q --bare "$work/seed" "$work/srv/soak.git"
wait_served soak.git

export CFGUPDATE_STATE_KEY=${CFGUPDATE_STATE_KEY:-soak-state-key-of-scripts-soak-sh}
service_pid=
stop_service() {
  if [ -n "$service_pid" ]; then kill "$service_pid" 2>/dev/null || true; wait "$service_pid" 2>/dev/null || true; fi
  service_pid=
}
trap 'stop_service; cleanup' EXIT
# Starts `cfgupdate serve` on the remote and the cache; sets $service_pid and $addr.
start_service() {
  : > "$work/serve.out"
  "$bin" serve --repo "git://127.0.0.1:$port/soak.git" --cache-dir "$work/cache" \
    --listen 127.0.0.1:0 --insecure-no-auth >"$work/serve.out" 2>>"$work/serve.log" &
  service_pid=$!
  local deadline=$(( $(date +%s) + 60 ))
  until grep -q '^listening on http://' "$work/serve.out" 2>/dev/null; do
    if ! kill -0 "$service_pid" 2>/dev/null || [ "$(date +%s)" -gt "$deadline" ]; then
      echo "the service did not start:" >&2; cat "$work/serve.log" >&2; exit 1
    fi
    sleep 0.05
  done
  addr=$(sed -n 's|^listening on http://||p' "$work/serve.out" | head -n1)
}
start_service

cat > "$work/drive.py" <<'PY'
import hashlib, http.client, json, os, statistics, sys, time

addr, count, pid, cache_root, remote = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
# "fresh FIRST": a new process on the grown cache, announcements FIRST.. , its median alone.
fresh = int(sys.argv[7]) if len(sys.argv) > 7 and sys.argv[6] == "fresh" else None
host, port = addr.rsplit(":", 1)

def rss_mib():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0

def tree_stats(root):
    """(bytes on disk, loose objects, pack files, refs) of the bare repositories under root."""
    size = loose = packs = refs = 0
    for dirpath, _, names in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        parts = rel.split(os.sep)
        for name in names:
            try:
                # Blocks, not lengths: a loose object of 200 bytes takes a 4 KiB block.
                size += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
            except FileNotFoundError:
                continue
            if len(parts) >= 2 and parts[-2] == "objects" and len(parts[-1]) == 2:
                loose += 1
            if parts[-1] == "pack" and name.endswith(".pack"):
                packs += 1
            if "refs" in parts:
                refs += 1
    return size, loose, packs, refs

conn = None
def announce(i):
    global conn
    app = f"{i:040x}"
    digest = hashlib.sha256(str(i).encode()).hexdigest()
    body = json.dumps({"app_commit": app,
                       "images": {"api": f"registry.example.com/api:{app}@sha256:{digest}"}}).encode()
    for attempt in range(2):
        if conn is None:
            conn = http.client.HTTPConnection(host, int(port), timeout=120)
        t0 = time.perf_counter_ns()
        try:
            conn.request("POST", "/v1/images", body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            answer = response.read().decode(errors="replace")
        except (OSError, http.client.HTTPException):
            conn.close(); conn = None
            continue
        elapsed = time.perf_counter_ns() - t0
        if response.status != 200 or json.loads(answer).get("result") != "committed":
            sys.exit(f"announcement {i}: {response.status} {answer[:300]}")
        return elapsed / 1e6
    sys.exit(f"announcement {i}: no answer")

if fresh is not None:
    xs = sorted(announce(i) for i in range(fresh, fresh + count))
    print(f"a fresh process on the grown cache and remote, {count} announcements: median {statistics.median(xs):.1f} ms, p99 {xs[min(len(xs) - 1, int(0.99 * len(xs)))]:.1f} ms, VmRSS {rss_mib():.1f} MiB")
    sys.exit(0)

# Warm-up: the first announcement clones the cache.
t0 = time.perf_counter()
announce(0)
print(f"first announcement (clones the cache): {(time.perf_counter() - t0) * 1000:.0f} ms")
size, loose, packs, refs = tree_stats(cache_root)
print(f"idle after the first: VmRSS {rss_mib():.1f} MiB, cache {size / 2**20:.1f} MiB, {loose} loose objects, {packs} packs")

latencies = []
eighth = max(1, count // 8)
# Sizes are on disk (du), the remote's as `git daemon`'s receive-pack left it (unpacked).
print(f"{'announcements':>15} {'median ms':>10} {'p99 ms':>8} {'VmRSS MiB':>10} {'cache MiB':>10} {'loose':>7} {'packs':>6} {'refs':>5} {'remote MiB':>11}")
rss_at_thousand = None
started = time.perf_counter()
for i in range(1, count + 1):
    latencies.append(announce(i))
    if i == 1000:
        rss_at_thousand = rss_mib()
    if i % eighth == 0 or i == count:
        part = sorted(latencies[-eighth:]) if i % eighth == 0 else sorted(latencies[(i // eighth) * eighth:])
        size, loose, packs, refs = tree_stats(cache_root)
        rsize = tree_stats(remote)[0]
        p99 = part[min(len(part) - 1, int(0.99 * len(part)))]
        print(f"{i:>15} {statistics.median(part):>10.1f} {p99:>8.1f} {rss_mib():>10.1f} {size / 2**20:>10.1f} {loose:>7} {packs:>6} {refs:>5} {rsize / 2**20:>11.1f}", flush=True)
wall = time.perf_counter() - started
print(f"{count} announcements in {wall:.0f} s")
if count >= 2000:
    first, last = statistics.median(latencies[:1000]), statistics.median(latencies[-1000:])
    print(f"median of the first thousand {first:.1f} ms, of the last thousand {last:.1f} ms: ratio {last / first:.2f} (goal <= 1.2)")
    print(f"VmRSS after the first thousand {rss_at_thousand:.1f} MiB, at the end {rss_mib():.1f} MiB: growth {rss_mib() - rss_at_thousand:+.1f} MiB (goal <= 20)")
PY
python3 "$work/drive.py" "$addr" "$count" "$service_pid" "$work/cache" "$work/srv/soak.git"

# The issue's comparison: is what grew held inside the process, or in the cache and remote?
fresh=${FRESH:-250}
stop_service
start_service
python3 "$work/drive.py" "$addr" "$fresh" "$service_pid" "$work/cache" "$work/srv/soak.git" fresh $((count + 1))
