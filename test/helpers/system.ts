import { sql } from 'kysely';
import { LOCAL_BROKER_RELAY_ENV } from '../../scripts/lib/local-broker.ts';
import { ADMIN_TOKEN, startTestApp, type TestApp } from './app.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { idem, request } from './http.ts';
import { type SizeLimitedBroker, startSizeLimitedProxy, startTestBroker } from './kafka.ts';
import { type RoleProcess, spawnRole, waitFor } from './processes.ts';

/**
 * The system for saga tests: its own database, the gateway simulator and workers as real
 * processes, and the API (in-process, on a real port) that the simulator calls back.
 * Timings are shortened so faults play out in seconds.
 */
export const FAST_ENV: Record<string, string> = {
  LOG_LEVEL: 'warn',
  ADMIN_TOKEN,
  WORKER_POLL_INTERVAL_MS: '200',
  WORKER_HEARTBEAT_SECONDS: '1',
  WORKER_DEAD_AFTER_SECONDS: '3',
  WORKER_SWEEP_SECONDS: '1',
  WORKER_METRICS_PORT: '0',
  WORKER_CONCURRENCY: '10',
  JOB_MAX_ATTEMPTS: '3',
  WEBHOOK_DEADLINE_SECONDS: '2',
  CHARGE_POLL_MAX: '3',
  GATEWAY_ATTEMPT_TIMEOUT_MS: '400',
  GATEWAY_MAX_ATTEMPTS: '2',
  GATEWAY_BACKOFF_INITIAL_MS: '20',
  GATEWAY_BACKOFF_MAX_MS: '100',
  GATEWAY_BREAKER_THRESHOLD: '5',
  GATEWAY_BREAKER_HALF_OPEN_MS: '1000',
  GATEWAY_UNKNOWN_RETRY_MAX_SECONDS: '2',
  RECONCILE_GRACE_SECONDS: '1',
  FRAUD_VELOCITY_PER_MINUTE: '1000',
  RELAY_METRICS_PORT: '0',
  RELAY_HEARTBEAT_SECONDS: '1',
  RELAY_STANDBY_POLL_MS: '200',
  // Tests drive hundreds of requests a second through one key; the rate-limit test sets its own.
  RATE_LIMIT_PER_SECOND: '100000',
  ...LOCAL_BROKER_RELAY_ENV,
};

export interface TestSystem {
  api: TestApp;
  database: TestDatabase;
  gatewayUrl: string;
  env: Record<string, string>;
  workers: RoleProcess[];
  startWorker(extraEnv?: Record<string, string>): Promise<RoleProcess>;
  relays: RoleProcess[];
  startRelay(extraEnv?: Record<string, string>): Promise<RoleProcess>;
  /** The test's own broker, when started with relays (consumers read it directly). */
  brokers?: string;
  /** Workers and relays that exited on their own and were restarted (with `supervise`). */
  restarts: { role: string; pid: number; at: number; exit: string | number | null; output: string }[];
  /** The request size limit the relays produce through, when asked for (kafkaMaxRequestBytes). */
  brokerLimit?: SizeLimitedBroker;
  control(provider: 'alpha' | 'beta', controls: Record<string, unknown>): Promise<any>;
  newWallet(balance: number, currency?: string): Promise<string>;
  pay(
    walletId: string,
    amount: number,
    options?: { key?: string; wait?: number; serviceId?: string },
  ): Promise<any>;
  waitSettled(paymentId: string, timeoutMs?: number): Promise<any>;
  close(): Promise<void>;
}

export interface SystemOptions {
  workers?: number;
  relays?: number;
  /** A database of the test's own (dropped by close(), or by a start that fails); default: a clone of the template. */
  database?: TestDatabase;
  /** Relays produce through a proxy that refuses requests over this many bytes. */
  kafkaMaxRequestBytes?: number;
  /** Restart a worker or relay that exits on its own, as `npm start` and compose's restart policy do. */
  supervise?: boolean;
  /** Start the test's broker even with no relay at first (relays started later produce to it). */
  broker?: boolean;
}

/** What startSystem has started so far, for close() or for the cleanup of a start that failed. */
interface Started {
  /** Stops, in start order (run in reverse). */
  stops: Array<() => Promise<void>>;
  workers: RoleProcess[];
  relays: RoleProcess[];
  isClosing(): boolean;
  close(): Promise<void>;
}

