#!/usr/bin/env bash
# Starts the Debian PostgreSQL cluster and prints a URL for a throwaway database.
# usage: start-postgres.sh [DBNAME [--fresh]]   (default riskscore_test; --fresh drops and recreates it)
set -euo pipefail
db=${1:-riskscore_test}
[[ "$db" =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "start-postgres.sh: bad database name: $db" >&2; exit 2; }
ver=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
[ -n "$ver" ] || { echo "postgresql not installed" >&2; exit 1; }
pg_ctlcluster "$ver" main start >&2 2>/dev/null || true   # its chatter must not reach stdout: callers read the URL from it
for _ in $(seq 1 30); do pg_isready -q >&2 && break; sleep 1; done
su postgres -c "psql -qtc \"SELECT 1 FROM pg_roles WHERE rolname='riskscore'\"" | grep -q 1 \
  || su postgres -c "psql -qc \"CREATE ROLE riskscore LOGIN PASSWORD 'riskscore' CREATEDB\"" >&2
if [ "${2:-}" = "--fresh" ]; then
  su postgres -c "psql -qc \"DROP DATABASE IF EXISTS $db\"" >&2
fi
su postgres -c "psql -qtc \"SELECT 1 FROM pg_database WHERE datname='$db'\"" | grep -q 1 \
  || su postgres -c "psql -qc \"CREATE DATABASE $db OWNER riskscore\"" >&2
echo "postgresql+psycopg://riskscore:riskscore@127.0.0.1:5432/$db"
