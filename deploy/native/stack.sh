#!/usr/bin/env bash
# Native stack for machines without a Docker engine: Apache Kafka (KRaft, one combined node) run from
# its Maven Central jars on Java 17, and FerretDB v1 built from the Go module proxy on Debian's
# PostgreSQL 15 (a cluster of its own under the run directory, with GIN mirrors of FerretDB's indexes:
# deploy/native/postgres/index-mirror.sql).
#
#   deploy/native/stack.sh install          fetch jars, build FerretDB (cached under .run/cache),
#                                           apt-get install postgresql-15 where it is missing
#   deploy/native/stack.sh start            install if needed, start everything, wait until each answers
#   deploy/native/stack.sh stop | status
#
# Everything lives under $GRID_RUN_DIR (default: <repo>/.run), which git ignores. Environment:
#   GRID_KAFKA_ADDR (127.0.0.1:9092), GRID_KAFKA_CONTROLLER_ADDR (127.0.0.1:9093),
#   GRID_MONGO_ADDR (127.0.0.1:27017)    where Kafka, its controller and FerretDB listen
#   GRID_PG_PORT (5432)                  names PostgreSQL's unix socket (it listens on no TCP port)
#   GRID_PG_BIN (/usr/lib/postgresql/15/bin)
#   GRID_FERRETDB_BACKEND (postgresql)   `sqlite` runs FerretDB on SQLite instead, as before
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/deploy/native"
RUN_DIR=${GRID_RUN_DIR:-$ROOT/.run}
mkdir -p "$RUN_DIR" && RUN_DIR=$(cd "$RUN_DIR" && pwd)  # absolute: Maven and PostgreSQL run elsewhere
CACHE="$RUN_DIR/cache"
LOGS="$RUN_DIR/logs"
PIDS="$RUN_DIR/pids"
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$HERE/kafka/pom.xml")
FERRETDB_VERSION=v1.24.2
KAFKA_LIBS="$CACHE/kafka-$KAFKA_VERSION/libs"
FERRETDB_BIN="$CACHE/ferretdb-$FERRETDB_VERSION/ferretdb"
KAFKA_ADDR=${GRID_KAFKA_ADDR:-127.0.0.1:9092}
CONTROLLER_ADDR=${GRID_KAFKA_CONTROLLER_ADDR:-127.0.0.1:9093}
MONGO_ADDR=${GRID_MONGO_ADDR:-127.0.0.1:27017}
BACKEND=${GRID_FERRETDB_BACKEND:-postgresql}
PG_BIN=${GRID_PG_BIN:-/usr/lib/postgresql/15/bin}
PG_PORT=${GRID_PG_PORT:-5432}
PG_DIR="$RUN_DIR/postgres"  # owned by the user PostgreSQL runs as; holds data/ and the socket
PG_DATA="$PG_DIR/data"
PG_DB=ferretdb              # database and role FerretDB uses (the role owns what FerretDB creates)
PYTHON=${PYTHON:-python3}

say() { printf '[stack] %s\n' "$*"; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 not found: install $2 (e.g. apt-get install $3)"
}

