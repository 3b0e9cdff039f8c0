#!/usr/bin/env bash
# Drives the real breakwater binary with the Python tools members run
# (taxii2-client, stix2, requests as OpenCTI/MISP do). Creates its own
# virtualenv; needs python3 and curl.
#
# Usage: tests/interop/run.sh path/to/breakwater [--postgres]
#
# With --postgres, two nodes serve one PostgreSQL database, on a throwaway
# cluster this script starts (initdb + pg_ctl, as the postgres user when
# run as root) and removes; the flows are spread over both nodes.
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

if [ "${2:-}" != "--postgres" ]; then
  exec "$venv/bin/python" "$here/interop.py" "$binary"
fi

bindir=$(pg_config --bindir 2>/dev/null || true)
if [ ! -x "$bindir/initdb" ]; then
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
fi
if [ ! -x "$bindir/initdb" ]; then
  echo "initdb not found (pg_config --bindir, /usr/lib/postgresql/*/bin): install the postgresql package" >&2
  exit 1
fi
cluster=$(mktemp -d)
owner=()
if [ "$(id -u)" = 0 ]; then
  chown postgres: "$cluster"
  owner=(runuser -u postgres --)
fi
stop_cluster() {
  "${owner[@]}" "$bindir/pg_ctl" -D "$cluster/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$cluster"
}
trap stop_cluster EXIT
"${owner[@]}" "$bindir/initdb" -D "$cluster/data" -U postgres --auth=trust --no-sync >/dev/null
port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${owner[@]}" "$bindir/pg_ctl" -D "$cluster/data" -l "$cluster/server.log" -w \
  -o "-p $port -k $cluster -c listen_addresses=127.0.0.1" start >/dev/null
"${owner[@]}" "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres breakwater
INTEROP_DATABASE="postgres://postgres@127.0.0.1:$port/breakwater?sslmode=disable" \
  "$venv/bin/python" "$here/interop.py" "$binary"
