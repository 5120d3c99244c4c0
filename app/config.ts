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
  ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').default('dev-admin-token-change-me'),
  DB_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
  EMBEDDED_PG_PORT: port.default(5433),
  EMBEDDED_PG_DATA_DIR: z.string().min(1).default('.data/pg'),
  IDEMPOTENCY_LEASE_SECONDS: z.coerce.number().int().min(1).max(3600).default(60),
  IDEMPOTENCY_RETENTION_HOURS: z.coerce.number().int().min(24).default(48),
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(100).default(10),
  // Prometheus endpoint of each worker process; 0 disables it.
  WORKER_METRICS_PORT: port.default(9464),
  WORKER_HEARTBEAT_SECONDS: z.coerce.number().int().min(1).max(300).default(5),
  // graphile-worker: how many times a saga step job runs before it is dead-lettered, and how often
  // an idle worker polls for retries (new jobs arrive by LISTEN/NOTIFY at once).
  JOB_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(25).default(5),
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
  // No webhook after this long: poll the charge; give up (compensate) after CHARGE_POLL_MAX polls.
  WEBHOOK_DEADLINE_SECONDS: z.coerce.number().int().min(1).max(3600).default(10),
  CHARGE_POLL_MAX: z.coerce.number().int().min(1).max(100).default(5),
  // Fraud rules: a payment over the maximum, too many payments per wallet per minute, or a
  // blocklisted wallet/owner/service scores >= FRAUD_DECLINE_SCORE and is rejected.
  FRAUD_MAX_AMOUNT: z.coerce.number().int().min(1).max(1_000_000_000_000).default(100_000_000),
  FRAUD_VELOCITY_PER_MINUTE: z.coerce.number().int().min(1).max(1_000_000).default(30),
  FRAUD_DECLINE_SCORE: z.coerce.number().int().min(1).max(100).default(80),
  // The gateway simulator process (gateway-sim/main.ts).
  GATEWAY_SIM_PORT: port.default(8090),
  HEALTH_STALE_SECONDS: z.coerce.number().int().min(1).max(3600).default(30),
});

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings from a .env template mean "unset", not "invalid".
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = configSchema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration (fix these environment variables):\n${lines.join('\n')}`);
  }
  return parsed.data;
}

/** The URL used when DATABASE_URL is unset: the embedded Postgres that `npm start` runs. */
export function embeddedDatabaseUrl(config: Config): string {
  return `postgres://postgres:postgres@127.0.0.1:${config.EMBEDDED_PG_PORT}/payments`;
}

export function databaseUrl(config: Config): string {
  return config.DATABASE_URL ?? embeddedDatabaseUrl(config);
}
