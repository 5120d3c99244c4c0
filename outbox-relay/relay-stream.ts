import { LogicalReplicationService, type Pgoutput, PgoutputPlugin } from 'pg-logical-replication';
import type { Logger } from '../app/observability/logger.ts';
import type { OutboxMessage, Publisher } from './kafka.ts';
import { lsnMinusOne } from './lsn.ts';
import { relayBatchesTotal, relayCommitToAckSeconds, relayErrorsTotal, relayEventsTotal } from './metrics.ts';

export interface RelayStreamOptions {
  connectionString: string;
  slot: string;
  publication: string;
  publisher: Publisher;
  logger: Logger;
  batchMaxRows: number;
  batchMaxWaitMs: number;
  maxBufferedRows: number;
  /** Called after each acknowledged batch. */
  onAcked(progress: { lsn: string; lastCommitAt: Date | null; events: number }): void;
}

interface Batch {
  messages: OutboxMessage[];
  commitTimesMs: number[];
  /** The commit LSN to acknowledge once Kafka accepted every message up to it. */
  lsn: string | null;
}

/**
 * Reads the outbox from the replication slot (pgoutput) and produces it to Kafka.
 *
 * The one rule: a WAL position is acknowledged only after Kafka acknowledged every row up to it.
 * - pg-logical-replication 2.5.0 would acknowledge by itself (auto ack, and a timer that sends the
 *   last *received* LSN: its issue #174, data loss). Both are off: acknowledge.auto false,
 *   timeoutSeconds 0. We acknowledge commit LSNs ourselves, after the Kafka batch is acknowledged.
 * - Its flow control is off too: with it, keepalives overtake queued data. Without it, messages are
 *   handled synchronously in stream order (rows are only buffered here), so when a keepalive
 *   arrives every earlier message has been seen; if nothing is pending then, its LSN is confirmed,
 *   so an idle relay does not pin WAL. Backpressure is ours: the socket pauses while
 *   `maxBufferedRows` rows wait for Kafka.
 * - Any failure stops the stream at once, without acknowledging: the slot replays from the last
 *   acknowledged commit (at least once; consumers deduplicate by event_id).
 */
export class RelayStream {
  private readonly service: LogicalReplicationService;
  private inTransaction = false;
  private txMessages: OutboxMessage[] = [];
  private txCommitMs = 0;
  private pending: Batch = { messages: [], commitTimesMs: [], lsn: null };
  private flushing: Promise<void> | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private paused = false;
  /** What we last reported as flushed, in acknowledge()'s terms (it adds 1). */
  private lastAcked = '0/0';
  private failure: Error | undefined;
  private stopping = false;
  private settle: { resolve(): void; reject(err: Error): void } | undefined;

