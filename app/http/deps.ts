import type pg from 'pg';
import type { Config } from '../config.ts';
import type { Db } from '../db/database.ts';
import type { Logger } from '../observability/logger.ts';
import type { PaymentWaiter } from '../payments/payment-waiter.ts';
import type { SagaOptions } from '../payments/saga-definition.ts';

/** What route modules are given; created once in app/main.ts (or by a test). */
export interface AppDeps {
  config: Config;
  db: Db;
  logger: Logger;
  /** Set when the process starts shutting down: /health/ready answers 503 from then on. */
  lifecycle?: { stopping: boolean };
}

/** The API's dependencies: AppDeps plus what payments need (Prefer: wait, saga job options). */
export interface ApiDeps extends AppDeps {
  /** The same pool as `db`, for the rate limiter's store. */
  pool: pg.Pool;
  waiter: PaymentWaiter;
  saga: SagaOptions;
}
