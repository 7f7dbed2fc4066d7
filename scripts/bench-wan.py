#!/usr/bin/env python3
"""The measuring half of scripts/bench-wan.sh: interleaved rounds of service publish,
report-to-promotion, bare `git push` and the clone-edit-commit-push script, on each size,
with the HTTP requests and TLS connections each one cost (from nginx's access log, whose
lines are `<connection> <request on it> <status> "<request line>"`)."""
import argparse
import hashlib
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

TIMEOUT_S = 300


def reference(i: int) -> str:
    app = f"{i:040x}"
    digest = hashlib.sha256(str(i).encode()).hexdigest()
    return f"registry.example.com/api:{app}@sha256:{digest}"


def post(addr: str, path: str, body: dict) -> tuple[int, int, dict]:
    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT_S)
    payload = json.dumps(body).encode()
    t0 = time.perf_counter_ns()
    conn.request("POST", path, body=payload, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    text = response.read().decode(errors="replace")
    elapsed = time.perf_counter_ns() - t0
    conn.close()
    try:
        answer = json.loads(text)
    except ValueError:
        answer = {"text": text}
    return elapsed, response.status, answer


class AccessLog:
    """Counts what nginx logged since the last call."""

    def __init__(self, path: str):
        self.path = path
        self.offset = os.path.getsize(path) if os.path.exists(path) else 0

    def since(self) -> tuple[int, int, list[str]]:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            lines = f.read().decode(errors="replace").splitlines()
            self.offset = f.tell()
        connections = {line.split(" ", 1)[0] for line in lines}
        return len(lines), len(connections), lines


def git(*args: str, cwd: str | None = None) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def write_images(clone: str, i: int) -> None:
    with open(os.path.join(clone, "images", "staging.json"), "w") as f:
        f.write('{\n  "api": "%s"\n}\n' % reference(i))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", required=True)
    parser.add_argument("--sizes", required=True)
    parser.add_argument("--rounds", type=int, required=True)
    parser.add_argument("--script-rounds", type=int, required=True)
    parser.add_argument("--access-log", required=True)
    parser.add_argument("--authed", required=True)
    parser.add_argument("--service", action="append", default=[])
    args = parser.parse_args()
    sizes = args.sizes.split()
    services = dict(item.split("=", 1) for item in args.service)
    log = AccessLog(args.access_log)
    times: dict[str, list[int]] = {}
    costs: dict[str, list[tuple[int, int]]] = {}
    samples: dict[str, list[str]] = {}

    def record(label: str, ns: int, cost: tuple[int, int, list[str]]) -> None:
        times.setdefault(label, []).append(ns)
        costs.setdefault(label, []).append(cost[:2])
        samples.setdefault(label, cost[2])

    # Warm-up: the first publish clones the cache; one more settles it.
    number = 1
    for size in sizes:
        for _ in range(2):
            ns, status, answer = post(services[size], "/v1/images", {
                "app_commit": f"{number:040x}", "images": {"api": reference(number)}})
            number += 1
            if status != 200:
                print(f"warm-up publish on {size}: {status} {answer}", file=sys.stderr)
                return 1
            print(f"warm-up publish on {size}: {ns / 1e6:.0f} ms")
    log.since()

    script_every = max(1, args.rounds // max(1, args.script_rounds))
    scripts_done = {size: 0 for size in sizes}
    for r in range(args.rounds):
        for size in sizes:
            i = number
            number += 1
            ns, status, answer = post(services[size], "/v1/images", {
                "app_commit": f"{i:040x}", "images": {"api": reference(i)}})
            if status != 200 or answer.get("result") != "committed":
                print(f"publish {i} on {size}: {status} {answer}", file=sys.stderr)
                return 1
            record(f"{size}: service publish", ns, log.since())
            ns, status, answer = post(services[size], "/v1/deployments", {
                "target": "staging", "revision": answer["commit"], "status": "succeeded"})
            if status != 200 or answer.get("result") != "promoted":
                print(f"report {i} on {size}: {status} {answer}", file=sys.stderr)
                return 1
            record(f"{size}: report to promotion commit", ns, log.since())

            clone = os.path.join(args.work, f"pushclone-{size}")
            write_images(clone, i)
            git("-c", "user.name=ci", "-c", "user.email=ci@localhost", "commit", "-q", "-am",
                f"Publish api {i}", cwd=clone)
            log.since()
            t0 = time.perf_counter_ns()
            git("push", "-q", "origin", "master", cwd=clone)
            record(f"{size}: bare git push of a ready commit", time.perf_counter_ns() - t0, log.since())

            if r % script_every == 0 and scripts_done[size] < args.script_rounds:
                scripts_done[size] += 1
                target = os.path.join(args.work, f"script-{size}-{i}")
                t0 = time.perf_counter_ns()
                git("clone", "-q", "--depth", "1", f"{args.authed}/{size}-script.git", target)
                write_images(target, i)
                git("-c", "user.name=ci", "-c", "user.email=ci@localhost", "commit", "-q", "-am",
                    f"Publish api {i}", cwd=target)
                git("push", "-q", "origin", "HEAD:master", cwd=target)
                record(f"{size}: script: shallow clone, edit, commit, push",
                       time.perf_counter_ns() - t0, log.since())
                shutil.rmtree(target)

    def p(xs: list[int], q: float) -> float:
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(q * len(xs)))] / 1e6

    print()
    print(f"| {'what':52} | {'n':>3} | {'p50 ms':>8} | {'p90 ms':>8} | {'max ms':>8} | requests | TLS connections |")
    print(f"|{'-' * 54}|{'-' * 4}:|{'-' * 9}:|{'-' * 9}:|{'-' * 9}:|{'-' * 9}:|{'-' * 16}:|")
    for label, xs in times.items():
        requests = statistics.median(c[0] for c in costs[label])
        connections = statistics.median(c[1] for c in costs[label])
        print(f"| {label:52} | {len(xs):3} | {p(xs, .5):8.1f} | {p(xs, .9):8.1f} | {max(xs) / 1e6:8.1f} | {requests:8g} | {connections:15g} |")
    print()
    median = lambda label: statistics.median(times[label])
    for size in sizes:
        push = median(f"{size}: bare git push of a ready commit")
        publish = median(f"{size}: service publish")
        report = median(f"{size}: report to promotion commit")
        line = (f"{size}: service publish / bare push (p50) {publish / push:.2f}x (goal <= 1.1); "
                f"report-to-promotion / bare push {report / push:.2f}x (goal <= 1.2)")
        script_label = f"{size}: script: shallow clone, edit, commit, push"
        if script_label in times:
            line += f"; script / service publish {median(script_label) / publish:.1f}x"
            line += " (goal >= 10 on the large repository)" if size == "large" else ""
        print(line)
    print()
    print("requests of one of each (nginx access log: connection, request on it, status, request):")
    for label, lines in samples.items():
        print(f"  {label}:")
        for line in lines:
            print(f"    {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
