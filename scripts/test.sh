#!/usr/bin/env bash
# The whole suite: unit, integration, SQLite and Postgres, end-to-end. Starts Postgres itself.
set -euo pipefail
VENV=${VENV:-.venv}
export VENV
url=$(scripts/postgres.sh start)
trap 'scripts/postgres.sh stop' EXIT
export STACKWRIGHT_TEST_POSTGRES_URL="$url"
"$VENV/bin/python" -m pytest "$@"