export async function startSystem(
  overrides: Record<string, string> = {},
  options: SystemOptions = {},
): Promise<TestSystem> {
  // What is started is stopped in reverse order, by close() or, if a later step throws, at once:
  // a failed start leaves no process and no database behind.
  let closing = false;
  const started: Started = {
    stops: [],
    workers: [],
    relays: [],
    isClosing: () => closing,
    close: async () => {
      const failures = await stopAll();
      if (failures.length > 0) throw new AggregateError(failures, 'closing the test system failed');
    },
  };
  /** Stops everything started, each step even if another failed; returns the failures. */
  const stopAll = async () => {
    closing = true;
    const failures: unknown[] = [];
    await Promise.all(
      [...started.workers, ...started.relays].map((p) =>
        p.kill('SIGTERM').catch((err: unknown) => failures.push(err)),
      ),
    );
    for (const stop of started.stops.splice(0).reverse())
      await stop().catch((err: unknown) => failures.push(err));
    return failures;
  };
  try {
    return await startParts(overrides, options, started);
  } catch (err) {
    const failures = await stopAll();
    if (failures.length > 0)
      throw new AggregateError([err, ...failures], 'starting the test system failed, and so did stopping it');
    throw err;
  }
}

async function startParts(
  overrides: Record<string, string>,
  options: SystemOptions,
  started: Started,
): Promise<TestSystem> {
  const { stops, workers, relays, isClosing } = started;
  const database = options.database ?? (await createTestDatabase());
  stops.push(() => database.drop());
  const broker = options.relays || options.broker ? await startTestBroker() : undefined;
  if (broker) stops.push(() => broker.stop());
  const brokerLimit =
    broker && options.kafkaMaxRequestBytes
      ? await startSizeLimitedProxy(broker.brokers, options.kafkaMaxRequestBytes)
      : undefined;
  if (brokerLimit) stops.push(() => brokerLimit.stop());
  const env: Record<string, string> = {
    ...FAST_ENV,
    DATABASE_URL: database.url,
    // Slots are per cluster: one per test database.
    RELAY_SLOT_NAME: `slot_${database.url.split('/').pop()}`,
    ...(broker ? { KAFKA_BROKERS: brokerLimit?.brokers ?? broker.brokers } : {}),
    ...overrides,
  };
  const sim = spawnRole('gateway-sim/main.ts', { ...env, GATEWAY_SIM_PORT: '0' });
  stops.push(() => sim.kill('SIGTERM'));
  const gatewayUrl = `http://127.0.0.1:${await sim.listening('http')}`;
  env.GATEWAY_BASE_URL = gatewayUrl;
  const api = await startTestApp({ ...env, LOG_LEVEL: 'silent' }, database);
  stops.push(() => api.close());
  env.GATEWAY_CALLBACK_BASE_URL = api.baseUrl;

  /** Spawns a worker or relay process and waits for its first heartbeat and its metrics port. */
  const startBeating = async (
    role: 'worker' | 'relay',
    entry: string,
    list: RoleProcess[],
    extraEnv: Record<string, string>,
  ) => {
    const proc = spawnRole(entry, { ...env, ...extraEnv });
    list.push(proc);
    if (options.supervise)
      proc.child.once('close', (code, signal) => {
        if (isClosing() || proc.killRequested) return;
        list.splice(list.indexOf(proc), 1);
        restarts.push({ role, pid: proc.pid, at: Date.now(), exit: signal ?? code, output: proc.output() });
        setTimeout(() => {
          if (!isClosing()) void startBeating(role, entry, list, extraEnv).catch(() => {});
        }, 500);
      });
    const exited = () => proc.child.exitCode !== null || proc.child.signalCode !== null;
    const seen = await waitFor(
      `${role} ${proc.pid} heartbeat`,
      async () =>
        exited()
          ? 'exited'
          : (await database.db
              .selectFrom('process_heartbeats')
              .select('pid')
              .where('pid', '=', proc.pid)
              .where('role', '=', role)
              .executeTakeFirst()) && 'beating',
      30_000,
    );
    if (seen === 'exited')
      throw new Error(
        `${role} ${proc.pid} exited (${proc.child.signalCode ?? proc.child.exitCode}) before its first heartbeat:\n${proc.output()}`,
      );
    await proc.listening('metrics');
    return proc;
  };
  const restarts: TestSystem['restarts'] = [];
  const startWorker = (extraEnv: Record<string, string> = {}) =>
    startBeating('worker', 'workers/main.ts', workers, extraEnv);
  for (let i = 0; i < (options.workers ?? 1); i++) await startWorker();

  const startRelay = (extraEnv: Record<string, string> = {}) =>
    startBeating('relay', 'outbox-relay/main.ts', relays, extraEnv);
  for (let i = 0; i < (options.relays ?? 0); i++) await startRelay();

  let keys = 0;
  const system: TestSystem = {
    api,
    database,
    gatewayUrl,
    env,
    workers,
    startWorker,
    relays,
    startRelay,
    brokers: broker?.brokers,
    restarts,
    brokerLimit,
    async control(provider, controls) {
      const res = await fetch(`${gatewayUrl}/${provider}/_control`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(controls),
      });
      if (!res.ok) throw new Error(`control ${provider}: ${res.status} ${await res.text()}`);
      return res.json();
    },
    async newWallet(balance, currency = 'USD') {
      const wallet = await request(api.baseUrl, 'POST', '/wallets', { body: { currency } });
      if (wallet.status !== 201) throw new Error(`wallet not created: ${JSON.stringify(wallet.body)}`);
      if (balance > 0) {
        const dep = await request(api.baseUrl, 'POST', `/wallets/${wallet.body.id}/deposits`, {
          body: { amount: balance },
          headers: idem(`seed-${wallet.body.id}`),
        });
        if (dep.status !== 201) throw new Error(`deposit failed: ${JSON.stringify(dep.body)}`);
      }
      return wallet.body.id;
    },
    async pay(walletId, amount, opts = {}) {
      const headers: Record<string, string> = idem(opts.key ?? `pay-${process.pid}-${Date.now()}-${keys++}`);
      if (opts.wait) headers.prefer = `wait=${opts.wait}`;
      return request(api.baseUrl, 'POST', '/payments', {
        body: { wallet_id: walletId, service_id: opts.serviceId ?? 'svc-test', amount, currency: 'USD' },
        headers,
      });
    },
    async waitSettled(paymentId, timeoutMs = 30_000) {
      return waitFor(
        `payment ${paymentId} to settle`,
        async () => {
          const res = await request(api.baseUrl, 'GET', `/payments/${paymentId}`);
          return ['COMPLETED', 'REJECTED', 'FAILED'].includes(res.body.status) ? res.body : undefined;
        },
        timeoutMs,
        100,
      );
    },
    close: started.close,
  };
  return system;
}

