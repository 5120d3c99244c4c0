import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import type { ListenerName, ListenReport } from '../../app/process/lifecycle.ts';

/** A role started as a real OS process (`node <entry>`, TypeScript run by Node's type stripping), as `npm start` runs it. */
export interface RoleProcess {
  child: ChildProcess;
  pid: number;
  output(): string;
  /** True once kill() was called: the process did not exit on its own. */
  readonly killRequested: boolean;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /**
   * The port the role reports it bound for `name` ('http': the API, the simulator; 'metrics': a
   * worker, a relay). Rejects if it reports it could not listen, exits first, or says nothing in
   * `timeoutMs`.
   */
  listening(name: ListenerName, timeoutMs?: number): Promise<number>;
}

/**
 * What a role inherits from this process; everything else it gets is passed by the caller, so a
 * variable set here (a developer's DATABASE_URL, PGPASSWORD, a test's own settings) never reaches
 * a role unasked. For the same reason a role reads no `.env` file (ENV_FILE=none) unless the
 * caller passes ENV_FILE.
 */
export const INHERITED_ENV = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'LC_ALL', 'TZ'] as const;

export function roleEnv(env: Record<string, string>): Record<string, string> {
  const inherited: Record<string, string> = {};
  for (const name of INHERITED_ENV) {
    const value = process.env[name];
    if (value !== undefined) inherited[name] = value;
  }
  return { ...inherited, ENV_FILE: 'none', ...env };
}

/**
 * Spawns a role with the environment `env` (plus INHERITED_ENV) and an IPC channel on which it
 * reports the ports it bound: tell it port 0 and ask `listening()`, rather than choosing a free
 * port here, which another process may take before the role binds it.
 */
export function spawnRole(
  entry: string,
  env: Record<string, string>,
  nodeArgs: string[] = [],
  /** Another Node (the startup measurement compares runtimes). */
  node = process.execPath,
): RoleProcess {
  const child = spawn(node, [...nodeArgs, entry], {
    env: roleEnv(env),
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  const keep = (d: Buffer) => {
    output = (output + d.toString()).slice(-200_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);

  const reports = new Map<ListenerName, ListenReport>();
  let closed: string | undefined;
  const changed = new Set<() => void>();
  child.on('message', (message: ListenReport) => {
    if (message?.type !== 'listening' && message?.type !== 'listen-failed') return;
    reports.set(message.name, message);
    for (const notify of changed) notify();
  });
  // 'close', not 'exit': by then every message the role sent has been delivered.
  child.once('close', (code, signal) => {
    closed = String(signal ?? code);
    for (const notify of changed) notify();
  });
  const listening = (name: ListenerName, timeoutMs = 30_000) =>
    new Promise<number>((resolve, reject) => {
      const done = (settle: () => void) => {
        changed.delete(check);
        clearTimeout(timer);
        settle();
      };
      const check = () => {
        const report = reports.get(name);
        if (report?.type === 'listening') done(() => resolve(report.port));
        else if (report?.type === 'listen-failed')
          done(() =>
            reject(new Error(`${entry} (pid ${child.pid}) could not listen (${name}): ${report.error}`)),
          );
        else if (closed !== undefined)
          done(() =>
            reject(
              new Error(
                `${entry} (pid ${child.pid}) exited (${closed}) before listening (${name}):\n${output.slice(-2000)}`,
              ),
            ),
          );
      };
      const timer = setTimeout(
        () =>
          done(() =>
            reject(
              new Error(
                `${entry} (pid ${child.pid}) did not report listening (${name}) in ${timeoutMs} ms:\n${output.slice(-2000)}`,
              ),
            ),
          ),
        timeoutMs,
      );
      changed.add(check);
      check();
    });

  let killRequested = false;
  return {
    child,
    pid: child.pid as number,
    output: () => output,
    get killRequested() {
      return killRequested;
    },
    kill(signal = 'SIGTERM') {
      killRequested = true;
      if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
      return new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill(signal);
      });
    },
    listening,
  };
}

/**
 * A port free at the time of asking. Another process may bind it before the caller does: only for
 * servers that cannot bind port 0 and report it (Postgres, mokapi), by a caller that retries on
 * another port when the bind fails, or for a port where nothing should listen.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Polls `check` until it returns a truthy value or the deadline passes (then throws with `what`). */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false | null>,
  timeoutMs = 20_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

/** Several distinct free ports: all are held open together, so no two are the same. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const server = net.createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}
