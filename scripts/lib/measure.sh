# Shared by scripts/bench.sh and scripts/compare.sh (sourced, not run):
# a server's own CPU time per request, and client_credentials tokens.
#
# ticks PID            the process's user + system time, in clock ticks.
# cpu PID wrk-args...  one `wrk -t2 -c$CONNECTIONS -d${DURATION}s` run;
#                      prints "CPU-µs-per-request requests/s" of PID over
#                      it (CONNECTIONS and DURATION are the caller's).
# token_lua FILE       writes a wrk script that asks /token for
#                      client_credentials with $BENCH_BASIC (the base64 of
#                      "client_id:secret", read when wrk starts).
# tokens_lua FILE      writes a wrk script that sends the tokens of
#                      $TOKENS_FILE as bearer tokens, round robin, each
#                      $TOKEN_REPEAT times in a row (default 1), the two
#                      threads half the list apart.
# mint BASE COUNT FILE COUNT client_credentials tokens from the IdP at
#                      BASE, with $BENCH_BASIC, one per line, from four
#                      clients at once (the IdP signs on both cores).

TCK=$(getconf CLK_TCK)

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

cpu() {
  local pid=$1; shift
  local before after out
  before=$(ticks "$pid")
  out=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" "$@")
  after=$(ticks "$pid")
  echo "$out" | awk -v t=$((after - before)) -v hz="$TCK" '
    /requests in/ {n = $1} /Requests\/sec/ {r = $2}
    END {printf "%.2f %.0f\n", t / hz * 1e6 / n, r}'
}

token_lua() {
  cat >"$1" <<'LUA'
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BENCH_BASIC")
LUA
}

tokens_lua() {
  cat >"$1" <<'LUA'
-- Round robin over the tokens in $TOKENS_FILE, each sent $TOKEN_REPEAT
-- times in a row (default 1), the two threads half the list apart. Sent
-- once, a token comes back only after all the others, long after the
-- cache's doorkeeper forgot it, so each request verifies; sent twice, it
-- is verified, then cached (the cache admits a token on its second
-- verification).
local tokens = {}
for line in io.lines(os.getenv("TOKENS_FILE")) do tokens[#tokens + 1] = line end
local repeats = tonumber(os.getenv("TOKEN_REPEAT") or "1")
local threads = 0
function setup(thread)
  thread:set("offset", threads * math.floor(#tokens / 2) * repeats); threads = threads + 1
end
local i = 0
function init() i = offset or 0 end
function request()
  i = i + 1
  return wrk.format("GET", nil, {["Authorization"] = "Bearer " .. tokens[math.floor(i / repeats) % #tokens + 1]})
end
LUA
}

mint() {
  local k pids=()
  for k in 1 2 3 4; do
    mint_one "$1" $(( ($2 + 3) / 4 )) "$3.$k" &
    pids+=("$!")
  done
  for k in "${pids[@]}"; do wait "$k"; done
  cat "$3".[1-4] | head -n "$2" >"$3"
  rm -f "$3".[1-4]
}

# mint_one BASE COUNT FILE: mint's work for one client.
mint_one() {
  python3 - "$1" "$2" "$3" <<'PY'
import http.client, json, os, sys, urllib.parse
base, count, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
url = urllib.parse.urlparse(base)
conn = http.client.HTTPConnection(url.hostname, url.port)
headers = {"Content-Type": "application/x-www-form-urlencoded",
           "Authorization": "Basic " + os.environ["BENCH_BASIC"]}
with open(path, "w") as out:
    for _ in range(count):
        conn.request("POST", "/token", body="grant_type=client_credentials", headers=headers)
        out.write(json.loads(conn.getresponse().read())["access_token"] + "\n")
PY
}
