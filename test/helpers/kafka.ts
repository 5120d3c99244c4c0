import net from 'node:net';
import { Kafka, logLevel } from 'kafkajs';
import { type LocalBroker, startLocalBroker } from '../../scripts/lib/local-broker.ts';
import { freePorts, waitFor } from './processes.ts';

/** A mokapi broker of the test's own, on free ports, loading docs/asyncapi.yaml. */
export async function startTestBroker(): Promise<LocalBroker> {
  // mokapi binds port 0 but neither reports the port nor advertises it (its metadata would name
  // port 0), so the ports are chosen first. They are free when chosen, not when mokapi binds them
  // (other test files run alongside): startLocalBroker proves it reached *our* broker, and a
  // collision just means new ports.
  for (let attempt = 1; ; attempt++) {
    const [port, apiPort] = await freePorts(2);
    try {
      return await startLocalBroker({ port: port as number, apiPort: apiPort as number });
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
}

export interface ConsumedMessage {
  topic: string;
  partition: number;
  offset: string;
  key: string;
  headers: Record<string, string>;
  value: {
    event_id: string;
    event_type: string;
    aggregate_id: string;
    version: number;
    [k: string]: unknown;
  };
}

/**
 * Reads both topics from the beginning with a fresh consumer group until `done(messages)` holds,
 * in partition order (which is what per-key order means).
 */
export async function consumeUntil(
  brokers: string,
  done: (messages: ConsumedMessage[]) => boolean,
  timeoutMs = 30_000,
): Promise<ConsumedMessage[]> {
  const deadline = Date.now() + timeoutMs;
  // A reader that loses the broker (a refused connection under load) starts over with a new group:
  // reading from the beginning again, it still sees every message.
  for (;;) {
    try {
      return await consumeOnce(brokers, done, Math.max(1000, deadline - Date.now()));
    } catch (err) {
      const refused = /ECONNREFUSED|Connection error|NumberOfRetriesExceeded/.test(
        String((err as Error)?.message ?? err),
      );
      if (!refused || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

async function consumeOnce(
  brokers: string,
  done: (messages: ConsumedMessage[]) => boolean,
  timeoutMs: number,
): Promise<ConsumedMessage[]> {
  const kafka = new Kafka({ clientId: 'test-reader', brokers: [brokers], logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({
    groupId: `test-${Math.random().toString(36).slice(2)}`,
    heartbeatInterval: 500,
  });
  const messages: ConsumedMessage[] = [];
  let crashed: unknown;
  consumer.on(consumer.events.CRASH, (e) => {
    crashed = e.payload.error;
  });
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: ['payments.events', 'wallets.events'], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        messages.push({
          topic,
          partition,
          offset: message.offset,
          key: message.key?.toString() ?? '',
          headers: Object.fromEntries(
            Object.entries(message.headers ?? {}).map(([k, v]) => [k, v?.toString() ?? '']),
          ),
          value: JSON.parse(message.value?.toString() ?? 'null'),
        });
      },
    });
    await waitFor(
      `Kafka messages (have ${messages.length})`,
      async () => crashed !== undefined || done(messages),
      timeoutMs,
      200,
    );
    if (crashed) throw crashed;
    return [...messages];
  } finally {
    await consumer.disconnect().catch(() => {});
  }
}

/** First delivery of each event_id, and how many deliveries were duplicates. */
export function dedupe(messages: ConsumedMessage[]) {
  const seen = new Map<string, ConsumedMessage>();
  for (const m of messages) if (!seen.has(m.value.event_id)) seen.set(m.value.event_id, m);
  return { unique: [...seen.values()], duplicates: messages.length - seen.size };
}

/** Per key, the versions in the order they were consumed (first deliveries only). */
export function versionsByKey(messages: ConsumedMessage[]): Map<string, number[]> {
  const byKey = new Map<string, number[]>();
  for (const m of dedupe(messages).unique) byKey.set(m.key, [...(byKey.get(m.key) ?? []), m.value.version]);
  return byKey;
}

/**
 * A request size limit in front of the test broker. mokapi 0.52 has no `message.max.bytes` (its
 * Kafka settings are retention, segment and group ones only), so this stands where Kafka's own
 * limit would: it forwards bytes both ways and closes the connection on a request larger than
 * `maxRequestBytes`, as a Kafka broker does for one over `socket.request.max.bytes`. Metadata
 * answers are rewritten to name the proxy, so a client that bootstraps through it also produces
 * through it.
 */
export interface SizeLimitedBroker {
  brokers: string;
  /** Requests refused (connection closed) for their size. */
  refused(): number;
  /**
   * The broker unreachable, as when it is stopped: every open connection is dropped and new ones
   * are closed at once, until `up()`. The broker itself keeps its messages (mokapi keeps them in
   * memory only, so stopping the real process would lose them).
   */
  down(): void;
  up(): void;
  stop(): Promise<void>;
}

const METADATA = 3;

export async function startSizeLimitedProxy(
  target: string,
  maxRequestBytes: number,
): Promise<SizeLimitedBroker> {
  const [host, portText] = target.split(':');
  const upstreamPort = Number(portText);
  const sockets = new Set<net.Socket>();
  let refused = 0;
  let proxyPort = 0;

  let unreachable = false;
  const server = net.createServer((client) => {
    if (unreachable) return void client.destroy();
    const upstream = net.connect({ host, port: upstreamPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on('error', close);
      s.on('close', close);
    }
    const metadataVersions = new Map<number, number>();
    readFrames(
      client,
      (size) => {
        if (size <= maxRequestBytes) return true;
        refused++;
        close();
        return false;
      },
      (frame) => {
        if (frame.readInt16BE(4) === METADATA)
          metadataVersions.set(frame.readInt32BE(8), frame.readInt16BE(6));
        upstream.write(frame);
      },
    );
    readFrames(
      upstream,
      () => true,
      (frame) => {
        const version = metadataVersions.get(frame.readInt32BE(4));
        if (version !== undefined) {
          metadataVersions.delete(frame.readInt32BE(4));
          rewriteBrokerPorts(frame, version, upstreamPort, proxyPort);
        }
        client.write(frame);
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxyPort = (server.address() as net.AddressInfo).port;
  return {
    brokers: `127.0.0.1:${proxyPort}`,
    refused: () => refused,
    down() {
      unreachable = true;
      for (const s of sockets) s.destroy();
    },
    up() {
      unreachable = false;
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Kafka framing: a 4-byte size, then that many bytes. `accept(size)` may refuse a frame early. */
function readFrames(socket: net.Socket, accept: (size: number) => boolean, onFrame: (frame: Buffer) => void) {
  let buffered = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 4) {
      const size = buffered.readInt32BE(0);
      if (!accept(size)) {
        buffered = Buffer.alloc(0);
        return;
      }
      if (buffered.length < 4 + size) return;
      onFrame(buffered.subarray(0, 4 + size));
      buffered = buffered.subarray(4 + size);
    }
  });
}

/** Metadata responses v0-v8 (kafkajs uses up to v6): brokers => node_id host port [rack]. */
function rewriteBrokerPorts(frame: Buffer, version: number, from: number, to: number) {
  if (version > 8) throw new Error(`metadata v${version} (flexible) is not supported by this proxy`);
  let at = 8 + (version >= 3 ? 4 : 0); // size, correlation id, throttle_time_ms
  const brokers = frame.readInt32BE(at);
  at += 4;
  for (let i = 0; i < brokers; i++) {
    at += 4; // node_id
    at += 2 + frame.readInt16BE(at); // host
    if (frame.readInt32BE(at) === from) frame.writeInt32BE(to, at);
    at += 4;
    if (version >= 1) at += 2 + Math.max(0, frame.readInt16BE(at)); // rack (nullable)
  }
}
