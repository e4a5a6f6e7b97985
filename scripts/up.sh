#!/usr/bin/env bash
# Runs the stack for real, in the foreground: builds release binaries,
# starts the identity provider and the demo resource server on fixed
# loopback ports with a data directory that survives restarts, creates an
# admin client on the first start (its secret is printed that once), prints
# the URLs an application needs, streams both servers' logs with a prefix,
# and stops both cleanly on Ctrl-C (SIGINT) or SIGTERM.
#
#   scripts/up.sh [--data-dir DIR] [--idp-bind ADDR] [--rs-bind ADDR]
#                 [--idp-arg ARG]... [--rs-arg ARG]... [-- ARG...]
#
# --data-dir DIR   where the SQLite database, the mail outbox and the admin
#                  client's record live (env UP_DATA_DIR; default ./data)
# --idp-bind ADDR  the IdP's address (env UP_IDP_BIND; default 127.0.0.1:8080)
# --rs-bind ADDR   the resource server's (env UP_RS_BIND; default 127.0.0.1:8081)
# --idp-arg ARG    one more argument for `idp serve` (repeatable)
# --rs-arg ARG     one more argument for `resource-server` (repeatable)
# -- ARG...        arguments for both (flags both understand: --log-format,
#                  --max-connections)
# IDP_* and RS_* environment variables reach the binaries as they are
# (IDP_DB=postgres://... for PostgreSQL, IDP_ISSUER behind a proxy, ...).
# UP_BIN_DIR=DIR uses the `idp` and `resource-server` binaries in DIR
# instead of building release binaries.
#
# Exits 0 when both servers stopped cleanly after a signal; non-zero when
# either failed to start or stopped on its own.
set -euo pipefail

DATA_DIR=${UP_DATA_DIR:-./data}
IDP_BIND_ADDR=${UP_IDP_BIND:-127.0.0.1:8080}
RS_BIND_ADDR=${UP_RS_BIND:-127.0.0.1:8081}
IDP_EXTRA=()
RS_EXTRA=()
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit "$1"; }
while [ $# -gt 0 ]; do
  case $1 in
    --data-dir) DATA_DIR=${2:?--data-dir needs a directory}; shift 2 ;;
    --idp-bind) IDP_BIND_ADDR=${2:?--idp-bind needs an address}; shift 2 ;;
    --rs-bind) RS_BIND_ADDR=${2:?--rs-bind needs an address}; shift 2 ;;
    --idp-arg) IDP_EXTRA+=("${2?--idp-arg needs an argument}"); shift 2 ;;
    --rs-arg) RS_EXTRA+=("${2?--rs-arg needs an argument}"); shift 2 ;;
    --) shift; IDP_EXTRA+=("$@"); RS_EXTRA+=("$@"); break ;;
    -h|--help) usage 0 ;;
    *) echo "up.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

command -v curl >/dev/null || { echo "up.sh needs curl on PATH" >&2; exit 1; }
# Paths are taken relative to where the script was called from.
mkdir -p "$DATA_DIR"
DATA_DIR=$(cd "$DATA_DIR" && pwd)
if [ -n "${UP_BIN_DIR:-}" ]; then UP_BIN_DIR=$(cd "$UP_BIN_DIR" && pwd); fi
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/stack.sh
source scripts/lib/stack.sh

if [ -z "${UP_BIN_DIR:-}" ]; then echo "up: building release binaries (cargo build --release)"; fi
stack_bins release

export IDP_DB=${IDP_DB:-$DATA_DIR/idp.db}
export IDP_OUTBOX=${IDP_OUTBOX:-$DATA_DIR/outbox}
# The servers write to pipes here, so they would pick JSON logs; follow
# this script's own output instead.
if [ -t 2 ]; then LOG_FORMAT=text; else LOG_FORMAT=json; fi
export IDP_LOG_FORMAT=${IDP_LOG_FORMAT:-$LOG_FORMAT} RS_LOG_FORMAT=${RS_LOG_FORMAT:-$LOG_FORMAT}

