import { afterEach, describe, expect, it } from 'vitest';
import { type SupervisedBroker, superviseLocalBroker } from '../scripts/lib/local-broker-supervisor.ts';
import { freePort, waitFor } from '../scripts/lib/processes.ts';

/** npm start's local broker: started again when it dies, and not hammered when it keeps dying. */
describe('the local broker supervisor', () => {
  let broker: SupervisedBroker | undefined;
  afterEach(async () => {
    await broker?.stop();
  });

  it('starts a broker that was killed again at once, then backs off when it dies again within a minute', async () => {
    const lines: string[] = [];
    broker = await superviseLocalBroker({
      port: await freePort(),
      apiPort: await freePort(),
      maxRssMb: 0,
      say: (line) => lines.push(line),
    });
    const kill = async () => {
      const pid = broker?.pid() as number;
      process.kill(pid, 'SIGKILL');
      return waitFor(
        'the broker back under another pid',
        async () => {
          const next = broker?.pid();
          return next !== undefined && next !== pid ? next : undefined;
        },
        20_000,
      );
    };

    await kill();
    const second = Date.now();
    await kill();
    const secondBack = Date.now() - second;

    expect(lines.filter((l) => l.startsWith('the local broker exited'))).toEqual([
      'the local broker exited (SIGKILL); starting it again',
      'the local broker exited (SIGKILL); starting it again in 1000 ms',
    ]);
    expect(lines.filter((l) => l.startsWith('the local broker is back'))).toHaveLength(2);
    expect(secondBack).toBeGreaterThanOrEqual(1000);
  }, 60_000);
});
