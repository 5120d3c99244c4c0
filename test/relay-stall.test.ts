import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './helpers/processes.ts';
import { startSystem, type TestSystem } from './helpers/system.ts';

/** A leading relay that cannot stream does not stay up looking alive: it exits. */
let system: TestSystem;
beforeAll(async () => {
  system = await startSystem({}, { workers: 0 });
});
afterAll(async () => {
  await system?.close();
});

describe('a relay that cannot reach its broker', () => {
  it('exits 1 after RELAY_STALLED_EXIT_SECONDS of failures instead of retrying forever', async () => {
    const nobody = await freePort(); // nothing listens there
    const relay = await system.startRelay({
      KAFKA_BROKERS: `127.0.0.1:${nobody}`,
      RELAY_STALLED_EXIT_SECONDS: '10',
    });
    const code = await new Promise<number | null>((resolve) => {
      if (relay.child.exitCode !== null) resolve(relay.child.exitCode);
      relay.child.once('exit', resolve);
    });
    expect(code).toBe(1);
    expect(relay.output()).toContain('has not been able to stream for too long');
  }, 120_000);
});
