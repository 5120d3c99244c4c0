import { ExponentialBackoff, handleAll, retry } from 'cockatiel';
import pg from 'pg';
import client from 'prom-client';
import type { Logger } from '../observability/logger.ts';
import { registry } from '../observability/metrics.ts';
import { PAYMENT_SETTLED_CHANNEL } from './payment.aggregate.ts';

const listening = new client.Gauge({
  name: 'payment_waiter_listening',
  help: '1 while this API process LISTENs for settled payments (Prefer: wait); 0 while it reconnects and its waiters poll',
  registers: [registry],
});

/**
 * `Prefer: wait=N` without polling: one LISTEN connection per API process; a request waits for the
 * NOTIFY that changePayment() sends when its payment settles (delivered only on commit), or for
 * its deadline. The caller re-reads the payment after registering, so a settlement that happened
 * just before the wait is not missed.
 *
 * A lost connection is reconnected with exponential backoff for as long as it takes (cockatiel).
 * While it is down, and once when it is back, every waiter is woken each second to re-read its
 * payment: a NOTIFY sent meanwhile is lost, so waiting for one would sit out the whole wait.
 */
export class PaymentWaiter {
  private client: pg.Client | undefined;
  private readonly waiting = new Map<string, Set<() => void>>();
  private readonly stopped = new AbortController();
  private poller: NodeJS.Timeout | undefined;
  private readonly reconnect = retry(handleAll, {
    maxAttempts: Number.POSITIVE_INFINITY,
    backoff: new ExponentialBackoff({ initialDelay: 250, maxDelay: 10_000 }),
  });

  private readonly connectionString: string;
  private readonly logger: Logger;
  private readonly connectTimeoutMs: number;

  constructor(connectionString: string, logger: Logger, connectTimeoutMs = 5_000) {
    this.connectionString = connectionString;
    this.logger = logger;
    this.connectTimeoutMs = connectTimeoutMs;
  }

  /** Connects once; the first connection must succeed (the API does not start without it). */
  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.connectionString,
      application_name: 'api-payment-waiter',
      // A connection that dies without a reset (a failover, a partition) must still end: TCP
      // keepalives find it, and a connect that hangs gives up.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      connectionTimeoutMillis: this.connectTimeoutMs,
    });
    client.on('notification', (msg) => {
      if (msg.payload) this.wake(msg.payload);
    });
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
      await client.query(`listen ${PAYMENT_SETTLED_CHANNEL}`);
    } catch (err) {
      client.removeAllListeners('end');
      await client.end().catch(() => {});
      throw err;
    }
    this.client = client;
    listening.set(1);
    clearInterval(this.poller);
    this.poller = undefined;
    this.wakeAll();
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    listening.set(0);
    if (this.stopped.signal.aborted) return;
    this.logger.warn('payment waiter connection lost; reconnecting');
    this.wakeAll();
    this.poller = setInterval(() => this.wakeAll(), 1000);
    this.poller.unref();
    this.reconnect
      .execute(() => this.connect(), this.stopped.signal)
      .catch((err) => {
        if (!this.stopped.signal.aborted) this.logger.error({ err }, 'payment waiter gave up reconnecting');
      });
  }

  /** True once close() ran: waits end at once, and callers should stop waiting. */
  get closed(): boolean {
    return this.stopped.signal.aborted;
  }

  /** Resolves when `paymentId` may have settled (re-read it) or after `ms`, whichever is first. */
  wait(paymentId: string, ms: number): { done: Promise<void>; cancel: () => void } {
    if (this.closed) return { done: Promise.resolve(), cancel: () => {} };
    let cancel = () => {};
    const done = new Promise<void>((resolve) => {
      const set = this.waiting.get(paymentId) ?? new Set();
      this.waiting.set(paymentId, set);
      const finish = () => {
        clearTimeout(timer);
        set.delete(finish);
        if (set.size === 0) this.waiting.delete(paymentId);
        resolve();
      };
      const timer = setTimeout(finish, ms);
      set.add(finish);
      cancel = finish;
    });
    return { done, cancel };
  }

  async close(): Promise<void> {
    this.stopped.abort();
    clearInterval(this.poller);
    this.wakeAll();
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }

  private wakeAll(): void {
    for (const id of [...this.waiting.keys()]) this.wake(id);
  }

  private wake(paymentId: string): void {
    for (const finish of [...(this.waiting.get(paymentId) ?? [])]) finish();
  }
}
