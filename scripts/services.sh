#!/usr/bin/env bash
# The services the test suite needs, private to one run.
#
#   scripts/services.sh start     install what is missing (PostgreSQL 15, Redis, Chromium,
#                                 nginx: Debian packages, as root), then start a PostgreSQL
#                                 and a Redis of the run's own in a new temporary directory,
#                                 on free loopback ports. Prints the environment to use:
#                                 TEST_SERVICES_DIR, TEST_DATABASE_URL, TEST_REDIS_URL and
#                                 TEST_PG_CTL (how tests stop and start that PostgreSQL).
#   scripts/services.sh stop DIR  stop both and delete DIR: nothing is left behind.
#
# The machine's own PostgreSQL clusters, Redis servers and roles are neither used nor
# changed. Fails loudly when something cannot be had: tests never skip a service.
set -Eeuo pipefail

PG_BIN=/usr/lib/postgresql/15/bin

# PostgreSQL refuses to run as root: as root, its files and processes belong to "postgres".
as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

install_missing() {
  local need=()
  [ -x "$PG_BIN/initdb" ] || need+=(postgresql-15)
  command -v redis-server >/dev/null || need+=(redis-server)
  command -v chromium >/dev/null || need+=(chromium)
  [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || need+=(nginx)
  [ ${#need[@]} -gt 0 ] || return 0
  if [ "$(id -u)" != 0 ]; then
    echo "services.sh: missing ${need[*]}; install them (apt-get install ${need[*]}) or run as root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq "${need[@]}" fonts-dejavu-core >&2
  # A package just installed may start its system server (PostgreSQL 5432, Redis 6379,
  # nginx 80); the tests use private ones, so that server is stopped and not started at boot.
  local package service
  for package in "${need[@]}"; do
    case "$package" in
      postgresql-15) service=postgresql ;;
      redis-server | nginx) service=$package ;;
      *) continue ;;
    esac
    if command -v systemctl >/dev/null && systemctl is-enabled --quiet "$service" 2>/dev/null; then
      systemctl disable --now "$service" >/dev/null 2>&1 || true
    fi
    service "$service" stop >/dev/null 2>&1 || true
  done
}

stop() {
  local dir=$1
  case "$(basename "$dir")" in
    chatbot-services.*) ;;
    *) echo "services.sh: $dir is not a directory this script made" >&2; exit 1 ;;
  esac
  [ -d "$dir" ] || return 0
  if [ -f "$dir/pg/postmaster.pid" ]; then
    as_postgres "$PG_BIN/pg_ctl" -D "$dir/pg" -m fast -w stop >/dev/null
  fi
  if [ -f "$dir/redis.pid" ]; then
    local pid
    pid=$(cat "$dir/redis.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "services.sh: Redis (pid $pid) did not stop" >&2
      exit 1
    fi
  fi
  rm -rf "$dir"
  echo "services.sh: stopped the run's PostgreSQL and Redis and removed $dir; nothing left behind" >&2
}

start() {
  install_missing
  local dir pg_port redis_port
  dir=$(mktemp -d "${TMPDIR:-/tmp}/chatbot-services.XXXXXX")
  # Anything started before a failure is stopped again.
  trap 'stop "$dir"' ERR
  chmod 755 "$dir"
  mkdir "$dir/pg" "$dir/socket"
  printf 'chatbot\n' >"$dir/password"
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$dir/pg" "$dir/socket" "$dir/password"; fi
  pg_port=$(free_port)
  redis_port=$(free_port)

  # PostgreSQL: a superuser "chatbot" (password "chatbot") and a database "chatbot".
  as_postgres "$PG_BIN/initdb" -D "$dir/pg" -U chatbot --pwfile="$dir/password" \
    --auth=scram-sha-256 -E UTF8 --locale=C.UTF-8 --no-instructions >"$dir/initdb.log"
  cat >>"$dir/pg/postgresql.conf" <<EOF
port = $pg_port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir/socket'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
  as_postgres "$PG_BIN/pg_ctl" -D "$dir/pg" -l "$dir/pg/postgresql.log" -w start >/dev/null
  PGPASSWORD=chatbot "$PG_BIN/createdb" -h 127.0.0.1 -p "$pg_port" -U chatbot chatbot

  redis-server --port "$redis_port" --bind 127.0.0.1 --daemonize yes --save "" \
    --appendonly no --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
  for _ in $(seq 1 50); do
    redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  redis-cli -p "$redis_port" ping >/dev/null || { echo "services.sh: Redis did not start" >&2; false; }
  command -v chromium >/dev/null || { echo "services.sh: Chromium is missing" >&2; false; }
  trap - ERR

  echo "TEST_SERVICES_DIR=$dir"
  echo "TEST_DATABASE_URL=postgres://chatbot:chatbot@127.0.0.1:$pg_port/chatbot"
  echo "TEST_REDIS_URL=redis://127.0.0.1:$redis_port/0"
  local pg_ctl="$PG_BIN/pg_ctl -D $dir/pg -l $dir/pg/postgresql.log -w"
  [ "$(id -u)" = 0 ] && pg_ctl="runuser -u postgres -- $pg_ctl"
  printf 'TEST_PG_CTL=%q\n' "$pg_ctl"
  echo "services.sh: PostgreSQL on 127.0.0.1:$pg_port and Redis on 127.0.0.1:$redis_port, in $dir" >&2
}

case "${1:-}" in
  start) start ;;
  stop) stop "${2:?usage: services.sh stop DIR}" ;;
  *) echo "usage: services.sh start | stop DIR" >&2; exit 2 ;;
esac
