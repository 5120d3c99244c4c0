import { z } from 'zod';

/**
 * The one place that reads process.env. Every variable is listed in .env.example.
 * A bad value stops the process with a message that names the variable.
 */
const port = z.coerce.number().int().min(0).max(65535);
const url = z.string().refine((v) => URL.canParse(v), 'must be a URL');

const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  DATABASE_URL: url.optional(),
  PORT: port.default(8080),
  HOST: z.string().min(1).default('127.0.0.1'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // OpenTelemetry traces, off unless one is set: the OTLP/HTTP collector's base URL (…/v1/traces is
  // appended; Jaeger: http://jaeger:4318), or the traces endpoint itself.
  OTEL_EXPORTER_OTLP_ENDPOINT: url.optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: url.optional(),
  // Where docs/errors.md is published: a problem's `type` is this and `#<code in lower case>`, the
  // anchor of its entry. The default is the file's path in the repository, a relative reference
  // (RFC 9457 allows it); a deployment that publishes its docs sets their absolute URL.
  PROBLEM_TYPE_BASE_URL: z
    .string()
    .min(1)
    .refine(
      (v) => !v.includes('#') && URL.canParse(v, 'http://base.invalid/'),
      'must be a URI without a fragment',
    )
    .default('docs/errors.md'),
  // What `npm start` prints of the roles' logs: one readable line per record (pretty), or the JSON
  // records as they are (json). Unset: json with NODE_ENV=production, else pretty. The roles
  // themselves always log JSON.
  LOG_FORMAT: z.enum(['pretty', 'json']).optional(),
  ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').default('dev-admin-token-change-me'),
  DB_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
  // Every session a role opens: its longest statement (per role: the worker's audits and the
  // relay's backfill scan more than an API request), how long it waits for a row lock, how long
  // a transaction may sit idle, and how long connecting may take. A stuck call ends in an error
  // (503 for a request, a retry for a job) instead of holding a connection forever.
  API_DB_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(100).max(3_600_000).default(5_000),
  WORKER_DB_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(100).max(3_600_000).default(60_000),
  RELAY_DB_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(100).max(3_600_000).default(60_000),
  DB_LOCK_TIMEOUT_MS: z.coerce.number().int().min(50).max(600_000).default(5_000),
  DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: z.coerce.number().int().min(1_000).max(3_600_000).default(60_000),
  DB_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(5_000),
  EMBEDDED_PG_PORT: port.default(5433),
  EMBEDDED_PG_DATA_DIR: z.string().min(1).default('.data/pg'),
  // WAL a replication slot may hold back before Postgres invalidates it (the relay then recreates
  // the slot and backfills from the outbox): a relay that is down cannot fill the disk.
  EMBEDDED_PG_MAX_SLOT_WAL_KEEP_SIZE: z
    .string()
    .regex(/^\d+(MB|GB|TB)$/, 'a size such as 512MB or 2GB')
    .default('2GB'),
  // Per API key, shared by every API process (Postgres): a steady rate, and on top of it this many
  // requests a minute for bursts (docs/security.md, "Rate limits").
  RATE_LIMIT_PER_SECOND: z.coerce.number().int().min(1).max(100_000).default(50),
  RATE_LIMIT_BURST: z.coerce.number().int().min(0).max(1_000_000).default(200),
  // Where `npm start` keeps its development key (owner "dev") to print it at every start.
  DEV_API_KEY_FILE: z.string().min(1).default('.data/dev-api-key'),
  IDEMPOTENCY_LEASE_SECONDS: z.coerce.number().int().min(1).max(3600).default(60),
  IDEMPOTENCY_RETENTION_HOURS: z.coerce.number().int().min(24).default(48),
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(100).default(10),
  // Prometheus endpoint of each worker process. PORT, GATEWAY_SIM_PORT and the metrics ports may be
  // 0: any free port, logged and reported to a parent that spawned the role with an IPC channel
  // (reportListening in app/process/lifecycle.ts).
  WORKER_METRICS_PORT: port.default(9464),
  WORKER_HEARTBEAT_SECONDS: z.coerce.number().int().min(1).max(300).default(5),
  // graphile-worker: how many times a saga step job runs before it is dead-lettered, and how often
  // an idle worker polls for retries (new jobs arrive by LISTEN/NOTIFY at once).
  JOB_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(25).default(5),
  // graphile-worker batching: fetch up to this many jobs per query (0: one at a time), and group
  // job completions made within this many ms into one statement (-1: one statement per job).
  WORKER_LOCAL_QUEUE_SIZE: z.coerce.number().int().min(0).max(1000).default(0),
  WORKER_COMPLETE_BATCH_DELAY_MS: z.coerce.number().int().min(-1).max(1000).default(0),
  WORKER_POLL_INTERVAL_MS: z.coerce.number().int().min(100).max(60_000).default(1000),
  // A worker whose heartbeat is older than this is dead: its locked jobs are unlocked by the
  // others, which sweep every WORKER_SWEEP_SECONDS.
  WORKER_DEAD_AFTER_SECONDS: z.coerce.number().int().min(2).max(3600).default(20),
  WORKER_SWEEP_SECONDS: z.coerce.number().int().min(1).max(600).default(10),
  // The gateway (the simulator in development): base URL of the providers, their webhook secrets,
  // and where the gateway sends webhooks (this API, as the gateway reaches it).
  GATEWAY_BASE_URL: url.default('http://127.0.0.1:8090'),
  GATEWAY_ALPHA_SECRET: z.string().min(8).default('alpha-dev-webhook-secret'),
  GATEWAY_BETA_SECRET: z.string().min(8).default('beta-dev-webhook-secret'),
  GATEWAY_CALLBACK_BASE_URL: url.default('http://127.0.0.1:8080'),
  // Per provider and job run: attempts, each with a timeout, exponential backoff with jitter between.
  GATEWAY_ATTEMPT_TIMEOUT_MS: z.coerce.number().int().min(50).max(60_000).default(2000),
  GATEWAY_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(10).default(3),
  GATEWAY_BACKOFF_INITIAL_MS: z.coerce.number().int().min(1).max(60_000).default(100),
  GATEWAY_BACKOFF_MAX_MS: z.coerce.number().int().min(1).max(60_000).default(2000),
  // Circuit breaker per provider (per worker process): opens after this many consecutive
  // failures, lets one trial call through after GATEWAY_BREAKER_HALF_OPEN_MS.
  GATEWAY_BREAKER_THRESHOLD: z.coerce.number().int().min(1).max(1000).default(5),
  GATEWAY_BREAKER_HALF_OPEN_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),
  // No webhook after this long: poll the charge; after CHARGE_POLL_MAX polls that answered
  // "pending", cancel it at the gateway (and refund the wallet only once the cancel is confirmed).
  WEBHOOK_DEADLINE_SECONDS: z.coerce.number().int().min(1).max(3600).default(10),
  CHARGE_POLL_MAX: z.coerce.number().int().min(1).max(100).default(5),
  // A charge attempt whose outcome is unknown (timeout, 5xx) is asked about again (same key) with
  // a doubling gap, at most this long; the payment waits in PROCESSING meanwhile.
  GATEWAY_UNKNOWN_RETRY_MAX_SECONDS: z.coerce.number().int().min(1).max(3600).default(60),
  // The reconciliation cron compares payments settled between RECONCILE_GRACE_SECONDS and
  // RECONCILE_WINDOW_MINUTES ago with what each provider reports (0 minutes: off).
  RECONCILE_GRACE_SECONDS: z.coerce.number().int().min(0).max(86_400).default(30),
  RECONCILE_WINDOW_MINUTES: z.coerce.number().int().min(0).max(10_080).default(60),
  RECONCILE_BATCH: z.coerce.number().int().min(1).max(10_000).default(200),
  // Fraud rules: a payment over the maximum, too many payments per wallet per minute, or a
  // blocklisted wallet/owner/service scores >= FRAUD_DECLINE_SCORE and is rejected.
  FRAUD_MAX_AMOUNT: z.coerce.number().int().min(1).max(1_000_000_000_000).default(100_000_000),
  FRAUD_VELOCITY_PER_MINUTE: z.coerce.number().int().min(1).max(1_000_000).default(30),
  FRAUD_DECLINE_SCORE: z.coerce.number().int().min(1).max(100).default(80),
  // Kafka. Unset: `npm start` runs a local Kafka-protocol broker (mokapi) on 127.0.0.1:9092.
  KAFKA_BROKERS: z
    .string()
    .regex(/^[\w.-]+:\d{1,5}(,[\w.-]+:\d{1,5})*$/, 'must be host:port[,host:port...]')
    .optional(),
  // The local broker's dashboard and API port (mokapi), when `npm start` runs it.
  LOCAL_KAFKA_DASHBOARD_PORT: port.default(18080),
  // mokapi keeps every message in memory and cannot be told to forget them: past this much memory
  // `npm start` restarts it, empty (0: never). scripts/lib/local-broker-supervisor.ts.
  // At least 128: an idle broker holds about 45 MB, and a bound below what it needs would restart
  // it, empty, every few seconds.
  LOCAL_KAFKA_MAX_MEMORY_MB: z.coerce
    .number()
    .int()
    .max(1_000_000)
    .refine((mb) => mb === 0 || mb >= 128, 'must be 0 (no bound) or at least 128')
    .default(512),
  KAFKA_TOPIC_PARTITIONS: z.coerce.number().int().min(1).max(1000).default(3),
  // Idempotent producer: on for Apache Kafka. `npm start` and the tests turn it off for mokapi,
  // which rejects the second multi-record batch of an idempotent producer (out of order sequence).
  KAFKA_IDEMPOTENT: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
  KAFKA_CLIENT_ID: z.string().min(1).default('wallet-payments-relay'),
  // Record batches compressed with gzip (Apache Kafka). `npm start` and the tests turn it off for
  // mokapi, which cannot read compressed batches.
  KAFKA_COMPRESSION: z.enum(['none', 'gzip']).default('gzip'),
  // The outbox relay: its replication slot and publication, batching, standby polling, metrics.
  RELAY_SLOT_NAME: z
    .string()
    .regex(/^[a-z0-9_]{1,63}$/, 'lower case letters, digits and _')
    .default('outbox_relay'),
  RELAY_PUBLICATION: z
    .string()
    .regex(/^[a-z0-9_]{1,63}$/, 'lower case letters, digits and _')
    .default('outbox_pub'),
  // One Kafka send holds whole transactions, at most RELAY_BATCH_MAX_ROWS rows and
  // RELAY_BATCH_MAX_BYTES record bytes (before compression; Kafka's message.max.bytes is 1 MB per
  // partition batch by default); a transaction larger than that is split, and acknowledged after
  // its last row. A row over RELAY_MESSAGE_MAX_BYTES is set aside in relay_quarantine.
  RELAY_BATCH_MAX_ROWS: z.coerce.number().int().min(1).max(100_000).default(500),
  RELAY_BATCH_MAX_BYTES: z.coerce.number().int().min(1024).max(100_000_000).default(1_000_000),
  RELAY_MESSAGE_MAX_BYTES: z.coerce.number().int().min(1024).max(100_000_000).default(1_000_000),
  // A new slot's backfill republishes outbox rows created from this long before the last commit
  // Kafka acknowledged (relay_progress), to cover transactions that were open then.
  RELAY_BACKFILL_OVERLAP_SECONDS: z.coerce.number().int().min(0).max(604_800).default(3600),
  RELAY_BATCH_MAX_WAIT_MS: z.coerce.number().int().min(0).max(10_000).default(0),
  RELAY_MAX_BUFFERED_ROWS: z.coerce.number().int().min(100).max(1_000_000).default(20_000),
  // A leading relay whose stream keeps failing, with nothing relayed, for this long exits.
  RELAY_STALLED_EXIT_SECONDS: z.coerce.number().int().min(10).max(86_400).default(120),
  RELAY_STANDBY_POLL_MS: z.coerce.number().int().min(50).max(60_000).default(1000),
  RELAY_METRICS_PORT: port.default(9465),
  RELAY_HEARTBEAT_SECONDS: z.coerce.number().int().min(1).max(300).default(5),
  // Relayed outbox rows older than this are deleted by a worker cron task (the events stay).
  OUTBOX_RETENTION_HOURS: z.coerce
    .number()
    .int()
    .min(1)
    .max(24 * 365)
    .default(168),
  // Consistency: the stuck-saga sweeper re-drives payments unchanged for STUCK_PAYMENT_SECONDS;
  // the scheduled audits (incremental every minute, full hourly: workers/tasks/index.ts) count
  // payments stuck for AUDIT_STUCK_AFTER_SECONDS.
  STUCK_PAYMENT_SECONDS: z.coerce.number().int().min(1).max(86_400).default(120),
  AUDIT_STUCK_AFTER_SECONDS: z.coerce.number().int().min(1).max(86_400).default(600),
  // An audit runs every minute (the incremental one); /health fails its audit check when the latest
  // run is older than this (a clean result from before an outage says nothing about now).
  AUDIT_OVERDUE_SECONDS: z.coerce.number().int().min(60).max(86_400).default(180),
  // The gateway simulator process (gateway-sim/main.ts).
  GATEWAY_SIM_PORT: port.default(8090),
  // Where the simulator keeps its charges across restarts (unset: in memory only).
  GATEWAY_SIM_STATE_FILE: z.string().min(1).optional(),
  // When set, the simulator's /<provider>/_control endpoints need `Authorization: Bearer <it>`;
  // required with NODE_ENV=production (fault injection open to anyone is an outage switch).
  GATEWAY_SIM_CONTROL_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  // SIGTERM/SIGINT: a role stops taking work (the API answers /health/ready 503), finishes what it
  // holds, and exits within this many seconds. Longer than the longest job (a charge round at both
  // providers with retries); the worker aborts what is still running SHUTDOWN_ABORT_MARGIN_SECONDS
  // before the end, so its jobs are released for another worker rather than left locked.
  SHUTDOWN_GRACE_SECONDS: z.coerce.number().int().min(1).max(3600).default(45),
  SHUTDOWN_ABORT_MARGIN_SECONDS: z.coerce.number().int().min(1).max(600).default(5),
  // The API keeps serving this long after /health/ready turned 503, so a load balancer that polls
  // readiness stops sending before the listener closes (0 in development; a few seconds behind one).
  SHUTDOWN_DRAIN_SECONDS: z.coerce.number().int().min(0).max(300).default(0),
  HEALTH_STALE_SECONDS: z.coerce.number().int().min(1).max(3600).default(30),
});

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * The secret-bearing variables, each checked in production by the processes that use it
 * (GATEWAY_SIM_CONTROL_TOKEN by the simulator only: it is not in ALL_SECRETS).
 */
