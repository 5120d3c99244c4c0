import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../app/config.ts';
import { loadEnvFile } from '../../app/process/env-file.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-env-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function envFile(content: string): string {
  const file = path.join(dir, `${crypto.randomUUID()}.env`);
  writeFileSync(file, content);
  return file;
}

describe('loadEnvFile', () => {
  it('sets what the file has and the environment lacks; a variable already set wins', () => {
    const file = envFile('# a comment\nPORT=9999\nLOG_LEVEL=debug\nADMIN_TOKEN="quoted value here"\n');
    const env: NodeJS.ProcessEnv = { ENV_FILE: file, PORT: '8080' };
    expect(loadEnvFile(env)).toEqual({ file, applied: 2 });
    expect(env).toMatchObject({ PORT: '8080', LOG_LEVEL: 'debug', ADMIN_TOKEN: 'quoted value here' });
  });

  it('a variable set to the empty string counts as unset, as in loadConfig', () => {
    const env: NodeJS.ProcessEnv = {
      ENV_FILE: envFile('KAFKA_BROKERS=localhost:29092\n'),
      KAFKA_BROKERS: '',
    };
    expect(loadEnvFile(env)?.applied).toBe(1);
    expect(env.KAFKA_BROKERS).toBe('localhost:29092');
  });

  it('no .env in the working directory: nothing loaded, nothing changed', () => {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const env: NodeJS.ProcessEnv = { PORT: '1' };
      expect(loadEnvFile(env)).toBeUndefined();
      expect(env).toEqual({ PORT: '1' });
    } finally {
      process.chdir(cwd);
    }
  });

  it('reads .env of the working directory by default', () => {
    const cwd = process.cwd();
    const own = mkdtempSync(path.join(dir, 'cwd-'));
    writeFileSync(path.join(own, '.env'), 'WORKER_CONCURRENCY=3\n');
    process.chdir(own);
    try {
      const env: NodeJS.ProcessEnv = {};
      expect(loadEnvFile(env)).toEqual({ file: path.join(own, '.env'), applied: 1 });
      expect(env.WORKER_CONCURRENCY).toBe('3');
    } finally {
      process.chdir(cwd);
    }
  });

  it('ENV_FILE=none loads nothing, even with a .env present', () => {
    const env: NodeJS.ProcessEnv = { ENV_FILE: 'none' };
    expect(loadEnvFile(env)).toBeUndefined();
    expect(env).toEqual({ ENV_FILE: 'none' });
  });

  it('ENV_FILE naming a file that does not exist is a configuration error', () => {
    expect(() => loadEnvFile({ ENV_FILE: path.join(dir, 'missing.env') })).toThrow(ConfigError);
    expect(() => loadEnvFile({ ENV_FILE: path.join(dir, 'missing.env') })).toThrow(/ENV_FILE: no such file/);
  });
});
