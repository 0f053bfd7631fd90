/**
 * Heap allocation per Check: the bytes V8 allocates, and the bytes it
 * promotes to the old generation, for each answered Check. Unlike a
 * latency, these barely depend on how busy the machine is, so a change to the
 * Check path shows here even where the latency benchmark's tail is noise; and
 * they are what sets how often the garbage collector pauses a server (see the
 * Latency section's analysis).
 *
 * Read from V8 itself: each server runs with `--trace-gc-nvp`, which prints,
 * for every collection, the bytes allocated since the one before and the
 * bytes promoted by it. A server answers N₁ Checks in one process and N₂ in
 * another; the difference of the sums over (N₂ − N₁) leaves out what start-up
 * and the first Check allocate.
 */
import { execFile } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { probeAnswer } from './check-client.js';
import { CHECK_PATH, EXPECTED_DEMO_POLICY, encodeFixedCheckRequest, grpcFrame } from './fixed-request.js';
import { H2LOAD } from './h2load.js';
import { EXPECTED_JWT_POLICY, encodeTokenCheckRequest, freshKeyPrefix, startTokenBench, writeTokenGatehouse } from './jwt-fixture.js';
import { signJwt, userClaims } from './jwt-tokens.js';
import { GATEHOUSE_CLI, H2_FLOOR_SERVER, NULL_SERVER, cpuPlan, freePort, pinned, spawnProgram } from './processes.js';
import { table, type BenchmarkReport } from './report.js';
import { formatNumber } from './stats.js';
import { writePlainGatehouse } from './throughput.js';

const run = promisify(execFile);

export interface AllocationOptions {
  /** Checks answered by the short and the long process; their difference is what is measured. */
  readonly shortChecks: number;
  readonly longChecks: number;
  /** h2load connections and streams in flight per connection (a closed loop, as in the Throughput section). */
  readonly clients: number;
  readonly streams: number;
}

export const ALLOCATION_DEFAULTS: AllocationOptions = { shortChecks: 20_000, longChecks: 120_000, clients: 4, streams: 16 };

interface Subject {
  readonly label: string;
  readonly args: readonly string[];
  /** Gatehouse must allow by this policy; the others answer gRPC status 0. */
  readonly expectedPolicy?: string;
  readonly body: Buffer;
}

interface Measured {
  readonly subject: Subject;
  readonly allocatedPerCheck: number;
  readonly promotedPerCheck: number;
}

/** Sums of what `--trace-gc-nvp` printed: bytes allocated and promoted over a process's life. */
export function sumGcTrace(text: string): { allocated: number; promoted: number } {
  let allocated = 0;
  let promoted = 0;
  for (const line of text.split('\n')) {
    if (!line.includes(' gc=')) continue;
    allocated += Number(/ allocated=(\d+)/.exec(line)?.[1] ?? 0);
    promoted += Number(/ promoted=(\d+)/.exec(line)?.[1] ?? 0);
  }
  return { allocated, promoted };
}

export async function runAllocation(options: AllocationOptions, log: (line: string) => void): Promise<BenchmarkReport> {
  const cores = cpuPlan();
  const scratch = await mkdtemp(path.join(tmpdir(), 'gatehouse-bench-allocation-'));
  const bench = await startTokenBench(cores.load);
  try {
    const plain = encodeFixedCheckRequest();
    const token = encodeTokenCheckRequest(signJwt(userClaims(bench.idp.url, 0), bench.keys.ES256));
    const subjects: Subject[] = [
      { label: 'node:http2 floor', args: [H2_FLOOR_SERVER], body: plain },
      { label: 'null server', args: [NULL_SERVER], body: plain },
      {
        label: 'Gatehouse, plain Check',
        args: [GATEHOUSE_CLI, 'serve', '--config', await writePlainGatehouse()],
        expectedPolicy: EXPECTED_DEMO_POLICY,
        body: plain,
      },
      {
        label: 'Gatehouse, JWT L1 hit',
        args: [
          GATEHOUSE_CLI,
          'serve',
          '--config',
          await writeTokenGatehouse(bench, { redisUrl: bench.redis.url, keyPrefix: freshKeyPrefix('allocation') }),
        ],
        expectedPolicy: EXPECTED_JWT_POLICY,
        body: token,
      },
    ];
    const results: Measured[] = [];
    for (const subject of subjects) {
      const bodyFile = path.join(scratch, 'request.grpc');
      await writeFile(bodyFile, grpcFrame(subject.body));
      const short = await traceOneProcess(subject, options.shortChecks, bodyFile, scratch, options, cores);
      const long = await traceOneProcess(subject, options.longChecks, bodyFile, scratch, options, cores);
      const checks = options.longChecks - options.shortChecks;
      const measured = {
        subject,
        allocatedPerCheck: (long.allocated - short.allocated) / checks,
        promotedPerCheck: (long.promoted - short.promoted) / checks,
      };
      results.push(measured);
      log(
        `allocation ${subject.label}: ${formatNumber(Math.round(measured.allocatedPerCheck))} B allocated, ` +
          `${formatNumber(Math.round(measured.promotedPerCheck))} B promoted per Check`,
      );
    }
    return report(results, options, cores.note);
  } finally {
    await bench.close();
  }
}

