#!/usr/bin/env bash
# govulncheck over the whole module. The vulnerability database is built here from the
# golang.org/x/vulndb module (the Go module proxy is the only registry CI reaches), pinned
# below: raise VULNDB_VERSION to take newer advisories. The database's date is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018
GOVULNCHECK_VERSION=v1.9.0
cache=${XDG_CACHE_HOME:-$HOME/.cache}/sekisho-vulndb/$VULNDB_VERSION
if [ ! -f "$cache/index/db.json" ]; then
  src=$(cd "$(mktemp -d)" && go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$src/data/osv" ] || { echo "vulncheck: no data/osv in golang.org/x/vulndb@$VULNDB_VERSION" >&2; exit 1; }
  rm -rf "$cache.tmp"
  go run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" -vulns "$src/data/osv" -out "$cache.tmp"
  rm -rf "$cache" && mv "$cache.tmp" "$cache"
fi
stamp=${VULNDB_VERSION#v0.0.0-}
echo "vulncheck: $(go version | cut -d' ' -f3), advisories of golang.org/x/vulndb up to ${stamp:0:4}-${stamp:4:2}-${stamp:6:2}"
go run "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION" -db "file://$cache" ./...
