#!/usr/bin/env bash
# Differential test against the OASIS reference validator.
# Usage: tests/reference/run.sh PATH_TO_BREAKWATER_BINARY
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 PATH_TO_BREAKWATER_BINARY" >&2
    exit 2
fi
binary="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
here="$(cd "$(dirname "$0")" && pwd)"
venv="${BREAKWATER_REFERENCE_VENV:-$here/.venv}"

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
exec "$venv/bin/python" "$here/differential.py" "$binary"
