#!/bin/sh
# Runs once, when the compose Postgres volume is created. The application connects as `payments`
# (owner of its database); REPLICATION lets the outbox relay open a logical replication stream.
# Its password comes from PAYMENTS_DB_PASSWORD (docker-compose.yml): no password lives in this repo.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
     -v password="$PAYMENTS_DB_PASSWORD" <<'SQL'
CREATE ROLE payments LOGIN PASSWORD :'password' REPLICATION;
CREATE DATABASE payments OWNER payments;
SQL
