#!/usr/bin/env bash
# Installs the independent peers the test suite talks to (see docs/testing.md).
# Idempotent: skips apt-get when every package is already installed.
set -euo pipefail
# fonts-noto-cjk: without a Japanese font Chromium draws the ja pages as empty boxes
# (test/interop/fonts); fontconfig brings fc-list, which that test asks first.
# dovecot-*: the upstream IMAP/POP3/submission server of the mail bridge tests
# (internal/testutil/dovecottest runs its own instance on free loopback ports).
# samba, samba-ad-*: a real Active Directory domain controller for the directory connector
# (internal/testutil/sambatest provisions a domain into a temp dir; about 4 s).
pkgs=(xmlsec1 opensaml-tools chromium fonts-noto-cjk fontconfig libapache2-mod-shib openssl libssl-dev curl postgresql slapd ldap-utils
  dovecot-imapd dovecot-pop3d dovecot-submissiond samba samba-ad-dc samba-ad-provision samba-dsdb-modules winbind)
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
  # Keep postinst scripts from starting system daemons (e.g. a dovecot on 110/143/587/993/995
  # that tests would collide with): invoke-rc.d skips services while policy-rc.d exits 101.
  # An existing policy-rc.d (container images often ship one) is put back afterwards.
  prc=/usr/sbin/policy-rc.d
  [ -e "$prc" ] && cp -p "$prc" "$prc.install-peers"
  printf '#!/bin/sh\nexit 101\n' >"$prc" && chmod 755 "$prc"
  trap 'if [ -e "$prc.install-peers" ]; then mv -f "$prc.install-peers" "$prc"; else rm -f "$prc"; fi' EXIT
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Without systemd or policy-rc.d a dovecot may still have been started: stop it.
if [ -f /run/dovecot/master.pid ] && kill -0 "$(cat /run/dovecot/master.pid)" 2>/dev/null; then
  kill "$(cat /run/dovecot/master.pid)" || true
fi
