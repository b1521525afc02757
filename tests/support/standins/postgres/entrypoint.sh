#!/bin/sh
# The official image's contract: POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB make the
# first cluster in PGDATA (an empty volume); later starts keep what is there.
set -eu
mkdir -p "$PGDATA" /run/postgresql
chown -R postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  umask 077
  printf '%s\n' "$POSTGRES_PASSWORD" > /tmp/pwfile
  chown postgres /tmp/pwfile
  su postgres -c "initdb -D '$PGDATA' -U '$POSTGRES_USER' --pwfile=/tmp/pwfile \
    --auth-host=scram-sha-256 --auth-local=trust" >/dev/null
  rm -f /tmp/pwfile
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  su postgres -c "pg_ctl -D '$PGDATA' -o '-c listen_addresses=' -w start" >/dev/null
  su postgres -c "createdb -U '$POSTGRES_USER' '$POSTGRES_DB'"
  su postgres -c "pg_ctl -D '$PGDATA' -m fast -w stop" >/dev/null
fi
# PostgreSQL itself as PID 1 (gosu's job in the official image): it gets docker stop's SIGTERM.
exec setpriv --reuid=postgres --regid=postgres --init-groups \
  postgres -D "$PGDATA" -c listen_addresses='*'
