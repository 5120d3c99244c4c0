import { LogicalReplicationService, type Pgoutput, PgoutputPlugin } from 'pg-logical-replication';
import type { Logger } from '../app/observability/logger.ts';
import { lsnMinusOne } from './lsn.ts';
import { relayCommitToAckSeconds, relayErrorsTotal } from './metrics.ts';
import { type OutboxRow, toOutboxRow } from './outbox-rows.ts';
import type { Sender } from './sender.ts';

export interface RelayStreamOptions {
  connectionString: string;
  slot: string;
  publication: string;
  sender: Sender;
  logger: Logger;
  /** Whole transactions are taken for one send while they fit these (the sender splits one that does not). */
  batchMaxRows: number;
  batchMaxBytes: number;
  batchMaxWaitMs: number;
  maxBufferedRows: number;
  /** Called after each acknowledged batch. */
  onAcked(progress: { lsn: string; lastCommitAt: Date | null; events: number }): void;
}

/** A committed transaction's outbox rows, and the commit LSN to acknowledge once all are on Kafka. */
interface Transaction {
  rows: OutboxRow[];
  bytes: number;
  lsn: string;
  commitTimeMs: number;
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
 * - Sends are bounded (rows, bytes) and hold whole transactions; an acknowledgement never ends
 *   inside a transaction. A row too large to send is set aside (relay_quarantine) before the
 *   position moves past it, so one such row cannot stop the stream.
 * - Any failure stops the stream at once, without acknowledging: the slot replays from the last
 *   acknowledged commit (at least once; consumers deduplicate by event_id).
 */
export class RelayStream {
  private readonly service: LogicalReplicationService;
  private inTransaction = false;
  private txRows: OutboxRow[] = [];
  private txCommitMs = 0;
  /** Committed transactions not yet on Kafka, in commit order. */
  private queue: Transaction[] = [];
  private queuedRows = 0;
  private flushing: Promise<void> | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private paused = false;
  /** What we last reported as flushed, in acknowledge()'s terms (it adds 1). */
  private lastAcked = '0/0';
  private failure: Error | undefined;
  private stopping = false;
  private settle: { resolve(): void; reject(err: Error): void } | undefined;

  private readonly o: RelayStreamOptions;

  constructor(o: RelayStreamOptions) {
    this.o = o;
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
        this.txRows = [];
        this.txCommitMs = Number((msg.commitTime as bigint) / 1000n);
        return;
      case 'insert':
        if (msg.relation.name === 'outbox') this.txRows.push(toOutboxRow(msg.new));
        return;
      case 'commit':
        this.inTransaction = false;
        this.enqueue(this.txRows, lsn);
        this.txRows = [];
        this.scheduleFlush();
        return;
      default:
        return; // relation, type, origin: nothing to relay
    }
  }

  private enqueue(rows: OutboxRow[], lsn: string): void {
    const last = this.queue.at(-1);
    // A commit without outbox rows only moves the position: fold it into a queued empty one.
    if (rows.length === 0 && last && last.rows.length === 0) {
      last.lsn = lsn;
      return;
    }
    const bytes = rows.reduce((sum, r) => sum + r.bytes, 0);
    this.queue.push({ rows, bytes, lsn, commitTimeMs: this.txCommitMs });
    this.queuedRows += rows.length;
  }

  private onKeepalive(lsn: string, shouldRespond: boolean): void {
    if (this.failure || this.stopping) return;
    const caughtUp = !this.inTransaction && this.queue.length === 0 && !this.flushing;
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
    if (this.queuedRows >= this.o.maxBufferedRows) this.pauseSocket();
    if (this.flushing) return; // the running flush loops until nothing is pending
    if (this.queuedRows >= this.o.batchMaxRows || this.o.batchMaxWaitMs === 0) {
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
    while (this.queue.length > 0 && !this.failure) {
      const batch = this.takeTransactions();
      const rows = batch.flatMap((t) => t.rows);
      const lsn = (batch.at(-1) as Transaction).lsn;
      let sent = 0;
      try {
        if (rows.length > 0) sent = (await this.o.sender.sendAll(rows)).sent;
        if (this.failure) return;
        await this.service.acknowledge(lsn);
        this.lastAcked = lsn;
      } catch (err) {
        this.fail(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      this.queuedRows -= rows.length;
      const now = Date.now();
      const committed = batch.filter((t) => t.rows.length > 0);
      for (const t of committed) relayCommitToAckSeconds.observe((now - t.commitTimeMs) / 1000);
      const last = committed.at(-1)?.commitTimeMs;
      this.o.onAcked({ lsn, lastCommitAt: last ? new Date(last) : null, events: sent });
      if (this.paused && this.queuedRows < this.o.maxBufferedRows / 2) this.resumeSocket();
    }
  }

  /**
   * Whole transactions from the head of the queue, as many as fit the batch bounds (at least one:
   * a transaction larger than a send is split by the sender, and acknowledged after its last row).
   * So an acknowledgement never ends inside a transaction.
   */
  private takeTransactions(): Transaction[] {
    const taken = [this.queue.shift() as Transaction];
    let rows = taken[0]?.rows.length ?? 0;
    let bytes = taken[0]?.bytes ?? 0;
    for (let next = this.queue[0]; next; next = this.queue[0]) {
      if (rows + next.rows.length > this.o.batchMaxRows || bytes + next.bytes > this.o.batchMaxBytes) break;
      taken.push(this.queue.shift() as Transaction);
      rows += next.rows.length;
      bytes += next.bytes;
    }
    return taken;
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
