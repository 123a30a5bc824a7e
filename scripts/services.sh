#!/usr/bin/env bash
# Install (if missing) and start the real services the test suite needs: PostgreSQL 15,
# Redis and Chromium. Fails loudly when one of them cannot be had: tests never skip them.
# Prints the environment to use: TEST_DATABASE_URL and TEST_REDIS_URL.
set -euo pipefail

need=()
command -v pg_ctlcluster >/dev/null || need+=(postgresql)
command -v redis-server >/dev/null || need+=(redis-server)
command -v chromium >/dev/null || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "services.sh: missing ${need[*]}; install them (apt-get install ${need[*]}) or run as root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq "${need[@]}" fonts-dejavu-core >&2
fi

# PostgreSQL: the machine's cluster, with a role and database for the tests.
cluster=$(pg_lsclusters --no-header | awk 'NR==1 {print $1" "$2}')
if [ -z "$cluster" ]; then
  pg_createcluster 15 main >&2
  cluster="15 main"
fi
pg_ctlcluster $cluster start >&2 2>/dev/null || true
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p 5432 && break
  sleep 1
done
pg_isready -h 127.0.0.1 -p 5432 >&2 || { echo "services.sh: PostgreSQL did not start" >&2; exit 1; }
su postgres -c "psql -q -tc \"SELECT 1 FROM pg_roles WHERE rolname='chatbot'\" | grep -q 1 || \
  psql -q -c \"CREATE ROLE chatbot LOGIN SUPERUSER PASSWORD 'chatbot'\"" >&2
su postgres -c "psql -q -tc \"SELECT 1 FROM pg_database WHERE datname='chatbot'\" | grep -q 1 || \
  createdb -O chatbot chatbot" >&2

# Redis: a private server on its own port, so a system Redis is left alone.
REDIS_PORT=${REDIS_PORT:-6390}
if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes --save "" \
    --appendonly no --logfile /tmp/chatbot-redis.log >&2
  for _ in $(seq 1 30); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
    sleep 0.2
  done
fi
redis-cli -p "$REDIS_PORT" ping >/dev/null || { echo "services.sh: Redis did not start" >&2; exit 1; }

command -v chromium >/dev/null || { echo "services.sh: Chromium is missing" >&2; exit 1; }

echo "TEST_DATABASE_URL=postgres://chatbot:chatbot@127.0.0.1:5432/chatbot"
echo "TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
