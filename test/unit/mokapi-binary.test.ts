import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../app/config.ts';
import { mokapiBinary } from '../../scripts/lib/mokapi-binary.ts';

describe('the local broker binary (mokapi)', () => {
  it('is found in its npm package on the platform the project installs it for', () => {
    const resolve = (specifier: string) => `/node_modules/${specifier}`;
    expect(mokapiBinary(resolve, 'linux', 'x64')).toBe('/node_modules/@go-mokapi/linux-x64/bin/mokapi');
  });

  it('missing for the platform: a configuration error naming the platform, the package and KAFKA_BROKERS', () => {
    const missing = (specifier: string): string => {
      throw Object.assign(new Error(`Cannot find module '${specifier}'`), { code: 'MODULE_NOT_FOUND' });
    };
    let error: unknown;
    try {
      mokapiBinary(missing, 'darwin', 'arm64');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('darwin-arm64');
    expect(message).toContain('@go-mokapi/darwin-arm64');
    expect(message).toContain('@go-mokapi/linux-x64');
    expect(message).toContain('KAFKA_BROKERS');
    expect(message).not.toContain('Cannot find module');
  });
});
