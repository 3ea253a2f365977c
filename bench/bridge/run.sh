#!/usr/bin/env bash
# make bench-bridge: the mail bridge against Dovecot straight, in the same run (bench/bridge).
# Dovecot is a peer (scripts/install-peers.sh); the Go program prints the JSON last.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v dovecot >/dev/null || [ -x /usr/sbin/dovecot ] || bash scripts/install-peers.sh
# Dovecot's own log lines go to stderr; the results and the JSON line to stdout.
log=$(mktemp)
go run ./bench/bridge "$@" 2>"$log" || { tail -40 "$log" >&2; exit 1; }
rm -f "$log"