export async function walletState(database: TestDatabase, walletId: string) {
  const wallet = await database.db
    .selectFrom('wallets')
    .selectAll()
    .where('id', '=', walletId)
    .executeTakeFirstOrThrow();
  const entries = await database.db
    .selectFrom('ledger_entries')
    .selectAll()
    .where('wallet_id', '=', walletId)
    .orderBy('seq')
    .execute();
  return { balance: wallet.balance, ledgerSum: entries.reduce((s, e) => s + e.amount, 0), entries };
}

/** What audit__run() reports, check by check, for a system with nothing wrong. */
export const CLEAN_AUDIT_DETAILS = {
  wallet_balances: 0,
  money_conservation: 0,
  stuck_payments: 0,
  payment_status: 0,
  outbox: 0,
  relay_quarantine: 0,
};

/**
 * No wallet differs from its ledger and events, and the incremental audit's per-aggregate checks
 * (audit__aggregates) find nothing either, over every wallet and payment: on real saga data, they
 * agree with the full audit.
 */
export async function auditIsClean(database: TestDatabase): Promise<boolean> {
  const { rows } = await sql<{ n: number; targeted: number }>`
    select (select count(*)::int from audit__wallet_balances()) as n,
           (select count(*)::int from audit__aggregates(array(select id from wallets), array(select id from payments))) as targeted`.execute(
    database.db,
  );
  return rows[0]?.n === 0 && rows[0]?.targeted === 0;
}
