#!/usr/bin/env bash
# Prefect server (API + UI) for team use, bound to 127.0.0.1.
#
#   infra/local/start_prefect.sh                    # http://127.0.0.1:4200, state in ./.prefect/
#   PREFECT_PORT=4300 PREFECT_HOME=/srv/prefect infra/local/start_prefect.sh
#   PREFECT_API_DATABASE_CONNECTION_URL=postgresql+asyncpg://user:pw@db/prefect infra/local/start_prefect.sh
#
# Then: `export PREFECT_API_URL=http://127.0.0.1:4200/api` and `reflect deploy --cron "0 3 * * 1"`.
set -euo pipefail
cd "$(dirname "$0")/../.."

HOST=${PREFECT_HOST:-127.0.0.1}
PORT=${PREFECT_PORT:-4200}
export PREFECT_HOME=${PREFECT_HOME:-$PWD/.prefect}
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export PREFECT_UI_API_URL=${PREFECT_UI_API_URL:-http://$HOST:$PORT/api}
PREFECT=${PREFECT_BIN:-.venv/bin/prefect}
mkdir -p "$PREFECT_HOME"

echo "Prefect on http://$HOST:$PORT  home=$PREFECT_HOME"
echo "use it with: export PREFECT_API_URL=http://$HOST:$PORT/api"
exec "$PREFECT" server start --host "$HOST" --port "$PORT"
