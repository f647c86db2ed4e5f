#!/usr/bin/env bash
# Provide Chromium and its chromedriver for the console's browser tests: Debian's packages
# (chromium, chromium-driver), never a download from a browser vendor. Without them the browser
# tests fail and say so; this script only says what it could not install.
set -u
if command -v chromedriver >/dev/null 2>&1 &&
   { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium: not installed, and no root apt-get here: install Chromium and its chromedriver" \
       "(Debian: apt-get install chromium chromium-driver) for the browser tests"
  exit 0
fi
packages="chromium chromium-driver"
if timeout 600 apt-get install -y -qq --no-install-recommends $packages >/dev/null 2>&1 ||
   { timeout 300 apt-get update -qq >/dev/null 2>&1 &&
     timeout 600 apt-get install -y -qq --no-install-recommends $packages >/dev/null 2>&1; }; then
  echo "chromium: installed the Debian packages ($packages)"
else
  echo "chromium: the Debian packages ($packages) could not be installed: the browser tests will fail"
fi
exit 0
