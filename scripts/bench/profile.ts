import { cpuDelta, cpuSeconds, resetStatements, topStatements } from '../lib/bench-profile.ts';
import { say } from './common.ts';
import type { BenchSystem } from './system.ts';

// ---------------------------------------------------------------- profile (BENCH_PROFILE=1)
export interface Profiler {
  /** Reads which Postgres backend serves what; call before each CPU sample. */
  readBackendNames(): Promise<void>;
  /** The process group a process counts in (cpuSeconds' label), or undefined if none. */
  processGroup(cmdline: string, pid: number): string | undefined;
  cpuShares(cpu: Map<string, number>, payments: number): { system: number; standIns: number };
  startProfile(): Promise<(payments: number) => Promise<void>>;
}

export function createProfiler(system: BenchSystem): Profiler {
  const { database, procs, broker } = system;
  /** Postgres backends by what they serve (application_name or backend type), read before each sample. */
  let backendNames = new Map<number, string>();
  async function readBackendNames() {
    const { rows } = await database.pool.query<{ pid: number; name: string }>(
      `select pid, coalesce(nullif(application_name, ''), backend_type) as name from pg_stat_activity`,
    );
    backendNames = new Map(rows.map((r) => [r.pid, `pg: ${r.name}`]));
  }
  function processGroup(cmdline: string, pid: number): string | undefined {
    if (pid === process.pid) return 'bench + autocannon';
    const role = Object.entries(procs).find(([, p]) => p.pid === pid)?.[0];
    if (role) return role;
    if (pid === broker.process.pid || cmdline.includes('mokapi')) return 'mokapi';
    if (/^postgres:|\/bin\/postgres /.test(cmdline)) return backendNames.get(pid) ?? 'pg: other';
    return undefined;
  }
  async function printProfile(cpu: Map<string, number>, payments: number) {
    say(`profile: CPU seconds per process over the run (${payments} payments completed)`);
    const total = [...cpu.values()].reduce((a, b) => a + b, 0);
    say(`  total                ${total.toFixed(1)} s  ${((total / payments) * 1000).toFixed(2)} ms/payment`);
    for (const [group, seconds] of [...cpu].sort((a, b) => b[1] - a[1]))
      say(
        `  ${group.padEnd(20)} ${seconds.toFixed(1)} s  ${((seconds / payments) * 1000).toFixed(2)} ms/payment`,
      );
    for (const toplevel of [true, false]) {
      say(`profile: ${toplevel ? 'top-level' : 'nested'} statements by total execution time`);
      for (const st of await topStatements(database.pool, toplevel))
        say(
          `  ${String(st.totalMs.toFixed(0)).padStart(7)} ms  ${(st.calls / payments).toFixed(2).padStart(6)}/payment  ${st.meanMs.toFixed(3)} ms  ${st.query.slice(0, 150)}`,
        );
    }
  }

  /**
   * CPU ms per payment, split: the system's own (API, workers, relay and every Postgres process but
   * the bench's own connections) and the stand-ins (the gateway simulator, the mokapi broker). The
   * bench and its load generator are neither.
   */
  function cpuShares(cpu: Map<string, number>, payments: number) {
    let system = 0;
    let standIns = 0;
    for (const [group, seconds] of cpu) {
      if (group === 'gateway-sim' || group === 'mokapi') standIns += seconds;
      else if (group === 'bench + autocannon' || /^pg: (bench|pgbench)/.test(group)) continue;
      else system += seconds;
    }
    return { system: (system * 1000) / payments, standIns: (standIns * 1000) / payments };
  }

  /** Starts a profile; the function it returns prints it, for the payments made since. */
  async function startProfile(): Promise<(payments: number) => Promise<void>> {
    await resetStatements(database.pool);
    await readBackendNames();
    const before = cpuSeconds(processGroup);
    return async (payments) => {
      await readBackendNames(); // backends that connected meanwhile
      await printProfile(cpuDelta(before, cpuSeconds(processGroup)), payments);
    };
  }

  return { readBackendNames, processGroup, cpuShares, startProfile };
}
