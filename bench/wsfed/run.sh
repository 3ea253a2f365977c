#!/usr/bin/env bash
# make bench-wsfed: with cgo and OpenSSL headers (libssl-dev) the binary is built with
# -tags openssl, so token signatures use the OpenSSL-backed signer, as `make build-openssl` does.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -f /usr/include/openssl/evp.h ] && [ "$(go env CGO_ENABLED)" = "1" ]; then
  exec go run -tags openssl ./bench/wsfed "$@"
fi
exec go run ./bench/wsfed "$@"
