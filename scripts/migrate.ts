import { databaseUrl, loadConfig } from '../app/config.ts';
import { migrate } from '../app/db/migrate.ts';
import { loadEnvFile } from '../app/process/env-file.ts';
import { exitOnConfigError } from '../app/process/lifecycle.ts';

/** `npm run migrate`: applies migrations, graphile-worker's schema and db/functions/ to DATABASE_URL. */
exitOnConfigError(() => loadEnvFile());
const config = exitOnConfigError(() => loadConfig(process.env, ['DATABASE_URL']));
await migrate(databaseUrl(config));
process.stdout.write('database is up to date\n');
