import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type pg from 'pg';
import type { Logger } from '../observability/logger.ts';

/**
 * Reports this process as alive every `intervalSeconds` (process_heartbeats). /health reads these
 * rows; a process that stops beating is considered dead after HEALTH_STALE_SECONDS.
 */
export function startHeartbeat(
  pool: pg.Pool,
  role: 'worker' | 'relay',
  intervalSeconds: number,
  logger: Logger,
  graphileWorkerIds: () => string[] = () => [],
  /** A heartbeat speaks only for a process that does its work: false skips the beat. */
  working: () => boolean = () => true,
) {
  const instanceId = `${role}:${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const beat = () => {
    if (!working()) return;
    return pool
      .query('select heartbeat__beat($1, $2, $3, $4, $5)', [
        instanceId,
        role,
        process.pid,
        hostname(),
        graphileWorkerIds(),
      ])
      .catch((err) => logger.warn({ err }, 'heartbeat failed'));
  };
  void beat();
  const timer = setInterval(beat, intervalSeconds * 1000);
  timer.unref();
  return {
    instanceId,
    async stop() {
      clearInterval(timer);
      await pool.query('delete from process_heartbeats where instance_id = $1', [instanceId]).catch(() => {});
    },
  };
}
