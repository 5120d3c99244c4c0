import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { prettyFactory } from 'pino-pretty';

/**
 * What `npm start` prints of a role's output. The roles always log JSON, one record a line (what
 * production collects and the tests parse); on a terminal that is hard to read, so `npm start`
 * turns each record into one readable line (pino-pretty) behind the role's name:
 *   [relay]   05:01:48.414 INFO: relay streaming
 * `json`: the records as they are, behind the name (NODE_ENV=production or LOG_FORMAT=json).
 * A line that is not a record (a warning Node prints on stderr) passes as it is, behind the name.
 */
export type LogFormat = 'pretty' | 'json';

export function roleLinePrinter(
  label: string,
  format: LogFormat,
  colorize = false,
): (line: string) => string {
  const prefix = `[${label}]`.padEnd(10);
  const pretty =
    format === 'pretty'
      ? prettyFactory({
          colorize,
          singleLine: true,
          translateTime: 'SYS:HH:MM:ss.l',
          // Said by the prefix, or the same on every line of a process.
          ignore: 'pid,hostname,host,role',
        })
      : undefined;
  return (line) => {
    const record = pretty && line.startsWith('{') ? pretty(line) : `${line}\n`;
    // Errors keep their stack on the lines after: each of those gets the prefix too.
    return record
      .trimEnd()
      .split('\n')
      .map((l) => `${prefix}${l}\n`)
      .join('');
  };
}

/** Copies a role's stdout and stderr to `out` line by line through `print`. */
export function pipeRoleOutput(
  streams: { stdout: Readable | null; stderr: Readable | null },
  print: (line: string) => string,
  out: Writable,
): void {
  for (const stream of [streams.stdout, streams.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => {
      out.write(print(line));
    });
  }
}
