#!/usr/bin/env bash
# Create .venv and install the pinned Python requirements (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements-${1:-dev}
reqs=requirements.txt
[ "${1:-dev}" = dev ] && reqs=requirements-dev.txt
if [ ! -f "$stamp" ] || [ "$reqs" -nt "$stamp" ] || [ requirements.txt -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r "$reqs"
  touch "$stamp"
fi
