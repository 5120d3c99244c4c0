/**
 * What every role's `/health/ready` answers (the API's router, the worker's and the relay's metrics
 * servers): 200 with status `ready` when every check passes, else 503 with `not_ready`, or
 * `stopping` once shutdown began (a stopping process takes no new work).
 */
export interface Check {
  status: 'pass' | 'fail';
  detail: string;
}

export interface Readiness {
  status: 'ready' | 'not_ready' | 'stopping';
  checks: Record<string, Check>;
}

export function readinessOf(stopping: boolean, checks: Record<string, Check>): Readiness {
  if (stopping) return { status: 'stopping', checks: {} };
  return { status: Object.values(checks).every((c) => c.status === 'pass') ? 'ready' : 'not_ready', checks };
}

/**
 * The database answers this process (`select 1` through its own pool) within `timeoutMs`. The raw
 * error names hosts, databases and roles: it goes to `onError` (the log), the check says only
 * unreachable or timed out.
 */
export async function databaseCheck(
  selectOne: () => Promise<unknown>,
  onError: (err: unknown) => void,
  timeoutMs = 2000,
): Promise<Check> {
  try {
    await withTimeout(selectOne(), timeoutMs);
    return { status: 'pass', detail: 'reachable' };
  } catch (err) {
    onError(err);
    return { status: 'fail', detail: err instanceof CheckTimeout ? 'timed out' : 'unreachable' };
  }
}

class CheckTimeout extends Error {}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new CheckTimeout(`timed out after ${ms} ms`)), ms).unref(),
    ),
  ]);
}
