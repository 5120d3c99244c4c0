import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';

/**
 * The runbooks' SQL runs as written: each ```sql block, in order, against a fresh migrated
 * database (graphile-worker's schema and ours), so a renamed column or function breaks a test,
 * not an operator's session.
 */
const RUNBOOKS = ['docs/runbooks/queue.md'];

const sqlBlocks = (file: string) =>
  [...readFileSync(file, 'utf8').matchAll(/^```sql\n([\s\S]*?)^```/gm)].map((m) => m[1] as string);

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.drop();
});

describe.each(RUNBOOKS)('%s', (file) => {
  const blocks = sqlBlocks(file);

  it('has SQL to check', () => {
    expect(blocks.length).toBeGreaterThan(0);
  });

  it.each(blocks.map((block, i) => [i + 1, block.split('\n')[0], block]))(
    'block %i runs: %s',
    async (_n, _first, block) => {
      await database.pool.query(block as string);
    },
  );
});

describe("graphile-worker's CLI, as the queue runbook uses it", () => {
  it('cleans up with --cleanup GC_JOB_QUEUES and exits, run beside an empty tasks directory', () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'graphile-cli-'));
    mkdirSync(path.join(cwd, 'tasks'));
    const cli = path.resolve('node_modules/graphile-worker/dist/cli.js');
    execFileSync(process.execPath, [cli, '-c', database.url, '--cleanup', 'GC_JOB_QUEUES'], {
      cwd,
      stdio: 'pipe',
      timeout: 30_000,
    });
  });
});
