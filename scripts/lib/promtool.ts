import { execFileSync, spawnSync } from 'node:child_process';

/**
 * promtool, Prometheus' checker of rules and configuration (and its rule unit tests), from
 * Debian's `prometheus` package: found on PATH, else installed with apt-get when this runs as root
 * (as the bench installs pgbench), else an error naming the package. Returns the command to run.
 */
export function ensurePromtool(
  say: (message: string) => void = (m) => process.stderr.write(`${m}\n`),
): string {
  if (spawnSync('promtool', ['--version']).status === 0) return 'promtool';
  if (process.getuid?.() !== 0)
    throw new Error("promtool is needed: install Debian's prometheus package (apt-get install prometheus)");
  say("promtool not found: installing Debian's prometheus package with apt-get");
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { env, stdio: 'ignore' });
  // Only the package itself: its recommends (the node exporter and more) are daemons we do not need.
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'prometheus'], {
    env,
    stdio: 'ignore',
  });
  return 'promtool';
}
