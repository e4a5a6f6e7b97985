#!/usr/bin/env bash
# Replays the attacks of issue 10 against the stack on loopback and prints
# what held, as one table (scenario | measured | goal | held), so an
# operator can re-check a deployment. Exits 1 when a row did not hold.
#
#   scripts/abuse.sh [--quick] [--postgres URL] [--bcrypt-cost N]
#                    [--max-connections N] [--only LIST]
#   scripts/abuse.sh --idp URL --rs URL [--client-id ID --client-secret S]
#                    [--quick] [--only LIST]
#
# By default it builds release binaries (cargo build --release --bins) and
# starts an IdP (SQLite, in a temporary directory) and the demo resource
# server on free loopback ports, with an admin client made for the run,
# and stops and deletes them on exit. The servers keep their defaults
# except --bcrypt-cost (default 10 here, the product's is 12: the
# scenarios make hundreds of password checks) and --max-connections
# (default 4000 here, the product's is 10000: the overflow scenario
# opens the cap plus 500 connections).
#
# Scenarios (each with a count and a time cap; about 5 minutes on 2
# cores, --quick about 2):
#   guessing      1. 300 concurrent wrong passwords for one email from 10
#                    addresses: password checks (idp_password_checks_total);
#                    then the owner's right password from its own address
#                 2. the owner logs in while another address hammers
#   long-emails   3. 1,000 logins with 300 KB emails (JSON, Basic): IdP RSS
#   signup-flood  4. 256 concurrent signups from one address; a normal
#                    login's latency during it against at rest
#   refresh       5. one session refreshed 10,000 times (40 s at most):
#                    database bytes per refresh, reuse still detected
#   revocations   6. 5,000 access tokens revoked: /revoke latency early vs
#                    late, the feed's size, an incremental poll if offered
#   connections   7. 3,000 slow connections at each server: a normal
#                    request's latency; past the cap, the WARN lines
#   postgres      8. with a PostgreSQL URL: two instances share the
#                    guessing limit; a locked table fails only its requests
#
# --quick             smaller counts and caps
# --only LIST         comma-separated scenario names (above)
# --postgres URL      a PostgreSQL superuser URL (env IDP_TEST_POSTGRES_URL):
#                     a throw-away database is created and dropped
# --bcrypt-cost N     the started IdP's bcrypt cost (env ABUSE_BCRYPT_COST)
# --max-connections N the started servers' cap (env ABUSE_MAX_CONNECTIONS)
# --idp URL --rs URL  a running stack instead (loopback URLs only; other
#                     addresses are refused). Scenarios that read a server's
#                     process, database or logs (the memory row of 3, the disk
#                     row of 5, the overflow rows of 7, and 8) are skipped. Scenario 6
#                     needs a client: --client-id/--client-secret (env
#                     ABUSE_CLIENT_ID, ABUSE_CLIENT_SECRET). It creates
#                     accounts named *-NNNNNN@example.com and spends their
#                     limits: point it at a deployment you can clean.
# --login-rate N      the running IdP's --login-rate, which row 4 checks
#                     signups against (default 60, the product's default)
# UP_BIN_DIR=DIR      use the binaries in DIR instead of building.
#
# Needs python3 (standard library only), curl, and psql for PostgreSQL.
set -euo pipefail

IDP_URL= RS_URL= QUICK= ONLY=
PG_URL=${IDP_TEST_POSTGRES_URL:-}
COST=${ABUSE_BCRYPT_COST:-10}
MAX_CONNECTIONS=${ABUSE_MAX_CONNECTIONS:-4000}
CLIENT_ID=${ABUSE_CLIENT_ID:-} CLIENT_SECRET=${ABUSE_CLIENT_SECRET:-}
LOGIN_RATE=60
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit "$1"; }
while [ $# -gt 0 ]; do
  case $1 in
    --idp) IDP_URL=${2:?--idp needs a URL}; shift 2 ;;
    --rs) RS_URL=${2:?--rs needs a URL}; shift 2 ;;
    --client-id) CLIENT_ID=${2:?--client-id needs an id}; shift 2 ;;
    --client-secret) CLIENT_SECRET=${2:?--client-secret needs a secret}; shift 2 ;;
    --postgres) PG_URL=${2:?--postgres needs a URL}; shift 2 ;;
    --bcrypt-cost) COST=${2:?--bcrypt-cost needs a number}; shift 2 ;;
    --max-connections) MAX_CONNECTIONS=${2:?--max-connections needs a number}; shift 2 ;;
    --login-rate) LOGIN_RATE=${2:?--login-rate needs a number}; shift 2 ;;
    --only) ONLY=${2:?--only needs a list}; shift 2 ;;
    --quick) QUICK=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "abuse.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
for tool in python3 curl; do
  command -v "$tool" >/dev/null || { echo "abuse.sh needs $tool" >&2; exit 1; }
done

# loopback URL: refuses anything whose host is not on this machine's loopback.
loopback() {
  python3 - "$1" <<'PY'
import ipaddress, sys, urllib.parse
url = urllib.parse.urlsplit(sys.argv[1])
host = url.hostname or ""
try:
    ok = url.scheme == "http" and (host == "localhost" or ipaddress.ip_address(host).is_loopback)
except ValueError:
    ok = False
sys.exit(0 if ok else 1)
PY
}

if [ -n "${UP_BIN_DIR:-}" ]; then UP_BIN_DIR=$(cd "$UP_BIN_DIR" && pwd); fi
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/stack.sh
source scripts/lib/stack.sh

