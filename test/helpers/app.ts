import { startApi } from '../../app/api.ts';
import { type Config, loadConfig } from '../../app/config.ts';
import { createLogger } from '../../app/observability/logger.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

export interface TestApp {
  baseUrl: string;
  database: TestDatabase;
  config: Config;
  close(): Promise<void>;
}

/** The real HTTP API on a random port, over its own fresh database (or `database` if given). */
export async function startTestApp(env: Record<string, string> = {}, given?: TestDatabase): Promise<TestApp> {
  const database = given ?? (await createTestDatabase());
  const config = testConfig(database.url, { PORT: '0', ...env });
  const api = await startApi(config, createLogger(config.LOG_LEVEL));
  return {
    baseUrl: api.url,
    database,
    config,
    async close() {
      await api.close();
      if (!given) await database.drop();
    },
  };
}

export function testConfig(databaseUrl: string, env: Record<string, string> = {}): Config {
  return loadConfig({
    DATABASE_URL: databaseUrl,
    ADMIN_TOKEN,
    LOG_LEVEL: 'silent',
    NODE_ENV: 'test',
    ...env,
  });
}
