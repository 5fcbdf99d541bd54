#!/usr/bin/env bash
# Run the four Python services in the background on this machine (used by `make up` / `make down`).
#   deploy/native/services.sh start | stop | status | secrets
# `secrets` (also run by `start`) creates $RUN_DIR/secrets.env once per installation: a random
# GRID_ID_SIGNING_KEY that every service gets, next to the demo keys. Rotation: see README.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUN_DIR=${GRID_RUN_DIR:-$ROOT/.run}
VENV=${GRID_VENV:-$ROOT/.venv}
LOGS="$RUN_DIR/logs"
PIDS="$RUN_DIR/pids"
SERVICES=(intake:8000 dispatch:8001 notify:8002 console:8003)

SECRETS="$RUN_DIR/secrets.env"

say() { printf '[services] %s\n' "$*"; }

# The services refuse the public development key outside GRID_ENVIRONMENT=development, so an
# installation gets its own random key the first time, kept (mode 600) where the demo keys are.
ensure_secrets() {
  mkdir -p "$RUN_DIR"
  if [ ! -s "$SECRETS" ]; then
    (
      umask 077
      key=$("$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(48))')
      printf '# Created once by deploy/native/services.sh; rotating it: see README.md\nGRID_ID_SIGNING_KEY=%s\n' \
        "$key" >"$SECRETS.tmp"
      mv "$SECRETS.tmp" "$SECRETS"
    )
    say "created a random request-id signing key in $SECRETS"
  fi
  chmod 600 "$SECRETS"
}

load_secrets() {
  ensure_secrets
  set -a
  # shellcheck disable=SC1090
  source "$SECRETS"
  set +a
}

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
  load_secrets
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
  secrets) ensure_secrets ;;
  *) echo "usage: $0 start|stop|status|secrets" >&2; exit 2 ;;
esac
