#!/usr/bin/env bash
# make bench-load: the mixed load (SAML and WS-Fed on sessions, WS-Trust passwords, refused
# requests) against real `sekisho serve` processes, on SQLite (one node) and PostgreSQL (two
# nodes behind a balancer): capacity, then DURATION (default 2m; 30m for the documented run)
# at 80% of it. Without SEKISHO_TEST_POSTGRES a throw-away PostgreSQL 15 is started on its own
# port (SEKISHO_PG_PORT, default 55445). The last line is the JSON result.
set -euo pipefail
cd "$(dirname "$0")/../.."
pgdir=""
cleanup() {
  if [ -n "$pgdir" ]; then bash scripts/postgres.sh stop "$pgdir"; rm -rf "$pgdir"; fi
}
trap cleanup EXIT
if [ -z "${SEKISHO_TEST_POSTGRES:-}" ] && [[ "${BACKENDS:-sqlite,postgres}" == *postgres* ]]; then
  pgdir=$(mktemp -d /tmp/sekisho-pg-load.XXXXXX)
  if ! SEKISHO_TEST_POSTGRES=$(bash scripts/postgres.sh start "$pgdir" "${SEKISHO_PG_PORT:-55445}"); then
    echo "bench load: PostgreSQL did not start on port ${SEKISHO_PG_PORT:-55445} (SEKISHO_PG_PORT chooses another):" >&2
    cat "$pgdir/log" >&2 || true
    exit 1
  fi
  export SEKISHO_TEST_POSTGRES
fi
go run ./bench/load "$@"
