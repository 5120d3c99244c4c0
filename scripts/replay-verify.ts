import { sql } from 'kysely';
import { databaseUrl, loadConfig } from '../app/config.ts';
import { createDatabase } from '../app/db/database.ts';
import { loadEnvFile } from '../app/process/env-file.ts';
import { exitOnConfigError } from '../app/process/lifecycle.ts';

/**
 * `npm run replay:verify`: rebuilds every wallet and payment from the event store into the scratch
 * schema `replay` and compares them with the live tables (db/functions/replay__verify.sql), then
 * runs the other audits. Prints what disagrees; exits 1 if anything does.
 */
exitOnConfigError(() => loadEnvFile());
const config = exitOnConfigError(() => loadConfig(process.env, ['DATABASE_URL']));
const { db, close } = createDatabase(databaseUrl(config), { max: 2, applicationName: 'replay-verify' });
try {
  const started = Date.now();
  const diff = await sql<Record<string, unknown>>`select * from replay__verify()`.execute(db);
  const counts = await sql<{ wallets: number; payments: number; events: number }>`
    select (select count(*)::int from replay.wallets) as wallets, (select count(*)::int from replay.payments) as payments,
           (select count(*)::int from events) as events`.execute(db);
  const audit = await sql<{ discrepancies: number; details: Record<string, number> }>`
    select discrepancies, details from audit__run(make_interval(secs => ${config.AUDIT_STUCK_AFTER_SECONDS}),
                                                  make_interval(hours => ${config.OUTBOX_RETENTION_HOURS}))`.execute(
    db,
  );
  const c = counts.rows[0];
  process.stdout.write(
    `replayed ${c?.events} events into ${c?.wallets} wallets and ${c?.payments} payments in ${Date.now() - started} ms\n`,
  );
  if (diff.rows.length > 0) {
    process.stdout.write(`${diff.rows.length} differences between the live tables and the replay:\n`);
    console.table(diff.rows);
  } else process.stdout.write('live tables = replay of the event store\n');
  const run = audit.rows[0];
  process.stdout.write(`audits: ${run?.discrepancies} discrepancies ${JSON.stringify(run?.details)}\n`);
  process.exitCode = diff.rows.length > 0 || (run?.discrepancies ?? 0) > 0 ? 1 : 0;
} finally {
  await close();
}
