import { sql } from 'kysely';
import type { Database } from '../../app/db/database.ts';
import { SAGA_TASKS } from '../../app/payments/saga-definition.ts';
import type { RoleProcess } from './processes.ts';

/**
 * Faults aimed at the moments where a bug would cost money or order, not at random instants:
 * each aim waits until the system is inside its risky window, strikes, and says whether it hit
 * (the strike landed inside the window, proven after the fact) so a run reports how often the
 * dangerous paths were really taken.
 */
export interface AimContext {
  database: Database;
  simUrl: string;
  roles: Array<{ name: string; proc?: RoleProcess }>;
  /** The run's seeded random integer in [min, max]. */
  rand(min: number, max: number): number;
  /** Records a SIGKILL the aim made, beside the random ones. */
  killed(role: string): void;
  /** Keeps the random killer off a process while an aim watches what it does. */
  shielded: Set<number>;
}

export interface Tally {
  tried: number;
  hit: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const isAlive = (proc?: RoleProcess) =>
  proc !== undefined && proc.child.exitCode === null && proc.child.signalCode === null;

/**
 * SIGKILL the worker whose charge the gateway has made but whose answer it has not yet recorded.
 * Alpha's answers are slowed to 300 ms (under the 400 ms attempt timeout) to widen the window;
 * the charge attempt is `unknown` with a call counted, and the simulator already holds the charge.
 * A hit: the attempt is still `unknown` after the worker died (nothing recorded the answer), so
 * only the product's recovery (retry with the same key, lookup) can find the money.
 */
export async function killBetweenGatewayAnswerAndRecord(ctx: AimContext, tally: Tally): Promise<void> {
  tally.tried++;
  const before = await fetch(`${ctx.simUrl}/alpha/_control`)
    .then((r) => r.json() as Promise<{ controls?: { latency_ms?: number } }>)
    .catch(() => undefined);
  await control(ctx.simUrl, 'alpha', { latency_ms: 300 });
  try {
    await strikeInGatewayWindow(ctx, tally);
  } finally {
    // The load's own latency toggle, if any, comes back.
    await control(ctx.simUrl, 'alpha', { latency_ms: before?.controls?.latency_ms ?? 0 });
  }
}

async function strikeInGatewayWindow(ctx: AimContext, tally: Tally): Promise<void> {
  const until = Date.now() + 4000;
  while (Date.now() < until) {
    const { rows } = await sql<{ id: number; payment_id: string; pid: number; seen: string }>`
      select a.id::int, a.payment_id::text, h.pid,
             concat_ws('|', a.status, a.calls, a.updated_at, a.last_error) as seen
        from charge_attempts a
        -- The first call runs in the job that debited; a question asked again, in the charge step's.
        join graphile_worker.jobs j on j.key in (${`${SAGA_TASKS.fraudCheck}:`} || a.payment_id::text,
                                                 ${`${SAGA_TASKS.chargeGateway}:`} || a.payment_id::text)
        join process_heartbeats h on h.role = 'worker' and j.locked_by = any (h.graphile_worker_ids)
       where a.provider = 'alpha' and a.status = 'unknown' and a.calls > a.refused_calls
       order by a.updated_at desc limit 3`
      .execute(ctx.database.db)
      .catch(() => ({ rows: [] }));
    for (const row of rows) {
      const made = await fetch(`${ctx.simUrl}/alpha/_control/charges?reference=${row.payment_id}`)
        .then((r) => r.json() as Promise<{ items: unknown[] }>)
        .catch(() => ({ items: [] }));
      const worker = ctx.roles.find((r) => r.proc?.pid === row.pid);
      if (made.items.length === 0 || !worker?.proc || !isAlive(worker.proc)) continue;
      await worker.proc.kill('SIGKILL');
      ctx.killed(worker.name);
      // A hit only if nothing was recorded since the pick (not even a timeout): the kill landed
      // while the answer was still on its way.
      const { rows: after } = await sql<{ seen: string }>`
        select concat_ws('|', status, calls, updated_at, last_error) as seen
          from charge_attempts where id = ${row.id}`
        .execute(ctx.database.db)
        .catch(() => ({ rows: [] as { seen: string }[] }));
      if (after[0]?.seen === row.seen) tally.hit++;
      return;
    }
    await sleep(20);
  }
}

/**
 * SIGSTOP a worker for longer than the dead-worker threshold, then SIGCONT. A hit: jobs it held
 * when frozen were unlocked and taken (or finished) by another worker while it slept, so the
 * resumed worker wakes up in the middle of steps that are no longer its own.
 */
export async function freezeWorkerPastDeadThreshold(
  ctx: AimContext,
  tally: Tally & { jobsTaken: number },
  deadAfterSeconds: number,
): Promise<void> {
  const workers = ctx.roles.filter((r) => r.name.startsWith('worker') && isAlive(r.proc));
  const worker = workers[ctx.rand(0, workers.length - 1)];
  const proc = worker?.proc;
  if (!proc) return;
  tally.tried++;
  const held = async () => {
    const { rows } = await sql<{ id: string; attempts: number }>`
      select j.id::text, j.attempts from graphile_worker.jobs j
        join process_heartbeats h on j.locked_by = any (h.graphile_worker_ids)
       where h.pid = ${proc.pid}`
      .execute(ctx.database.db)
      .catch(() => ({ rows: [] as { id: string; attempts: number }[] }));
    return rows;
  };
  const before = await held();
  ctx.shielded.add(proc.pid);
  proc.child.kill('SIGSTOP');
  try {
    await sleep((deadAfterSeconds + 2.5) * 1000);
    // Taken: locked now by another worker, or run again since (its attempts grew).
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n
        from unnest(${before.map((b) => b.id)}::bigint[], ${before.map((b) => b.attempts)}::int[]) as b(id, attempts)
        join graphile_worker.jobs j on j.id = b.id
       where j.attempts > b.attempts
          or (j.locked_by is not null and not exists (
                select 1 from process_heartbeats h
                 where h.pid = ${proc.pid} and j.locked_by = any (h.graphile_worker_ids)))`
      .execute(ctx.database.db)
      .catch(() => ({ rows: [] as { n: number }[] }));
    const taken = rows[0]?.n ?? 0;
    tally.jobsTaken += taken;
    if (taken > 0) tally.hit++;
  } finally {
    if (isAlive(proc)) proc.child.kill('SIGCONT');
    ctx.shielded.delete(proc.pid);
  }
}

/**
 * Terminate the relay leader's lock connection while its replication stream stays up. The leader
 * can no longer prove it is the only one, so it must stop relaying: a hit is a cut lock whose
 * relay process then exited. `leaderKept` counts cuts after which the leader stayed up: the test
 * fails on any (two relays could stream at once).
 */
export async function cutRelayLeaderLock(
  ctx: AimContext,
  tally: Tally & { leaderKept: number },
): Promise<void> {
  // Wait for a leader: relays restart often under the random kills, and Postgres may be down.
  const found = async () => {
    const { rows } = await sql<{ backend: number; name: string }>`
      select a.pid as backend, a.application_name as name
        from pg_locks l join pg_stat_activity a using (pid)
       where l.locktype = 'advisory' and l.granted and a.application_name like 'outbox-relay-leader %'`
      .execute(ctx.database.db)
      .catch(() => ({ rows: [] as { backend: number; name: string }[] }));
    const lock = rows[0];
    const relay = ctx.roles.find((r) => lock && r.proc && `outbox-relay-leader ${r.proc.pid}` === lock.name);
    return lock && relay?.proc && isAlive(relay.proc)
      ? { backend: lock.backend, proc: relay.proc }
      : undefined;
  };
  const until = Date.now() + 8000;
  let leader = await found();
  while (!leader && Date.now() < until) {
    await sleep(100);
    leader = await found();
  }
  if (!leader) return;
  const proc = leader.proc;
  ctx.shielded.add(proc.pid);
  try {
    const { rows } = await sql<{ cut: boolean }>`select pg_terminate_backend(${leader.backend}) as cut`
      .execute(ctx.database.db)
      .catch(() => ({ rows: [] as { cut: boolean }[] }));
    if (!rows[0]?.cut) return; // Postgres went down meanwhile: the lock went with it
    tally.tried++;
    const exitBy = Date.now() + 5000;
    while (Date.now() < exitBy && isAlive(proc)) await sleep(50);
    if (isAlive(proc)) tally.leaderKept++;
    else tally.hit++;
  } finally {
    ctx.shielded.delete(proc.pid);
  }
}

async function control(simUrl: string, provider: 'alpha' | 'beta', controls: Record<string, unknown>) {
  await fetch(`${simUrl}/${provider}/_control`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(controls),
  }).catch(() => undefined);
}
