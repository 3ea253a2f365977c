#!/usr/bin/env bash
# make bench-policy: Sekisho's policy engine vs OPA on the same 1,000 rules / 10,000 CIDRs.
# OPA lives in this directory's own go.mod, so the main module never depends on it.
set -euo pipefail
cd "$(dirname "$0")"
exec go run .
