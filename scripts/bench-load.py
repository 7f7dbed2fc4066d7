#!/usr/bin/env python3
"""A small load generator for `cfgupdate serve`: announcements through `POST /v1/images`,
either one after another or all at once, with the latency of each answer.

    python3 scripts/bench-load.py seq   ADDR COUNT FIRST OUT   # COUNT in a row
    python3 scripts/bench-load.py burst ADDR COUNT FIRST OUT   # COUNT threads released together

ADDR is host:port. Announcement i (FIRST <= i < FIRST+COUNT) names app commit i (40 hex digits)
and publishes `registry.example.com/api:<commit>@sha256:<sha256 of i>` for service `api`, so every
announcement differs from every other one and from earlier runs that used other numbers. OUT gets
one latency in nanoseconds per line. Any answer other than 200 `committed` is printed and makes the
exit status 1; a summary line goes to stderr.
"""
import hashlib
import http.client
import json
import sys
import threading
import time

TIMEOUT_S = 120


def body(i: int) -> bytes:
    app = f"{i:040x}"
    digest = hashlib.sha256(str(i).encode()).hexdigest()
    ref = f"registry.example.com/api:{app}@sha256:{digest}"
    return json.dumps({"app_commit": app, "images": {"api": ref}}).encode()


def announce(host: str, port: int, i: int) -> tuple[int, int, str]:
    """Sends announcement i on a connection of its own; returns (ns, status, answer)."""
    payload = body(i)
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT_S)
    t0 = time.perf_counter_ns()
    try:
        conn.request("POST", "/v1/images", body=payload,
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        answer = response.read().decode(errors="replace")
        status = response.status
    except OSError as error:
        status, answer = 0, str(error)
    finally:
        conn.close()
    return time.perf_counter_ns() - t0, status, answer


def ok(status: int, answer: str) -> bool:
    if status != 200:
        return False
    try:
        return json.loads(answer).get("result") == "committed"
    except ValueError:
        return False


def main() -> int:
    mode, addr, count, first, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    host, port = addr.rsplit(":", 1)
    results: list[tuple[int, int, str]] = []
    start = time.perf_counter_ns()
    if mode == "seq":
        for i in range(first, first + count):
            results.append(announce(host, int(port), i))
    elif mode == "burst":
        lock = threading.Lock()
        gate = threading.Barrier(count)

        def one(i: int) -> None:
            gate.wait()
            result = announce(host, int(port), i)
            with lock:
                results.append(result)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(first, first + count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:
        print(f"unknown mode {mode}", file=sys.stderr)
        return 2
    wall = (time.perf_counter_ns() - start) / 1e9
    failed = [(status, answer) for _, status, answer in results if not ok(status, answer)]
    with open(out, "w") as handle:
        for ns, status, answer in results:
            if ok(status, answer):
                handle.write(f"{ns}\n")
    for status, answer in failed[:5]:
        print(f"not committed: {status} {answer[:300]}", file=sys.stderr)
    print(f"{mode}: {len(results) - len(failed)}/{len(results)} committed in {wall:.2f} s",
          file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
