import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../app/config.ts';

describe('configuration', () => {
  it('has working defaults for every variable', () => {
    const config = loadConfig({});
    expect(config.PORT).toBe(8080);
    expect(config.EMBEDDED_PG_PORT).toBe(5433);
    expect(config.DATABASE_URL).toBeUndefined();
  });

  it('names every bad variable in its error', () => {
    expect(() => loadConfig({ PORT: 'eighty', DATABASE_URL: 'not a url', ADMIN_TOKEN: 'short' })).toThrow(
      ConfigError,
    );
    try {
      loadConfig({ PORT: 'eighty', DATABASE_URL: 'not a url', ADMIN_TOKEN: 'short' });
    } catch (err) {
      const message = (err as Error).message;
      expect(message).toContain('PORT');
      expect(message).toContain('DATABASE_URL');
      expect(message).toContain('ADMIN_TOKEN');
    }
  });

  it('stops the api process at start with a message naming the variable', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'app/main.ts'], {
      env: { ...process.env, PORT: '99999', DATABASE_URL: 'postgres://127.0.0.1:1/none' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(78);
    expect(result.stderr).toMatch(/PORT/);
  });

  it('documents every variable in .env.example', async () => {
    const { readFile } = await import('node:fs/promises');
    const example = await readFile('.env.example', 'utf8');
    const documented = new Set([...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]));
    for (const name of Object.keys(loadConfig({}))) expect(documented, name).toContain(name);
  });
});
