#!/usr/bin/env bash
# make bench-signin-log: seeds a throw-away PostgreSQL 15 with ROWS sign-in records (default
# 50,000,000; about 25 GB and 20-40 minutes on 2 cores) and times one user's 30-day query.
set -euo pipefail
cd "$(dirname "$0")/../.."
pgdir=$(mktemp -d /tmp/sekisho-pg-log.XXXXXX)
trap 'bash scripts/postgres.sh stop "$pgdir"; rm -rf "$pgdir"' EXIT
dsn=$(bash scripts/postgres.sh start "$pgdir" "${SEKISHO_PG_PORT:-55441}")
go run ./bench/signin-log -dsn "$dsn" -rows "${ROWS:-50000000}" "$@"
