#!/usr/bin/env bash
# Starts a throw-away PostgreSQL 15 for the conformance suite and prints its DSN.
# usage: scripts/postgres.sh start DIR PORT | stop DIR
set -euo pipefail
bin=/usr/lib/postgresql/15/bin
cmd=${1:?start|stop}; dir=${2:?data dir}; port=${3:-55432}
run() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "$cmd" in
start)
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  if [ ! -f "$dir/PG_VERSION" ]; then
    run "$bin/initdb" -D "$dir" -A trust -U sekisho >/dev/null
  fi
  run "$bin/pg_ctl" -D "$dir" -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off" -l "$dir/log" -w start >/dev/null
  echo "postgres://sekisho@127.0.0.1:$port/postgres?sslmode=disable"
  ;;
stop)
  run "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null || true
  ;;
esac
