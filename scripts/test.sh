#!/usr/bin/env bash
# The whole test suite (README's test command). Installs the peers, starts a real PostgreSQL,
# installs the Node peers, runs go vet and staticcheck, then every Go test plus a short fuzz pass
# over every parser (docs/testing.md).
set -euo pipefail
cd "$(dirname "$0")/.."
# The Go release the project is built and tested with (see the Makefile).
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}
# Screenshots and other files the browser tests leave for a person to look at.
export SEKISHO_ARTIFACTS=${SEKISHO_ARTIFACTS:-$PWD/artifacts}
mkdir -p "$SEKISHO_ARTIFACTS"
bash scripts/install-peers.sh

for pkg in $(git ls-files '*package.json' | grep -v node_modules); do
  d=$(dirname "$pkg")
  echo "test: npm install in $d"
  (cd "$d" && npm install --no-audit --no-fund --silent >/dev/null)
done

pgdir=$(mktemp -d /tmp/sekisho-pg.XXXXXX)
trap 'bash scripts/postgres.sh stop "$pgdir"; rm -rf "$pgdir"' EXIT
# A PostgreSQL that does not start (port taken, say) stops the run here, with its log.
if ! dsn=$(bash scripts/postgres.sh start "$pgdir" "${SEKISHO_PG_PORT:-55432}"); then
  echo "test: PostgreSQL did not start on port ${SEKISHO_PG_PORT:-55432} (SEKISHO_PG_PORT chooses another):" >&2
  cat "$pgdir/log" >&2 || true
  exit 1
fi
export SEKISHO_TEST_POSTGRES=$dsn
echo "test: PostgreSQL at $SEKISHO_TEST_POSTGRES"

go mod tidy -diff # go.mod and go.sum say exactly what the code imports
go vet ./...
# staticcheck, pinned: 2026.2.2 (module v0.8.2) supports Go 1.26.
go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
gobin=$(go env GOBIN)
"${gobin:-$(go env GOPATH)/bin}/staticcheck" ./...
bash scripts/vulncheck.sh
go test -count=1 -timeout 30m ./...
# The production build's OpenSSL signers (make build-openssl): the packages the tag changes.
CGO_ENABLED=1 go vet -tags openssl ./internal/keys/...
CGO_ENABLED=1 go test -count=1 -tags openssl ./internal/keys/... ./internal/protocol/oidc/ ./internal/protocol/saml/
bash scripts/fuzz.sh
