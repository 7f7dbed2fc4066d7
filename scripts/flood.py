#!/usr/bin/env python3
"""The flood of issue 10, finding 5, against a running `cfgupdate serve` on loopback:

    python3 scripts/flood.py ADDR PID CI_TOKEN [HALF_OPEN [BODIES [HOLD_S]]]

1. HALF_OPEN (default 2000) connections that send half a request line and then nothing;
2. BODIES (default 1500) connections, each sending the headers of an unauthenticated
   `POST /v1/images` with `Content-Length: 1048576` and then half the body (512 KiB, as much
   as the socket takes without blocking), never the rest;
3. with all of them still open, one real announcement (bearer CI_TOKEN): its status and latency;
4. all flood connections closed; HOLD_S (default 5) seconds later, the resident memory.

Resident memory (VmRSS and VmHWM of PID) is printed before, during and after. Every loop is
bounded; connections go to ADDR only (127.0.0.1). Exit status 1 when the announcement does not
land.
"""
import http.client
import json
import socket
import sys
import time

HALF = b" " * (512 * 1024)


def memory(pid: int) -> str:
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return f"VmRSS {fields.get('VmRSS')}, VmHWM {fields.get('VmHWM')}"


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def connect(host: str, port: int) -> socket.socket | None:
    try:
        sock = socket.create_connection((host, port), timeout=5)
        sock.setblocking(False)
        return sock
    except OSError:
        return None


def send(sock: socket.socket, data: bytes) -> None:
    try:
        sock.send(data)
    except OSError:
        pass


def main() -> int:
    addr, pid, token = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    half_open = int(sys.argv[4]) if len(sys.argv) > 4 else 2000
    bodies = int(sys.argv[5]) if len(sys.argv) > 5 else 1500
    hold = float(sys.argv[6]) if len(sys.argv) > 6 else 5.0
    host, port = addr.rsplit(":", 1)
    port = int(port)
    print(f"before: {memory(pid)}")
    held: list[socket.socket] = []
    t0 = time.monotonic()
    for _ in range(half_open):
        sock = connect(host, port)
        if sock:
            send(sock, b"POST /v1/images HTTP/1.1\r\nHost: cfgupdate\r\nX-Slow: ")
            held.append(sock)
    print(f"{len(held)} half-open connections in {time.monotonic() - t0:.1f} s")
    head = (b"POST /v1/images HTTP/1.1\r\nHost: cfgupdate\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1048576\r\n\r\n")
    sent = 0
    t0 = time.monotonic()
    for _ in range(bodies):
        sock = connect(host, port)
        if sock:
            send(sock, head)
            send(sock, HALF)
            held.append(sock)
            sent += 1
    print(f"{sent} half-sent 1 MiB bodies in {time.monotonic() - t0:.1f} s")
    peak = rss_kib(pid)
    print(f"during the flood: {memory(pid)}")
    app = f"{int(time.time()):040x}"
    body = json.dumps({"app_commit": app, "images": {
        "api": f"registry.example.com/api:{app}@sha256:{'f' * 64}"}}).encode()
    t0 = time.monotonic()
    try:
        conn = http.client.HTTPConnection(host, port, timeout=120)
        conn.request("POST", "/v1/images", body=body, headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        status, answer = response.status, response.read().decode(errors="replace")
        conn.close()
    except OSError as error:
        status, answer = 0, str(error)
    took = time.monotonic() - t0
    print(f"announcement during the flood: {status} in {took:.2f} s: {answer[:200]}")
    peak = max(peak, rss_kib(pid))
    for sock in held:
        sock.close()
    time.sleep(hold)
    print(f"{hold:.0f} s after the flood: {memory(pid)}")
    print(f"summary: peak_rss_mib={peak / 1024:.1f} after_rss_mib={rss_kib(pid) / 1024:.1f} "
          f"announcement={status} latency_s={took:.2f}")
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
