#!/usr/bin/env python3
"""The Python tools from PyPI that tests use as references and validators, each in a virtual
environment of its own under the target directory: the one list of them, and the one way they
are made.

    python3 tests/python-tools.py TARGET_DIR [NAME ...]    make them (all when no NAME), print
                                                            "NAME BIN_DIR" per tool
    python3 tests/python-tools.py TARGET_DIR --check NAME  exit 0 if NAME is ready, 1 if not

The test kit (`cfgupdate_tests::python_venv`) and the core's render tests call this on first
use; `scripts/test.sh` calls it for all of them in the background while the workspace compiles,
so the tests find them made. A file lock per tool keeps two callers from making one twice, and a
marker written once pip has finished and the tool's probe has passed keeps a caller from using
another's half-made environment (pip makes a package importable before it writes its console
scripts). The test kit takes a marker newer than this file as ready without starting Python
(each start, through pyenv's shim where there is one, is about 0.3 s of CPU); a marker older
than this file, where the list may have changed, is checked here.
"""

import fcntl
import functools
import os
import shutil
import subprocess
import sys
import threading

# name: (pip requirements, a Python statement that must run in a ready environment)
TOOLS = {
    # The rendering reference: go-jsonnet, what Argo CD runs; PyYAML and ruamel.yaml read
    # the YAML back.
    "gojsonnet": (
        ["gojsonnet==0.22.*", "pyyaml==6.*", "ruamel.yaml==0.19.*"],
        "import _gojsonnet, yaml, ruamel.yaml",
    ),
    # The API checked against its OpenAPI document (pinned: a new schemathesis may add checks,
    # which should land as a deliberate upgrade), the reference JSON Schema validator, and the
    # OpenAPI 3.1 specification's own schema.
    "schemathesis": (
        ["schemathesis==4.32.5", "jsonschema==4.26.0", "openapi-spec-validator==0.9.0"],
        "import schemathesis, jsonschema, openapi_spec_validator",
    ),
    # The Kubernetes API's own schemas, for the manifests under deploy/.
    "kubernetes-validate": (
        ["kubernetes-validate==1.37.*"],
        "import kubernetes_validate",
    ),
    # `cfgupdate schema` checked as a JSON Schema.
    "jsonschema": (["jsonschema==4.*"], "import jsonschema"),
}

MARKER = "cfgupdate-tests-installed"


def venv_dir(target, name):
    return os.path.join(target, name + "-venv")


def marker_text(requirements):
    return "\n".join(requirements)


def ready(target, name):
    requirements, probe = TOOLS[name]
    venv = venv_dir(target, name)
    try:
        with open(os.path.join(venv, MARKER), encoding="utf-8") as marker:
            if marker.read() != marker_text(requirements):
                return False
    except OSError:
        return False
    python = os.path.join(venv, "bin", "python")
    try:
        probed = subprocess.run(
            [python, "-c", probe],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError:
        return False
    return probed.returncode == 0


@functools.cache
def outer_pip():
    """Whether this Python's own pip can install into another environment (`pip --python`,
    pip 22.3 and later). Then each environment is made without a pip of its own, which saves
    unpacking and compiling pip four times (about 3 s of CPU each)."""
    try:
        version = subprocess.run(
            [sys.executable, "-m", "pip", "--version"],
            capture_output=True,
            text=True,
        )
    except OSError:
        return False
    if version.returncode != 0:
        return False
    parts = version.stdout.split()
    if len(parts) < 2:
        return False
    try:
        numbers = tuple(int(part) for part in parts[1].split(".")[:2])
    except ValueError:
        return False
    return numbers >= (22, 3)


def make(target, name):
    """Makes the tool's environment unless it is ready; returns its bin directory."""
    requirements, probe = TOOLS[name]
    venv = venv_dir(target, name)
    python = os.path.join(venv, "bin", "python")
    os.makedirs(target, exist_ok=True)
    with open(os.path.join(target, name + "-venv.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ready(target, name):
            # Checked against this file's list: callers may take it without asking again.
            os.utime(os.path.join(venv, MARKER))
        else:
            shutil.rmtree(venv, ignore_errors=True)
            if outer_pip():
                subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
                pip = [sys.executable, "-m", "pip", "--python", python]
            else:
                subprocess.run([sys.executable, "-m", "venv", venv], check=True)
                pip = [python, "-m", "pip"]
            subprocess.run(
                [
                    *pip,
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    *requirements,
                ],
                check=True,
            )
            if subprocess.run([python, "-c", probe]).returncode != 0:
                raise SystemExit(f"{name}: `{probe}` fails after installing {requirements}")
            with open(os.path.join(venv, MARKER), "w", encoding="utf-8") as marker:
                marker.write(marker_text(requirements))
    return os.path.join(venv, "bin")


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    target = argv[1]
    if len(argv) == 4 and argv[2] == "--check":
        name = argv[3]
        if name not in TOOLS:
            raise SystemExit(f"unknown tool {name!r}; the tools are {', '.join(TOOLS)}")
        return 0 if ready(target, name) else 1
    names = argv[2:] or list(TOOLS)
    for name in names:
        if name not in TOOLS:
            raise SystemExit(f"unknown tool {name!r}; the tools are {', '.join(TOOLS)}")
    results = {}
    failures = {}

    def run(name):
        try:
            results[name] = make(target, name)
        except (subprocess.CalledProcessError, OSError, SystemExit) as error:
            failures[name] = error

    threads = [threading.Thread(target=run, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name in names:
        if name in results:
            print(name, results[name])
    for name, error in failures.items():
        print(f"{name}: {error}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
