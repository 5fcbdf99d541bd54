#!/usr/bin/env bash
# Native stack for machines without a Docker engine: Apache Kafka (KRaft, one combined node) run from
# its Maven Central jars on Java 17, and FerretDB v1 (SQLite backend) built from the Go module proxy.
#
#   deploy/native/stack.sh install          fetch jars and build FerretDB (cached under .run/cache)
#   deploy/native/stack.sh start            install if needed, start both, wait until each answers
#   deploy/native/stack.sh stop | status
#
# Everything lives under $GRID_RUN_DIR (default: <repo>/.run), which git ignores.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/deploy/native"
RUN_DIR=${GRID_RUN_DIR:-$ROOT/.run}
CACHE="$RUN_DIR/cache"
LOGS="$RUN_DIR/logs"
PIDS="$RUN_DIR/pids"
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$HERE/kafka/pom.xml")
FERRETDB_VERSION=v1.24.2
KAFKA_LIBS="$CACHE/kafka-$KAFKA_VERSION/libs"
FERRETDB_BIN="$CACHE/ferretdb-$FERRETDB_VERSION/ferretdb"
KAFKA_ADDR=127.0.0.1:9092
CONTROLLER_ADDR=127.0.0.1:9093
MONGO_ADDR=127.0.0.1:27017
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
  if running ferretdb; then say "ferretdb already running (pid $(cat "$PIDS/ferretdb.pid"))"; return 0; fi
  if port_busy "$MONGO_ADDR"; then
    "$PYTHON" "$HERE/probe.py" mongo "$MONGO_ADDR" \
      || die "$MONGO_ADDR is taken by a process that is not a MongoDB server; stop it first"
    say "a MongoDB server not started from this checkout answers on $MONGO_ADDR; using it"
    return 0
  fi
  local data="$RUN_DIR/ferretdb/data"
  mkdir -p "$data"
  nohup "$FERRETDB_BIN" --handler=sqlite --sqlite-url="file:$data/" --listen-addr="$MONGO_ADDR" \
    --state-dir="$RUN_DIR/ferretdb" --telemetry=disable --debug-addr=- --log-level=warn >>"$LOGS/ferretdb.log" 2>&1 &
  echo $! >"$PIDS/ferretdb.pid"
  say "ferretdb starting (pid $!)"
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
  "$PYTHON" "$HERE/probe.py" kafka "$KAFKA_ADDR" && say "kafka answers on $KAFKA_ADDR" || rc=3
  "$PYTHON" "$HERE/probe.py" mongo "$MONGO_ADDR" && say "ferretdb answers on $MONGO_ADDR" || rc=3
  return $rc
}

mkdir -p "$CACHE" "$LOGS" "$PIDS"
case "${1:-}" in
  install) install_kafka; install_ferretdb ;;
  start)
    started=$(date +%s)
    install_kafka; install_ferretdb
    start_ferretdb; start_kafka; wait_ready
    say "stack up in $(( $(date +%s) - started ))s" ;;
  stop) stop_one kafka; stop_one ferretdb ;;
  status) status ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
