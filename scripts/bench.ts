import path from 'node:path';
import { type AuditResult, auditOk, auditPhase } from './bench/audit.ts';
import { type BenchContext, newResults } from './bench/context.ts';
import { checkInvariants } from './bench/invariants.ts';
import { latencyRun } from './bench/latency.ts';
import { lightPhase, noLight } from './bench/light.ts';
import { relayedEvents, scrapePickup, scrapeRelayLag } from './bench/metrics.ts';
import { pgbenchRun, preparePgbench } from './bench/pgbench.ts';
import { createProfiler } from './bench/profile.ts';
import { noRelay, relayPhase } from './bench/relay.ts';
import { buildReport, printReport, writeDocs } from './bench/report.ts';
import { scalingPhase } from './bench/scaling.ts';
import { peakMemory, startSystem } from './bench/system.ts';
import { throughputRun } from './bench/throughput.ts';

/**
 * `npm run bench`: the whole system on this machine, durability on (fsync, synchronous_commit),
 * measured against the database's own limit in the same run:
 *   baseline pgbench -N (8 clients, 20 s) on the same Postgres instance, and the ceiling: the
 *   payment's necessary SQL alone (scripts/bench/ceiling-payment.pgbench, 3 transactions each);
 *   end-to-end payments/s at saturation (request -> COMPLETED), gateway latency 0 and 50 ms;
 *   POST /payments latency at fixed arrival rates (evenly paced, open loop), and with workers stopped;
 *   job pickup and relay commit-to-ack latency (the processes' own histograms), at light load;
 *   the relay alone at RELAY_RATE events/s;
 *   peak memory per process; throughput with 1, 2 and 4 workers;
 *   the consistency checks (full and incremental audit, replay) at 1x and 10x the data;
 *   errors and invariants (audits, replay) after it all.
 * Medians of RUNS runs (default 3). Writes docs/benchmarks.md and docs/benchmarks.svg.
 * One module per phase in scripts/bench/, each given the context (knobs, system, results) explicitly.
 */
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const LOAD_SECONDS = Number(process.env.BENCH_LOAD_SECONDS ?? 15);
/** For quick A/B checks, a subset: BENCH_PHASES=throughput (default: all of these). */
const ALL_PHASES = ['pgbench', 'throughput', 'latency', 'light', 'relay', 'scaling', 'audit'];
const PHASES = new Set((process.env.BENCH_PHASES ?? ALL_PHASES.join(',')).split(','));
/** BENCH_PROFILE=1: CPU per process and Postgres' top statements in the first 0 ms run and the light phase. */
const PROFILE = process.env.BENCH_PROFILE === '1';
/** BENCH_CPU_PROF=<dir>: every role writes a V8 CPU profile there when it stops. */
const cpuProf = process.env.BENCH_CPU_PROF
  ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.BENCH_CPU_PROF)}`]
  : [];

// ---------------------------------------------------------------- system
const system = await startSystem({ profile: PROFILE, cpuProf });
const pgbench = await preparePgbench(system, PHASES.has('pgbench'));
const ctx: BenchContext = {
  runs: RUNS,
  loadSeconds: LOAD_SECONDS,
  profile: PROFILE,
  system,
  profiler: createProfiler(system),
  results: newResults(),
};

// ---------------------------------------------------------------- the runs
await system.setWorkers(1);
for (let run = 1; run <= RUNS; run++) {
  if (PHASES.has('pgbench')) pgbenchRun(ctx, pgbench, run);
  if (PHASES.has('throughput')) await throughputRun(ctx, run);
  if (PHASES.has('latency')) await latencyRun(ctx, run);
}
const pickup = await scrapePickup(system.ports);
const relayLag = await scrapeRelayLag(system.ports);
const light = PHASES.has('light') ? await lightPhase(ctx) : noLight();
const relayEvents = await relayedEvents(system.ports);
const relay = PHASES.has('relay') ? await relayPhase(ctx) : noRelay();
if (PHASES.has('scaling')) await scalingPhase(ctx);
const memory = peakMemory(system.procs);
// Last: it stops the relay and the workers, and grows the history tenfold.
const audit: AuditResult | undefined = PHASES.has('audit') ? await auditPhase(ctx) : undefined;
const invariants = await checkInvariants(system.database);

// ---------------------------------------------------------------- report
const { rows, chart } = buildReport({
  results: ctx.results,
  light,
  relay,
  pickup,
  relayLag,
  relayEvents,
  memory,
  invariants,
  audit,
});
printReport(rows);
const fullRun = ALL_PHASES.every((p) => PHASES.has(p));
if (fullRun) writeDocs(rows, chart, { runs: RUNS, loadSeconds: LOAD_SECONDS, external: system.external });

// ---------------------------------------------------------------- teardown
await system.teardown();
process.exit(
  ctx.results.errors === 0 &&
    invariants.discrepancies === 0 &&
    invariants.replayDiff === 0 &&
    (audit === undefined || auditOk(audit))
    ? 0
    : 1,
);
