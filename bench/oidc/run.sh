#!/usr/bin/env bash
# make bench-oidc: Sekisho's token endpoint (client_credentials, refresh, code-flow logins) on
# a real `sekisho serve` beside Ory Hydra v2.3.0 in the same run. Hydra is built from the Go
# module proxy in the bench-only module bench/oidc/hydra (so the main go.mod never depends on
# it), with cgo and the sqlite tags DSN=memory needs, once: the binary is cached under
# ~/.cache/sekisho-bench (HYDRA_BIN chooses another; delete it to rebuild). The last line is
# the JSON result.
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/sekisho-bench
hydra=${HYDRA_BIN:-$cache/hydra-v2.3.0}
if [ ! -x "$hydra" ]; then
  mkdir -p "$(dirname "$hydra")"
  echo "bench oidc: building Ory Hydra v2.3.0 into $hydra (once; a few minutes)" >&2
  (cd bench/oidc/hydra && CGO_ENABLED=1 go build -tags sqlite,sqlite_omit_load_extension \
    -ldflags "-X github.com/ory/hydra/v2/driver/config.Version=v2.3.0" -o "$hydra.tmp" github.com/ory/hydra/v2)
  mv "$hydra.tmp" "$hydra"
fi
exec go run ./bench/oidc -hydra "$hydra" "$@"
