#!/usr/bin/env bash
# make bench-saml-sso: with cgo and OpenSSL headers (libssl-dev) the OpenSSL-backed signer is
# built in (-tags openssl) and measured beside Go's crypto/rsa; otherwise Go's only.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -f /usr/include/openssl/evp.h ] && [ "$(go env CGO_ENABLED)" = "1" ]; then
  exec go run -tags openssl ./bench/saml-sso "$@"
fi
exec go run ./bench/saml-sso "$@"
