import { startApi } from '../../app/api.ts';
import { createApiKey } from '../../app/auth/api-keys.ts';
import { type Config, loadConfig } from '../../app/config.ts';
import type { Database } from '../../app/db/database.ts';
import type { ApiKeyScope } from '../../app/db/types.ts';
import { createLogger } from '../../app/observability/logger.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { checkAgainstContract, useApiKey } from './http.ts';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

/** The owner of the key every test API is started with (and of makeWallet's wallets by default). */
export const TEST_OWNER = 'owner-1';

export interface TestApp {
  /** helpers/http.ts checks every answer from here against docs/openapi.json. */
  baseUrl: string;
  /** A read-write key of TEST_OWNER, registered for baseUrl (helpers/http.ts sends it). */
  apiKey: string;
  database: TestDatabase;
  config: Config;
  close(): Promise<void>;
}

/** The real HTTP API on a random port, over its own fresh database (or `database` if given). */
export async function startTestApp(env: Record<string, string> = {}, given?: TestDatabase): Promise<TestApp> {
  const database = given ?? (await createTestDatabase());
  const config = testConfig(database.url, { PORT: '0', ...env });
  const api = await startApi(config, createLogger(config.LOG_LEVEL));
  const apiKey = await createTestApiKey(database, api.url);
  checkAgainstContract(api.url);
  return {
    baseUrl: api.url,
    apiKey,
    database,
    config,
    async close() {
      await api.close();
      if (!given) await database.drop();
    },
  };
}

/** A key of `ownerId` made straight in the database; registered for `baseUrl` when given. */
export async function createTestApiKey(
  database: Database,
  baseUrl?: string,
  ownerId = TEST_OWNER,
  scopes: ApiKeyScope[] = ['read', 'write'],
): Promise<string> {
  const { key } = await createApiKey(database.db, { ownerId, scopes, description: 'test' });
  if (baseUrl) useApiKey(baseUrl, key);
  return key;
}

export function testConfig(databaseUrl: string, env: Record<string, string> = {}): Config {
  return loadConfig({
    DATABASE_URL: databaseUrl,
    ADMIN_TOKEN,
    LOG_LEVEL: 'silent',
    NODE_ENV: 'test',
    // Tests drive hundreds of requests a second through one key; the rate-limit test sets its own.
    RATE_LIMIT_PER_SECOND: '100000',
    ...env,
  });
}
