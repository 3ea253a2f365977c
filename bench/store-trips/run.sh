#!/usr/bin/env bash
# make bench-store-trips: SQL round trips and writes per sign-in, counted by a wrapper around
# the real driver (test/storetrips) on SQLite and PostgreSQL; the last line is the JSON result.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp /tmp/sekisho-store-trips.XXXXXX)
pgdir=""
cleanup() {
  rm -f "$out"
  if [ -n "$pgdir" ]; then bash scripts/postgres.sh stop "$pgdir"; rm -rf "$pgdir"; fi
}
trap cleanup EXIT
if [ -z "${SEKISHO_TEST_POSTGRES:-}" ]; then
  pgdir=$(mktemp -d /tmp/sekisho-pg.XXXXXX)
  SEKISHO_TEST_POSTGRES=$(bash scripts/postgres.sh start "$pgdir" "${SEKISHO_PG_PORT:-55439}")
  export SEKISHO_TEST_POSTGRES
fi
SEKISHO_REQUIRE_PEERS=1 SEKISHO_BENCH_OUT=$out go test -count=1 -run '^TestStoreTrips$' ./test/storetrips/ >/dev/null
go run ./bench/store-trips "$out"
