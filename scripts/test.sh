#!/usr/bin/env bash
# The whole test suite, as CI runs it: first on SQLite with the in-memory channel layer,
# then on PostgreSQL with Redis (channels-redis and the Redis cache). Browser tests drive
# Debian's Chromium. Extra arguments go to pytest (both passes).
#
# PostgreSQL and Redis are the run's own (scripts/services.sh): started in a temporary
# directory on free ports, stopped and deleted when the run ends, however it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev
# Fails here (set -e) when a service cannot be installed or started.
services_env=$(scripts/services.sh start)
eval "$(printf '%s\n' "$services_env" | grep -E '^TEST_[A-Z_]+=' | sed 's/^/export /')"
trap 'scripts/services.sh stop "$TEST_SERVICES_DIR"' EXIT
export CHROMIUM_PATH=${CHROMIUM_PATH:-$(command -v chromium)}
export TEST_ARTIFACTS=${TEST_ARTIFACTS:-$PWD/test-artifacts}

echo "== tests on SQLite, in-memory channel layer =="
env -u DATABASE_URL -u REDIS_URL .venv/bin/python -m pytest -m "not postgres_only" "$@"

echo "== tests on PostgreSQL, Redis channel layer and cache =="
DATABASE_URL=$TEST_DATABASE_URL REDIS_URL=$TEST_REDIS_URL .venv/bin/python -m pytest "$@"
