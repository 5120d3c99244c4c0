import pg from 'pg';
import type { Logger } from '../observability/logger.ts';
import { PAYMENT_SETTLED_CHANNEL } from './payment.aggregate.ts';

/**
 * `Prefer: wait=N` without polling: one LISTEN connection per API process; a request waits for the
 * NOTIFY that changePayment() sends when its payment settles (delivered only on commit), or for
 * its deadline. The caller re-reads the payment after registering, so a settlement that happened
 * just before the wait is not missed.
 */
export class PaymentWaiter {
  private client: pg.Client | undefined;
  private readonly waiting = new Map<string, Set<() => void>>();
  private closed = false;

  constructor(
    private readonly connectionString: string,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.connectionString,
      application_name: 'api-payment-waiter',
    });
    client.on('notification', (msg) => {
      if (msg.payload) this.wake(msg.payload);
    });
    client.on('error', (err) => {
      this.logger.warn({ err }, 'payment waiter connection lost; reconnecting');
      this.client = undefined;
      // Wake everyone: each waiter re-reads its payment rather than sleep through a lost NOTIFY.
      for (const id of [...this.waiting.keys()]) this.wake(id);
      if (!this.closed) setTimeout(() => this.start().catch(() => {}), 1000).unref();
    });
    await client.connect();
    await client.query(`listen ${PAYMENT_SETTLED_CHANNEL}`);
    this.client = client;
  }

  /** Resolves when `paymentId` settles or after `ms`, whichever is first. */
  wait(paymentId: string, ms: number): { done: Promise<void>; cancel: () => void } {
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
    this.closed = true;
    for (const id of [...this.waiting.keys()]) this.wake(id);
    await this.client?.end().catch(() => {});
  }

  private wake(paymentId: string): void {
    for (const finish of [...(this.waiting.get(paymentId) ?? [])]) finish();
  }
}
