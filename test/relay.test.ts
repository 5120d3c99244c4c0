import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idem, request } from './helpers/http.ts';
import { type ConsumedMessage, consumeUntil, dedupe, versionsByKey } from './helpers/kafka.ts';
import { waitFor } from './helpers/processes.ts';
import { startSystem, type TestSystem } from './helpers/system.ts';

let system: TestSystem;
beforeAll(async () => {
  system = await startSystem({}, { workers: 1, relays: 1 });
});
afterAll(async () => {
  await system?.close();
});

const allEventIds = async () =>
  new Set(
    (await system.database.db.selectFrom('events').select('event_id').execute()).map((e) => e.event_id),
  );
const hasAll = (expected: Set<string>) => (messages: ConsumedMessage[]) => {
  const got = new Set(messages.map((m) => m.value.event_id));
  for (const id of expected) if (!got.has(id)) return false;
  return true;
};

async function burst(payments: number) {
  const wallets = await Promise.all([1, 2, 3].map(() => system.newWallet(100_000)));
  const accepted = await Promise.all(
    Array.from({ length: payments }, (_, i) => system.pay(wallets[i % wallets.length] as string, 100 + i)),
  );
  await Promise.all(accepted.map((r) => system.waitSettled(r.body.id, 60_000)));
}

function expectPerKeyOrder(messages: ConsumedMessage[]) {
  for (const [key, versions] of versionsByKey(messages)) {
    // First deliveries of one aggregate arrive as 1, 2, 3, ... with no gap and no reordering.
    expect(versions, `versions of ${key}`).toEqual(versions.map((_, i) => i + 1));
  }
}

