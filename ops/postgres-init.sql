-- Runs once, when the compose Postgres volume is created. The application connects as `payments`
-- (owner of its database); REPLICATION lets the outbox relay open a logical replication stream.
CREATE ROLE payments LOGIN PASSWORD 'payments' REPLICATION;
CREATE DATABASE payments OWNER payments;
