/**
 * A closed-loop HTTPS load client for the token-exchange and Kubernetes
 * webhook benchmarks, run as its own process (pinned to the load core):
 * `concurrency` requests in flight over keep-alive connections with a client
 * certificate, each POSTing the next body of a file (one per line). Without `cycle`, every body is
 * sent at most once, so distinct subject tokens really are distinct; running
 * out is an error.
 *
 *   node dist/bench/exchange-load.js '<ExchangeLoadSpec as JSON>'
 *
 * Prints one JSON line, an {@link ExchangeLoadResult}.
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';

export interface ExchangeLoadSpec {
  readonly url: string;
  readonly bodiesFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
  readonly connections: number;
  readonly concurrency: number;
  readonly warmupSeconds: number;
  readonly durationSeconds: number;
  readonly cycle: boolean;
  /** Default: a form (`application/x-www-form-urlencoded`). */
  readonly contentType?: string;
}

export interface ExchangeLoadResult {
  /** 200 answers per second in the measured window. */
  readonly rate: number;
  /** Answers in the measured window, by HTTP status. */
  readonly statuses: Record<string, number>;
  readonly errors: number;
  /** Bodies sent in all, warm-up included. */
  readonly sent: number;
  readonly exhausted: boolean;
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '') as ExchangeLoadSpec;
  const bodies = readFileSync(spec.bodiesFile, 'utf8').split('\n').filter(Boolean);
  const agent = new Agent({
    keepAlive: true,
    maxSockets: spec.connections,
    cert: readFileSync(spec.certFile),
    key: readFileSync(spec.keyFile),
    ca: readFileSync(spec.caFile),
  });
  const statuses: Record<string, number> = {};
  let [sent, errors, exhausted, counting, stopped] = [0, 0, false, false, false];

  const post = (body: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const call = request(
        spec.url,
        {
          method: 'POST',
          agent,
          headers: { 'content-type': spec.contentType ?? 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
        },
        (response) => {
          response.resume();
          response.on('end', () => resolve(response.statusCode ?? 0));
        },
      );
      call.on('error', reject);
      call.end(body);
    });

  const worker = async (): Promise<void> => {
    while (!stopped) {
      if (!spec.cycle && sent >= bodies.length) {
        exhausted = true;
        return;
      }
      const body = bodies[sent++ % bodies.length] as string;
      const wasCounting = counting;
      try {
        const status = await post(body);
        if (wasCounting && counting) statuses[status] = (statuses[status] ?? 0) + 1;
      } catch {
        if (wasCounting && counting) errors++;
      }
    }
  };

  const workers = Array.from({ length: spec.concurrency }, () => worker());
  await new Promise((resolve) => setTimeout(resolve, spec.warmupSeconds * 1000));
  counting = true;
  const start = process.hrtime.bigint();
  await new Promise((resolve) => setTimeout(resolve, spec.durationSeconds * 1000));
  counting = false;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  stopped = true;
  await Promise.all(workers);
  agent.destroy();
  const result: ExchangeLoadResult = { rate: (statuses['200'] ?? 0) / seconds, statuses, errors, sent, exhausted };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`exchange-load: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