  constructor(private readonly o: RelayStreamOptions) {
    this.service = new LogicalReplicationService(
      { connectionString: o.connectionString, application_name: 'outbox-relay' },
      { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: false } },
    );
    this.service.on('data', (lsn: string, msg: Pgoutput.Message) => this.onMessage(lsn, msg));
    this.service.on('heartbeat', (lsn: string, _ts: number, shouldRespond: boolean) =>
      this.onKeepalive(lsn, shouldRespond),
    );
    this.service.on('error', (err: Error) => this.fail(err));
  }

  /** Streams until stop() (resolves) or a failure (rejects). */
  run(): Promise<void> {
    const done = new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: [this.o.publication] });
    // No start LSN: the server resumes from the slot's confirmed position.
    this.service.subscribe(plugin, this.o.slot).then(
      () => {
        if (!this.stopping) this.fail(new Error('replication stream ended'));
      },
      (err) => this.fail(err instanceof Error ? err : new Error(String(err))),
    );
    return done;
  }

  /** Graceful: stop reading, flush and acknowledge what is complete, then close the stream. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.pauseSocket();
    clearTimeout(this.flushTimer);
    try {
      if (!this.failure) await this.flush();
    } finally {
      await this.service.stop().catch(() => {});
      this.settle?.resolve();
    }
  }

  private onMessage(lsn: string, msg: Pgoutput.Message): void {
    if (this.failure || this.stopping) return;
    switch (msg.tag) {
      case 'begin':
        this.inTransaction = true;
        this.txMessages = [];
        this.txCommitMs = Number((msg.commitTime as bigint) / 1000n);
        return;
      case 'insert':
        if (msg.relation.name === 'outbox') this.txMessages.push(toMessage(msg.new));
        return;
      case 'commit':
        this.inTransaction = false;
        if (this.txMessages.length > 0) {
          this.pending.messages.push(...this.txMessages);
          this.pending.commitTimesMs.push(this.txCommitMs);
        }
        this.pending.lsn = lsn;
        this.txMessages = [];
        this.scheduleFlush();
        return;
      default:
        return; // relation, type, origin: nothing to relay
    }
  }

  private onKeepalive(lsn: string, shouldRespond: boolean): void {
    if (this.failure || this.stopping) return;
    const caughtUp = !this.inTransaction && this.pending.lsn === null && !this.flushing;
    if (caughtUp) {
      // Everything the server sent before this keepalive was seen and acknowledged.
      this.lastAcked = lsnMinusOne(lsn);
      void this.service.acknowledge(this.lastAcked);
    } else if (shouldRespond) {
      // Answer the server (or it drops us after wal_sender_timeout) without moving the position.
      void this.service.acknowledge(this.lastAcked);
    }
  }

  private scheduleFlush(): void {
    if (this.pending.messages.length >= this.o.maxBufferedRows) this.pauseSocket();
    if (this.flushing) return; // the running flush loops until nothing is pending
    if (this.pending.messages.length >= this.o.batchMaxRows || this.o.batchMaxWaitMs === 0) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
      if (this.o.batchMaxWaitMs === 0) setImmediate(() => void this.flush());
      else void this.flush();
      return;
    }
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = undefined;
      void this.flush();
    }, this.o.batchMaxWaitMs);
  }

  private flush(): Promise<void> {
    this.flushing ??= this.flushLoop().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async flushLoop(): Promise<void> {
    while (this.pending.lsn !== null && !this.failure) {
      const batch = this.takeBatch();
      try {
        if (batch.messages.length > 0) await this.o.publisher.send(batch.messages);
        if (this.failure) return;
        await this.service.acknowledge(batch.lsn as string);
        this.lastAcked = batch.lsn as string;
      } catch (err) {
        this.fail(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      const now = Date.now();
      for (const m of batch.messages) relayEventsTotal.inc({ topic: m.topic });
      for (const t of batch.commitTimesMs) relayCommitToAckSeconds.observe((now - t) / 1000);
      relayBatchesTotal.inc();
      const last = batch.commitTimesMs.at(-1);
      this.o.onAcked({
        lsn: batch.lsn as string,
        lastCommitAt: last ? new Date(last) : null,
        events: batch.messages.length,
      });
      if (this.paused && this.pending.messages.length < this.o.maxBufferedRows / 2) this.resumeSocket();
    }
  }

  /** Takes everything complete: whole transactions only, so an ack never splits one. */
  private takeBatch(): Batch {
    const batch = this.pending;
    this.pending = { messages: [], commitTimesMs: [], lsn: null };
    return batch;
  }

  private fail(err: Error): void {
    if (this.failure || this.stopping) return;
    this.failure = err;
    relayErrorsTotal.inc();
    this.o.logger.error({ err }, 'relay stream failed; stopping without acknowledging');
    clearTimeout(this.flushTimer);
    void this.service.stop().catch(() => {});
    this.settle?.reject(err);
  }

  private socket(): { pause?: () => void; resume?: () => void } | undefined {
    // The library pauses this same stream for its own flow control; we do it for ours.
    return (
      this.service as unknown as { _connection?: { stream?: { pause?: () => void; resume?: () => void } } }
    )._connection?.stream;
  }

  private pauseSocket(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket()?.pause?.();
  }

  private resumeSocket(): void {
    if (!this.paused || this.stopping) return;
    this.paused = false;
    this.socket()?.resume?.();
  }
}

function toMessage(row: Record<string, unknown>): OutboxMessage {
  const headers = row.headers as Record<string, unknown>;
  return {
    topic: String(row.topic),
    key: String(row.key),
    value: JSON.stringify(row.payload),
    headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, String(v)])),
  };
}
