#!/usr/bin/env bash
# A headless browser for the Space's browser test (tests/test_space_browser.py): Debian's
# `chromium`, driven by Playwright (from PyPI, in the dev extra) through
# executable_path=/usr/bin/chromium. `playwright install` would download its own browser build,
# which this kind of machine cannot fetch; the distribution's package installs like any other.
# Idempotent: does nothing when a chromium binary is already there.
#   ANYHAND_SKIP_BROWSER=1 bash setup.sh   # skip this step (no root, or done by hand)
set -euo pipefail

for bin in /usr/bin/chromium /usr/bin/chromium-browser; do
  if [ -x "$bin" ]; then
    echo "browser: $bin already installed"
    exit 0
  fi
done
if ! command -v apt-get >/dev/null 2>&1; then
  echo "browser: no apt-get here; install Chromium yourself (the browser test is skipped without it)" >&2
  exit 1
fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo -E"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "browser: installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
