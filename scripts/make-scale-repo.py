#!/usr/bin/env python3
"""Writes a `git fast-import` stream for a large config repository: the small benchmark
repository's pipeline plus FILES other files, built up over COMMITS commits (each later commit
edits one file), so that a publish can be measured on it beside the small one.

    python3 scripts/make-scale-repo.py FILES COMMITS SEED_DIR | git fast-import --quiet

SEED_DIR holds the small repository's files (cfgupdate.toml, images/, envs/); they are added
in the first commit with the bulk files.
"""
import os
import sys

files, commits, seed = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
out = sys.stdout.buffer
when = 1_700_000_000


def blob(data: bytes) -> None:
    out.write(b"data %d\n" % len(data))
    out.write(data)
    out.write(b"\n")


def header(mark: int, message: str, parent: int | None) -> None:
    out.write(b"commit refs/heads/master\nmark :%d\n" % mark)
    out.write(b"committer Scale <scale@example.com> %d +0000\n" % (when + mark))
    blob(message.encode())
    if parent:
        out.write(b"from :%d\n" % parent)


def bulk_path(i: int) -> str:
    return f"apps/team-{i % 100:02d}/app-{i // 100:04d}/config.libsonnet"


header(1, "Import the configuration", None)
for root, _, names in os.walk(seed):
    for name in names:
        path = os.path.join(root, name)
        rel = os.path.relpath(path, seed).replace(os.sep, "/")
        if rel.startswith(".git/") or rel == ".git":
            continue
        out.write(f"M 100644 inline {rel}\n".encode())
        with open(path, "rb") as handle:
            blob(handle.read())
for i in range(files):
    out.write(f"M 100644 inline {bulk_path(i)}\n".encode())
    blob(f"{{ name: 'app-{i}', replicas: {i % 5 + 1} }}\n".encode())
for c in range(2, commits + 1):
    header(c, f"Tune app {c}", c - 1)
    i = (c * 7919) % files
    out.write(f"M 100644 inline {bulk_path(i)}\n".encode())
    blob(f"{{ name: 'app-{i}', replicas: {c % 9 + 1} }}\n".encode())
out.write(b"done\n")
