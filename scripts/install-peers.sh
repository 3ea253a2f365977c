#!/usr/bin/env bash
# Installs the independent peers the test suite talks to (see docs/testing.md).
# Idempotent: skips apt-get when every package is already installed.
set -euo pipefail
# fonts-noto-cjk: without a Japanese font Chromium draws the ja pages as empty boxes
# (test/interop/fonts); fontconfig brings fc-list, which that test asks first.
pkgs=(xmlsec1 opensaml-tools chromium fonts-noto-cjk fontconfig libapache2-mod-shib openssl libssl-dev curl postgresql slapd ldap-utils)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm run the JavaScript peers; the machine image usually has them already.
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-peers: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
