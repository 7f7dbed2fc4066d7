#!/usr/bin/env bash
# Announce CI's new images to cfgupdate: POST /v1/images, signed with an HMAC or sent with a
# bearer token. Needs bash, curl (7.76 or later) and, to sign, openssl.
#
#   announce.sh [--legacy] [--build N] URL APP_COMMIT SERVICE=REF [SERVICE=REF ...]
#
#   URL         the service, e.g. https://cfgupdate.example.com
#   APP_COMMIT  the full (40 hex) app commit the images were built from
#   SERVICE=REF each image pinned by digest: api=registry.example.com/team/api:<tag>@sha256:<hex>
#   --legacy    send the original design's payload, {"api": {"Tag": ..., "Digest": ...}} with
#               ?app_commit= in the query string, instead of {"app_commit": ..., "images": ...}
#   --build N   the CI build number (new payload only), so an older build is refused as stale
#
# Credentials (one of them), from the environment:
#   CFGUPDATE_CI_HMAC_SECRET  signs the body: X-Hub-Signature-256: sha256=<hex HMAC-SHA256>
#   CFGUPDATE_CI_TOKEN        sent as Authorization: Bearer <token>
#
# Prints the service's answer ({"result": "committed", ...} or {"result": "unchanged"}).
# Exit status: 0 accepted, 2 usage, otherwise curl's (22: the service refused, see its answer).
# `announce.sh --print-signature` reads a body on stdin and prints only its signature header
# value, which is how the tests check the HMAC.
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
  exit 2
}

die() {
  echo "announce.sh: $*" >&2
  exit 2
}

# The signature of stdin's bytes with CFGUPDATE_CI_HMAC_SECRET.
# openssl takes the key on its command line: run this on a CI runner no one else shares.
signature() {
  local hex
  hex=$(openssl dgst -sha256 -hmac "$CFGUPDATE_CI_HMAC_SECRET" -r | cut -d' ' -f1)
  [[ $hex =~ ^[0-9a-f]{64}$ ]] || die "openssl did not produce an HMAC-SHA256"
  printf 'sha256=%s' "$hex"
}

if [[ ${1:-} == --print-signature ]]; then
  [[ -n ${CFGUPDATE_CI_HMAC_SECRET:-} ]] || die "CFGUPDATE_CI_HMAC_SECRET is not set"
  signature
  echo
  exit 0
fi

legacy=false
build=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --legacy) legacy=true; shift ;;
    --build) [[ $# -ge 2 ]] || usage; build=$2; shift 2 ;;
    -h|--help) usage ;;
    --) shift; break ;;
    -*) die "unknown option $1" ;;
    *) break ;;
  esac
done
[[ $# -ge 3 ]] || usage
url=${1%/}
app_commit=$2
shift 2

[[ $app_commit =~ ^[0-9a-f]{40}$ ]] || die "the app commit '$app_commit' is not 40 lower-case hex digits"
[[ -z $build || $build =~ ^[0-9]+$ ]] || die "--build '$build' is not a number"
if $legacy && [[ -n $build ]]; then
  die "--build needs the new payload; the original design's payload has no place for it"
fi

# Every value is checked against a character set that needs no JSON escaping, so the body can be
# built with printf and is exactly the bytes that are signed.
entries=()
for pair in "$@"; do
  [[ $pair == *=* ]] || die "'$pair' is not SERVICE=REF"
  service=${pair%%=*}
  ref=${pair#*=}
  [[ $service =~ ^[a-z0-9][a-z0-9_.-]{0,62}$ ]] || die "'$service' is not a service name"
  [[ $ref =~ ^[a-z0-9][A-Za-z0-9._/:-]*@sha256:[0-9a-f]{64}$ ]] \
    || die "the image '$ref' for '$service' is not a reference pinned by a sha256 digest"
  if $legacy; then
    name_tag=${ref%@*}
    tag=${name_tag##*:}
    [[ $name_tag == *:* && $tag != */* ]] || die "the image '$ref' for '$service' has no tag, which --legacy needs"
    name=${name_tag%:*}
    entries+=("$(printf '"%s":{"Tag":"%s","Digest":"%s@%s"}' "$service" "$name_tag" "$name" "${ref##*@}")")
  else
    entries+=("$(printf '"%s":"%s"' "$service" "$ref")")
  fi
done

joined=$(IFS=,; printf '%s' "${entries[*]}")
if $legacy; then
  body="{$joined}"
  endpoint="$url/v1/images?app_commit=$app_commit"
else
  body=$(printf '{"app_commit":"%s","images":{%s}' "$app_commit" "$joined")
  [[ -z $build ]] || body+=$(printf ',"build":{"number":%s}' "$build")
  body+="}"
  endpoint="$url/v1/images"
fi

headers=(--header 'Content-Type: application/json')
if [[ -n ${CFGUPDATE_CI_HMAC_SECRET:-} ]]; then
  headers+=(--header "X-Hub-Signature-256: $(printf '%s' "$body" | signature)")
  auth=""
elif [[ -n ${CFGUPDATE_CI_TOKEN:-} ]]; then
  auth="Authorization: Bearer $CFGUPDATE_CI_TOKEN"
else
  die "set CFGUPDATE_CI_HMAC_SECRET or CFGUPDATE_CI_TOKEN"
fi

# The token reaches curl on stdin (--header @-), never on its command line. curl retries what
# may pass (connection refused, timeouts, 429, 5xx with their Retry-After); a refusal (4xx) is
# final.
printf '%s\n' "$auth" | curl --fail-with-body --silent --show-error --max-time 60 \
  --retry 5 --retry-connrefused \
  --header @- "${headers[@]}" --data-binary "$body" "$endpoint"
echo
