import { type LocalBroker, startLocalBroker } from './local-broker.ts';
import { rssBytes } from './proc-memory.ts';

/**
 * The local broker as `npm start` runs it: started again when it exits, and when its memory passes
 * `maxRssMb`, restarted empty on the same port.
 *
 * Why a restart and not retention: mokapi (0.52) keeps every record in memory, about 16 KB each
 * with what its dashboard keeps, so its memory grows with the stream (370 MB to 1.98 GB in 6
 * minutes at 30 payments/s). Its retention settings do not bound that: measured with
 * log.roll.ms, log.retention.ms and log.retention.check.interval.ms set, the first deletion frees
 * the records, but from then on its partition keeps a segment it can no longer remove, whose
 * records are dropped for readers at every check (a consumer sees nothing older than the interval)
 * while their memory stays (docs/decisions.md). Its messages are in memory only anyway; after a
 * restart the topics start empty, and the relay, whose stream fails with the connection, goes on
 * from the last commit Kafka acknowledged (at least once: some events arrive twice).
 */
export interface SupervisedBroker {
  brokers: string;
  /** The running broker's pid, if one runs at the moment. */
  pid(): number | undefined;
  /**
   * From now on a broker that exits stays down: the system is stopping (Ctrl-C reaches the broker
   * too, being in the terminal's process group), and stop() comes once the roles are down.
   */
  stopRestarting(): void;
  stop(): Promise<void>;
}

export async function superviseLocalBroker(options: {
  port: number;
  apiPort: number;
  /** 0: no bound. */
  maxRssMb: number;
  say: (line: string) => void;
  checkEveryMs?: number;
}): Promise<SupervisedBroker> {
  const start = () => startLocalBroker({ port: options.port, apiPort: options.apiPort });
  let current: LocalBroker | undefined = await start();
  let startedAt = Date.now();
  /** Exits in a row, each within a minute of its start: a broker that keeps dying is not hammered. */
  let quickExits = 0;
  let stopping = false;
  let restarting: Promise<void> | undefined;

  const restart = (why: string, backoffMs = 0) => {
    if (restarting || stopping) return;
    options.say(backoffMs ? `${why} in ${backoffMs} ms` : why);
    restarting = (async () => {
      const old = current;
      current = undefined;
      await old?.stop();
      if (backoffMs) await new Promise((resolve) => setTimeout(resolve, backoffMs));
      for (let failures = 0; !stopping; failures += 1) {
        try {
          current = await start();
          startedAt = Date.now();
          watch(current);
          options.say(`the local broker is back (pid ${current.process.pid}); its topics start empty`);
          return;
        } catch (err) {
          const delay = Math.min(30_000, 1000 * 2 ** failures);
          options.say(
            `the local broker did not start (${(err as Error).message}); trying again in ${delay} ms`,
          );
          await new Promise((resolve) => setTimeout(resolve, delay));
        }
      }
    })().finally(() => {
      restarting = undefined;
    });
  };

  const watch = (broker: LocalBroker) => {
    broker.process.once('exit', (code, signal) => {
      if (stopping || current !== broker) return;
      quickExits = Date.now() - startedAt < 60_000 ? quickExits + 1 : 0;
      const backoffMs = quickExits > 1 ? Math.min(60_000, 1000 * 2 ** (quickExits - 2)) : 0;
      restart(`the local broker exited (${signal ?? code}); starting it again`, backoffMs);
    });
  };
  watch(current);

  const checker = setInterval(() => {
    const pid = current?.process.pid;
    if (!options.maxRssMb || pid === undefined) return;
    const rssMb = (rssBytes(pid) ?? 0) / 1024 / 1024;
    if (rssMb > options.maxRssMb)
      restart(
        `the local broker holds ${Math.round(rssMb)} MB, over LOCAL_KAFKA_MAX_MEMORY_MB=${options.maxRssMb}: restarting it (its messages are dropped)`,
      );
  }, options.checkEveryMs ?? 5000);
  checker.unref();

  return {
    brokers: `127.0.0.1:${options.port}`,
    pid: () => current?.process.pid,
    stopRestarting() {
      stopping = true;
      clearInterval(checker);
    },
    async stop() {
      stopping = true;
      clearInterval(checker);
      await restarting;
      await current?.stop();
    },
  };
}
