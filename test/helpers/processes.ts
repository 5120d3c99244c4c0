// Shared with the benchmark (scripts/bench.ts): spawning roles as processes, free ports, waiting.
export {
  freePort,
  freePorts,
  INHERITED_ENV,
  type RoleProcess,
  roleEnv,
  spawnRole,
  waitFor,
} from '../../scripts/lib/processes.ts';
