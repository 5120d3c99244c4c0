// Shared with the benchmark (scripts/bench.ts): spawning roles as processes, free ports, waiting.
export { freePort, freePorts, type RoleProcess, spawnRole, waitFor } from '../../scripts/lib/processes.ts';
