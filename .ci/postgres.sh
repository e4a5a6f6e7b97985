# A throw-away PostgreSQL (15 here) server for the tests, sourced by .ci/run (and by
# anyone who wants to run idp/tests/postgres.rs by hand):
#
#   source .ci/postgres.sh
#   start_test_postgres        # exports IDP_TEST_POSTGRES_URL
#   trap stop_test_postgres EXIT
#
# The server lives in a fresh temporary directory, listens on 127.0.0.1 at a
# free port (its unix socket stays inside that directory), and is stopped and
# deleted by stop_test_postgres. TCP connections need the superuser password,
# generated here, so the tests exercise a URL with a password in it, as a real
# deployment has. Durability is switched off: nothing here outlives the run.
# initdb refuses to run as root, so as root (CI) the server runs as the
# `postgres` system user that Debian's package creates.

PG_BIN=
PG_DIR=

# The server's binaries: PostgreSQL 15 (this machine's Debian), else the
# newest installed, else Debian's `postgresql` package installed now.
pg_find_bin() {
  local dir
  for dir in /usr/lib/postgresql/15/bin $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
      PG_BIN=$dir
      return 0
    fi
  done
  return 1
}

# Runs a command as the owner of the server's files.
pg_as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_test_postgres() {
  if ! pg_find_bin; then
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
    pg_find_bin
  fi
  PG_DIR=$(mktemp -d /tmp/idp-test-pg.XXXXXX)
  if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$PG_DIR"
  fi
  local password
  password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
  printf '%s\n' "$password" | pg_as_owner tee "$PG_DIR/pwfile" >/dev/null
  pg_as_owner "$PG_BIN/initdb" --pgdata="$PG_DIR/data" --username=postgres \
    --pwfile="$PG_DIR/pwfile" --auth-local=trust --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 || {
    cat "$PG_DIR/initdb.log" >&2
    return 1
  }
  rm -f "$PG_DIR/pwfile"
  # A port found free can be taken before the server binds it: try again.
  local port attempt
  for attempt in 1 2 3; do
    port=$(pg_free_port)
    if pg_as_owner "$PG_BIN/pg_ctl" --pgdata="$PG_DIR/data" --log="$PG_DIR/server.log" \
      --wait --timeout=60 --silent \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_DIR -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start; then
      export IDP_TEST_POSTGRES_URL="postgres://postgres:$password@127.0.0.1:$port/postgres"
      echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $PG_DIR)"
      return 0
    fi
    echo "PostgreSQL did not start on port $port (attempt $attempt)" >&2
  done
  cat "$PG_DIR/server.log" >&2
  return 1
}

stop_test_postgres() {
  if [ -n "$PG_DIR" ] && [ -n "$PG_BIN" ] && [ -d "$PG_DIR/data" ]; then
    pg_as_owner "$PG_BIN/pg_ctl" --pgdata="$PG_DIR/data" --mode=fast --silent stop >/dev/null 2>&1 || true
  fi
  if [ -n "$PG_DIR" ]; then
    rm -rf "$PG_DIR"
  fi
  PG_DIR=
}
