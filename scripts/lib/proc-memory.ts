import { readFileSync } from 'node:fs';

/**
 * A process's memory as Linux reports it (/proc), in bytes; undefined once it is gone.
 * RSS counts every page it has in memory, shared ones too; PSS shares each shared page out among
 * the processes that map it, so PSS can be summed over processes (Postgres' backends share its
 * buffers) where RSS cannot.
 */
export function rssBytes(pid: number): number | undefined {
  return kilobytes(`/proc/${pid}/status`, /^VmRSS:\s+(\d+) kB$/m);
}

export function pssBytes(pid: number): number | undefined {
  return kilobytes(`/proc/${pid}/smaps_rollup`, /^Pss:\s+(\d+) kB$/m);
}

function kilobytes(file: string, pattern: RegExp): number | undefined {
  try {
    const match = pattern.exec(readFileSync(file, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}