export type SecretVariable =
  | 'ADMIN_TOKEN'
  | 'GATEWAY_ALPHA_SECRET'
  | 'GATEWAY_BETA_SECRET'
  | 'DATABASE_URL'
  | 'GATEWAY_SIM_CONTROL_TOKEN';
const ALL_SECRETS: readonly SecretVariable[] = [
  'ADMIN_TOKEN',
  'GATEWAY_ALPHA_SECRET',
  'GATEWAY_BETA_SECRET',
  'DATABASE_URL',
];

/**
 * Values published in this repository (the defaults, .env.example, docker-compose.yml, ops/): fine
 * on a laptop, known to everyone, so refused with NODE_ENV=production.
 */
const DEVELOPMENT_SECRETS: Record<
  Exclude<SecretVariable, 'DATABASE_URL' | 'GATEWAY_SIM_CONTROL_TOKEN'>,
  readonly string[]
> = {
  ADMIN_TOKEN: ['dev-admin-token-change-me', 'compose-admin-token-change-me'],
  GATEWAY_ALPHA_SECRET: ['alpha-dev-webhook-secret'],
  GATEWAY_BETA_SECRET: ['beta-dev-webhook-secret'],
};
const DEVELOPMENT_DATABASE_PASSWORDS: readonly string[] = ['postgres', 'payments'];

