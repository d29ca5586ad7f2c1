#!/usr/bin/env bash
# MLflow tracking server for team use, bound to 127.0.0.1: SQL backend store + artifact root.
#
#   infra/local/start_mlflow.sh                     # http://127.0.0.1:5000, store in ./mlflow/
#   MLFLOW_PORT=5050 MLFLOW_STORE=/srv/mlflow infra/local/start_mlflow.sh
#   MLFLOW_BACKEND_URI=postgresql://user:pw@db/mlflow infra/local/start_mlflow.sh   # a shared SQL DB
#
# Then point runs at it: `export MLFLOW_TRACKING_URI=http://127.0.0.1:5000` (or --tracking-uri).
# Runs logged straight to sqlite:///mlflow/mlflow.db by `make run` are in the same store.
set -euo pipefail
cd "$(dirname "$0")/../.."

HOST=${MLFLOW_HOST:-127.0.0.1}
PORT=${MLFLOW_PORT:-5000}
STORE=$(mkdir -p "${MLFLOW_STORE:-mlflow}" && cd "${MLFLOW_STORE:-mlflow}" && pwd)
BACKEND=${MLFLOW_BACKEND_URI:-sqlite:///$STORE/mlflow.db}
ARTIFACTS=${MLFLOW_ARTIFACTS:-$STORE/artifacts}
MLFLOW=${MLFLOW_BIN:-.venv/bin/mlflow}
mkdir -p "$ARTIFACTS"
export MLFLOW_DISABLE_TELEMETRY=true

echo "MLflow on http://$HOST:$PORT  backend=$BACKEND  artifacts=$ARTIFACTS"
echo "use it with: export MLFLOW_TRACKING_URI=http://$HOST:$PORT"
exec "$MLFLOW" server --backend-store-uri "$BACKEND" --artifacts-destination "$ARTIFACTS" \
  --serve-artifacts --host "$HOST" --port "$PORT" --workers "${MLFLOW_WORKERS:-1}"
