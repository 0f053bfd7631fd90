/**
 * Throughput: Checks per second of Gatehouse deciding the fixed request
 * against a 50-rule policy set, against a null ext_authz server on the same
 * grpc-js, both driven by h2load with the same pre-encoded request. Servers
 * run one after the other, alternating, pinned to the same core. Each
 * server's CPU time and RSS over the measured window come from /proc
 * (proc-stats.ts).
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectCheckClient, describeResponse, firstAnswer } from './check-client.js';
import { CHECK_PATH, EXPECTED_DEMO_POLICY, encodeFixedCheckRequest, grpcFrame } from './fixed-request.js';
import { DEMO_WORKLOADS, configYaml, demoPolicyFiles, writeGatehouseFixture } from './gatehouse-fixture.js';
import { h2loadArgs, runH2load } from './h2load.js';
import { throughputPolicies } from './policies.js';
import { GATEHOUSE_CLI, NULL_SERVER, cpuPlan, cpuProfileOptions, freePort, spawnServer } from './processes.js';
import { PROC_NOTE, cpuSecondsPerThousand, measureDuringLoad, mebibytes, usageCells, type ProcessUsage } from './proc-stats.js';
import { table, type BenchmarkReport } from './report.js';
import { formatNumber, formatRatio, formatSummary, summarize } from './stats.js';

export interface ThroughputOptions {
  readonly repetitions: number;
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  readonly clients: number;
  readonly streams: number;
  /** When set, Gatehouse runs with `--cpu-prof` and writes its profiles here. */
  readonly profileDir?: string;
}

export const THROUGHPUT_DEFAULTS: ThroughputOptions = { repetitions: 5, durationSeconds: 4, warmupSeconds: 1, clients: 4, streams: 16 };
const TARGET_RATIO = 0.9;
const RULES = 50;

type ServerKind = 'gatehouse' | 'null';

