import { describe, expect, it } from 'vitest';
import { roleLinePrinter } from '../../scripts/lib/role-output.ts';

const record = JSON.stringify({
  level: 30,
  time: '2026-12-02T04:59:48.266Z',
  pid: 2949,
  role: 'relay',
  host: 'vm',
  slot: 'outbox_relay',
  msg: 'relay is the leader',
});

describe("npm start's lines of a role's output", () => {
  it('pretty: one readable line per record behind the role, without what the prefix says', () => {
    const line = roleLinePrinter('relay', 'pretty')(record);
    expect(line).toMatch(
      /^\[relay\] +\[\d\d:\d\d:\d\d\.\d{3}\] INFO: relay is the leader \{"slot":"outbox_relay"\}\n$/,
    );
    expect(line).not.toContain('2949');
    expect(line).not.toContain('"role"');
  });

  it('json: the record as it is, behind the role', () => {
    expect(roleLinePrinter('api', 'json')(record)).toBe(`[api]     ${record}\n`);
  });

  it('a line that is not a record passes as it is', () => {
    const warning = '(node:1) TimeoutNegativeWarning: -1 is a negative number.';
    expect(roleLinePrinter('worker', 'pretty')(warning)).toBe(`[worker]  ${warning}\n`);
  });

  it("an error's stack keeps its lines, each behind the role", () => {
    const failed = JSON.stringify({
      level: 50,
      time: '2026-12-02T04:59:48.266Z',
      err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at somewhere (x.ts:1:1)' },
      msg: 'relay stream failed',
    });
    const lines = roleLinePrinter('relay', 'pretty')(failed).trimEnd().split('\n');
    expect(lines.length).toBeGreaterThan(1);
    expect(lines[0]).toMatch(/ERROR: relay stream failed/);
    for (const l of lines) expect(l.startsWith('[relay]')).toBe(true);
    expect(lines.some((l) => l.includes('at somewhere (x.ts:1:1)'))).toBe(true);
  });
});
