// Mutation testing of the modules that need no database and no processes: `npm run mutation`.
// Not part of `npm test`: it runs the unit tests once per mutant (minutes, not seconds).
import { readFileSync } from 'node:fs';

/**
 * The line range of a top-level declaration, from the line that starts with `start` to the line
 * before the next top-level declaration or doc comment. For the pure parts of files that also
 * query: a range found by name still fits after the file is edited, where fixed numbers would not.
 */
function declaration(file, start) {
  const lines = readFileSync(file, 'utf8').split('\n');
  const first = lines.findIndex((line) => line.startsWith(start));
  if (first === -1) throw new Error(`stryker.config.mjs: no "${start}" in ${file}`);
  const next = lines.findIndex(
    (line, i) => i > first && /^(export |\/\*\*|\/\/|function |async |const )/.test(line),
  );
  return `${file}:${first + 1}-${next === -1 ? lines.length : next}`;
}

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'vitest',
  // Only the unit tests: no global setup, so no Postgres.
  vitest: { configFile: 'vitest.unit.config.ts' },
  mutate: [
    'app/payments/fraud-rules.ts',
    'app/payments/gateway-decision.ts',
    'app/payments/saga-definition.ts',
    declaration('app/payments/payment.aggregate.ts', 'export const isSettled'),
    declaration('app/payments/charge-attempts.ts', 'export class GatewayAnswerMismatch'),
    declaration('app/payments/charge-attempts.ts', 'export function checkChargeMatches'),
    declaration('app/payments/charge-attempts.ts', 'export const isFinal'),
    declaration('app/payments/charge-attempts.ts', 'export const keptCharge'),
    'app/idempotency/request-identity.ts',
    'app/http/cursor.ts',
    'app/http/validation.ts',
    'app/http/zod.ts',
    'app/gateway/signature.ts',
  ],
  coverageAnalysis: 'perTest',
  // The machine is shared: one test process.
  concurrency: 1,
  ignorePatterns: ['.data', 'reports', 'coverage', '.ci'],
  tempDirName: 'reports/.stryker-tmp',
  // Stryker reads the tsconfig with the typescript package's JS API to rewrite its `extends` and
  // `references` for the sandbox; TypeScript 7 (the native compiler) has no such API, and our
  // tsconfig.json has neither to rewrite. A name that is no file turns the rewrite off.
  tsconfigFile: 'no-tsconfig-to-rewrite.json',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  clearTextReporter: { allowColor: false, logTests: false },
  // Reruns test only the mutants whose code or covering tests changed; `-- --force` runs them all.
  incremental: true,
  incrementalFile: 'reports/stryker-incremental.json',
  thresholds: { high: 90, low: 80, break: 90 },
};
