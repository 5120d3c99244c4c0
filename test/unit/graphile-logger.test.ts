import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { graphileLogger } from '../../workers/graphile-logger.ts';

/** A pino logger at `level` whose records are collected as parsed JSON. */
function collecting(level: string) {
  const records: Array<{ level: number; msg: string }> = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) records.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level }, stream), records };
}

describe('graphile-worker log lines in our logger', () => {
  it('puts a completed job at debug, and keeps failures, warnings and other news at their level', () => {
    const { logger, records } = collecting('debug');
    const log = graphileLogger(logger).scope({ label: 'worker' });
    log.info('Completed task 7 (payment__fraud_check, 3.10ms) with success', { success: true });
    log.info('Worker connected and looking for jobs...');
    log.warn('Failed task 8 (payment__charge_gateway, attempt 1 of 5)');
    log.error('Failed to release job');
    expect(records.map((r) => [pino.levels.labels[r.level], r.msg.split(' ').slice(0, 2).join(' ')])).toEqual(
      [
        ['debug', 'Completed task'],
        ['info', 'Worker connected'],
        ['warn', 'Failed task'],
        ['error', 'Failed to'],
      ],
    );
  });

  it('so a worker at info writes no line per successful job', () => {
    const { logger, records } = collecting('info');
    graphileLogger(logger).scope({}).info('Completed task 9 (payment__complete, 1.00ms) with success', {
      success: true,
    });
    expect(records).toEqual([]);
  });
});
