import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { authenticateApiKey, createApiKey, revokeApiKeysLike } from '../../app/auth/api-keys.ts';
import { createDatabase } from '../../app/db/database.ts';

/**
 * `npm start`'s development key for owner `dev`: made once, kept in the database as a hash like
 * any key, and the key itself in `file` (mode 0600, under .data/, never committed) so that it can
 * be printed at every start. A key that was revoked, or a file from another database, makes a new
 * one.
 */
const DESCRIPTION = 'development key made by npm start';

export async function ensureDevApiKey(
  databaseUrl: string,
  file: string,
): Promise<{ key: string; created: boolean }> {
  const database = createDatabase(databaseUrl, { max: 1, applicationName: 'npm start' });
  try {
    const kept = existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
    if (kept && (await authenticateApiKey(database.db, kept))?.ownerId === 'dev')
      return { key: kept, created: false };
    const { key, row } = await createApiKey(database.db, { ownerId: 'dev', description: DESCRIPTION });
    // The one before (its file lost, or for another database) is no longer printed: not left active.
    await revokeApiKeysLike(database.db, 'dev', DESCRIPTION, row.id);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, `${key}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
    return { key, created: true };
  } finally {
    await database.close();
  }
}
