#!/usr/bin/env bash
# make bench-NAME: runs bench/NAME/run.sh when present, else `go run ./bench/NAME`.
# The last line printed is the JSON result of the benchmark convention (docs/benchmarks.md).
set -euo pipefail
name=${1:?usage: bench/run.sh NAME}
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3} # the Go release the project is built with (Makefile)
if [ -x "bench/$name/run.sh" ]; then
  exec "bench/$name/run.sh"
fi
exec go run "./bench/$name"
