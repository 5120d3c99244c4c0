import type { Config } from '../config.ts';
import type { Db } from '../db/database.ts';
import type { Logger } from '../observability/logger.ts';

/** What route modules are given; created once in app/main.ts (or by a test). */
export interface AppDeps {
  config: Config;
  db: Db;
  logger: Logger;
}
