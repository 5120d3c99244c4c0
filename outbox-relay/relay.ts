import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { type Config, databaseUrl, kafkaBrokers } from '../app/config.ts';
import { createRolePool } from '../app/db/database.ts';
import type { Logger } from '../app/observability/logger.ts';
import { startMetricsServer } from '../app/observability/metrics-server.ts';
import { type Check, databaseCheck, readinessOf } from '../app/observability/readiness.ts';
import { startHeartbeat } from '../app/process/heartbeat.ts';
import { backfillIfNeeded } from './backfill.ts';
import { createKafka, createPublisher, ensureTopics, type Publisher } from './kafka.ts';
import { acquireLeadership } from './leader.ts';
import { relayLeader, relaySlotRecreatedTotal } from './metrics.ts';
import { quarantineIn } from './quarantine.ts';
import { RelayStream } from './relay-stream.ts';
import { ensurePublicationAndSlot } from './replication-setup.ts';
import { createSender } from './sender.ts';

/**
 * One relay process: stands by until it holds the leader lock, then sets up the publication,
 * slot and topics and streams the outbox to Kafka. A stream failure restarts the stream (from the
 * slot's last acknowledged commit) after a backoff, keeping leadership; losing the lock's
 * connection ends the process, since single-active can no longer be guaranteed.
 */
