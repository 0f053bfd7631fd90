/**
 * Cold start: from spawning the process to the first successful Check, for
 * Gatehouse on the todo demo configuration and for a naive grpc-js ext_authz
 * server that parses Envoy's .proto files at start. Runs alternate.
 */
import { existsSync } from 'node:fs';
import { connectCheckClient, describeResponse, firstAnswer } from './check-client.js';
import { EXPECTED_DEMO_POLICY, encodeFixedCheckRequest } from './fixed-request.js';
import { DEMO_CONFIG, DEMO_DIR, DEMO_WORKLOADS, configYaml, demoPolicyFiles, writeGatehouseFixture } from './gatehouse-fixture.js';
import { GATEHOUSE_CLI, NAIVE_SERVER, cpuPlan, freePort, spawnServer, type ServerCommand } from './processes.js';
import { table, type BenchmarkReport } from './report.js';
import { formatNumber, formatRatio, formatSummary, summarize } from './stats.js';
import path from 'node:path';

export interface ColdStartOptions {
  readonly runs: number;
}

export const COLD_START_DEFAULTS: ColdStartOptions = { runs: 11 };
const TARGET_MS = 200;

type ServerKind = 'gatehouse' | 'naive';

export async function runColdStart(options: ColdStartOptions, log: (line: string) => void): Promise<BenchmarkReport> {
  const cores = cpuPlan();
  const message = encodeFixedCheckRequest();
  const { configFile, configNote } = await demoConfig();
  const command = (kind: ServerKind, port: number): ServerCommand =>
    kind === 'gatehouse'
      ? { script: GATEHOUSE_CLI, args: ['serve', '--config', configFile], core: cores.server, port }
      : { script: NAIVE_SERVER, core: cores.server, port };

  const times: Record<ServerKind, number[]> = { gatehouse: [], naive: [] };
  // One unmeasured start of each first, so both find the files in the page cache.
  for (let run = -1; run < options.runs; run++) {
    const order: ServerKind[] = run % 2 === 0 ? ['naive', 'gatehouse'] : ['gatehouse', 'naive'];
    for (const kind of order) {
      const ms = await timeToFirstCheck(kind, command(kind, await freePort()), message);
      if (run >= 0) {
        times[kind].push(ms);
        log(`cold start ${kind} #${run + 1}: ${ms.toFixed(1)} ms`);
      }
    }
  }

  const gatehouse = summarize(times.gatehouse);
  const naive = summarize(times.naive);
  const markdown = [
    table(
      ['server', 'spawn → first successful Check, ms: median (min–max)', 'runs'],
      [
        ['Gatehouse (`gatehouse serve`, todo demo config)', formatSummary(gatehouse, 1), String(gatehouse.samples.length)],
        ["naive grpc-js server (`protoLoader.loadSync` of Envoy's .proto files)", formatSummary(naive, 1), String(naive.samples.length)],
        ['**ratio Gatehouse / naive**', `**${formatRatio(gatehouse.median / naive.median)}**`, ''],
      ],
    ),
    '',
    'Command: `npm run bench`, or just this benchmark: `npm run build && node dist/bench/run.js --only cold-start`.',
    '',
    `- Each run spawns \`node <server>\` (${cores.server === undefined ? 'unpinned' : `pinned with \`taskset -c ${cores.server}\``}) on a fresh port and starts the clock just before the spawn; a grpc-js client, created beforehand, sends the fixed CheckRequest with waitForReady and reconnects every 5 ms. The clock stops at the first answer with gRPC status 0 (Gatehouse: an allow by \`${EXPECTED_DEMO_POLICY}\`). The process is then stopped.`,
    `- ${options.runs} measured runs per server, alternating, after one unmeasured start of each.`,
    `- Gatehouse configuration: ${configNote}.`,
  ].join('\n');
  return {
    name: 'cold-start',
    title: 'Cold start',
    targets: [
      {
        target: `Gatehouse cold start ≤ ${TARGET_MS} ms median`,
        result: `${formatNumber(gatehouse.median, 1)} ms`,
        met: gatehouse.median <= TARGET_MS,
      },
    ],
    markdown,
  };
}

async function timeToFirstCheck(kind: ServerKind, command: ServerCommand, message: Buffer): Promise<number> {
  const client = connectCheckClient(command.port);
  const started = process.hrtime.bigint();
  const server = spawnServer(command);
  try {
    const answer = describeResponse(await firstAnswer(client, message, 20_000, 5));
    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
    if (answer.code !== 0) throw new Error(`answered gRPC status ${answer.code}`);
    if (kind === 'gatehouse' && answer.policy !== EXPECTED_DEMO_POLICY)
      throw new Error(`allowed by ${answer.policy ?? 'no policy'}, expected ${EXPECTED_DEMO_POLICY}`);
    return elapsedMs;
  } catch (error) {
    throw new Error(`${kind} server: ${(error as Error).message}\n${server.output()}`, { cause: error });
  } finally {
    client.close();
    await server.stop();
  }
}

/**
 * The demo configuration itself when its policies folder exists; otherwise
 * a copy of it next to the benchmark's copy of the demo policies.
 */
async function demoConfig(): Promise<{ configFile: string; configNote: string }> {
  if (existsSync(path.join(DEMO_DIR, 'policies')))
    return { configFile: DEMO_CONFIG, configNote: 'deploy/examples/todo/gatehouse.yaml as shipped (log level info, policy watch on)' };
  const demo = demoPolicyFiles();
  const configFile = await writeGatehouseFixture(configYaml(DEMO_WORKLOADS, 'info'), demo.files);
  return { configFile, configNote: `the demo config's settings (log level info, policy watch on) with ${demo.origin}` };
}