/** One server process answering `checks` Checks under `--trace-gc-nvp`; its GC sums. */
async function traceOneProcess(
  subject: Subject,
  checks: number,
  bodyFile: string,
  scratch: string,
  options: AllocationOptions,
  cores: ReturnType<typeof cpuPlan>,
): Promise<{ allocated: number; promoted: number }> {
  const port = await freePort();
  const traceFile = path.join(scratch, 'gc-trace.txt');
  // the trace runs to megabytes: straight to a file, not through a pipe kept in memory
  const fd = openSync(traceFile, 'w');
  const server = spawnProgram(process.execPath, ['--trace-gc-nvp', ...subject.args], { core: cores.server, port, stdio: fd });
  closeSync(fd);
  try {
    await probeAnswer(subject.expectedPolicy === undefined ? 'null' : 'gatehouse', port, subject.body, subject.expectedPolicy ?? '');
    const [file, args] = pinned(cores.load, H2LOAD, [
      '-n',
      String(checks),
      '-c',
      String(options.clients),
      '-m',
      String(options.streams),
      '-d',
      bodyFile,
      '-H',
      'content-type: application/grpc',
      '-H',
      'te: trailers',
      `http://127.0.0.1:${port}${CHECK_PATH}`,
    ]);
    const { stdout } = await run(file, args, { maxBuffer: 16 * 2 ** 20 });
    if (!new RegExp(`requests: ${checks} total, ${checks} started, ${checks} done, ${checks} succeeded`).test(stdout)) {
      throw new Error(`h2load did not get ${checks} answers from ${subject.label}:\n${stdout}`);
    }
  } finally {
    await server.stop();
  }
  return sumGcTrace(await readFile(traceFile, 'utf8'));
}

function report(results: readonly Measured[], options: AllocationOptions, coresNote: string): BenchmarkReport {
  const floor = results.find((result) => result.subject.label === 'node:http2 floor');
  const markdown = [
    table(
      ['server', 'allocated per Check, bytes', 'over the node:http2 floor', 'promoted per Check, bytes'],
      results.map((result) => [
        result.subject.label,
        formatNumber(Math.round(result.allocatedPerCheck)),
        floor === undefined || result === floor ? '' : `+${formatNumber(Math.round(result.allocatedPerCheck - floor.allocatedPerCheck))}`,
        formatNumber(Math.round(result.promotedPerCheck)),
      ]),
    ),
    '',
    'Command: `npm run bench`, or just this benchmark: `npm run build && node dist/bench/run.js --only allocation`.',
    '',
    `- Each server answers ${formatNumber(options.shortChecks)} Checks in one process and ${formatNumber(options.longChecks)} in another, under \`node --trace-gc-nvp\`; per Check = the difference of the two processes' sums of \`allocated=\` (bytes allocated since the previous collection) and \`promoted=\` (bytes a collection moved to the old generation), divided by ${formatNumber(options.longChecks - options.shortChecks)}. Start-up and the first Check fall out of the difference.`,
    `- Load: \`h2load -n <N> -c ${options.clients} -m ${options.streams}\` with the Check's bytes, a closed loop as in the Throughput section. Allocation depends on the work alone; promotion also on how many Checks are in flight when a scavenge runs, so it moves with load and machine.`,
    '- Servers: the node:http2 floor and the null server as in the Latency section; Gatehouse with the plain configuration and with the JWT configuration (one ES256 token, every Check after the probe an L1 hit), as in the Latency section.',
    `- Cores: ${coresNote}.`,
  ].join('\n');
  return { name: 'allocation', title: 'Heap allocation per Check', targets: [], markdown };
}