export async function startRelay(config: Config, logger: Logger) {
  const connectionString = databaseUrl(config);
  const database = createRolePool(config, 'relay', { max: 3, applicationName: 'outbox-relay-admin' });
  const instanceId = `relay:${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const heartbeat = startHeartbeat(database.pool, 'relay', config.RELAY_HEARTBEAT_SECONDS, logger);

  let stopping = false;
  /** Where this relay is, for /health/ready: a standby whose last poll Postgres answered, or a streaming leader, is ready. */
  let role: Check = { status: 'fail', detail: 'starting' };
  const ready = async () =>
    stopping
      ? readinessOf(true, {})
      : readinessOf(false, {
          role,
          database: await databaseCheck(
            () => database.pool.query('select 1'),
            (err) => logger.warn({ err }, 'health: database check failed'),
          ),
        });
  const metricsServer = startMetricsServer(config.RELAY_METRICS_PORT, config.HOST, logger, ready);
  let stream: RelayStream | undefined;
  let publisher: Publisher | undefined;
  let progress = { lsn: '0/0', lastCommitAt: null as Date | null, events: 0, dirty: false };

  const saveProgress = async () => {
    if (!progress.dirty) return;
    progress.dirty = false;
    const { lsn, lastCommitAt, events } = progress;
    progress.events = 0;
    await database.pool
      .query(
        `insert into relay_progress (slot_name, acked_lsn, last_commit_at, events_relayed, leader_instance)
         values ($1, $2::pg_lsn, $3, $4, $5)
         on conflict (slot_name) do update set acked_lsn = excluded.acked_lsn,
           last_commit_at = coalesce(excluded.last_commit_at, relay_progress.last_commit_at),
           events_relayed = relay_progress.events_relayed + excluded.events_relayed,
           leader_instance = excluded.leader_instance, updated_at = now()`,
        [config.RELAY_SLOT_NAME, lsn, lastCommitAt, events, instanceId],
      )
      .catch((err) => logger.warn({ err }, 'could not record relay progress'));
  };
  const progressTimer = setInterval(() => void saveProgress(), 1000);
  progressTimer.unref();

  let leadership: Awaited<ReturnType<typeof acquireLeadership>>;
  const lead = () =>
    acquireLeadership({
      connectionString,
      lockName: `wallet-payments:outbox-relay:${config.RELAY_SLOT_NAME}`,
      pollMs: config.RELAY_STANDBY_POLL_MS,
      logger,
      isStopping: () => stopping,
      onStandby: (answered) => {
        role = answered
          ? { status: 'pass', detail: 'standby: another relay holds the leader lock' }
          : { status: 'fail', detail: 'standby: cannot ask Postgres for the leader lock' };
      },
      onLost: (err) => {
        logger.fatal({ err }, 'lost the leader lock: exiting so that no two relays stream at once');
        process.exit(1);
      },
    });

  const loop = (async () => {
    leadership = await lead();
    if (!leadership) return;
    relayLeader.set(1);
    role = { status: 'fail', detail: 'leader: setting up the stream' };
    logger.info({ instanceId, slot: config.RELAY_SLOT_NAME }, 'relay is the leader');
    let backoffMs = 500;
    // A leader that cannot stream (a record the broker keeps refusing, a broker it cannot reach)
    // must not sit in this loop forever looking alive: past RELAY_STALLED_EXIT_SECONDS of failures
    // with nothing relayed in between it exits, which releases the lock to the standby and shows
    // in restarts, lag and the supervisor's log.
    let failingSince: number | undefined;
    while (!stopping) {
      try {
        const setup = await ensurePublicationAndSlot(
          database.pool,
          config.RELAY_PUBLICATION,
          config.RELAY_SLOT_NAME,
        );
        if (setup.invalidated) {
          relaySlotRecreatedTotal.inc();
          logger.error(
            { slot: config.RELAY_SLOT_NAME, reason: setup.invalidated },
            'the replication slot was invalidated by Postgres (it held back more WAL than max_slot_wal_keep_size allows): recreated it; backfilling from the outbox',
          );
        } else if (setup.created)
          logger.info({ slot: config.RELAY_SLOT_NAME }, 'created the replication slot');
        const kafka = createKafka(kafkaBrokers(config), config.KAFKA_CLIENT_ID, logger);
        await ensureTopics(kafka, config.KAFKA_TOPIC_PARTITIONS);
        publisher = await createPublisher(kafka, {
          idempotent: config.KAFKA_IDEMPOTENT,
          compression: config.KAFKA_COMPRESSION,
        });
        const sender = createSender(publisher, quarantineIn(database.pool, logger), {
          maxRows: config.RELAY_BATCH_MAX_ROWS,
          maxBytes: config.RELAY_BATCH_MAX_BYTES,
          maxMessageBytes: config.RELAY_MESSAGE_MAX_BYTES,
        });
        await backfillIfNeeded(database.pool, sender, {
          slot: config.RELAY_SLOT_NAME,
          instanceId,
          slotCreated: setup.created,
          overlapSeconds: config.RELAY_BACKFILL_OVERLAP_SECONDS,
          logger,
          isStopping: () => stopping,
        });
        // stop() may have come during the setup above; it found no stream to stop, so none may start.
        if (stopping) break;
        stream = new RelayStream({
          connectionString,
          slot: config.RELAY_SLOT_NAME,
          publication: config.RELAY_PUBLICATION,
          sender,
          logger,
          batchMaxRows: config.RELAY_BATCH_MAX_ROWS,
          batchMaxBytes: config.RELAY_BATCH_MAX_BYTES,
          batchMaxWaitMs: config.RELAY_BATCH_MAX_WAIT_MS,
          maxBufferedRows: config.RELAY_MAX_BUFFERED_ROWS,
          onAcked: (p) => {
            progress = {
              lsn: p.lsn,
              lastCommitAt: p.lastCommitAt ?? progress.lastCommitAt,
              events: progress.events + p.events,
              dirty: true,
            };
            backoffMs = 500;
            failingSince = undefined;
          },
        });
        logger.info('relay streaming');
        role = { status: 'pass', detail: 'leader: streaming' };
        // A stream that runs a while without failing counts as recovered, even with nothing to send.
        const steady = setTimeout(() => {
          failingSince = undefined;
        }, 30_000);
        steady.unref();
        await stream.run().finally(() => clearTimeout(steady));
      } catch (err) {
        if (stopping) break;
        role = { status: 'fail', detail: 'leader: the stream stopped; restarting it' };
        failingSince ??= Date.now();
        if (Date.now() - failingSince > config.RELAY_STALLED_EXIT_SECONDS * 1000) {
          logger.fatal(
            { err, failingForSeconds: Math.round((Date.now() - failingSince) / 1000) },
            'the relay has not been able to stream for too long: exiting so that a standby or a restart takes over',
          );
          process.exit(1);
        }
        logger.error(
          { err, retryInMs: backoffMs },
          'relay stream stopped; restarting from the last acknowledged commit',
        );
        await new Promise((resolve) => setTimeout(resolve, backoffMs));
        backoffMs = Math.min(backoffMs * 2, 15_000);
      } finally {
        await publisher?.close().catch(() => {});
        publisher = undefined;
      }
    }
  })();

  return {
    instanceId,
    isLeader: () => leadership !== undefined,
    metricsPort: metricsServer.port,
    /** Settles when the relay stopped (or never led, if stopped while standing by). */
    done: loop,
    async stop() {
      stopping = true;
      await stream?.stop();
      await loop;
      clearInterval(progressTimer);
      await saveProgress();
      relayLeader.set(0);
      await leadership?.release();
      await heartbeat.stop();
      await metricsServer.close();
      await database.close();
    },
  };
}