describe('outbox relay to Kafka (mokapi validating docs/asyncapi.yaml)', () => {
  it('delivers every event of a burst of payments, keyed by aggregate, with headers, in per-key order', async () => {
    await burst(30);
    const expected = await allEventIds();
    const messages = await consumeUntil(system.brokers as string, hasAll(expected));
    const { unique } = dedupe(messages);
    expect(unique.length).toBe(expected.size);
    for (const m of unique) {
      expect(m.key).toBe(m.value.aggregate_id);
      expect(m.topic).toBe(m.value.event_type.startsWith('wallet.') ? 'wallets.events' : 'payments.events');
      expect(m.headers).toMatchObject({
        event_id: m.value.event_id,
        event_type: m.value.event_type,
        trace_id: m.value.trace_id,
      });
    }
    expectPerKeyOrder(messages);

    const progress = await system.database.db
      .selectFrom('relay_progress')
      .selectAll()
      .executeTakeFirstOrThrow();
    expect(progress.backfill_completed_at).not.toBeNull();
    expect(Number(progress.events_relayed)).toBeGreaterThan(0);
  });

  it('resumes after SIGKILL mid-stream: no event missing, duplicates counted', async () => {
    const [relay] = system.relays;
    const walletId = await system.newWallet(1_000_000);
    let stop = false;
    let deposits = 0;
    const load = (async () => {
      while (!stop) {
        const res = await request(system.api.baseUrl, 'POST', `/wallets/${walletId}/deposits`, {
          body: { amount: 1 },
          headers: idem(`chaos-${deposits}`),
        });
        if (res.status === 201) deposits++;
      }
    })();
    await waitFor('some deposits', async () => deposits >= 30);
    await relay?.kill('SIGKILL');
    await waitFor('more deposits while the relay is down', async () => deposits >= 80);
    await system.startRelay();
    await waitFor('more deposits after the restart', async () => deposits >= 120);
    stop = true;
    await load;

    const expected = await allEventIds();
    const messages = await consumeUntil(system.brokers as string, hasAll(expected), 60_000);
    const { unique, duplicates } = dedupe(messages);
    expect(unique.length).toBe(expected.size);
    expectPerKeyOrder(messages);
    process.stdout.write(
      `[relay crash] ${expected.size} events, ${messages.length} deliveries, ${duplicates} duplicates after SIGKILL\n`,
    );
    const wallet = (await request(system.api.baseUrl, 'GET', `/wallets/${walletId}`)).body;
    const versions = versionsByKey(messages).get(walletId) ?? [];
    expect(versions.length).toBe(wallet.version);
  });

  it('hands over to a standby within seconds when the leader is killed', async () => {
    const standby = await system.startRelay();
    const leader = system.relays.find(
      (r) => r !== standby && r.child.exitCode === null && r.child.signalCode === null,
    );
    // The slot's reader is the leader; the standby only polls the lock.
    const active = await system.database.db
      .selectFrom('relay_progress')
      .select('leader_instance')
      .executeTakeFirstOrThrow();
    expect(active.leader_instance).toContain(`:${leader?.pid}:`);

    await leader?.kill('SIGKILL');
    const killedAt = Date.now();
    const walletId = await system.newWallet(500);
    const takeover = await waitFor(
      'the standby to relay',
      async () => {
        const row = await system.database.db
          .selectFrom('relay_progress')
          .select('leader_instance')
          .executeTakeFirst();
        return row?.leader_instance.includes(`:${standby.pid}:`) ? Date.now() - killedAt : undefined;
      },
      20_000,
    );
    expect(takeover).toBeLessThan(10_000);
    const expected = await allEventIds();
    const messages = await consumeUntil(system.brokers as string, hasAll(expected));
    expect(messages.some((m) => m.key === walletId && m.value.event_type === 'wallet.deposited')).toBe(true);
    process.stdout.write(`[relay standby] took over ${takeover} ms after the leader was killed\n`);
  });

  it('prunes relayed outbox rows without harming the slot', async () => {
    // Rows of this test's own: a wallet's two events, relayed before the prune.
    const relayedWallet = await system.newWallet(300);
    const walletRows = sql<{ n: number }>`
      select count(*)::int as n from outbox o join events e on e.event_id = o.event_id
       where e.aggregate_id = ${relayedWallet}::uuid`;
    expect((await walletRows.execute(system.database.db)).rows[0]?.n).toBe(2);
    // Precondition: the relay has had them acknowledged (outbox__prune keeps anything newer).
    await waitFor('relay progress to cover the wallet', async () => {
      const { rows } = await sql<{ covered: boolean }>`
        select coalesce((select min(last_commit_at) from relay_progress) >
                        (select max(o.created_at) from outbox o join events e on e.event_id = o.event_id
                          where e.aggregate_id = ${relayedWallet}::uuid), false) as covered`.execute(
        system.database.db,
      );
      return rows[0]?.covered;
    });
    const { rows } = await sql<{
      pruned: number;
    }>`select outbox__prune(interval '0 seconds') as pruned`.execute(system.database.db);
    expect(Number(rows[0]?.pruned)).toBeGreaterThanOrEqual(2);
    expect((await walletRows.execute(system.database.db)).rows[0]?.n).toBe(0);
    // The stream goes on: a new event still reaches Kafka.
    const walletId = await system.newWallet(0);
    await consumeUntil(system.brokers as string, (ms) => ms.some((m) => m.key === walletId));
    const metrics = await (await fetch(`${system.api.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/^outbox_relay_lag_seconds(\{[^}]*\})? /m);
  });

  it('re-publishes a range of events from the event store on request', async () => {
    const walletId = await system.newWallet(700);
    const { rows } = await sql<{ from: number; to: number; ids: string[] }>`
      select min(position)::int as from, max(position)::int as to, array_agg(event_id::text) as ids
        from events where aggregate_id = ${walletId}::uuid`.execute(system.database.db);
    const range = rows[0];
    const republished = await sql<{
      n: number;
    }>`select outbox__republish(${range?.from}, ${range?.to})::int as n`.execute(system.database.db);
    expect(republished.rows[0]?.n).toBe(2);
    const messages = await consumeUntil(
      system.brokers as string,
      (ms) => ms.filter((m) => m.key === walletId).length >= 4,
    );
    const deliveries = messages.filter((m) => m.key === walletId).map((m) => m.value.version);
    expect(deliveries.sort()).toEqual([1, 1, 2, 2]);
  });
});
