import type { Config } from '../app/config.ts';
import type { Db } from '../app/db/database.ts';
import type { FraudRules } from '../app/payments/fraud-rules.ts';
import type { SagaOptions } from '../app/payments/saga-definition.ts';
import type { GatewayClient } from './gateway/gateway-client.ts';

export { sagaOptionsFrom } from '../app/payments/saga-definition.ts';

/** What saga tasks are given; built once per worker process (workers/main.ts) or by a test. */
export interface WorkerDeps {
  db: Db;
  config: Config;
  gateway: GatewayClient;
  saga: SagaOptions;
  fraudRules: FraudRules;
  /** Aborted when this process's job runner has died: running tasks stop their gateway calls. */
  dying: AbortSignal;
}

/**
 * The signal a task passes to its gateway calls: graphile-worker's own (graceful shutdown, near
 * its end) or this process's (its runner died; the process is about to exit).
 */
export function callSignal(deps: WorkerDeps, helpers: { abortSignal: AbortSignal }): AbortSignal {
  return AbortSignal.any([helpers.abortSignal, deps.dying]);
}

export function fraudRulesFrom(config: Config): FraudRules {
  return {
    maxAmount: config.FRAUD_MAX_AMOUNT,
    velocityPerMinute: config.FRAUD_VELOCITY_PER_MINUTE,
    declineScore: config.FRAUD_DECLINE_SCORE,
  };
}