/**
 * Loads the configuration from `env`. `secrets`: the secret variables this process uses (all by
 * default); with NODE_ENV=production each must be set to a value of its own, not one published
 * here, and DATABASE_URL must be set (unset means the embedded development Postgres).
 */
export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  secrets: readonly SecretVariable[] = ALL_SECRETS,
): Config {
  // Empty strings from a .env template mean "unset", not "invalid".
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = configSchema.safeParse(cleaned);
  const problems = parsed.success
    ? developmentSecretsIn(parsed.data, secrets, new Set(Object.keys(cleaned)), cleaned.PGPASSWORD)
    : parsed.error.issues.map((i) => ({ variable: i.path.join('.'), message: i.message }));
  if (!parsed.success || problems.length > 0) {
    const lines = problems.map((p) => `  ${p.variable}: ${p.message}`);
    throw new ConfigError(`Invalid configuration (fix these environment variables):\n${lines.join('\n')}`);
  }
  return parsed.data;
}

function developmentSecretsIn(
  config: Config,
  secrets: readonly SecretVariable[],
  given: Set<string>,
  pgPassword: string | undefined,
) {
  if (config.NODE_ENV !== 'production') return [];
  const problems: Array<{ variable: string; message: string }> = [];
  for (const variable of secrets) {
    if (variable === 'DATABASE_URL') {
      const message = developmentDatabaseUrl(config.DATABASE_URL, pgPassword);
      if (message) problems.push({ variable, message });
    } else if (variable === 'GATEWAY_SIM_CONTROL_TOKEN') {
      if (config.GATEWAY_SIM_CONTROL_TOKEN === undefined)
        problems.push({
          variable,
          message:
            'must be set with NODE_ENV=production: without it anyone could inject faults into the simulator',
        });
    } else if (DEVELOPMENT_SECRETS[variable].includes(config[variable])) {
      problems.push({
        variable,
        message: `${given.has(variable) ? 'is' : 'is unset, and its default is'} a development value published with this code; set a secret of your own (NODE_ENV=production)`,
      });
    }
  }
  return problems;
}

