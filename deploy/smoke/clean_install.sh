#!/usr/bin/env bash
# Clean-install smoke test: install the package the way deploy/Dockerfile does (no extras, not editable) into
# a fresh virtual environment, then start every entry point with the containers' environment against the
# native stack and wait for /readyz (deploy/smoke/entry_points.py). It catches "works only in the dev
# environment": a run-time import that only a test extra provides, a file the wheel does not ship, a
# setting compose forgets.
#   deploy/smoke/clean_install.sh            (the native stack must answer: deploy/native/stack.sh start)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUN_DIR=${GRID_RUN_DIR:-$ROOT/.run}
WORK="$RUN_DIR/smoke"
VENV="$WORK/venv"

say() { printf '[smoke] %s\n' "$*"; }

rm -rf "$VENV"
mkdir -p "$WORK"
say "fresh virtual environment in $VENV"
python3 -m venv "$VENV"
# Build from a copy of the tracked files only, as the image's build context after .dockerignore: a stray
# local file (or an egg-info of the editable install) can then not make the test pass.
SRC="$WORK/src"
rm -rf "$SRC"
mkdir -p "$SRC"
git -C "$ROOT" ls-files -z --cached --others --exclude-standard \
  | (cd "$ROOT" && xargs -0 cp --parents -t "$SRC" 2>/dev/null || true)
say "pip install -c constraints.txt . (no extras), as deploy/Dockerfile does"
"$VENV/bin/pip" install -q --disable-pip-version-check -c "$ROOT/constraints.txt" "$SRC"
for tool in grid-intake grid-dispatch grid-notify grid-console gridctl; do
  [ -x "$VENV/bin/$tool" ] || { say "entry point $tool was not installed"; exit 1; }
done
# The driver runs on the clean interpreter too: it may use only the standard library and the package's
# own dependencies.
cd "$WORK"
"$VENV/bin/python" -I "$ROOT/deploy/smoke/entry_points.py" --root "$ROOT" --venv "$VENV" --logs "$WORK/logs"
