#!/usr/bin/env bash
# Run the app at http://127.0.0.1:8000: SQLite, in-memory channel layer, migrations applied,
# the demo model unless OPENAI_API_KEY or OPENAI_BASE_URL is set.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh runtime
export DJANGO_DEBUG=${DJANGO_DEBUG:-1}
.venv/bin/python manage.py migrate --noinput
# The command docs/deployment.md gives, minus --workers: uvicorn's proxy-header handling off,
# so only DJANGO_TRUSTED_PROXY_COUNT decides whether X-Forwarded-For names the client.
exec .venv/bin/python -m uvicorn chatbot.asgi:application --host "${HOST:-127.0.0.1}" \
  --port "${PORT:-8000}" --no-proxy-headers
