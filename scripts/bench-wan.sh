#!/usr/bin/env bash
# Issue 16's benchmark: publishing over https across a network with a round trip, in one run.
#
# nginx + fcgiwrap + `git http-backend` serve the remotes over TLS (a test CA made here with
# openssl, a token checked by nginx), behind `cfgupdate-delay-proxy`, which holds every chunk
# DELAY_MS (default 20) in each direction. Everything that talks to the remotes (the service,
# the git CLI) goes through the proxy. On the small repository and on the large one (FILES
# files, COMMITS commits), side by side, in interleaved rounds:
#
#   - service publish: `POST /v1/images`, answered once the commit is pushed;
#   - bare `git push` of a ready commit (the commit is made first, only the push is timed);
#   - the script a team would write instead: shallow clone, edit, commit, push, timed whole;
#   - report-to-promotion: `POST /v1/deployments` saying staging runs the commit just
#     published, answered once the promotion into production is pushed.
#
# nginx's access log gives the HTTP requests (and TLS connections) each of them costs.
#
#   scripts/bench-wan.sh                             # ROUNDS=20 on both sizes
#   ROUNDS=10 SCRIPT_ROUNDS=3 FILES=50000 COMMITS=20000 scripts/bench-wan.sh
#   SIZES=small scripts/bench-wan.sh                 # the small repository only
#
# Every process it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
rounds=${ROUNDS:-20}
script_rounds=${SCRIPT_ROUNDS:-5}
delay_ms=${DELAY_MS:-20}
files=${FILES:-50000}
commits=${COMMITS:-20000}
sizes=${SIZES:-small large}

if [ -n "${CFGUPDATE_BIN:-}" ]; then
  bin=$CFGUPDATE_BIN
  proxy_bin=${DELAY_PROXY_BIN:?set DELAY_PROXY_BIN with CFGUPDATE_BIN}
else
  cargo build --release -q -p cfgupdate-cli -p cfgupdate-tests --bin cfgupdate --bin cfgupdate-delay-proxy
  bin=${CARGO_TARGET_DIR:-$root/target}/release/cfgupdate
  proxy_bin=${CARGO_TARGET_DIR:-$root/target}/release/cfgupdate-delay-proxy
fi

source "$root/scripts/lib-bench.sh" # $work, the seed repository, digest(), now()

# Each server runs in a process group of its own (setsid), so stopping it stops what it forked
# (fcgiwrap's workers, the CGI processes).
pids=()
stop_all() {
  for pid in "${pids[@]}"; do
    kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}
trap 'stop_all; cleanup' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { # port pid what
  local deadline=$(( $(date +%s) + 30 ))
  until python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 1)" 2>/dev/null; do
    if ! kill -0 "$2" 2>/dev/null || [ "$(date +%s)" -gt "$deadline" ]; then echo "$3 did not start" >&2; exit 1; fi
    sleep 0.05
  done
}
load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "machine: $(nproc) cores, $(rustc --version), load average at start $(load); one-way delay ${delay_ms} ms"

# TLS: a CA and a server certificate for 127.0.0.1.
pki=$work/pki; mkdir -p "$pki"
( cd "$pki"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
    -days 2 -subj "/CN=cfgupdate bench CA" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr \
    -subj "/CN=127.0.0.1" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem \
    -days 2 -extfile server.ext 2>/dev/null )
token=tok-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf 'x-access-token:%s\n' "$(openssl passwd -apr1 "$token")" > "$work/htpasswd"

