#!/usr/bin/env bash
# The benchmark (docs/performance.md): SQLite, then PostgreSQL with Redis. Like the test
# suite, it runs its own PostgreSQL and Redis (scripts/services.sh), removed when it ends.
# Extra arguments go to `python -m bench` (e.g. --db sqlite --only 1).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev
services_env=$(scripts/services.sh start)
eval "$(printf '%s\n' "$services_env" | grep -E '^TEST_[A-Z_]+=' | sed 's/^/export /')"
trap 'scripts/services.sh stop "$TEST_SERVICES_DIR"' EXIT
.venv/bin/python -m bench "$@"
