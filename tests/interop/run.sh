#!/usr/bin/env bash
# Drives the real breakwater binary with the Python tools members run
# (taxii2-client, stix2, requests as OpenCTI/MISP do). Creates its own
# virtualenv; needs python3 and curl.
# Usage: tests/interop/run.sh path/to/breakwater
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
binary="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
venv="${INTEROP_VENV:-$here/../../target/interop-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
# requests would prefer a system CA bundle from the environment over the
# community CA each client names explicitly.
unset REQUESTS_CA_BUNDLE CURL_CA_BUNDLE
exec "$venv/bin/python" "$here/interop.py" "$binary"