install_kafka() {
  [ -f "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" ] && return 0
  need java "Java 17 or newer" openjdk-17-jre-headless
  need mvn "Apache Maven" maven
  say "fetching Kafka $KAFKA_VERSION jars from Maven Central (once)..."
  rm -rf "$KAFKA_LIBS.tmp"
  (cd "$HERE/kafka" && mvn -q -B dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$KAFKA_LIBS.tmp") >"$LOGS/install-kafka.log" 2>&1 \
    || die "Maven could not fetch Kafka jars; see $LOGS/install-kafka.log"
  mv "$KAFKA_LIBS.tmp" "$KAFKA_LIBS"
}

install_ferretdb() {
  [ -x "$FERRETDB_BIN" ] && return 0
  need go "Go 1.24 or newer" golang
  say "building FerretDB $FERRETDB_VERSION from the Go module proxy (once, about a minute)..."
  # `go install …@v1.24.2` builds a binary that panics at start: the module zip lacks the generated
  # build/version/version.txt. Build from a writable copy of the module with that file written.
  local module_dir src
  module_dir=$(cd "$HERE/ferretdb" && go mod download -json github.com/FerretDB/FerretDB \
    | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [ -d "$module_dir" ] || die "go could not download github.com/FerretDB/FerretDB@$FERRETDB_VERSION"
  src="$CACHE/ferretdb-src"
  rm -rf "$src" && cp -r "$module_dir" "$src" && chmod -R u+w "$src"
  echo "$FERRETDB_VERSION" >"$src/build/version/version.txt"
  mkdir -p "$(dirname "$FERRETDB_BIN")"
  (cd "$src" && go build -o "$FERRETDB_BIN.tmp" ./cmd/ferretdb) >"$LOGS/install-ferretdb.log" 2>&1 \
    || die "FerretDB build failed; see $LOGS/install-ferretdb.log"
  mv "$FERRETDB_BIN.tmp" "$FERRETDB_BIN"
  rm -rf "$src"
}

# PostgreSQL refuses to run as root. Run as root, the script gives the cluster to Debian's `postgres` user
# (created by the postgresql-common package); run as anyone else, to that user.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_psql() {  # pg_psql DATABASE [psql args]: the superuser over the cluster's socket
  local db=$1
  shift
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" -U postgres -d "$db" "$@"
}

# FerretDB v1 creates an index holding its metadata registry's write lock while it waits for a pooled
# connection; every other request waits for that lock while holding its own connection (an open cursor
# does too). With the default 50 connections a busy test run exhausted the pool and FerretDB deadlocked
# (goroutine dump: IndexesCreate in pgxpool.Acquire, every other request in Registry.getPool's RLock).
# A pool close to PostgreSQL's max_connections (250, postgresql.conf) keeps that out of reach.
PG_POOL_MAX=${GRID_PG_POOL_MAX:-180}

pg_url() {  # pg_url DATABASE: the URL FerretDB connects with (pgx takes a socket directory as host=)
  "$PYTHON" -c 'import sys, urllib.parse as u; print(f"postgres://{sys.argv[1]}@/{sys.argv[2]}?" + u.urlencode({"host": sys.argv[3], "port": sys.argv[4], "pool_max_conns": sys.argv[5]}))' \
    "$PG_DB" "$1" "$PG_DIR" "$PG_PORT" "$PG_POOL_MAX"
}

install_postgres() {
  [ "$BACKEND" = postgresql ] || return 0
  if [ -x "$PG_BIN/postgres" ] && [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/psql" ]; then return 0; fi
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
    || die "PostgreSQL 15 not found in $PG_BIN: install it (e.g. apt-get install postgresql-15) or set GRID_PG_BIN"
  say "PostgreSQL 15 not found in $PG_BIN: installing Debian's postgresql-15 with apt-get (once)..."
  # The package would also create and start a cluster of its own on port 5432, which the stack does not
  # use: while it installs, a policy-rc.d forbids service starts (unless the machine already has one).
  local policy=/usr/sbin/policy-rc.d added="" rc=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && added=1; fi
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15; } \
    >"$LOGS/install-postgres.log" 2>&1 || rc=$?
  if [ -n "$added" ]; then rm -f "$policy"; fi
  [ "$rc" = 0 ] && [ -x "$PG_BIN/postgres" ] || die "installing postgresql-15 failed; see $LOGS/install-postgres.log"
}

pg_reachable() {  # the cluster's user must be able to enter every directory above its own
  [ "$(id -u)" = 0 ] || return 0
  local path="" part parts
  IFS=/ read -ra parts <<<"${PG_DIR#/}"
  for part in "${parts[@]}"; do
    path="$path/$part"
    [ -d "$path" ] || break
    runuser -u postgres -- test -x "$path" && continue
    say "letting the postgres user pass through $path (search permission only, no listing)"
    if command -v setfacl >/dev/null 2>&1; then setfacl -m u:postgres:x "$path"; else chmod o+x "$path"; fi
  done
}

init_postgres() {
  local socket="$PG_DIR/.s.PGSQL.$PG_PORT"
  [ "${#socket}" -le 107 ] || die "$socket is longer than a unix socket path may be (107 bytes): use a shorter GRID_RUN_DIR"
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    die "no postgres user to run PostgreSQL as: install Debian's postgresql-15, or run this script as another user"
  fi
  mkdir -p "$PG_DIR"
  chmod 700 "$PG_DIR"
  touch "$LOGS/postgres.log"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$PG_DIR" "$LOGS/postgres.log"; fi
  pg_reachable
  if [ ! -s "$PG_DATA/PG_VERSION" ]; then
    rm -rf "$PG_DATA"  # whatever an interrupted initdb left
    say "initialising a PostgreSQL cluster in $PG_DATA (once)..."
    # C locale: FerretDB accepts only C, POSIX and en_US.UTF8, and C collates fastest. Trust only
    # matters on the socket, whose directory no one but the cluster's user (and root) can enter.
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C \
      --no-instructions >>"$LOGS/postgres.log" 2>&1 || die "initdb failed; see $LOGS/postgres.log"
    echo "include 'grid.conf'" >>"$PG_DATA/postgresql.conf"
    if [ -f "$RUN_DIR/demo-keys.env" ]; then
      say "new database: removing $RUN_DIR/demo-keys.env (its keys were stored in the previous one)"
      rm -f "$RUN_DIR/demo-keys.env"
    fi
  fi
  { cat "$HERE/postgres/postgresql.conf"
    printf "port = %s\nunix_socket_directories = '%s'\n" "$PG_PORT" "$PG_DIR"
  } >"$PG_DATA/grid.conf"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$PG_DATA/grid.conf"; fi
}

pg_running() {
  [ -x "$PG_BIN/pg_ctl" ] && [ -s "$PG_DATA/PG_VERSION" ] && as_pg "$PG_BIN/pg_ctl" status -D "$PG_DATA" >/dev/null 2>&1
}

start_postgres() {
  init_postgres
  if pg_running; then
    say "postgres already running (pid $(head -n 1 "$PG_DATA/postmaster.pid"))"
    as_pg "$PG_BIN/pg_ctl" reload -D "$PG_DATA" -s  # grid.conf may have changed
  else
    # pg_ctl waits until the server accepts connections; PostgreSQL itself clears a stale postmaster.pid.
    as_pg "$PG_BIN/pg_ctl" start -D "$PG_DATA" -l "$LOGS/postgres.log" -w -t 60 -s \
      || die "PostgreSQL did not start; see $LOGS/postgres.log"
    say "postgres started (pid $(head -n 1 "$PG_DATA/postmaster.pid"))"
  fi
  head -n 1 "$PG_DATA/postmaster.pid" >"$PIDS/postgres.pid"
  pg_psql postgres <<SQL >/dev/null || die "creating the $PG_DB role and database failed"
SELECT 'CREATE ROLE $PG_DB LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_DB')\gexec
SELECT 'CREATE DATABASE $PG_DB OWNER $PG_DB' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_DB')\gexec
SQL
  # Applied when it changed, not at every start: re-creating the triggers and reconciling the mirrors while
  # FerretDB and tests are busy takes locks on every collection's table.
  local mirror_sum applied="$PG_DATA/index-mirror.sha256"
  mirror_sum=$(sha256sum "$HERE/postgres/index-mirror.sql" | cut -d' ' -f1)
  if [ "$(cat "$applied" 2>/dev/null)" != "$mirror_sum" ]; then
    pg_psql "$PG_DB" -f "$HERE/postgres/index-mirror.sql" >/dev/null \
      || die "installing the index mirroring of deploy/native/postgres/index-mirror.sql failed"
    echo "$mirror_sum" >"$applied"
  fi
}

