#!/usr/bin/env python3
"""Strict mode (issue 14): the latency from a green CI result to the main branch moving, beside
a bare `git push` of a fast-forward, interleaved round by round in one run.

    python3 scripts/bench-strict.py PUSH_CLONE ROUNDS WARMUP FIRST OUT_DIR NAME=ADDR=GIT_URL...

Each NAME=ADDR=GIT_URL is a `cfgupdate serve` at host:port ADDR on its own strict mode remote
GIT_URL (two builds side by side: `before=...` `after=...`); PUSH_CLONE is a clone of a
same-sized repository whose `master` the bare pushes fast-forward. Each round, for each service:

  (a) announces a new image (POST /v1/images): it lands on the auto branch as commit C (the
      announcement is timed too, for reference), then times POST /v1/checks
      {"commit": C, "state": "success"} from sending it until the answer, which the service
      sends after it has fast-forwarded `master` to C; outside the timed part,
      `git ls-remote GIT_URL refs/heads/master` must show C;

and once (b): commits the same kind of change in PUSH_CLONE and times `git push` of it, which
fast-forwards that remote's `master`; outside the timed part, `git ls-remote` must show it.

The order of the contenders rotates from round to round, so that load from other work on the
machine falls on all alike. The first WARMUP rounds are not recorded. Announcement i names app
commit i (40 hex digits, FIRST <= i), so runs that take other numbers never collide. OUT_DIR
gets green-NAME.ns, publish-NAME.ns and push.ns: one latency in nanoseconds per line.
"""
import hashlib
import http.client
import json
import os
import subprocess
import sys
import time

TIMEOUT_S = 120


def image(i: int) -> tuple[str, str]:
    app = f"{i:040x}"
    digest = hashlib.sha256(str(i).encode()).hexdigest()
    return app, f"registry.example.com/api:{app}@sha256:{digest}"


def post(host: str, port: int, path: str, body: dict) -> tuple[int, int, dict]:
    """POSTs `body` on a connection of its own; returns (ns, status, answer)."""
    payload = json.dumps(body).encode()
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT_S)
    try:
        t0 = time.perf_counter_ns()
        conn.request("POST", path, body=payload, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        text = response.read().decode(errors="replace")
        ns = time.perf_counter_ns() - t0
    finally:
        conn.close()
    try:
        answer = json.loads(text)
    except ValueError:
        answer = {"unparsed": text}
    return ns, response.status, answer


def remote_master(url: str) -> str:
    out = subprocess.run(["git", "ls-remote", url, "refs/heads/master"], check=True,
                         capture_output=True, text=True).stdout
    return out.split()[0] if out.strip() else ""


def git(clone: str, *args: str) -> str:
    return subprocess.run(["git", "-C", clone, *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def strict_round(host: str, port: int, url: str, i: int) -> tuple[int, int]:
    """(a): returns (publish ns, green ns)."""
    app, ref = image(i)
    ns_publish, status, answer = post(host, port, "/v1/images",
                                      {"app_commit": app, "images": {"api": ref}})
    if status != 200 or answer.get("result") != "committed":
        raise SystemExit(f"announcement {i}: {status} {answer}")
    commit = answer["commit"]
    if remote_master(url) == commit:
        raise SystemExit(f"announcement {i}: master moved before CI said yes")
    ns_green, status, answer = post(host, port, "/v1/checks",
                                    {"commit": commit, "state": "success", "context": "bench"})
    if status != 200 or answer.get("result") != "accepted" or answer.get("commit") != commit:
        raise SystemExit(f"green result {i}: {status} {answer}")
    moved = remote_master(url)
    if moved != commit:
        raise SystemExit(f"green result {i}: answered accepted, but master is {moved}, not {commit}")
    return ns_publish, ns_green


def push_round(clone: str, url: str, i: int) -> int:
    """(b): returns the push's ns."""
    _, ref = image(i)
    with open(os.path.join(clone, "images", "staging.json"), "w") as handle:
        handle.write(f'{{\n  "api": "{ref}"\n}}\n')
    git(clone, "-c", "user.name=ci", "-c", "user.email=ci@localhost", "commit", "-q", "-am",
        f"Publish api {i}")
    commit = git(clone, "rev-parse", "HEAD")
    t0 = time.perf_counter_ns()
    subprocess.run(["git", "-C", clone, "push", "-q", "origin", "master"], check=True)
    ns = time.perf_counter_ns() - t0
    if remote_master(url) != commit:
        raise SystemExit(f"push {i}: master did not move to {commit}")
    return ns


def main() -> int:
    clone, rounds, warmup, first, out = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                                         int(sys.argv[4]), sys.argv[5])
    services = []
    for arg in sys.argv[6:]:
        name, addr, url = arg.split("=", 2)
        host, port = addr.rsplit(":", 1)
        services.append((name, host, int(port), url))
    push_url = git(clone, "remote", "get-url", "origin")
    green = {name: [] for name, *_ in services}
    publish = {name: [] for name, *_ in services}
    push = []
    contenders = [("push", None)] + [(service[0], service) for service in services]
    for r in range(warmup + rounds):
        i = first + r
        shift = r % len(contenders)
        for name, service in contenders[shift:] + contenders[:shift]:
            if service is None:
                ns = push_round(clone, push_url, i)
                if r >= warmup:
                    push.append(ns)
            else:
                _, host, port, url = service
                ns_publish, ns_green = strict_round(host, port, url, i)
                if r >= warmup:
                    green[name].append(ns_green)
                    publish[name].append(ns_publish)
    files = [("push", push)] + [(f"green-{n}", v) for n, v in green.items()] \
        + [(f"publish-{n}", v) for n, v in publish.items()]
    for name, values in files:
        with open(os.path.join(out, f"{name}.ns"), "w") as handle:
            handle.writelines(f"{ns}\n" for ns in values)
    print(f"{rounds} rounds (after {warmup} not recorded): every green result moved master "
          f"before its answer, every push moved its remote's master", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
