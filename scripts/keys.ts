import { parseArgs } from 'node:util';
import { apiKeyView, createApiKey, listApiKeys, revokeApiKey } from '../app/auth/api-keys.ts';
import { databaseUrl, loadConfig } from '../app/config.ts';
import { createDatabase } from '../app/db/database.ts';
import { loadEnvFile } from '../app/process/env-file.ts';
import { exitOnConfigError } from '../app/process/lifecycle.ts';

/**
 * `npm run keys -- <command>`: API keys from a shell, against DATABASE_URL (or the embedded
 * Postgres of `npm start`), the same functions as the admin endpoints.
 *   create --owner <owner> [--read-only] [--description <text>]   prints the key, this once
 *   list [--owner <owner>]                                         never the secrets
 *   revoke <key id>
 */
const usage =
  'usage: npm run keys -- create --owner <owner> [--read-only] [--description <text>] | list [--owner <owner>] | revoke <id>';
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    owner: { type: 'string' },
    'read-only': { type: 'boolean', default: false },
    description: { type: 'string' },
  },
});
exitOnConfigError(() => loadEnvFile());
const config = exitOnConfigError(() => loadConfig(process.env, ['DATABASE_URL']));
const database = createDatabase(databaseUrl(config), { max: 1, applicationName: 'npm run keys' });
const [command, id] = positionals;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
function refuse(message: string): never {
  process.stderr.write(`${message}\n${usage}\n`);
  process.exit(2);
}
if (values.owner !== undefined && (values.owner.length < 1 || values.owner.length > 128))
  refuse('--owner must be 1 to 128 characters');
if (values.description !== undefined && values.description.length > 200)
  refuse('--description must be at most 200 characters');
if (command === 'revoke' && !(id && UUID.test(id))) refuse('revoke takes the key id (a UUID, from `list`)');
try {
  if (command === 'create' && values.owner) {
    const { key, row } = await createApiKey(database.db, {
      ownerId: values.owner,
      scopes: values['read-only'] ? ['read'] : ['read', 'write'],
      description: values.description ?? null,
    });
    process.stdout.write(`${JSON.stringify({ ...apiKeyView(row), key }, null, 2)}\n`);
    process.stderr.write('The key is shown this once; only its hash is stored.\n');
  } else if (command === 'list') {
    process.stdout.write(
      `${JSON.stringify((await listApiKeys(database.db, values.owner)).map(apiKeyView), null, 2)}\n`,
    );
  } else if (command === 'revoke' && id) {
    if (!(await revokeApiKey(database.db, id))) {
      process.stderr.write(`no key with id ${id}\n`);
      process.exitCode = 1;
    } else process.stdout.write(`revoked ${id}\n`);
  } else {
    process.stderr.write(`${usage}\n`);
    process.exitCode = 2;
  }
} finally {
  await database.close();
}
