#!/usr/bin/env bash
# The store and load benches on SQLite and on PostgreSQL, back to back on
# this machine: SQLite, then PostgreSQL with one node, then with two nodes
# on one database. PostgreSQL is a throwaway local cluster this script
# starts (initdb + pg_ctl, as the postgres user when run as root) with its
# defaults (fsync and synchronous_commit on), and removes afterwards.
#
# Usage: benches/compare.sh            (short: a tenth of the load counts,
#                                       a 100,000-object large data set)
# BREAKWATER_BENCH_SCALE and BREAKWATER_BENCH_BIG override those; the
# output of every run goes to target/bench-compare/.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/bench-compare
mkdir -p "$out"
export BREAKWATER_BENCH_SCALE="${BREAKWATER_BENCH_SCALE:-0.1}"
export BREAKWATER_BENCH_BIG="${BREAKWATER_BENCH_BIG:-100000}"
export BREAKWATER_BENCH_NO_MEDALLION=1
export BREAKWATER_BENCH_ONLY="${BREAKWATER_BENCH_ONLY:-ingest,poll,get,push}"

bindir=$(pg_config --bindir 2>/dev/null || true)
if [ ! -x "$bindir/initdb" ]; then
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
fi
if [ ! -x "$bindir/initdb" ]; then
  echo "initdb not found (pg_config --bindir, /usr/lib/postgresql/*/bin): install postgresql-15" >&2
  exit 1
fi
cluster=$(mktemp -d)
owner=()
if [ "$(id -u)" = 0 ]; then
  chown postgres: "$cluster"
  owner=(runuser -u postgres --)
fi
stop_cluster() {
  "${owner[@]}" "$bindir/pg_ctl" -D "$cluster/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$cluster"
}
trap stop_cluster EXIT
"${owner[@]}" "$bindir/initdb" -D "$cluster/data" -U postgres --auth=trust >/dev/null
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${owner[@]}" "$bindir/pg_ctl" -D "$cluster/data" -l "$cluster/server.log" -w \
  -o "-p $port -k $cluster -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=256MB" \
  start >/dev/null
url() { echo "postgres://postgres@127.0.0.1:$port/$1?sslmode=disable"; }
for db in store_bench load_one load_two; do
  "${owner[@]}" "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres "$db"
done

cargo build --locked --release --bin breakwater
echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== store, SQLite"
cargo bench --locked --bench store 2>&1 | tee "$out/store-sqlite.txt"
echo "== store, PostgreSQL"
BREAKWATER_BENCH_DATABASE=$(url store_bench) \
  cargo bench --locked --bench store 2>&1 | tee "$out/store-postgres.txt"

echo "== load, SQLite"
cargo bench --locked --bench load 2>&1 | tee "$out/load-sqlite.txt"
echo "== load, PostgreSQL, one node"
BREAKWATER_BENCH_DATABASE=$(url load_one) \
  cargo bench --locked --bench load 2>&1 | tee "$out/load-postgres-1.txt"
echo "== load, PostgreSQL, two nodes"
BREAKWATER_BENCH_DATABASE=$(url load_two) BREAKWATER_BENCH_NODES=2 \
  cargo bench --locked --bench load 2>&1 | tee "$out/load-postgres-2.txt"
echo "== machine after: load average $(cut -d' ' -f1-3 /proc/loadavg)"
