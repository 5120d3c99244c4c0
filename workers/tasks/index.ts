import type { TaskList } from 'graphile-worker';
import { pruneIdempotencyKeys } from './maintenance/prune-idempotency-keys.ts';

/** Every task this worker runs, by identifier. */
export const taskList: TaskList = {
  maintenance__prune_idempotency_keys: pruneIdempotencyKeys,
};

/** graphile-worker crontab: m h dom mon dow task ?opts. State lives in graphile_worker tables. */
export const crontab = ['17 * * * * maintenance__prune_idempotency_keys ?fill=2h&max=1'].join('\n');
