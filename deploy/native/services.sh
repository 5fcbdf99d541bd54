#!/usr/bin/env bash
# Run the three Python services in the background on this machine (used by `make up` / `make down`).
#   deploy/native/services.sh start | stop | status
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUN_DIR=${GRID_RUN_DIR:-$ROOT/.run}
VENV=${GRID_VENV:-$ROOT/.venv}
LOGS="$RUN_DIR/logs"
PIDS="$RUN_DIR/pids"
SERVICES=(intake:8000 dispatch:8001 notify:8002 console:8003)

say() { printf '[services] %s\n' "$*"; }

running() {
  local pid_file="$PIDS/$1.pid"
  [ -f "$pid_file" ] || return 1
  if kill -0 "$(cat "$pid_file")" 2>/dev/null; then return 0; fi
  rm -f "$pid_file"
  return 1
}

healthy() {
  "$VENV/bin/python" -c "import sys, urllib.request; urllib.request.urlopen('http://127.0.0.1:$1/healthz', timeout=1)" 2>/dev/null
}

start() {
  mkdir -p "$LOGS" "$PIDS"
  for entry in "${SERVICES[@]}"; do
    local name=${entry%%:*} port=${entry##*:}
    if running "$name"; then say "$name already running (pid $(cat "$PIDS/$name.pid"))"; continue; fi
    nohup "$VENV/bin/grid-$name" >>"$LOGS/$name.log" 2>&1 &
    echo $! >"$PIDS/$name.pid"
  done
  for entry in "${SERVICES[@]}"; do
    local name=${entry%%:*} port=${entry##*:}
    for _ in $(seq 1 60); do
      healthy "$port" && break
      running "$name" || { say "$name exited at start; last lines of $LOGS/$name.log:"; tail -n 20 "$LOGS/$name.log"; exit 1; }
      sleep 0.5
    done
    healthy "$port" || { say "$name did not answer on port $port; see $LOGS/$name.log"; exit 1; }
    say "$name up on http://127.0.0.1:$port"
  done
}

stop() {
  for entry in "${SERVICES[@]}"; do
    local name=${entry%%:*}
    running "$name" || continue
    local pid
    pid=$(cat "$PIDS/$name.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$PIDS/$name.pid"
    say "$name stopped"
  done
}

status() {
  local rc=0
  for entry in "${SERVICES[@]}"; do
    local name=${entry%%:*}
    if running "$name"; then say "$name running (pid $(cat "$PIDS/$name.pid"))"; else say "$name stopped"; rc=3; fi
  done
  return $rc
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
