# Shared by scripts/demo.sh and scripts/up.sh (sourced, not run): where the
# binaries come from and how a server is started and waited for.
#
# stack_bins PROFILE   builds `idp` and `resource-server` with cargo
#                      (PROFILE `dev` or `release`) and sets BIN to their
#                      directory; with UP_BIN_DIR set, uses the binaries
#                      already there and builds nothing (tests point it at
#                      the binaries cargo built for them).
# stack_workdir NAME  makes a temporary directory, $WORK
#                      ("idp-NAME.XXXXXX"), and an empty PIDS; on exit,
#                      stops every pid in PIDS, waits for them and removes
#                      $WORK.
# stack_start LOG [--prefix NAME] CMD...
#                      starts CMD in the background, its stdout copied to
#                      LOG.out (and stderr to LOG.err); with --prefix, both
#                      are also streamed to this script's stdout and stderr
#                      with "NAME | " before every line. Waits for the
#                      server's first stdout line, "<name> listening on
#                      ADDR ...", sets ADDR, LINE (that line) and PID, and
#                      appends the pid to PIDS.

stack_bins() {
  local profile=$1
  if [ -n "${UP_BIN_DIR:-}" ]; then
    BIN=$UP_BIN_DIR
  else
    cargo build --quiet --profile "$profile" -p idp -p resource-server-demo --bins
    if [ "$profile" = dev ]; then BIN=target/debug; else BIN=target/$profile; fi
  fi
  for bin in idp resource-server; do
    [ -x "$BIN/$bin" ] || { echo "no $bin binary in $BIN" >&2; return 1; }
  done
}

stack_workdir() {
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/idp-$1.XXXXXX")
  PIDS=()
  trap stack_cleanup EXIT
}

stack_cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}

stack_start() {
  local log=$1 prefix=
  shift
  if [ "${1:-}" = --prefix ]; then prefix=$2; shift 2; fi
  : >"$log.out"
  if [ -n "$prefix" ]; then
    "$@" > >(tee -a "$log.out" | sed -u "s/^/$prefix | /") \
      2> >(tee -a "$log.err" | sed -u "s/^/$prefix | /" >&2) &
  else
    "$@" >"$log.out" 2>"$log.err" &
  fi
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 1 600); do
    if [ -s "$log.out" ] && LINE=$(head -n 1 "$log.out") && [ -n "$LINE" ]; then
      ADDR=$(awk '{print $4; exit}' <<<"$LINE")
      return 0
    fi
    if ! kill -0 "$PID" 2>/dev/null; then
      echo "server failed to start:" >&2
      [ -n "$prefix" ] || cat "$log.err" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "server did not start in 60 s" >&2
  return 1
}
