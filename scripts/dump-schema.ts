import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { dumpSchema, postgresBinDir } from './lib/schema-dump.ts';

/**
 * `npm run db:dump-schema`: writes db/schema.sql, the reviewable snapshot of our schema
 * (scripts/lib/schema-dump.ts says how; test/migrations.test.ts fails when the file drifts).
 */
const binDir = postgresBinDir();
if (!binDir) {
  process.stderr.write('No PostgreSQL server binaries found: install postgresql, or set PG_BIN_DIR.\n');
  process.exit(1);
}
writeFileSync(path.resolve('db/schema.sql'), await dumpSchema(binDir));
process.stdout.write('wrote db/schema.sql\n');
