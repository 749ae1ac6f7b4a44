#!/usr/bin/env bash
# Starts the local PostgreSQL cluster Debian's package created and makes a `traceline` role that
# may create databases (each storage test makes its own). Idempotent. Prints the URL to use.
set -euo pipefail
version=$(ls /usr/lib/postgresql | sort -n | tail -1)
run_as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then su postgres -c "$1"; else sudo -u postgres bash -c "$1"; fi
}
if ! pg_lsclusters -h | grep -q "^$version main"; then
  run_as_postgres "pg_createcluster $version main" >/dev/null
fi
pg_ctlcluster "$version" main start >/dev/null 2>&1 || true
for _ in $(seq 50); do
  run_as_postgres "psql -Atqc 'select 1'" >/dev/null 2>&1 && break
  sleep 0.2
done
run_as_postgres "psql -Atqc \"do \\\$\\\$ begin if not exists (select from pg_roles where rolname = 'traceline') then create role traceline login password 'traceline' createdb; end if; end \\\$\\\$;\"" >/dev/null
port=$(run_as_postgres "psql -Atqc 'show port'")
echo "postgres://traceline:traceline@127.0.0.1:${port}/postgres"