stop_postgres() {
  if ! pg_running; then rm -f "$PIDS/postgres.pid"; say "postgres not running"; return 0; fi
  # fast: roll back open transactions and stop now; immediate (crash-like, recovered at the next start) if that hangs
  as_pg "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m fast -w -t 30 -s \
    || as_pg "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m immediate -w -t 30 -s || true
  rm -f "$PIDS/postgres.pid"
  say "postgres stopped"
}

running() {  # running NAME -> 0 when the pid file names a live process
  local pid_file="$PIDS/$1.pid"
  [ -f "$pid_file" ] || return 1
  local pid
  pid=$(cat "$pid_file")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then return 0; fi
  rm -f "$pid_file"  # stale: the process is gone
  return 1
}

port_busy() {
  "$PYTHON" - "$1" <<'PY'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.socket()
s.settimeout(0.5)
sys.exit(0 if s.connect_ex((host, int(port))) == 0 else 1)
PY
}

start_kafka() {
  if running kafka; then say "kafka already running (pid $(cat "$PIDS/kafka.pid"))"; return 0; fi
  if port_busy "$KAFKA_ADDR"; then
    "$PYTHON" "$HERE/probe.py" kafka "$KAFKA_ADDR" \
      || die "$KAFKA_ADDR is taken by a process that is not Kafka; stop it first"
    say "a Kafka not started from this checkout answers on $KAFKA_ADDR; using it"
    return 0
  fi
  local conf="$RUN_DIR/kafka/server.properties" data="$RUN_DIR/kafka/data"
  mkdir -p "$data"
  sed -e "s#@DATA@#$data#" -e "s#@KAFKA@#$KAFKA_ADDR#" -e "s#@CONTROLLER@#$CONTROLLER_ADDR#" \
    "$HERE/kafka/server.properties.in" >"$conf"
  cp "$HERE/kafka/log4j2.properties" "$RUN_DIR/kafka/log4j2.properties"
  local cp="$KAFKA_LIBS/*" jvm=(-Xms256m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$RUN_DIR/kafka/log4j2.properties")
  if [ ! -f "$data/meta.properties" ]; then
    local cluster_id
    cluster_id=$(java -cp "$cp" kafka.tools.StorageTool random-uuid)
    java "${jvm[@]}" -cp "$cp" kafka.tools.StorageTool format --standalone -t "$cluster_id" \
      -c "$conf" --ignore-formatted >>"$LOGS/kafka.log" 2>&1 || die "formatting Kafka storage failed; see $LOGS/kafka.log"
  fi
  nohup java "${jvm[@]}" -cp "$cp" kafka.Kafka "$conf" >>"$LOGS/kafka.log" 2>&1 &
  echo $! >"$PIDS/kafka.pid"
  say "kafka starting (pid $!)"
}

start_ferretdb() {
  local was=""
  if running ferretdb; then
    was=$(cat "$PIDS/ferretdb.backend" 2>/dev/null || echo sqlite)  # a stack started before the file existed
  elif port_busy "$MONGO_ADDR"; then
    "$PYTHON" "$HERE/probe.py" mongo "$MONGO_ADDR" \
      || die "$MONGO_ADDR is taken by a process that is not a MongoDB server; stop it first"
    say "a MongoDB server not started from this checkout answers on $MONGO_ADDR; using it"
    return 0
  fi
  # Also under a running FerretDB: PostgreSQL may have stopped, and its settings and triggers may have changed.
  if [ "${was:-$BACKEND}" = postgresql ]; then start_postgres; fi
  if [ -n "$was" ]; then
    say "ferretdb already running (pid $(cat "$PIDS/ferretdb.pid"), $was backend)"
    [ "$was" = "$BACKEND" ] || say "warning: not the $BACKEND backend asked for; run '$0 stop' first to switch"
    return 0
  fi
  local backend
  if [ "$BACKEND" = postgresql ]; then
    backend=(--handler=postgresql "--postgresql-url=$(pg_url "$PG_DB")")
  else
    mkdir -p "$RUN_DIR/ferretdb/data"
    backend=(--handler=sqlite "--sqlite-url=file:$RUN_DIR/ferretdb/data/")
  fi
  mkdir -p "$RUN_DIR/ferretdb"
  nohup "$FERRETDB_BIN" "${backend[@]}" --listen-addr="$MONGO_ADDR" --state-dir="$RUN_DIR/ferretdb" \
    --telemetry=disable --debug-addr=- --log-level=warn >>"$LOGS/ferretdb.log" 2>&1 &
  echo $! >"$PIDS/ferretdb.pid"
  echo "$BACKEND" >"$PIDS/ferretdb.backend"
  say "ferretdb ($BACKEND) starting (pid $!)"
}

wait_ready() {
  "$PYTHON" "$HERE/probe.py" mongo "$MONGO_ADDR" --wait 30 || die "FerretDB did not answer a ping; see $LOGS/ferretdb.log"
  "$PYTHON" "$HERE/probe.py" kafka "$KAFKA_ADDR" --wait 90 || die "Kafka did not answer a metadata request; see $LOGS/kafka.log"
  say "ready: kafka $KAFKA_ADDR, mongodb://$MONGO_ADDR"
}

stop_one() {
  local name=$1
  running "$name" || { say "$name not running"; return 0; }
  local pid
  pid=$(cat "$PIDS/$name.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
  rm -f "$PIDS/$name.pid"
  say "$name stopped"
}

status() {
  local rc=0
  for name in kafka ferretdb; do
    if running "$name"; then say "$name running (pid $(cat "$PIDS/$name.pid"))"; else say "$name stopped"; rc=3; fi
  done
  if pg_running; then
    say "postgres running (pid $(head -n 1 "$PG_DATA/postmaster.pid"), socket $PG_DIR/.s.PGSQL.$PG_PORT)"
  elif [ "$BACKEND" = postgresql ]; then
    say "postgres stopped"; rc=3
  fi
  "$PYTHON" "$HERE/probe.py" kafka "$KAFKA_ADDR" && say "kafka answers on $KAFKA_ADDR" || rc=3
  "$PYTHON" "$HERE/probe.py" mongo "$MONGO_ADDR" && say "ferretdb answers on $MONGO_ADDR" || rc=3
  return $rc
}

mkdir -p "$CACHE" "$LOGS" "$PIDS"
case "${BACKEND}" in
  postgresql | sqlite) ;;
  *) die "GRID_FERRETDB_BACKEND must be postgresql or sqlite, not $BACKEND" ;;
