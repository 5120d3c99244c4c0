import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openJournal } from '../../gateway-sim/simulator.ts';

/** The simulator's journal is read a chunk at a time: records across chunk edges come back whole. */
describe('the gateway simulator journal', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-journal-'));
  const file = path.join(dir, 'journal.jsonl');
  afterEach(() => rmSync(file, { force: true }));

  const record = (id: string, reference: string) => ({
    type: 'charge',
    provider: 'alpha',
    charge: { id, reference },
  });

  it('replays every record across chunk edges (multi-byte text too), skips a bad line, ends a torn last line', () => {
    const lines = [
      JSON.stringify(record('ch_1', 'pago número 1')),
      '{not json',
      JSON.stringify(record('ch_2', '支払い')),
      JSON.stringify(record('ch_3', 'x'.repeat(50))),
    ];
    // The last record torn by a crash in the middle of its write.
    writeFileSync(file, `${lines.join('\n')}\n{"type":"charge","prov`);
    const bad: string[] = [];
    const journal = openJournal(file, 7);
    const replayed = [...journal.replay((line) => bad.push(line))];
    expect(replayed.map((r) => (r as unknown as ReturnType<typeof record>).charge)).toEqual([
      { id: 'ch_1', reference: 'pago número 1' },
      { id: 'ch_2', reference: '支払い' },
      { id: 'ch_3', reference: 'x'.repeat(50) },
    ]);
    expect(bad).toEqual(['{not json', '{"type":"charge","prov']);

    // The torn line was ended at open: a record appended now is a line of its own.
    journal.append([record('ch_4', 'after') as never]);
    journal.close();
    expect(readFileSync(file, 'utf8').endsWith(`\n${JSON.stringify(record('ch_4', 'after'))}\n`)).toBe(true);
    const again = openJournal(file, 1 << 20);
    const ids = [...again.replay(() => {})].map((r) => (r as unknown as ReturnType<typeof record>).charge.id);
    again.close();
    expect(ids).toEqual(['ch_1', 'ch_2', 'ch_3', 'ch_4']);
  });
});