WORK=$(mktemp -d "${TMPDIR:-/tmp}/idp-abuse.XXXXXX")
PIDS=()
PG_DB=
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$PG_DB" ]; then psql -q -X "$PG_URL" -c "DROP DATABASE IF EXISTS $PG_DB" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# The slow-connection scenario holds thousands of sockets.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

ARGS=()
[ -n "$QUICK" ] && ARGS+=(--quick)
[ -n "$ONLY" ] && ARGS+=(--only "$ONLY")

echo "== machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(uname -sr)"
echo "   load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"

if [ -n "$IDP_URL" ] || [ -n "$RS_URL" ]; then
  [ -n "$IDP_URL" ] && [ -n "$RS_URL" ] || { echo "abuse.sh: --idp and --rs go together" >&2; exit 2; }
  for url in "$IDP_URL" "$RS_URL"; do
    loopback "$url" || { echo "abuse.sh: $url is not a loopback http URL; this script attacks only this machine" >&2; exit 2; }
  done
  IDP_URL=${IDP_URL%/} RS_URL=${RS_URL%/}
  curl -fsS -o /dev/null "$IDP_URL/jwks" || { echo "abuse.sh: no IdP answers at $IDP_URL" >&2; exit 1; }
  echo "== a running stack: IdP $IDP_URL, resource server $RS_URL (process, database and log scenarios skipped)"
  [ -n "$PG_URL" ] && echo "   (--postgres is ignored with a running stack)"
  ABUSE_CLIENT_ID=$CLIENT_ID ABUSE_CLIENT_SECRET=$CLIENT_SECRET \
    python3 scripts/lib/abuse.py --idp "$IDP_URL" --rs "$RS_URL" --login-rate "$LOGIN_RATE" "${ARGS[@]}"
  exit $?
fi

if [ -z "${UP_BIN_DIR:-}" ]; then
  echo "== building release binaries (cargo build --release --bins)"
  cargo build --quiet --release --bins
  export UP_BIN_DIR=target/release
fi
stack_bins release

# Warnings only: the overflow lines are what scenario 7 counts.
export IDP_LOG=warn RUST_LOG=warn IDP_LOG_FORMAT=json RS_LOG_FORMAT=json
export IDP_DB=$WORK/idp.db IDP_OUTBOX=$WORK/outbox
CLIENT_ID=abuse
CLIENT_SECRET=$("$BIN/idp" clients create --id "$CLIENT_ID" --admin --scope "api:read" 2>/dev/null |
  awk '/^client_secret:/ {print $2}')
[ -n "$CLIENT_SECRET" ] || { echo "abuse.sh: could not create the client" >&2; exit 1; }
stack_start "$WORK/idp" "$BIN/idp" serve --bind 127.0.0.1:0 --bcrypt-cost "$COST" --login-rate 60 \
  --max-connections "$MAX_CONNECTIONS"
IDP_URL="http://$ADDR" IDP_PID=$PID
stack_start "$WORK/rs" "$BIN/resource-server" --bind 127.0.0.1:0 --issuer "$IDP_URL" \
  --max-connections "$MAX_CONNECTIONS"
RS_URL="http://$ADDR"
echo "== the stack: IdP $IDP_URL (SQLite, bcrypt cost $COST, --login-rate 60), resource server $RS_URL, --max-connections $MAX_CONNECTIONS"

PG_ARGS=()
if [ -n "$PG_URL" ] && { [ -z "$ONLY" ] || [[ ",$ONLY," == *,postgres,* ]]; }; then
  command -v psql >/dev/null || { echo "abuse.sh: --postgres needs psql" >&2; exit 1; }
  PG_DB=idp_abuse_$$
  psql -q -X "$PG_URL" -c "CREATE DATABASE $PG_DB" >/dev/null
  PG_DB_URL=$(printf '%s' "$PG_URL" | sed -E "s#/[^/?]*(\\?|\$)#/$PG_DB\\1#")
  # Two instances on one database; the first creates the tables.
  stack_start "$WORK/pg1" env IDP_DB="$PG_DB_URL" "$BIN/idp" serve --bind 127.0.0.1:0 --bcrypt-cost "$COST"
  PG1="http://$ADDR"
  stack_start "$WORK/pg2" env IDP_DB="$PG_DB_URL" "$BIN/idp" serve --bind 127.0.0.1:0 --bcrypt-cost "$COST"
  PG2="http://$ADDR"
  echo "== PostgreSQL $(psql -tA -X "$PG_URL" -c 'SHOW server_version'): two IdP instances on database $PG_DB: $PG1, $PG2"
  PG_ARGS=(--pg-idp "$PG1" "$PG2" --pg-db-url "$PG_DB_URL")
else
  echo "== PostgreSQL: no URL (--postgres URL or IDP_TEST_POSTGRES_URL): scenario 8 skipped"
fi

set +e
ABUSE_CLIENT_ID=$CLIENT_ID ABUSE_CLIENT_SECRET=$CLIENT_SECRET \
  python3 scripts/lib/abuse.py --idp "$IDP_URL" --rs "$RS_URL" --idp-pid "$IDP_PID" --db "$IDP_DB" \
  --idp-log "$WORK/idp.err" --rs-log "$WORK/rs.err" --max-connections "$MAX_CONNECTIONS" \
  "${PG_ARGS[@]}" "${ARGS[@]}"
status=$?
echo "   load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit "$status"
