import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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

  it('has Prometheus scrape the api, the workers and the relay, and load the alert rules it is given', () => {
    const prometheus = parse(readFileSync('ops/prometheus.yml', 'utf8'));
    const job = (name: string) =>
      prometheus.scrape_configs.find((c: { job_name: string }) => c.job_name === name);
    expect(job('api').static_configs[0].targets).toEqual(['api:8080']);
    expect(job('worker').dns_sd_configs[0]).toMatchObject({ names: ['worker'], port: 9464 });
    expect(job('relay').dns_sd_configs[0]).toMatchObject({ names: ['relay'], port: 9465 });
    // Rule files are relative to the configuration's directory, where compose mounts them too.
    const mounts = compose.services.prometheus.volumes as string[];
    for (const rules of prometheus.rule_files as string[]) {
      expect(existsSync(path.join('ops', rules)), rules).toBe(true);
      expect(mounts).toContain(`./ops/${path.dirname(rules)}:/etc/prometheus/${path.dirname(rules)}:ro`);
    }
  });

  it('has Grafana provisioned with Prometheus and the dashboards', () => {
    const grafana = compose.services.grafana;
    expect(grafana.image).toMatch(/^grafana\/grafana:/);
    expect(grafana.volumes).toEqual(
      expect.arrayContaining([
        './ops/grafana/provisioning:/etc/grafana/provisioning:ro',
        './ops/grafana/dashboards:/etc/grafana/dashboards:ro',
      ]),
    );
    const source = parse(readFileSync('ops/grafana/provisioning/datasources/prometheus.yml', 'utf8'));
    expect(source.datasources[0]).toMatchObject({ uid: 'prometheus', url: 'http://prometheus:9090' });
    const provider = parse(readFileSync('ops/grafana/provisioning/dashboards/wallet-payments.yml', 'utf8'));
    expect(provider.providers[0].options.path).toBe('/etc/grafana/dashboards');
  });

  it('takes every secret from the environment, required, and publishes none', () => {
    const raw = readFileSync('docker-compose.yml', 'utf8');
    const app = compose.services.api.environment;
    for (const name of SECRETS) expect(raw).toContain(`\${${name}:?`);
    expect(app.ADMIN_TOKEN).toMatch(/^\$\{ADMIN_TOKEN:\?/);
    expect(app.GATEWAY_ALPHA_SECRET).toMatch(/^\$\{GATEWAY_ALPHA_SECRET:\?/);
    expect(app.GATEWAY_BETA_SECRET).toMatch(/^\$\{GATEWAY_BETA_SECRET:\?/);
    expect(app.DATABASE_URL).toContain('${PAYMENTS_DB_PASSWORD:?');
    expect(compose.services.migrate.environment.DATABASE_URL).toBe(app.DATABASE_URL);
    expect(compose.services['gateway-sim'].environment.GATEWAY_ALPHA_SECRET).toBe(app.GATEWAY_ALPHA_SECRET);
    expect(compose.services.postgres.environment.POSTGRES_PASSWORD).toMatch(/^\$\{POSTGRES_PASSWORD:\?/);
    expect(compose.services.postgres.environment.PAYMENTS_DB_PASSWORD).toMatch(
      /^\$\{PAYMENTS_DB_PASSWORD:\?/,
    );
    expect(raw).not.toMatch(/change-me|payments:payments@|PASSWORD: postgres|dev-webhook-secret/);
    expect(compose.services['gateway-sim'].environment.GATEWAY_SIM_CONTROL_TOKEN).toMatch(
      /^\$\{GATEWAY_SIM_CONTROL_TOKEN:\?/,
    );
    expect(compose.services.grafana.environment.GF_SECURITY_ADMIN_PASSWORD).toMatch(
      /^\$\{GRAFANA_ADMIN_PASSWORD:\?/,
    );
  });

  it('checks the health of every long-running service; our image has no curl, so its roles use Node', () => {
    const longRunning = Object.entries<Record<string, any>>(compose.services).filter(
      ([, service]) => service.restart !== 'no',
    );
    expect(longRunning.length).toBeGreaterThanOrEqual(7);
    for (const [name, service] of longRunning) {
      expect(service.healthcheck?.test, `${name} healthcheck`).toBeInstanceOf(Array);
      if (service.image === 'wallet-payments:local')
        expect(service.healthcheck.test.slice(0, 3), name).toEqual(['CMD', 'node', '-e']);
    }
    const readyOn = (role: string, port: string) =>
      expect(compose.services[role].healthcheck.test.at(-1)).toContain(`:${port}/health/ready`);
    readyOn('api', compose.services.api.environment.PORT);
    readyOn('worker', compose.services.worker.environment.WORKER_METRICS_PORT);
    readyOn('relay', compose.services.relay.environment.RELAY_METRICS_PORT);
  });

  it('publishes no Postgres port: only the roles reach it, on the compose network', () => {
    expect(compose.services.postgres.ports).toBeUndefined();
  });

  it.runIf(hasDockerCompose())('passes docker-compose config with the secrets set', () => {
    execFileSync('docker-compose', ['--env-file', emptyEnvFile(), 'config', '-q'], {
      stdio: 'pipe',
      env: {
        ...process.env,
        ...Object.fromEntries(SECRETS.map((name) => [name, `${name.toLowerCase()}-0123456789abcdef`])),
      },
    });
  });

  it.runIf(hasDockerCompose())('refuses to start without them, naming the variable', () => {
    const env = { ...process.env };
    for (const name of SECRETS) delete env[name];
    const result = spawnSync('docker-compose', ['--env-file', emptyEnvFile(), 'config', '-q'], {
      env,
      encoding: 'utf8',
    });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(
      /ADMIN_TOKEN|GATEWAY_ALPHA_SECRET|GATEWAY_BETA_SECRET|POSTGRES_PASSWORD|PAYMENTS_DB_PASSWORD|GATEWAY_SIM_CONTROL_TOKEN|GRAFANA_ADMIN_PASSWORD/,
    );
  });
});

/** Given to docker-compose by the environment (or a .env file next to it): docs, README. */
const SECRETS = [
  'ADMIN_TOKEN',
  'GATEWAY_ALPHA_SECRET',
  'GATEWAY_BETA_SECRET',
  'POSTGRES_PASSWORD',
  'PAYMENTS_DB_PASSWORD',
  'GATEWAY_SIM_CONTROL_TOKEN',
  'GRAFANA_ADMIN_PASSWORD',
];

/** A .env file next to docker-compose.yml (a developer's) must not feed these runs. */
function emptyEnvFile(): string {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'compose-env-')), '.env');
  writeFileSync(file, '');
  return file;
}

function hasDockerCompose(): boolean {
  try {
    execFileSync('docker-compose', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
