#!/usr/bin/env bash
# Make sure Debian's Chromium is installed for the browser tests (tests/e2e).
# Idempotent and silent when it is already there; installs it with apt-get otherwise
# (needs root). Playwright only drives this browser: `playwright install` is never
# used, because it downloads a browser build from outside the package registries.
set -euo pipefail

CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
[ -x "$CHROMIUM" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-browser: $CHROMIUM is missing; run as root (or: sudo apt-get install -y chromium)" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "ensure-browser: no apt-get here; install Chromium and set CHROMIUM_PATH" >&2
  exit 1
fi

echo "ensure-browser: installing Debian's chromium package..."
export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core; } >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  rm -f "$log"
  echo "ensure-browser: apt-get could not install chromium" >&2
  exit 1
fi
rm -f "$log"
/usr/bin/chromium --version 2>/dev/null
