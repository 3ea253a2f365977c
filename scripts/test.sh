#!/usr/bin/env bash
# The whole test suite (README's test command). Installs the peers, starts a real PostgreSQL,
# installs the Node peers, then runs every Go test plus a short fuzz pass over every parser.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-peers.sh

for pkg in $(git ls-files '*package.json' | grep -v node_modules); do
  d=$(dirname "$pkg")
  echo "test: npm install in $d"
  (cd "$d" && npm install --no-audit --no-fund --silent >/dev/null)
done

pgdir=$(mktemp -d /tmp/sekisho-pg.XXXXXX)
trap 'bash scripts/postgres.sh stop "$pgdir"; rm -rf "$pgdir"' EXIT
export SEKISHO_TEST_POSTGRES=$(bash scripts/postgres.sh start "$pgdir" "${SEKISHO_PG_PORT:-55432}")
echo "test: PostgreSQL at $SEKISHO_TEST_POSTGRES"

go vet ./...
go test -count=1 -timeout 30m ./...
bash scripts/fuzz.sh
