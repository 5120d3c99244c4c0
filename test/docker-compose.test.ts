import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

/**
 * No Docker engine runs here, so the compose file is checked structurally; where Debian's
 * docker-compose is installed, `docker-compose config` validates it against the compose schema too.
 */
const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true });

describe('docker-compose.yml', () => {
  it('runs Postgres with logical replication', () => {
    expect(compose.services.postgres.command.join(' ')).toMatch(/wal_level=logical/);
    // A relay that is down cannot make the slot fill the disk.
    expect(compose.services.postgres.command.join(' ')).toMatch(/max_slot_wal_keep_size=\d+GB/);
    expect(compose.services.postgres.healthcheck).toBeDefined();
  });

  it('runs Apache Kafka as a single KRaft node', () => {
    const kafka = compose.services.kafka;
    expect(kafka.image).toMatch(/^apache\/kafka:/);
    expect(kafka.environment.KAFKA_PROCESS_ROLES).toBe('broker,controller');
    expect(kafka.environment.KAFKA_CONTROLLER_QUORUM_VOTERS).toBe('1@kafka:9093');
  });

  it('builds every app role from the one Dockerfile, after migrations', () => {
    for (const role of ['api', 'worker', 'relay']) {
      const service = compose.services[role];
      expect(service.build).toBe('.');
      expect(service.depends_on.migrate.condition).toBe('service_completed_successfully');
      const entry = service.command.at(-1);
      expect(existsSync(entry), `${role} entry ${entry}`).toBe(true);
    }
  });

  it('runs the relay against Apache Kafka, and the gateway simulator', () => {
    expect(compose.services.relay.environment.KAFKA_BROKERS).toBe('kafka:9092');
    expect(compose.services.relay.environment.KAFKA_COMPRESSION).toBe('gzip');
    expect(compose.services.relay.depends_on.kafka.condition).toBe('service_healthy');
    expect(compose.services['gateway-sim'].command.at(-1)).toBe('gateway-sim/main.ts');
  });

  it('has Prometheus scrape the api, the workers and the relay', () => {
    const prometheus = parse(readFileSync('ops/prometheus.yml', 'utf8'));
    const job = (name: string) =>
      prometheus.scrape_configs.find((c: { job_name: string }) => c.job_name === name);
    expect(job('api').static_configs[0].targets).toEqual(['api:8080']);
    expect(job('worker').dns_sd_configs[0]).toMatchObject({ names: ['worker'], port: 9464 });
    expect(job('relay').dns_sd_configs[0]).toMatchObject({ names: ['relay'], port: 9465 });
  });

  it.runIf(hasDockerCompose())('passes docker-compose config', () => {
    execFileSync('docker-compose', ['config', '-q'], { stdio: 'pipe' });
  });
});

function hasDockerCompose(): boolean {
  try {
    execFileSync('docker-compose', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
