#!/usr/bin/env bash
# Static checks of deploy/ that run offline in CI (no Docker engine, no cluster):
#   - compose.yaml loaded with compose-go, the library `docker compose config` is built on (schema,
#     interpolation, anchors); it must also refuse to load without GRID_ID_SIGNING_KEY;
#   - deploy/k8s/*.yaml validated strictly (unknown fields are errors) against the Kubernetes API schemas of
#     the oldest and newest versions we support (kubernetes-validate ships them);
#   - deploy/k8s and deploy/Dockerfile through checkov's security and reliability rules (deploy/lint/checkov.yaml);
#   - deploy/Dockerfile through hadolint.
# The linters are pinned (deploy/lint/requirements.txt, composecheck/go.sum) and cached under .run/cache:
# a warm run takes seconds plus checkov's start-up.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUN_DIR=${GRID_RUN_DIR:-$ROOT/.run}
CACHE="$RUN_DIR/cache"
LINT="$ROOT/deploy/lint"
KUBERNETES_VERSIONS=(1.30.0 1.37.0)

say() { printf '[lint-deploy] %s\n' "$*"; }
digest() { cat "$@" | sha256sum | cut -c1-16; }

mkdir -p "$CACHE"
VENV="$CACHE/lint-venv-$(digest "$LINT/requirements.txt")"
if [ ! -x "$VENV/bin/checkov" ]; then
  say "installing the linters into $VENV (once)"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$LINT/requirements.txt"
fi
COMPOSECHECK="$CACHE/composecheck-$(digest "$LINT"/composecheck/{go.mod,go.sum,main.go})"
if [ ! -x "$COMPOSECHECK" ]; then
  say "building composecheck (once)"
  (cd "$LINT/composecheck" && GOFLAGS=-buildvcs=false go build -trimpath -o "$COMPOSECHECK" .)
fi

say "compose: deploy/compose.yaml"
GRID_ID_SIGNING_KEY=lint-placeholder "$COMPOSECHECK" "$ROOT/deploy/compose.yaml" >/dev/null
if env -u GRID_ID_SIGNING_KEY "$COMPOSECHECK" "$ROOT/deploy/compose.yaml" >/dev/null 2>&1; then
  say "deploy/compose.yaml loads without GRID_ID_SIGNING_KEY: it must require the signing key"
  exit 1
fi

for version in "${KUBERNETES_VERSIONS[@]}"; do
  say "kubernetes $version schemas: deploy/k8s"
  "$VENV/bin/kubernetes-validate" --strict --quiet -k "$version" "$ROOT"/deploy/k8s/*.yaml
done

# Two runs: given a directory and a file at once, checkov scans only the directory.
export CKV_SKIP_PACKAGE_UPDATE_CHECK=true
say "checkov: deploy/k8s"
"$VENV/bin/checkov" --config-file "$LINT/checkov.yaml" --directory "$ROOT/deploy/k8s"
say "checkov: deploy/Dockerfile"
"$VENV/bin/checkov" --config-file "$LINT/checkov.yaml" --file "$ROOT/deploy/Dockerfile"

say "hadolint: deploy/Dockerfile"
"$VENV/bin/hadolint" --config "$LINT/hadolint.yaml" "$ROOT/deploy/Dockerfile"
say "all clean"