esac
case "${1:-}" in
  install) install_kafka; install_ferretdb; install_postgres ;;
  start)
    started=$(date +%s)
    # Test sessions and `make` may start the stack at the same moment: one at a time. `flock -o` keeps the
    # lock in the flock process only, so the servers started here do not inherit (and hold) it.
    if [ -z "${GRID_STACK_LOCKED:-}" ]; then
      GRID_STACK_LOCKED=1 exec flock -o -w 300 "$RUN_DIR/stack.lock" "$0" start
    fi
    install_kafka; install_ferretdb; install_postgres
    start_ferretdb; start_kafka; wait_ready
    say "stack up in $(( $(date +%s) - started ))s" ;;
  stop) stop_one kafka; stop_one ferretdb; stop_postgres ;;
  status) status ;;
  env)  # for scripts and shells: eval "$(deploy/native/stack.sh env)"
    printf 'KAFKA_BOOTSTRAP=%q\nMONGODB_URI=%q\n' "$KAFKA_ADDR" "mongodb://$MONGO_ADDR"
    printf 'GRID_FERRETDB_BIN=%q\nGRID_PG_BIN=%q\nGRID_PG_HOST=%q\nGRID_PG_PORT=%q\n' \
      "$FERRETDB_BIN" "$PG_BIN" "$PG_DIR" "$PG_PORT" ;;
  *) echo "usage: $0 install|start|stop|status|env" >&2; exit 2 ;;
esac
