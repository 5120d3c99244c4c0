import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { ConfigError } from '../config.ts';

/**
 * A developer's settings in a `.env` file of the working directory (`.env.example` lists them),
 * loaded by every entry point before its configuration, so `npm start` and `npm run api` need no
 * exports. A variable already set (not empty) in the environment wins, as with `node --env-file`. ENV_FILE
 * names another file, or `none` for no file: the tests' role processes are given `none`, so a
 * developer's `.env` never reaches them unasked. Parsed by Node's own parser (the one behind
 * `process.loadEnvFile`), into `env` so that a test can pass its own object.
 * Returns the file it loaded and how many variables it set, or undefined when there was none; a
 * file named by ENV_FILE that does not exist is a configuration error (a typo must not go unseen).
 */
export function loadEnvFile(
  env: NodeJS.ProcessEnv = process.env,
): { file: string; applied: number } | undefined {
  const name = env.ENV_FILE || '.env';
  if (name === 'none') return undefined;
  const file = path.resolve(name);
  if (!existsSync(file)) {
    if (env.ENV_FILE) throw new ConfigError(`Invalid configuration:\n  ENV_FILE: no such file: ${file}`);
    return undefined;
  }
  let applied = 0;
  for (const [key, value] of Object.entries(parseEnv(readFileSync(file, 'utf8')))) {
    // Empty counts as unset, as in loadConfig.
    if (env[key] !== undefined && env[key] !== '') continue;
    env[key] = value;
    applied += 1;
  }
  return { file, applied };
}
