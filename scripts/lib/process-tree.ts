import { readdirSync, readFileSync } from 'node:fs';

/** A live process as /proc shows it. */
export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** Its process group. */
  pgid: number;
  /** The command line, arguments joined by spaces. */
  command: string;
}

/** Every live (not zombie) process, read from /proc. Linux only, as the local broker's binary is. */
export function liveProcesses(): ProcessInfo[] {
  const found: ProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // pid (comm) state ppid ...; comm may hold spaces and parentheses, so parse after the last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, ppid, pgid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z') continue;
      const command = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      found.push({ pid: Number(entry), ppid: Number(ppid), pgid: Number(pgid), command });
    } catch {
      // It ended between readdir and read: not live.
    }
  }
  return found;
}

/** `pid` and all its descendants, from one snapshot of `processes`. */
export function descendantsOf(pid: number, processes: ProcessInfo[]): ProcessInfo[] {
  const tree: ProcessInfo[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift() as number;
    for (const p of processes)
      if (p.ppid === parent) {
        tree.push(p);
        queue.push(p.pid);
      }
  }
  return tree;
}