function developmentDatabaseUrl(url: string | undefined, pgPassword: string | undefined): string | undefined {
  if (url === undefined)
    return 'must be set with NODE_ENV=production (unset means the embedded development Postgres, password "postgres")';
  const parsed = new URL(url);
  // Every place pg takes the password from: the URL's user info (decoded), its `password` query
  // parameter, and PGPASSWORD when the URL has none.
  const candidates = [decodedOrRaw(parsed.password), parsed.searchParams.get('password') ?? undefined];
  if (!parsed.password && !parsed.searchParams.has('password')) candidates.push(pgPassword);
  if (candidates.some((p) => p !== undefined && DEVELOPMENT_DATABASE_PASSWORDS.includes(p)))
    return 'has a development password published with this code; set a password of your own (NODE_ENV=production)';
  return undefined;
}

function decodedOrRaw(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** The URL used when DATABASE_URL is unset: the embedded Postgres that `npm start` runs. */
export function embeddedDatabaseUrl(config: Config): string {
  return `postgres://postgres:postgres@127.0.0.1:${config.EMBEDDED_PG_PORT}/payments`;
}

/** The Kafka bootstrap servers: KAFKA_BROKERS, or the local broker `npm start` runs. */
export function kafkaBrokers(config: Config): string[] {
  return (config.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
}

/** How `npm start` prints the roles' logs (LOG_FORMAT; JSON in production unless told otherwise). */
export function logFormat(config: Config): 'pretty' | 'json' {
  return config.LOG_FORMAT ?? (config.NODE_ENV === 'production' ? 'json' : 'pretty');
}

export function databaseUrl(config: Config): string {
  return config.DATABASE_URL ?? embeddedDatabaseUrl(config);
}