export async function runThroughput(options: ThroughputOptions, log: (line: string) => void): Promise<BenchmarkReport> {
  const cores = cpuPlan();
  const scratch = await mkdtemp(path.join(tmpdir(), 'gatehouse-bench-'));
  const message = encodeFixedCheckRequest();
  const bodyFile = path.join(scratch, 'check-request.grpc');
  await writeFile(bodyFile, grpcFrame(message));

  const demo = demoPolicyFiles();
  const configFile = await writePlainGatehouse();

  const rates: Record<ServerKind, number[]> = { gatehouse: [], null: [] };
  const usages: Record<ServerKind, ProcessUsage[]> = { gatehouse: [], null: [] };
  for (let repetition = 0; repetition < options.repetitions; repetition++) {
    const order: ServerKind[] = repetition % 2 === 0 ? ['null', 'gatehouse'] : ['gatehouse', 'null'];
    for (const kind of order) {
      const port = await freePort();
      const server =
        kind === 'gatehouse'
          ? spawnServer({
              script: GATEHOUSE_CLI,
              args: ['serve', '--config', configFile],
              core: cores.server,
              port,
              nodeOptions: cpuProfileOptions(options.profileDir),
            })
          : spawnServer({ script: NULL_SERVER, core: cores.server, port });
      try {
        await verify(kind, port, message);
        const [result, usage] = await Promise.all([
          runH2load({ port, path: CHECK_PATH, bodyFile, ...options, core: cores.load }),
          measureDuringLoad(server.pid, options.warmupSeconds, options.durationSeconds),
        ]);
        await verify(kind, port, message); // still answering correctly after the load
        rates[kind].push(result.requestsPerSecond);
        usages[kind].push(usage);
        log(
          `throughput ${kind} #${repetition + 1}: ${formatNumber(result.requestsPerSecond)} Checks/s (${result.succeeded} requests), ` +
            `${cpuSecondsPerThousand(usage, result.requestsPerSecond).toFixed(3)} CPU-s per 1,000, RSS ${mebibytes(usage.rssBytes)} MiB`,
        );
      } catch (error) {
        throw new Error(`${kind} server: ${(error as Error).message}\n${server.output()}`, { cause: error });
      } finally {
        await server.stop();
      }
    }
  }

  const gatehouse = summarize(rates.gatehouse);
  const baseline = summarize(rates.null);
  const ratio = gatehouse.median / baseline.median;
  const shownArgs = h2loadArgs({ port: 0, path: CHECK_PATH, bodyFile: 'check-request.grpc', ...options }).map((arg) =>
    /\s/.test(arg) ? `'${arg}'` : arg,
  );
  shownArgs[shownArgs.length - 1] = `http://127.0.0.1:$PORT${CHECK_PATH}`;
  const markdown = [
    table(
      ['server', 'Checks/s median (min–max)', 'runs'],
      [
        [`Gatehouse, ${RULES}-rule set + demo policies`, formatSummary(gatehouse), String(gatehouse.samples.length)],
        ['null ext_authz server (grpc-js, answers OK)', formatSummary(baseline), String(baseline.samples.length)],
        ['**ratio Gatehouse / null**', `**${formatRatio(ratio)}**`, ''],
      ],
    ),
    '',
    'What each server process used in the measured windows (read from /proc):',
    '',
    table(
      ['server', 'CPU-seconds per 1,000 Checks: median (min–max)', 'CPU, % of a core', 'RSS at the end, MiB', 'peak RSS (VmHWM), MiB'],
      (['gatehouse', 'null'] as const).map((kind) => [
        kind === 'gatehouse' ? 'Gatehouse (plain mTLS path)' : 'null ext_authz server',
        ...usageCells(usages[kind], rates[kind]),
      ]),
    ),
    '',
    `Command: \`npm run bench\`, or just this benchmark: \`npm run build && node dist/bench/run.js --only throughput\`.`,
    '',
    `- Load: \`h2load ${shownArgs.join(' ')}\` (h2load posts the file with -d), ${options.repetitions} runs per server, alternating, ${options.warmupSeconds} s warm-up + ${options.durationSeconds} s measured each.`,
    `- Cores: ${cores.note}.`,
    `- Request: one CheckRequest (${message.length} bytes): source principal \`spiffe://cluster.local/ns/default/sa/reminder\` → \`…/sa/todos\`, GET /todos/123?x=1, 15 Envoy-style headers; encoded with proto-loader from dist/gatehouse.binpb, framed as one gRPC message.`,
    `- Gatehouse: \`gatehouse serve\`, log level warn, ${RULES} ALLOW rules over distinct principals in 5 policies with selectors (two select \`app: todos\` and are visited without matching), plus ${demo.origin}.`,
    `- Checked before and after each timed run with a grpc-js client sending the same bytes: Gatehouse allows (gRPC status 0, ok_response) by \`${EXPECTED_DEMO_POLICY}\`; the null server answers status 0. h2load reported no failed requests and only HTTP 2xx.`,
    `- ${PROC_NOTE}`,
  ].join('\n');
  return {
    name: 'throughput',
    title: 'Throughput',
    targets: [
      { target: `throughput ≥ ${TARGET_RATIO}× the null ext_authz server`, result: formatRatio(ratio), met: ratio >= TARGET_RATIO },
    ],
    markdown,
  };
}

/**
 * Writes the configuration of the plain (mTLS principal) Check: the
 * throughput benchmark's 50-rule set plus the demo policies, log level
 * warn; returns the config file. Gatehouse allows the fixed request by
 * `EXPECTED_DEMO_POLICY`.
 */
export async function writePlainGatehouse(): Promise<string> {
  const extraApps = ['billing', 'search', 'notify', 'audit-log', 'export', 'profile'];
  const workloads = [...DEMO_WORKLOADS, ...extraApps.map((app) => ({ namespace: 'default', serviceAccount: app, app }))];
  return writeGatehouseFixture(configYaml(workloads, 'warn'), [...throughputPolicies(RULES), ...demoPolicyFiles().files]);
}

/** Throws unless the server gives the expected answer to the fixed request. */
async function verify(kind: ServerKind, port: number, message: Buffer): Promise<void> {
  const client = connectCheckClient(port);
  try {
    const answer = describeResponse(await firstAnswer(client, message));
    if (kind === 'null' && answer.code !== 0) throw new Error(`null server answered gRPC status ${answer.code}`);
    if (kind === 'gatehouse' && (!answer.allowed || answer.policy !== EXPECTED_DEMO_POLICY)) {
      throw new Error(`expected an allow by ${EXPECTED_DEMO_POLICY}, got status ${answer.code} (policy ${answer.policy ?? 'none'})`);
    }
  } finally {
    client.close();
  }
}
