import { createRequire } from 'node:module';
import { ConfigError } from '../../app/config.ts';

/** The platform whose mokapi package package.json installs (an optional dependency). */
export const INSTALLED_MOKAPI_PACKAGE = '@go-mokapi/linux-x64';

/**
 * The local broker's binary, from mokapi's npm package for this platform
 * (`@go-mokapi/<platform>-<arch>`). The project installs only the Linux x64 one, so elsewhere it
 * is missing: that is a configuration matter (point KAFKA_BROKERS at a broker), told as one, not a
 * module-resolution stack trace. `resolve`, `platform` and `arch` are parameters for the test.
 */
export function mokapiBinary(
  resolve: (specifier: string) => string = createRequire(import.meta.url).resolve,
  platform: string = process.platform,
  arch: string = process.arch,
): string {
  const name = `@go-mokapi/${platform}-${arch}`;
  try {
    return resolve(`${name}/bin/mokapi`);
  } catch {
    throw new ConfigError(
      [
        `No local Kafka broker for this platform (${platform}-${arch}): npm start runs mokapi from the npm`,
        `package ${name}, which is not installed (this project installs only ${INSTALLED_MOKAPI_PACKAGE}, an`,
        'optional dependency).',
        'Set KAFKA_BROKERS to a Kafka broker you run (host:port, e.g. localhost:29092 for the Kafka of',
        'docker-compose.yml), in the environment or in .env, and start again.',
      ].join('\n'),
    );
  }
}
