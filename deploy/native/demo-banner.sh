#!/usr/bin/env bash
# Printed by `make up`: URLs, demo API keys (created once, kept in .run/demo-keys.env, created again when the
# database no longer knows them), and two curls to copy.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUN_DIR=${GRID_RUN_DIR:-$ROOT/.run}
VENV=${GRID_VENV:-$ROOT/.venv}
KEYS="$RUN_DIR/demo-keys.env"
SECRETS="$RUN_DIR/secrets.env"
# The request id printed below is signed with the services' key (created by services.sh start).
set -a
# shellcheck disable=SC1090
[ -s "$SECRETS" ] && source "$SECRETS"
set +a

# Prints the names of the kept keys the database does not know (any more): after the database was reset,
# the file outlives the keys, and printing them would hand out keys that answer 401 to every call.
unknown_keys() {
  CLIENT_KEY=${CLIENT_KEY:-} OPERATOR_KEY=${OPERATOR_KEY:-} "$VENV/bin/python" - <<'PY'
import asyncio
import os

from shared.api_keys import ApiKeyRepository
from shared.mongo import connect, database
from shared.settings import PlatformSettings


async def main() -> None:
    settings = PlatformSettings()
    client = connect(settings)
    keys = ApiKeyRepository(database(client, settings))
    for name in ("CLIENT_KEY", "OPERATOR_KEY"):
        if not os.environ.get(name) or await keys.authenticate(os.environ[name]) is None:
            print(name)
    await client.close()


asyncio.run(main())
PY
}

CLIENT_KEY="" OPERATOR_KEY=""
# shellcheck disable=SC1090
[ -s "$KEYS" ] && source "$KEYS"
missing=$(unknown_keys)
if [ -n "$missing" ]; then
  [ -s "$KEYS" ] && echo "[banner] the demo keys in $KEYS are unknown to the database (was it reset?); creating new ones"
  for name in $missing; do
    case $name in
      CLIENT_KEY) CLIENT_KEY=$("$VENV/bin/gridctl" keys create -d chengzhong -r client_app -l "make up demo app" 2>/dev/null) ;;
      OPERATOR_KEY) OPERATOR_KEY=$("$VENV/bin/gridctl" keys create -d chengzhong -r operator -l "make up demo console" 2>/dev/null) ;;
    esac
  done
  (umask 077; printf 'CLIENT_KEY=%s\nOPERATOR_KEY=%s\n' "$CLIENT_KEY" "$OPERATOR_KEY" >"$KEYS")
  chmod 600 "$KEYS"
fi
# Intake scopes an Idempotency-Key by the caller's key id, so the request id is known in advance.
read -r request_id token < <(CLIENT_KEY="$CLIENT_KEY" "$VENV/bin/python" - <<'PY'
import os

from shared.api_keys import split_key
from shared.request_ids import access_token, mint_request_id
from shared.settings import PlatformSettings

key = PlatformSettings().signing_key()
key_id, _ = split_key(os.environ["CLIENT_KEY"]) or ("", "")
request_id = mint_request_id(key, "chengzhong", f"{key_id}|demo-1")
print(request_id, access_token(key, request_id))
PY
)

cat <<TEXT

Grid Service Platform is up.
  intake   http://127.0.0.1:8000/docs
  dispatch http://127.0.0.1:8001/readyz
  notify   http://127.0.0.1:8002/docs
  console  http://127.0.0.1:8003/console/   operator key: $OPERATOR_KEY
Demo keys are kept in $KEYS.

Submit a request (copy and paste):
  curl -s -X POST http://127.0.0.1:8000/v1/districts/chengzhong/requests -H 'Content-Type: application/json' -H 'X-API-Key: $CLIENT_KEY' -H 'Idempotency-Key: demo-1' -d '{"menu_item_code":"errand.groceries","grid_id":"xgll-01","resident_name":"王仁柱","resident_phone":"13800001234","text":"十斤米，一桶油"}'
Follow its status events (Ctrl-C to stop):
  curl -sN 'http://127.0.0.1:8002/v1/districts/chengzhong/requests/$request_id/events?access_token=$token'
TEXT
