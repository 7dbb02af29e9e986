# Source this file: starts a throwaway PostgreSQL on 127.0.0.1 and exports
# MAESTRO_TEST_DATABASE_URL. The cluster lives under /tmp and is removed when the shell exits.
# Uses the local PostgreSQL binaries, or installs them with apt when there are none.

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$pg_bin" ]; then
  echo "pg.sh: no PostgreSQL binaries found; installing them with apt" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi

MAESTRO_PG_PORT=${MAESTRO_PG_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
MAESTRO_PG_DIR=$(mktemp -d /tmp/maestro-pg.XXXXXX)
as_pg=()
if [ "$(id -u)" = 0 ]; then
  # the server refuses to run as root: run it as the postgres user
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  chown postgres "$MAESTRO_PG_DIR"
  as_pg=(runuser -u postgres --)
fi
"${as_pg[@]}" "$pg_bin/initdb" -D "$MAESTRO_PG_DIR/data" -U postgres --auth=trust -E UTF8 >/dev/null
# in the configuration file, not on pg_ctl's command line: a test that stops and starts the
# server (MAESTRO_PG_CTL) gets the same port and settings back
cat >>"$MAESTRO_PG_DIR/data/postgresql.conf" <<PGCONF
port = $MAESTRO_PG_PORT
unix_socket_directories = '$MAESTRO_PG_DIR'
listen_addresses = '127.0.0.1'
fsync = off
max_connections = 300
PGCONF
"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$MAESTRO_PG_DIR/data" -l "$MAESTRO_PG_DIR/server.log" -w start >/dev/null

maestro_pg_stop() {
  "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$MAESTRO_PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$MAESTRO_PG_DIR"
}
trap maestro_pg_stop EXIT

export MAESTRO_TEST_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:$MAESTRO_PG_PORT/postgres"
# for the fault tests that restart the server: `$MAESTRO_PG_CTL restart -m fast -w`
export MAESTRO_PG_CTL="${as_pg[*]} $pg_bin/pg_ctl -D $MAESTRO_PG_DIR/data -l $MAESTRO_PG_DIR/server.log"
echo "pg.sh: PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$MAESTRO_PG_PORT" >&2
