#!/usr/bin/env bash
# The whole suite: unit, integration, SQLite and Postgres, end-to-end, browser. Starts Postgres and
# installs Chromium (Debian package) itself.
# Prints the wall time at the end, whether the suite passed or not.
set -euo pipefail
VENV=${VENV:-.venv}
export VENV
finish() {
  local status=$?
  scripts/postgres.sh stop || true
  printf 'make test: wall time %dm%02ds (exit %d)\n' $((SECONDS / 60)) $((SECONDS % 60)) "$status"
}
trap finish EXIT
url=$(scripts/postgres.sh start)
export STACKWRIGHT_TEST_POSTGRES_URL="$url"
STACKWRIGHT_TEST_CHROMIUM=$(scripts/chromium.sh)  # Debian's Chromium for the browser tests, installed if missing
export STACKWRIGHT_TEST_CHROMIUM
# Two processes; a file's tests stay in one (module fixtures, Ray). Later arguments win, e.g. `-n 0`.
"$VENV/bin/python" -m pytest -n 2 --dist loadfile "$@"
