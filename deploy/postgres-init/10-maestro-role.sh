#!/bin/bash
# Run once by the postgres image on an empty data folder (/docker-entrypoint-initdb.d): the
# role Maestro connects as owns its database and nothing more — not a superuser, cannot create
# roles or databases — so that a leaked MAESTRO_DATABASE_URL gives no more than Maestro's own
# tables (no COPY ... PROGRAM, no reading the server's files, no other database).
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
     -v role="$MAESTRO_DB_USER" -v password="$MAESTRO_DB_PASSWORD" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
CREATE DATABASE maestro OWNER :"role";
SQL
