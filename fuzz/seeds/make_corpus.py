#!/usr/bin/env python3
"""Writes the seed corpus under fuzz/corpus/<target>/ (run from the repository root).

reference: the inputs of the distribution test table (crates/cfgupdate-core/tests/
reference_table.rs), digests, and `name NL tag NL digest` lines for from_parts.
json_edit, jsonnet_edit: realistic files, each as `file NUL control` (see fuzz/src/lib.rs);
the control bytes pick raw mode (first byte odd) and an update set.
"""
import hashlib
import pathlib
import re

ROOT = pathlib.Path(".")
CORPUS = ROOT / "fuzz" / "corpus"
D = lambda c: "sha256:" + c * 64
SHA512 = "sha512:" + "f" * 128


def write(target, name, data):
    path = CORPUS / target / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


def reference():
    table = (ROOT / "crates/cfgupdate-core/tests/it/reference_table.rs").read_text()
    inputs = sorted(set(re.findall(r'\(\s*"((?:[^"\\]|\\.)*)"\s*,', table)))
    for i, text in enumerate(inputs):
        write("reference", f"table-{i:03}", text)
    for i, text in enumerate([D("a"), SHA512, "sha384:" + "0" * 96, "sha256:ABC", "md5:" + "0" * 32]):
        write("reference", f"digest-{i}", text)
    for i, text in enumerate([
        f"reg.example.com/team/api\nv1\n{D('b')}",
        "localhost:5000/app\n1.0",
        f"nginx\n\n{D('c')}",
        "a:b\nc\nd",
        f"[::1]:5000/web\nlatest\n{SHA512}",
    ]):
        write("reference", f"parts-{i}", text)


def control(seed):
    # Deterministic filler: byte 0 odd keeps the file as written; the rest picks updates.
    return b"\x01" + hashlib.sha256(seed.encode()).digest()


def json_edit():
    files = {
        "strings": '{\n  "api": "registry.example.com/team/api:1.4.0@' + D("0") + '",\n  "worker": "registry.example.com/team/worker:2.0.1@' + D("1") + '"\n}\n',
        "parts": '{\n  "$schema": "./images.schema.json",\n  "api": {"name": "reg/api", "tag": "v1", "digest": "' + D("2") + '"},\n  "web": {"ref": "reg/web:v1@' + D("3") + '"}\n}',
        "crlf-tabs": '{\r\n\t"api": "reg.example.com/api:v1@' + D("4") + '",\r\n\t"_comment": "kept"\r\n}\r\n',
        "empty": "{}",
        "one-line": '{"a": "nginx:1@' + D("5") + '", "b": "nginx@' + D("6") + '"}',
        "escapes": '{"api": "reg.example.com\\/team\\/api:v\\u0031@' + D("7") + '", "//": ["note"]}\n',
        "tags-file": '{\n  "api": "reg/api:v1",\n  "worker": "reg/worker:v2"\n}\n',
        "broken-ref": '{\n  "api": "not a reference",\n  "web": "reg/web:v1@' + D("8") + '"\n}\n',
        "bom": '\ufeff{"api": "reg/api:v1@' + D("9") + '"}\n',
    }
    for fixture in ["repo/images/staging.json", "bench/images/production.json"]:
        files["fixture-" + fixture.split("/")[0]] = (ROOT / "tests/fixtures/render" / fixture).read_text()
    for name, text in files.items():
        write("json_edit", name, text.encode() + b"\0" + control(name))
    for i in range(4):
        write("json_edit", f"generated-{i}", b"\0\x00" + hashlib.sha256(f"g{i}".encode()).digest() * 4)


def jsonnet_edit():
    old = "reg.example.com/team/api:v1@" + D("a")
    files = {
        "example": (ROOT / "examples/images.libsonnet").read_text(),
        "markers": "{\n  a: '" + old + "', // cfgupdate: api\n  b: \"" + old + "\", # cfgupdate: web\n  c: @'" + old + "' /* cfgupdate: worker */,\n}\n",
        "part-markers": "{\n  name: 'reg/api', // cfgupdate: api:name\n  tag: 'v1', // cfgupdate: api:tag\n  digest: '" + D("b") + "', // cfgupdate: api:digest\n}\n",
        "fields": "local base = { api: 'reg/base:v0@" + D("c") + "' };\nbase + {\n  api: '" + old + "',\n  'web':: \"" + old + "\",\n  worker+: { tag: 'v2' },\n}\n",
        "objects": "{\n  api: {\n    name: 'reg.example.com/team/api',\n    tag: 'v1',\n    digest: '" + D("d") + "',\n  },\n  namespace: 'default',\n}\n",
        "import-plus": "(import 'base.libsonnet') + {\n  api: '" + old + "',\n}\n",
        "container-call": "local container = import 'container.libsonnet';\ncontainer.new('api', '" + old + "') // cfgupdate: api\n",
        "refused": "{\n  api: 'reg/api:' + std.extVar('tag'), // cfgupdate: api\n  web: std.extVar('web'),\n}\n",
        "text-block": "{\n  a: |||\n    '" + old + "' // cfgupdate: api\n  |||,\n}\n",
    }
    for path in ["repo/envs/arrays/main.jsonnet", "repo/envs/tanka/main.jsonnet", "repo/envs/functions/main.jsonnet", "bench/envs/main.jsonnet"]:
        files["fixture-" + path.replace("/", "-")] = (ROOT / "tests/fixtures/render" / path).read_text()
    for name, text in files.items():
        write("jsonnet_edit", name, text.encode() + b"\0" + control(name))
    for i in range(4):
        write("jsonnet_edit", f"generated-{i}", b"\0\x00" + hashlib.sha256(f"g{i}".encode()).digest() * 4)


reference()
json_edit()
jsonnet_edit()


def request_decoding():
    app = "7d1043473d55bfa90e8530d35801d4e381bc69f0"
    ref = "registry.example.com/team/api:7d10434@" + D("1")
    # (endpoint byte, query byte, body): endpoint 0 images, 1 deployments, 2 approvals;
    # query 0 none, 1 a valid app commit.
    bodies = {
        "images": (0, 0, '{"app_commit": "' + app + '", "images": {"api": "' + ref + '"}}'),
        "images-build": (0, 1, '{"app_commit": "' + app + '", "images": {"api": "' + ref + '", "web": "nginx@' + D("2") + '"}, "build": {"number": 123, "created_at": "2026-11-26T20:00:00Z"}}'),
        "images-original": (0, 1, '{"api": {"Tag": "registry.example.com/team/api:v1", "Digest": "registry.example.com/team/api@' + D("3") + '"}, "web": {"Digest": "nginx@' + D("4") + '"}}'),
        "images-bad-ref": (0, 0, '{"app_commit": "' + app + '", "images": {"api": "Reg/API"}}'),
        "deploy-target": (1, 0, '{"target": "staging-us", "revision": "' + app + '", "status": "succeeded"}'),
        "deploy-app": (1, 0, '{"app": "api-prod-eu", "revision": "' + app + '", "status": "failed"}'),
        "approval": (2, 0, '{"wave": "production"}'),
        "not-json": (0, 0, '{"app_commit": '),
    }
    for name, (endpoint, query, body) in bodies.items():
        write("request_decoding", name, bytes([endpoint, query]) + body.encode())


request_decoding()
