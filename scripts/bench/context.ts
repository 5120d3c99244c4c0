import type { Profiler } from './profile.ts';
import type { BenchSystem } from './system.ts';

export interface LatencySlot {
  p50: number[];
  p90: number[];
  p97_5: number[];
  p99: number[];
}

/** What the runs collect; each figure of the report is the median of its list. */
export interface BenchResults {
  pgbench: number[];
  /** Payments/s of the necessary SQL alone (scripts/bench/ceiling-payment.pgbench). */
  ceiling: number[];
  e2e0: number[];
  e2e50: number[];
  lat: Record<number, LatencySlot>;
  apiAlone: LatencySlot;
  errors: number;
  scaling: Record<number, number[]>;
  /** CPU ms per payment in the 0 ms runs: the system's own processes and Postgres, and the stand-ins. */
  cpuSystem: number[];
  cpuStandIns: number[];
  /** Commits in the database during a 0 ms run, per payment completed: the whole system's, measured. */
  txPerPayment: number[];
}

export function newResults(): BenchResults {
  return {
    pgbench: [],
    ceiling: [],
    e2e0: [],
    e2e50: [],
    lat: {},
    apiAlone: { p50: [], p90: [], p97_5: [], p99: [] },
    errors: 0,
    scaling: {},
    cpuSystem: [],
    cpuStandIns: [],
    txPerPayment: [],
  };
}

/** Everything a phase needs, passed explicitly: the knobs, the running system, the results so far. */
export interface BenchContext {
  /** BENCH_RUNS */
  runs: number;
  /** BENCH_LOAD_SECONDS */
  loadSeconds: number;
  /** BENCH_PROFILE=1 */
  profile: boolean;
  system: BenchSystem;
  profiler: Profiler;
  results: BenchResults;
}
