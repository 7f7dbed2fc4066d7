#!/usr/bin/env bash
# Builds the cfgupdate container image (Containerfile) and smoke-tests it.
#
#   scripts/image.sh [TAG]       (default tag: localhost/cfgupdate:<version>)
#
# 1. Builds a static binary: glibc linked in (crt-static), libgit2 and OpenSSL from their
#    bundled sources (the `vendored` feature), so the image needs no shared library.
# 2. Lays out the build context (binary, CA bundle, an unprivileged user) and runs
#    `podman build` on the `scratch` base: no registry is needed.
# 3. Smoke test: runs the binary from the built image's own filesystem (`podman image mount`,
#    then chroot as the image's user), checks `--version`, and starts `serve` against a local
#    `git daemon` on 127.0.0.1 until `/healthz` and `/readyz` answer 200. Running a container
#    is not possible on every machine (sandboxes refuse crun's rlimits); chroot into the image's
#    root filesystem runs exactly the same files.
#
# Needs podman, git, curl, a C toolchain and perl (OpenSSL's build); on Debian as root it
# installs what is missing. Prints the image's size at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
tag=${1:-localhost/cfgupdate:$version}
target=x86_64-unknown-linux-gnu
target_dir=${CARGO_TARGET_DIR:-target}

# Each tool the script runs, and the Debian package that has it.
need=()
for pair in podman:podman git:git curl:curl perl:perl make:make gcc:gcc strip:binutils \
  file:file python3:python3; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
[ -f /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
[ -f /usr/include/stdio.h ] || need+=(libc6-dev)
if [ ${#need[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "image.sh: installing ${need[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "image.sh: missing ${need[*]} (Debian packages); install them and run again" >&2
    exit 1
  fi
fi

echo "image.sh: building the static binary (release, vendored libgit2 and OpenSSL)" >&2
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked \
  -p cfgupdate-cli --features vendored --target "$target"
binary="$target_dir/$target/release/cfgupdate"
if ! file "$binary" | grep -q "statically linked\|static-pie linked"; then
  echo "image.sh: $binary is not a static binary: $(file -b "$binary")" >&2
  exit 1
fi

context=$(mktemp -d)
work=$(mktemp -d)
cleanup() {
  [ -n "${serve_pid:-}" ] && kill "$serve_pid" 2>/dev/null || true
  [ -n "${daemon_pid:-}" ] && kill "$daemon_pid" 2>/dev/null || true
  [ -n "${mounted:-}" ] && podman image unmount "$tag" >/dev/null 2>&1 || true
  rm -rf "$context" "$work"
}
trap cleanup EXIT

cp "$binary" "$context/cfgupdate"
strip "$context/cfgupdate"
cp /etc/ssl/certs/ca-certificates.crt "$context/ca-certificates.crt"
printf 'root:x:0:0:root:/:/sbin/nologin\ncfgupdate:x:65532:65532:cfgupdate:/var/cache/cfgupdate:/sbin/nologin\n' \
  >"$context/passwd"
printf 'root:x:0:\ncfgupdate:x:65532:\n' >"$context/group"
mkdir -p "$context/cache"

echo "image.sh: podman build $tag" >&2
podman build --quiet --tag "$tag" --file Containerfile "$context" >/dev/null

# The smoke test, on a copy of the image's root filesystem.
root="$work/root"
mnt=$(podman image mount "$tag")
mounted=1
cp -a "$mnt" "$root"
podman image unmount "$tag" >/dev/null
mounted=
user=$(podman image inspect --format '{{.Config.User}}' "$tag")
[ "$user" = "65532:65532" ] || { echo "image.sh: the image runs as '$user', not 65532" >&2; exit 1; }
# The image's own environment (its ENV lines), and nothing of this shell's.
mapfile -t image_env < <(podman image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$tag" | sed '/^$/d')
run() { env -i "${image_env[@]}" "${extra_env[@]}" chroot --userspec="$user" "$root" /usr/local/bin/cfgupdate "$@"; }
extra_env=()

reported=$(run --version)
echo "image.sh: in the image: $reported" >&2
case "$reported" in "cfgupdate $version"*) ;; *) echo "image.sh: unexpected --version: $reported" >&2; exit 1 ;; esac

# A config repository on a git daemon (loopback), and serve from the image.
repo="$work/remote/cfg.git"
git init -q --bare --initial-branch=main "$repo"
seed="$work/seed"
git init -q --initial-branch=main "$seed"
cat >"$seed/cfgupdate.toml" <<'TOML'
[[wave]]
name = "staging"
images = "images/staging.json"
targets = ["staging"]

[target.staging]
entrypoint = "envs/staging.jsonnet"
TOML
mkdir -p "$seed/images" "$seed/envs"
echo '{}' >"$seed/images/staging.json"
echo '[]' >"$seed/envs/staging.jsonnet"
git -C "$seed" add -A
git -C "$seed" -c user.name=image.sh -c user.email=image@example.invalid commit -q -m "A pipeline"
git -C "$seed" push -q "$repo" main
touch "$repo/git-daemon-export-ok"
git_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
git daemon --listen=127.0.0.1 --port="$git_port" --base-path="$work/remote" --export-all \
  --enable=receive-pack --reuseaddr "$work/remote" >"$work/daemon.log" 2>&1 &
daemon_pid=$!

extra_env=(CFGUPDATE_DEPLOY_TOKEN=smoke CFGUPDATE_CI_TOKEN=smoke-ci CFGUPDATE_ADMIN_TOKEN=smoke-admin)
run serve --repo "git://127.0.0.1:$git_port/cfg.git" --branch main --listen 127.0.0.1:0 \
  >"$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
address=
for _ in $(seq 1 100); do
  address=$(sed -n 's#^listening on http://##p' "$work/serve.out" | head -n 1)
  [ -n "$address" ] && break
  kill -0 "$serve_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$address" ] || { echo "image.sh: serve did not start:" >&2; cat "$work/serve.err" >&2; exit 1; }
for probe in healthz readyz; do
  code=000
  for _ in $(seq 1 100); do
    code=$(curl --silent --output /dev/null --write-out '%{http_code}' "http://$address/$probe" || true)
    [ "$code" = 200 ] && break
    sleep 0.1
  done
  [ "$code" = 200 ] || { echo "image.sh: /$probe answered $code" >&2; cat "$work/serve.err" >&2; exit 1; }
  echo "image.sh: /$probe 200 from the image's binary, as uid 65532" >&2
done

size=$(podman image inspect --format '{{.Size}}' "$tag")
echo "image.sh: built $tag, $((size / 1024 / 1024)) MiB ($size bytes); smoke test passed"
