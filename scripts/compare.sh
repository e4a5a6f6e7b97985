#!/usr/bin/env bash
# Compares two builds of the servers side by side, interleaved, so that a
# change's effect is not lost in the drift of a shared machine's speed:
#
#   scripts/compare.sh BEFORE_DIR AFTER_DIR
#
# Each directory holds an `idp` and a `resource-server` binary (for
# example target/production of two checkouts: `git worktree add
# ../before REV && (cd ../before && cargo build --profile production
# --bins)`). Both builds run at once on loopback, each on its own fresh
# SQLite database; the after build's IdP mints the tokens both resource
# servers are sent. Each of COMPARE_ROUNDS rounds (default 4) measures
# before then after, after then before in the next round, and prints, per
# build, the server's own CPU time per request (from /proc/<pid>/stat
# around one `wrk -t2 -c32` run of COMPARE_SECONDS, default 4) and req/s:
#
#   - IdP: /jwks, and client_credentials;
#   - resource server: /api/public, one token repeated (cache hit), and
#     COMPARE_TOKENS distinct tokens round robin (default 60,000; the two
#     wrk threads half the list apart, so nearly every request verifies).
#
# The last lines give each figure's median over the rounds for both builds
# and after/before. Needs wrk, curl, jq, python3. Loopback only.
set -euo pipefail
# shellcheck source=scripts/lib/stack.sh
. "$(dirname "$0")/lib/stack.sh"
# shellcheck source=scripts/lib/measure.sh
. "$(dirname "$0")/lib/measure.sh"

if [ $# -ne 2 ]; then
  echo "usage: scripts/compare.sh BEFORE_DIR AFTER_DIR (each with idp and resource-server)" >&2
  exit 2
fi
for tool in wrk curl jq python3; do
  command -v "$tool" >/dev/null || { echo "compare needs $tool (apt-get install $tool)" >&2; exit 1; }
done
for dir in "$1" "$2"; do
  for bin in idp resource-server; do
    [ -x "$dir/$bin" ] || { echo "no executable $dir/$bin" >&2; exit 1; }
  done
done
BIN_before=$(cd "$1" && pwd) BIN_after=$(cd "$2" && pwd)
ROUNDS=${COMPARE_ROUNDS:-4}
DURATION=${COMPARE_SECONDS:-4}
CONNECTIONS=32
TOKEN_COUNT=${COMPARE_TOKENS:-60000}
stack_workdir compare
export IDP_LOG=warn RUST_LOG=warn

token_lua "$WORK/token.lua"
tokens_lua "$WORK/tokens.lua"

declare -A IDP IDP_PID BASIC RS RS_PID
for build in before after; do
  bin=BIN_$build
  db=$WORK/$build.db
  secret=$(IDP_DB=$db "${!bin}/idp" clients create --id bench --scope "api:read" 2>/dev/null \
    | awk '/^client_secret:/ {print $2}')
  BASIC[$build]=$(printf 'bench:%s' "$secret" | base64 -w0)
  stack_start "$WORK/idp-$build" env IDP_DB="$db" "${!bin}/idp" serve --bind 127.0.0.1:0 --login-rate 0 --access-ttl 7200
  IDP[$build]="http://$ADDR" IDP_PID[$build]=$PID
done
# Both resource servers trust the after build's IdP, whose tokens they get.
for build in before after; do
  bin=BIN_$build
  stack_start "$WORK/rs-$build" "${!bin}/resource-server" --bind 127.0.0.1:0 --issuer "${IDP[after]}"
  RS[$build]="http://$ADDR" RS_PID[$build]=$PID
done

echo "== minting $TOKEN_COUNT tokens"
BENCH_BASIC=${BASIC[after]} mint "${IDP[after]}" "$TOKEN_COUNT" "$WORK/tokens"
export TOKENS_FILE=$WORK/tokens
TOKEN=$(head -n 1 "$TOKENS_FILE")
for build in before after; do
  # Verified, then cached on its second verification.
  for _ in 1 2; do
    curl -fs -o /dev/null -H "Authorization: Bearer $TOKEN" "${RS[$build]}/api/private"
  done
done

FIGURES=(jwks cc public hit cold)
: >"$WORK/rounds"
echo "== $ROUNDS rounds, wrk -t2 -c32, ${DURATION}s per run: CPU µs per request (req/s)"
for round in $(seq 1 "$ROUNDS"); do
  order="before after"
  [ $((round % 2)) -eq 0 ] && order="after before"
  for build in $order; do
    read -r jwks jwks_rps < <(cpu "${IDP_PID[$build]}" "${IDP[$build]}/jwks")
    read -r cc cc_rps < <(BENCH_BASIC=${BASIC[$build]} cpu "${IDP_PID[$build]}" -s "$WORK/token.lua" "${IDP[$build]}/token")
    read -r public public_rps < <(cpu "${RS_PID[$build]}" "${RS[$build]}/api/public")
    read -r hit hit_rps < <(cpu "${RS_PID[$build]}" -H "Authorization: Bearer $TOKEN" "${RS[$build]}/api/private")
    read -r cold cold_rps < <(cpu "${RS_PID[$build]}" -s "$WORK/tokens.lua" "${RS[$build]}/api/private")
    echo "$build $jwks $cc $public $hit $cold" >>"$WORK/rounds"
    printf '  round %d %-6s /jwks %s (%s/s), client_credentials %s (%s/s), /api/public %s (%s/s), cache hit %s (%s/s), cold %s (%s/s)\n' \
      "$round" "$build" "$jwks" "$jwks_rps" "$cc" "$cc_rps" "$public" "$public_rps" "$hit" "$hit_rps" "$cold" "$cold_rps"
  done
done

# median_of BUILD FIELD: one figure's median over the build's rounds (the
# mean of the middle two for an even count).
median_of() {
  awk -v b="$1" -v f="$2" '$1 == b {print $f}' "$WORK/rounds" | sort -g \
    | awk '{a[NR] = $1} END {if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}
echo "== medians over the rounds: CPU µs per request, before → after (after/before)"
for i in "${!FIGURES[@]}"; do
  before=$(median_of before $((i + 2))) after=$(median_of after $((i + 2)))
  awk -v n="${FIGURES[$i]}" -v b="$before" -v a="$after" \
    'BEGIN {printf "  %-7s %8.2f → %8.2f  (%.3f)\n", n, b, a, a / b}'
done