ADMIN_ID=${UP_ADMIN_ID:-admin}
ADMIN_RECORD=$DATA_DIR/admin-client.txt
ADMIN_NOTE=
if [ ! -e "$ADMIN_RECORD" ]; then
  # First start: the database and its signing keys are created by this
  # command, the admin client with them. Its secret is printed only here.
  if ! created=$("$BIN/idp" clients create --id "$ADMIN_ID" --admin --scope "api:read profile" 2>&1); then
    echo "up: could not create the admin client:" >&2
    echo "$created" >&2
    exit 1
  fi
  ADMIN_SECRET=$(awk '/^client_secret:/ {print $2}' <<<"$created")
  {
    echo "client_id: $ADMIN_ID"
    echo "created: $(date -u +%Y-%m-%dT%H:%M:%SZ) by scripts/up.sh (the secret was printed then and is not stored)"
  } >"$ADMIN_RECORD"
  ADMIN_NOTE=$(printf '%s\n' \
    "admin client (printed this once; store the secret now):" \
    "  client_id:     $ADMIN_ID" \
    "  client_secret: $ADMIN_SECRET" \
    "  scope:         admin api:read profile")
else
  ADMIN_NOTE=$(printf '%s\n' \
    "admin client: $(awk '/^client_id:/ {print $2}' "$ADMIN_RECORD") exists; its secret was printed on the first start" \
    "  ($(sed -n 's/^created: //p' "$ADMIN_RECORD"));" \
    "  another one: IDP_DB=$IDP_DB $BIN/idp clients create --id NAME --admin")
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/idp-up.XXXXXX")
PIDS=()
STOPPING=
stop() {
  STOPPING=1
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
}
trap stop INT TERM
trap 'rm -rf "$WORK"' EXIT

stack_start "$WORK/idp" --prefix idp "$BIN/idp" serve --bind "$IDP_BIND_ADDR" "${IDP_EXTRA[@]}" \
  || { stop; wait; exit 1; }
IDP_PID=$PID
ISSUER=$(sed -n 's/.*(issuer \(.*\))$/\1/p' <<<"$LINE")
stack_start "$WORK/rs" --prefix rs "$BIN/resource-server" --bind "$RS_BIND_ADDR" --issuer "$ISSUER" \
  "${RS_EXTRA[@]}" || { stop; wait; exit 1; }
RS_PID=$PID
API="http://$ADDR"

cat <<INFO

== the stack is up (data in $DATA_DIR; Ctrl-C stops it)
issuer:        $ISSUER
discovery:     $ISSUER/.well-known/openid-configuration
JWKS:          $ISSUER/jwks
token:         $ISSUER/token
sign-in:       $ISSUER/authorize?response_type=code&client_id=CLIENT&redirect_uri=URI&scope=openid&code_challenge=...&code_challenge_method=S256
               (register a browser client: $BIN/idp clients create --id CLIENT --redirect-uri URI)
demo API:      $API/api/public, $API/api/private, $API/api/private-scoped, $API/user/profile
metrics:       $ISSUER/metrics, $API/metrics
$ADMIN_NOTE
try:           curl -s -u $ADMIN_ID:SECRET -d grant_type=client_credentials $ISSUER/token
pids:          idp $IDP_PID, resource-server $RS_PID

INFO

# Until a signal arrives or a server stops on its own.
set +e
declare -A STATUS=()
while [ -z "$STOPPING" ] && [ "${#STATUS[@]}" -eq 0 ]; do
  which=
  wait -n -p which "$IDP_PID" "$RS_PID"
  code=$?
  [ -n "${which:-}" ] && STATUS[$which]=$code
done
unexpected=
if [ -z "$STOPPING" ]; then
  unexpected=1
  echo "up: a server stopped on its own; stopping the other" >&2
  stop
fi
for pid in "$IDP_PID" "$RS_PID"; do
  if [ -z "${STATUS[$pid]:-}" ]; then wait "$pid"; STATUS[$pid]=$?; fi
done
idp_status=${STATUS[$IDP_PID]} rs_status=${STATUS[$RS_PID]}
echo "up: idp exited $idp_status, resource-server exited $rs_status"
if [ -z "$unexpected" ] && [ "$idp_status" = 0 ] && [ "$rs_status" = 0 ]; then exit 0; fi
exit 1
