import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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
    const result = spawnSync(process.execPath, ['app/main.ts'], {
      env: { ...process.env, ENV_FILE: 'none', PORT: '99999', DATABASE_URL: 'postgres://127.0.0.1:1/none' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(78);
    expect(result.stderr).toMatch(/PORT/);
  });

  describe('with NODE_ENV=production', () => {
    const real = {
      NODE_ENV: 'production',
      ADMIN_TOKEN: 'f3a9c1e07b5d4e26a8c4d1f0b2e7a965',
      GATEWAY_ALPHA_SECRET: 'whsec_alpha_9d2f7c41b8e0',
      GATEWAY_BETA_SECRET: 'whsec_beta_5a1e3c9f07d2',
      DATABASE_URL: 'postgres://payments:Xq7%23pL2vR9@db.internal:5432/payments',
    };
    const refusal = (env: Record<string, string>, secrets?: Parameters<typeof loadConfig>[1]) => {
      try {
        loadConfig(env, secrets);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      }
      throw new Error('loadConfig accepted it');
    };

    it('refuses every development secret left at its default, naming each variable', () => {
      const message = refusal({ NODE_ENV: 'production' });
      for (const name of ['ADMIN_TOKEN', 'GATEWAY_ALPHA_SECRET', 'GATEWAY_BETA_SECRET', 'DATABASE_URL'])
        expect(message).toMatch(new RegExp(`^  ${name}: `, 'm'));
    });

    it.each([
      ['ADMIN_TOKEN', 'dev-admin-token-change-me'],
      ['ADMIN_TOKEN', 'compose-admin-token-change-me'],
      ['GATEWAY_ALPHA_SECRET', 'alpha-dev-webhook-secret'],
      ['GATEWAY_BETA_SECRET', 'beta-dev-webhook-secret'],
      ['DATABASE_URL', 'postgres://postgres:postgres@127.0.0.1:5433/payments'],
      ['DATABASE_URL', 'postgres://payments:payments@postgres:5432/payments'],
    ])('refuses %s=%s, set explicitly', (name, value) => {
      const message = refusal({ ...real, [name]: value });
      expect(message).toMatch(new RegExp(`^  ${name}: `, 'm'));
      expect(message).not.toContain(value);
    });

    it.each([
      ['percent-encoded in the URL', { DATABASE_URL: 'postgres://payments:p%6Fstgres@db:5432/payments' }],
      ['as a query parameter', { DATABASE_URL: 'postgres://payments@db:5432/payments?password=postgres' }],
      [
        'in PGPASSWORD, the URL having none',
        { DATABASE_URL: 'postgres://payments@db:5432/payments', PGPASSWORD: 'payments' },
      ],
    ])('finds a development database password %s', (_how, env) => {
      expect(refusal({ ...real, ...env })).toMatch(/^ {2}DATABASE_URL: .*development password/m);
    });

    it('starts with real values', () => {
      expect(loadConfig(real).ADMIN_TOKEN).toBe(real.ADMIN_TOKEN);
    });

    it('requires the simulator’s control token of the simulator only', () => {
      expect(
        refusal(real, ['GATEWAY_ALPHA_SECRET', 'GATEWAY_BETA_SECRET', 'GATEWAY_SIM_CONTROL_TOKEN']),
      ).toMatch(/^ {2}GATEWAY_SIM_CONTROL_TOKEN: must be set/m);
      const token = 'c0ntr0l-9f2e4d6a8b1c3e5f';
      expect(loadConfig({ ...real, GATEWAY_SIM_CONTROL_TOKEN: token }).GATEWAY_SIM_CONTROL_TOKEN).toBe(token);
      expect(loadConfig(real).GATEWAY_SIM_CONTROL_TOKEN).toBeUndefined(); // the API does not need it
    });

    it('checks only the secrets a process uses (a worker has no admin token nor webhook secret)', () => {
      expect(
        loadConfig({ NODE_ENV: 'production', DATABASE_URL: real.DATABASE_URL }, ['DATABASE_URL']).NODE_ENV,
      ).toBe('production');
      expect(refusal({ NODE_ENV: 'production' }, ['DATABASE_URL'])).toMatch(/^ {2}DATABASE_URL: /m);
    });

    it.each([
      ['api', 'app/main.ts', ['ADMIN_TOKEN', 'GATEWAY_ALPHA_SECRET', 'GATEWAY_BETA_SECRET', 'DATABASE_URL']],
      ['worker', 'workers/main.ts', ['DATABASE_URL']],
      ['relay', 'outbox-relay/main.ts', ['DATABASE_URL']],
      [
        'gateway simulator',
        'gateway-sim/main.ts',
        ['GATEWAY_ALPHA_SECRET', 'GATEWAY_BETA_SECRET', 'GATEWAY_SIM_CONTROL_TOKEN'],
      ],
      ['migrations', 'scripts/migrate.ts', ['DATABASE_URL']],
    ])('stops the %s process at start (exit 78), naming each development secret', (_role, entry, names) => {
      const unset = Object.fromEntries(
        [
          'ADMIN_TOKEN',
          'GATEWAY_ALPHA_SECRET',
          'GATEWAY_BETA_SECRET',
          'DATABASE_URL',
          'GATEWAY_SIM_CONTROL_TOKEN',
        ].map((n) => [n, '']),
      );
      const result = spawnSync(process.execPath, [entry], {
        // ENV_FILE=none: a developer's .env would fill the secrets this test leaves empty.
        env: { ...process.env, ...unset, ENV_FILE: 'none', NODE_ENV: 'production' },
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(result.status, result.stderr).toBe(78);
      for (const name of names) expect(result.stderr).toMatch(new RegExp(`^  ${name}: `, 'm'));
    });
  });

  it('a .env file fills what the environment lacks, and a variable already set wins, in a role process', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-dotenv-'));
    try {
      writeFileSync(path.join(dir, '.env'), 'PORT=99999\nLOG_LEVEL=loud\n');
      // Run from a directory of its own (where its .env is): the entry by absolute path.
      const result = spawnSync(process.execPath, [path.resolve('app/main.ts')], {
        cwd: dir,
        env: { ...process.env, ENV_FILE: '', LOG_LEVEL: 'info', DATABASE_URL: 'postgres://127.0.0.1:1/none' },
        encoding: 'utf8',
        timeout: 20_000,
      });
      // PORT came from the file (and is refused); LOG_LEVEL was set, so the file's bad value is not read.
      expect(result.status, result.stderr).toBe(78);
      expect(result.stderr).toMatch(/^ {2}PORT: /m);
      expect(result.stderr).not.toMatch(/LOG_LEVEL/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('documents every variable in .env.example', async () => {
    const { readFile } = await import('node:fs/promises');
    const example = await readFile('.env.example', 'utf8');
    const documented = new Set([...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]));
    for (const name of Object.keys(loadConfig({}))) expect(documented, name).toContain(name);
  });
});
