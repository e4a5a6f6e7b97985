#!/usr/bin/env bash
# Rotate the IdP's signing keys: next -> current, current -> retired, a new
# next; then prune retired keys whose tokens have all expired. Prints the key
# list before and after. Safe to run while IdPs are serving: running
# instances pick the change up within a few seconds (or at once on SIGHUP).
#
# On the database (the host runs the IdP):
#   scripts/rotate-keys.sh [--db PATH] [--force]
#     uses IDP_DB, IDP_ACCESS_TTL, IDP_JWKS_MAX_AGE and IDP_KEY_ENCRYPTION_KEY
#     like `idp serve` does; the idp binary is $IDP_BIN, `idp` on PATH, or
#     this checkout's target/{release,debug}/idp.
#
# Over HTTP (with an admin client's credentials):
#   IDP_ADMIN_CLIENT_ID=ops IDP_ADMIN_CLIENT_SECRET=... \
#     scripts/rotate-keys.sh --url https://idp.example.com [--force]
set -euo pipefail

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

DB=${IDP_DB:-}
URL=
FORCE=false
while [ $# -gt 0 ]; do
  case "$1" in
    --db) DB=$2; shift 2 ;;
    --url) URL=${2%/}; shift 2 ;;
    --force) FORCE=true; shift ;;
    -h|--help) usage 0 ;;
    *) echo "unknown argument: $1" >&2; usage 2 >&2 ;;
  esac
done

if [ -n "$URL" ]; then
  for tool in curl jq; do command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }; done
  : "${IDP_ADMIN_CLIENT_ID:?set IDP_ADMIN_CLIENT_ID}" "${IDP_ADMIN_CLIENT_SECRET:?set IDP_ADMIN_CLIENT_SECRET}"
  token=$(curl -fsS -u "$IDP_ADMIN_CLIENT_ID:$IDP_ADMIN_CLIENT_SECRET" \
    -d grant_type=client_credentials -d scope=admin "$URL/token" | jq -r .access_token)
  show() {
    jq -r 'def t: if . == null then "-" else todate end;
      ["kid", "state", "created", "activated", "retired"],
      (.keys[] | [.kid, .state, (.created_at|t), (.activated_at|t), (.retired_at|t)]) | @tsv'
  }
  call() { curl -sS -H "authorization: Bearer $token" -H 'content-type: application/json' "$@"; }
  echo "== keys before"
  call "$URL/admin/keys" | show
  echo "== rotate"
  answer=$(call -X POST -d "{\"force\":$FORCE}" -w '\n%{http_code}' "$URL/admin/keys/rotate")
  status=${answer##*$'\n'}
  body=${answer%$'\n'*}
  if [ "$status" != 200 ]; then
    echo "rotation refused ($status): $(jq -r .error_description <<<"$body")" >&2
    exit 1
  fi
  jq -r '"promoted \(.promoted), retired \(.retired // "nothing")"' <<<"$body"
  echo "== prune"
  call -X POST "$URL/admin/keys/prune" | jq -r 'if (.pruned|length) == 0 then "nothing to prune" else .pruned[] | "pruned \(.)" end'
  echo "== keys after"
  call "$URL/admin/keys" | show
  exit 0
fi

here=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${IDP_BIN:-}" ]; then idp=$IDP_BIN
elif command -v idp >/dev/null; then idp=$(command -v idp)
elif [ -x "$here/target/release/idp" ]; then idp=$here/target/release/idp
elif [ -x "$here/target/debug/idp" ]; then idp=$here/target/debug/idp
else echo "no idp binary: build it (cargo build --release) or set IDP_BIN" >&2; exit 1
fi
db_args=()
[ -n "$DB" ] && db_args=(--db "$DB")
force_args=()
$FORCE && force_args=(--force)

echo "== keys before"
"$idp" keys list "${db_args[@]}"
echo "== rotate"
"$idp" keys rotate "${db_args[@]}" "${force_args[@]}" >/dev/null
echo "== prune"
"$idp" keys prune "${db_args[@]}"
echo "== keys after"
"$idp" keys list "${db_args[@]}"
