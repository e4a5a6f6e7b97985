#!/usr/bin/env bash
# Measures the running stack on this machine, all in one run, and prints
# ratios (absolute figures on a shared 2-core machine are noisy; ratios
# taken back to back are what to compare):
#   - `idp serve` start-up time on an existing database
#   - signup and login latency at the configured bcrypt cost
#   - /jwks throughput against /healthz
#   - client_credentials tokens/s against `openssl speed rsa2048` signs/s
#   - resource server /api/private (token validated) against /api/public
# Needs wrk (Debian package `wrk`), curl, jq and openssl. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in wrk curl jq openssl; do
  command -v "$tool" >/dev/null || { echo "bench needs $tool (apt-get install $tool)" >&2; exit 1; }
done

DURATION=${BENCH_SECONDS:-5}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
cargo build --quiet --release --bins
BIN=target/release
WORK=$(mktemp -d "${TMPDIR:-/tmp}/idp-bench.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
export IDP_DB="$WORK/idp.db" IDP_LOG=warn RUST_LOG=warn

start() {
  local log=$1; shift
  "$@" >"$log.out" 2>"$log.err" &
  PIDS+=($!)
  for _ in $(seq 1 3000); do
    [ -s "$log.out" ] && { ADDR=$(awk 'NR==1 {print $4; exit}' "$log.out"); return 0; }
    sleep 0.001
  done
  echo "start failed" >&2; cat "$log.err" >&2; return 1
}
ms() { echo $(( $(date +%s%N) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
rps() { awk '/Requests\/sec/ {print $2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a/b}'; }

echo "== start-up on an existing database (keys already generated)"
start "$WORK/first" "$BIN/idp" serve --bind 127.0.0.1:0
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true
startups=()
for i in 1 2 3 4 5; do
  t0=$(ms)
  start "$WORK/s$i" "$BIN/idp" serve --bind 127.0.0.1:0
  until curl -fs "http://$ADDR/readyz" >/dev/null; do sleep 0.001; done
  startups+=($(( $(ms) - t0 )))
  kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true
done
STARTUP=$(printf '%s\n' "${startups[@]}" | median)
echo "  start to ready: median ${STARTUP} ms (runs: ${startups[*]})"

start "$WORK/idp" "$BIN/idp" serve --bind 127.0.0.1:0
IDP="http://$ADDR"
echo "== signup and login latency (bcrypt cost ${IDP_BCRYPT_COST:-12}), 10 sequential each"
for i in $(seq 1 10); do
  curl -s -o /dev/null -w '%{time_total}\n' -H 'content-type: application/json' \
    -d "{\"email\":\"u$i@example.com\",\"name\":\"U\",\"password\":\"correct horse battery\"}" "$IDP/user"
done | awk '{print $1*1000}' | median >"$WORK/signup"
for i in $(seq 1 10); do
  curl -s -o /dev/null -w '%{time_total}\n' -u "u$i@example.com:correct horse battery" -X POST "$IDP/login"
done | awk '{print $1*1000}' | median >"$WORK/login"
echo "  signup median $(cat "$WORK/signup") ms, login median $(cat "$WORK/login") ms"

echo "== /jwks against /healthz (wrk, $CONNECTIONS connections, ${DURATION}s each)"
HEALTH=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" "$IDP/healthz" | rps)
JWKS=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" "$IDP/jwks" | rps)
echo "  /healthz $HEALTH req/s, /jwks $JWKS req/s, ratio jwks/healthz $(ratio "$JWKS" "$HEALTH")"

echo "== client_credentials tokens/s against openssl speed rsa2048 (2 processes)"
SECRET=$("$BIN/idp" clients create --id bench --scope "api:read" 2>/dev/null | awk '/^client_secret:/ {print $2}')
cat >"$WORK/token.lua" <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $(printf 'bench:%s' "$SECRET" | base64 -w0)"
LUA
TOKENS=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" -s "$WORK/token.lua" "$IDP/token" | rps)
OPENSSL=$(openssl speed -seconds "$DURATION" -multi 2 rsa2048 2>/dev/null | awk '/^rsa 2048/ {print $(NF-1)}')
echo "  /token $TOKENS tokens/s, openssl $OPENSSL signs/s, ratio $(ratio "$TOKENS" "$OPENSSL")"

echo "== resource server: /api/private (validated) against /api/public (wrk, ${DURATION}s each)"
start "$WORK/rs" "$BIN/resource-server" --bind 127.0.0.1:0 --issuer "$IDP"
RS="http://$ADDR"
TOKEN=$(curl -s -u "bench:$SECRET" -d grant_type=client_credentials "$IDP/token" | jq -r .access_token)
curl -fs -H "authorization: Bearer $TOKEN" "$RS/api/private" >/dev/null
PUBLIC=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" "$RS/api/public" | rps)
PRIVATE=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" -H "Authorization: Bearer $TOKEN" "$RS/api/private" | rps)
echo "  /api/public $PUBLIC req/s, /api/private $PRIVATE req/s, ratio private/public $(ratio "$PRIVATE" "$PUBLIC")"

# ---- browser sign-in: complete OpenID Connect code flows ------------------
# authorize (sign-in page) -> sign-in post -> code -> token, each flow a new
# browser, on an IdP of its own with --bcrypt-cost 4 (so bcrypt is
# negligible) and --login-rate 0 (one client address makes every request);
# compared with the client_credentials rate measured above.
echo "== complete code flows/s (authorize, sign-in post, code, token; bcrypt cost 4)"
cargo build --quiet --release -p idp --example code_flow_load
FLOW_SECRET=$(IDP_DB="$WORK/flow.db" "$BIN/idp" clients create --id bench-web \
  --redirect-uri http://127.0.0.1:9/cb 2>/dev/null | awk '/^client_secret:/ {print $2}')
start "$WORK/flow-idp" env IDP_DB="$WORK/flow.db" "$BIN/idp" serve --bind 127.0.0.1:0 \
  --bcrypt-cost 4 --login-rate 0
FLOW_IDP="http://$ADDR"
curl -fs -o /dev/null -H 'content-type: application/json' \
  -d '{"email":"flow@example.com","name":"Flow","password":"correct horse battery"}' "$FLOW_IDP/user"
"$BIN/examples/code_flow_load" "$FLOW_IDP" bench-web "$FLOW_SECRET" http://127.0.0.1:9/cb \
  flow@example.com "correct horse battery" "$DURATION" "$CONNECTIONS" | tee "$WORK/flows"
FLOWS=$(sed -n 's/.*, \([0-9.]*\) flows\/s.*/\1/p' "$WORK/flows")
echo "  code flow $FLOWS flows/s, client_credentials $TOKENS tokens/s, ratio $(ratio "$FLOWS" "$TOKENS")"
