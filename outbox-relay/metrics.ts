import client from 'prom-client';
import { registry } from '../app/observability/metrics.ts';

/** The relay process's metrics (served on RELAY_METRICS_PORT). */
export const relayEventsTotal = new client.Counter({
  name: 'outbox_relay_events_total',
  help: 'Outbox rows produced to Kafka and acknowledged, by topic',
  labelNames: ['topic'] as const,
  registers: [registry],
});
export const relayBatchesTotal = new client.Counter({
  name: 'outbox_relay_batches_total',
  help: 'Kafka batches acknowledged',
  registers: [registry],
});
export const relaySendBytes = new client.Histogram({
  name: 'outbox_relay_send_bytes',
  help: 'Record bytes per acknowledged Kafka send, before compression (bounded by RELAY_BATCH_MAX_BYTES)',
  buckets: [1_000, 10_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_000_000],
  registers: [registry],
});
export const relayQuarantinedTotal = new client.Counter({
  name: 'outbox_relay_quarantined_total',
  help: 'Outbox rows set aside (relay_quarantine) as too large to send, by topic and reason',
  labelNames: ['topic', 'reason'] as const,
  registers: [registry],
});
export const relayCommitToAckSeconds = new client.Histogram({
  name: 'outbox_relay_commit_to_ack_seconds',
  help: 'From the Postgres commit of an outbox row to the Kafka acknowledgement of its batch',
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});
export const relayLeader = new client.Gauge({
  name: 'outbox_relay_leader',
  help: '1 while this relay process is the active leader',
  registers: [registry],
});
export const relaySlotRecreatedTotal = new client.Counter({
  name: 'outbox_relay_slot_recreated_total',
  help: 'Replication slots found invalidated by Postgres (max_slot_wal_keep_size) and recreated, each followed by a backfill',
  registers: [registry],
});
export const relayErrorsTotal = new client.Counter({
  name: 'outbox_relay_errors_total',
  help: 'Stream or Kafka failures that stopped the stream (it restarts from the last acknowledged commit)',
  registers: [registry],
});