# fcgiwrap and nginx in front of git http-backend, serving $work/srv.
mkdir -p "$work/nginx/logs" "$work/nginx/tmp"
setsid fcgiwrap -c 4 -s "unix:$work/fcgiwrap.sock" >"$work/nginx/logs/fcgiwrap.log" 2>&1 </dev/null &
pids+=($!)
nginx_port=$(free_port)
user_line=""; [ "$(id -u)" = 0 ] && user_line="user root;"
cat > "$work/nginx/nginx.conf" <<CONF
daemon off;
master_process off;
$user_line
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log;
events { worker_connections 512; }
http {
  log_format requests '\$connection \$connection_requests \$status "\$request"';
  access_log $work/nginx/logs/access.log requests;
  client_body_temp_path $work/nginx/tmp/body;
  proxy_temp_path $work/nginx/tmp/proxy;
  fastcgi_temp_path $work/nginx/tmp/fastcgi;
  uwsgi_temp_path $work/nginx/tmp/uwsgi;
  scgi_temp_path $work/nginx/tmp/scgi;
  client_max_body_size 0;
  keepalive_requests 1000;
  server {
    listen 127.0.0.1:$nginx_port ssl;
    ssl_certificate $pki/server.pem;
    ssl_certificate_key $pki/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      auth_basic "git";
      auth_basic_user_file $work/htpasswd;
      fastcgi_pass unix:$work/fcgiwrap.sock;
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $(git --exec-path)/git-http-backend;
      fastcgi_param GIT_PROJECT_ROOT $work/srv;
      fastcgi_param GIT_HTTP_EXPORT_ALL "";
      fastcgi_param PATH_INFO \$uri;
      fastcgi_param REMOTE_USER \$remote_user;
      fastcgi_request_buffering off;
      fastcgi_buffering off;
    }
  }
}
CONF
setsid nginx -p "$work/nginx" -e "$work/nginx/logs/error.log" -c "$work/nginx/nginx.conf" \
  >"$work/nginx/logs/nginx.out" 2>&1 </dev/null &
pids+=($!)
wait_port "$nginx_port" "${pids[-1]}" nginx

# The delay proxy in front of nginx: the only way in.
setsid "$proxy_bin" --to "127.0.0.1:$nginx_port" --delay-ms "$delay_ms" >"$work/proxy.out" 2>&1 </dev/null &
pids+=($!)
until grep -q '^listening on ' "$work/proxy.out" 2>/dev/null; do sleep 0.05; done
proxy_port=$(sed -n 's/^listening on 127.0.0.1://p' "$work/proxy.out")
base="https://127.0.0.1:$proxy_port"

# The git CLI trusts the CA and sends the token (as a credential helper would).
export GIT_SSL_CAINFO=$pki/ca.pem GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0
authed="https://x-access-token:$token@127.0.0.1:$proxy_port"

# The remotes: per size, one the service publishes to, one for the bare pushes, one for the
# script, all from the same seed.
for size in $sizes; do
  if [ "$size" = small ]; then
    git clone -q --bare "$work/seed" "$work/srv/$size-origin.git"
  else
    git init -q --bare -b master "$work/srv/$size-origin.git"
    t0=$(now)
    python3 scripts/make-scale-repo.py "$files" "$commits" "$work/seed" \
      | git -C "$work/srv/$size-origin.git" fast-import --quiet
    git -C "$work/srv/$size-origin.git" gc -q
    echo "large repository: $(git -C "$work/srv/$size-origin.git" ls-tree -r master | wc -l) files, $(git -C "$work/srv/$size-origin.git" rev-list --count master) commits, $(du -sh "$work/srv/$size-origin.git" | cut -f1), made in $(( ($(now) - t0) / 1000000 )) ms"
  fi
  for use in service push script; do
    git clone -q --bare "$work/srv/$size-origin.git" "$work/srv/$size-$use.git"
    git -C "$work/srv/$size-$use.git" config http.receivepack true
  done
done

# One service per size, its cache warmed by a first clone over the delayed network.
declare -A addr
for size in $sizes; do
  out=$work/serve-$size.out
  CFGUPDATE_GIT_TOKEN=$token CFGUPDATE_GIT_CA_FILE=$pki/ca.pem \
    setsid "$bin" serve --repo "$base/$size-service.git" --cache-dir "$work/cache-$size" \
    --listen 127.0.0.1:0 --insecure-no-auth >"$out" 2>"$work/serve-$size.log" </dev/null &
  pids+=($!)
  deadline=$(( $(date +%s) + 60 ))
  until grep -q '^listening on http://' "$out" 2>/dev/null; do
    if ! kill -0 "${pids[-1]}" 2>/dev/null || [ "$(date +%s)" -gt "$deadline" ]; then
      echo "the service on $size did not start:" >&2; cat "$work/serve-$size.log" >&2; exit 1
    fi
    sleep 0.05
  done
  addr[$size]=$(sed -n 's|^listening on http://||p' "$out" | head -n1)
  git clone -q "$authed/$size-push.git" "$work/pushclone-$size"
done

python3 "$root/scripts/bench-wan.py" \
  --work "$work" --sizes "$sizes" --rounds "$rounds" --script-rounds "$script_rounds" \
  --access-log "$work/nginx/logs/access.log" --authed "$authed" \
  $(for size in $sizes; do printf -- '--service %s=%s ' "$size" "${addr[$size]}"; done)
echo "load average at the end: $(load)"
