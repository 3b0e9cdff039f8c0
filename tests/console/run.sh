#!/usr/bin/env bash
# Browser tests of the web console: Debian's Chromium driven by Playwright
# (playwright-core from npm, which brings no browser of its own), presenting
# members' client certificates to the real breakwater binary. Installs
# Chromium with apt-get when it is missing (as root) and the pinned npm
# packages with `npm ci`; builds nothing.
# Usage: tests/console/run.sh path/to/breakwater [OUTPUT_DIR]
# Screenshots of every page go to OUTPUT_DIR (default target/console-test).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
binary="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
out="${2:-$here/../../target/console-test}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
chromium="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "Chromium is missing: install Debian's chromium package (apt-get install chromium)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
cd "$here"
npm ci --no-audit --no-fund --silent
CHROMIUM="$chromium" exec node console.test.mjs "$binary" "$out"
