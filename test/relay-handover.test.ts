import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { idem, request } from './helpers/http.ts';
import { type ConsumedMessage, consumeUntil, dedupe, versionsByKey } from './helpers/kafka.ts';
import { waitFor } from './helpers/processes.ts';
import { startSystem, type TestSystem } from './helpers/system.ts';

/**
 * How a relay comes to lead and stops leading: the first slot over an outbox that already has
 * rows (backfill), and a leader that loses its lock's connection (outbox-relay/leader.ts: a
 * session advisory lock on a connection of its own). A system per test: each starts from no slot.
 */
let system: TestSystem | undefined;
afterEach(async () => {
  await system?.close();
  system = undefined;
});

const allEventIds = async (s: TestSystem) =>
  new Set((await s.database.db.selectFrom('events').select('event_id').execute()).map((e) => e.event_id));
const hasAll = (expected: Set<string>) => (messages: ConsumedMessage[]) => {
  const got = new Set(messages.map((m) => m.value.event_id));
  for (const id of expected) if (!got.has(id)) return false;
  return true;
};
/** Every event once (first deliveries), each aggregate's versions 1, 2, 3 ... in partition order. */
function expectEveryEventInPerKeyOrder(messages: ConsumedMessage[], expected: Set<string>) {
  const { unique } = dedupe(messages);
  expect(new Set(unique.map((m) => m.value.event_id))).toEqual(expected);
  for (const [key, versions] of versionsByKey(messages))
    expect(versions, `versions of ${key}`).toEqual(versions.map((_, i) => i + 1));
}
const leaderInstance = async (s: TestSystem) =>
  (await s.database.db.selectFrom('relay_progress').select('leader_instance').executeTakeFirst())
    ?.leader_instance;

/** Deposits of 1 on one wallet, one after the other, until stopped. */
function depositLoad(s: TestSystem, walletId: string) {
  let stop = false;
  let made = 0;
  const running = (async () => {
    while (!stop) {
      const res = await request(s.api.baseUrl, 'POST', `/wallets/${walletId}/deposits`, {
        body: { amount: 1 },
        headers: idem(`load-${made}`),
      });
      if (res.status === 201) made++;
    }
  })();
  return {
    made: () => made,
    async stop() {
      stop = true;
      await running;
    },
  };
}

describe('the first slot over an outbox with rows', () => {
  it('publishes every row written before any slot existed once the relay starts, in per-aggregate order', async () => {
    system = await startSystem({}, { workers: 1, broker: true });
    const s = system;
    const { rows: slots } =
      await sql`select 1 from pg_replication_slots where slot_name = ${s.env.RELAY_SLOT_NAME}`.execute(
        s.database.db,
      );
    expect(slots).toEqual([]);
    // Wallets, deposits and settled payments, all committed before the relay exists.
    const wallets = await Promise.all([1, 2, 3].map(() => s.newWallet(10_000)));
    const paid = await Promise.all(wallets.flatMap((w) => [s.pay(w, 100), s.pay(w, 200)]));
    await Promise.all(paid.map((p) => s.waitSettled(p.body.id)));
    const before = await allEventIds(s);
    expect(before.size).toBeGreaterThanOrEqual(3 * 2 + 6 * 6);

    await s.startRelay();
    const after = await s.newWallet(500); // and the stream goes on after the backfill
    const expected = new Set([...before, ...(await allEventIds(s))]);
    const messages = await consumeUntil(s.brokers as string, hasAll(expected), 40_000);
    expectEveryEventInPerKeyOrder(messages, expected);
    expect(messages.some((m) => m.key === after)).toBe(true);
    const progress = await s.database.db
      .selectFrom('relay_progress')
      .select('backfill_completed_at')
      .executeTakeFirstOrThrow();
    expect(progress.backfill_completed_at).not.toBeNull();
  }, 90_000);
});

describe('a leader that loses its lock', () => {
  it("exits when its lock's connection is terminated; the standby takes over; no event lost, per-key order kept", async () => {
    system = await startSystem({}, { workers: 1, relays: 1 });
    const s = system;
    const [leader] = s.relays;
    await waitFor('the first relay to lead', async () =>
      (await leaderInstance(s))?.includes(`:${leader?.pid}:`),
    );
    const standby = await s.startRelay();
    const walletId = await s.newWallet(0);
    const load = depositLoad(s, walletId);
    try {
      await waitFor('deposits relayed by the leader', async () => load.made() >= 20);
      // The leader's lock is held by its own connection; Postgres ends that session.
      const { rows: holders } = await sql<{ pid: number }>`
        select a.pid from pg_locks l join pg_stat_activity a on a.pid = l.pid
         where l.locktype = 'advisory' and l.granted and a.datname = current_database()
           and a.application_name = ${`outbox-relay-leader ${leader?.pid}`}`.execute(s.database.db);
      expect(holders).toHaveLength(1);
      await sql`select pg_terminate_backend(${holders[0]?.pid}::int)`.execute(s.database.db);
      const exit = await waitFor(
        'the leader to exit',
        async () => leader?.child.exitCode !== null && { code: leader?.child.exitCode },
        15_000,
      );
      expect(exit).toEqual({ code: 1 });
      expect(leader?.output()).toContain('lost the leader lock');
      await waitFor(
        'the standby to lead and relay',
        async () => (await leaderInstance(s))?.includes(`:${standby.pid}:`),
        20_000,
      );
      const atTakeover = load.made();
      await waitFor('deposits after the takeover', async () => load.made() >= atTakeover + 20);
    } finally {
      await load.stop();
    }
    const expected = await allEventIds(s);
    const messages = await consumeUntil(s.brokers as string, hasAll(expected), 60_000);
    expectEveryEventInPerKeyOrder(messages, expected);
    const wallet = (await request(s.api.baseUrl, 'GET', `/wallets/${walletId}`)).body;
    expect(versionsByKey(messages).get(walletId)).toHaveLength(wallet.version);
  }, 90_000);
});
