/**
 * Latency at fixed request rates: for the plain Check (an mTLS principal
 * against the throughput benchmark's policies) and the JWT L1-hit Check,
 * the maximum throughput Gatehouse reaches in a closed loop, then an open
 * loop at 25 %, 50 % and 75 % of it, Gatehouse and the null ext_authz server
 * at the same rates, one after the other. The open loop sends each Check at
 * its scheduled time and counts latency from then (load-generator.ts), so a
 * stall is not hidden by requests that were never sent.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { probeAnswer } from './check-client.js';
import { EXPECTED_DEMO_POLICY, encodeFixedCheckRequest } from './fixed-request.js';
import { EXPECTED_JWT_POLICY, encodeTokenCheckRequest, freshKeyPrefix, startTokenBench, writeTokenGatehouse } from './jwt-fixture.js';
import { signJwt, userClaims } from './jwt-tokens.js';
import { runLoadGenerator, writeBodies } from './load-client.js';
import type { OpenLoopResult } from './load-generator.js';
import { GATEHOUSE_CLI, NULL_SERVER, cpuPlan, freePort, spawnServer, type ServerProcess } from './processes.js';
import { cpuSecondsPerThousand, measureDuringLoad, type ProcessUsage } from './proc-stats.js';
import { table, type BenchmarkReport, type TargetOutcome } from './report.js';
import { formatNumber, percentile } from './stats.js';
import { writePlainGatehouse } from './throughput.js';

export interface LatencyOptions {
  /** Closed loop that finds the maximum throughput. */
  readonly closedWarmupSeconds: number;
  readonly closedSeconds: number;
  /** Each open-loop run: warm-up at the same rate (not recorded), then recorded. */
  readonly openWarmupSeconds: number;
  readonly openSeconds: number;
  /** Fractions of the maximum throughput the open loop runs at. */
  readonly fractions: readonly number[];
  readonly channels: number;
  readonly concurrency: number;
  readonly deadlineMs: number;
}

export const LATENCY_DEFAULTS: LatencyOptions = {
  closedWarmupSeconds: 1,
  closedSeconds: 3,
  openWarmupSeconds: 1,
  openSeconds: 5,
  fractions: [0.25, 0.5, 0.75],
  channels: 4,
  concurrency: 64,
  deadlineMs: 1000,
};

/** The target: p99 at half of the maximum throughput. */
const TARGET_FRACTION = 0.5;
const TARGET_P99_MS = 1;
const QUANTILES = [0.5, 0.9, 0.99, 0.999] as const;

type ServerKind = 'null' | 'gatehouse';

interface Scenario {
  readonly name: string;
  readonly label: string;
  readonly body: Buffer;
  readonly expectedPolicy: string;
  readonly configFile: string;
}

/** One open-loop run of one server at one rate. */
interface RateRun {
  readonly fraction: number;
  readonly rate: number;
  readonly kind: ServerKind;
  /** p50, p90, p99, p99.9 and max of the answered Checks, ms. */
  readonly quantilesMs: readonly number[];
  readonly maxMs: number;
  readonly errors: number;
  readonly wrong: number;
  readonly generatorCpuPercent: number;
  readonly usage: ProcessUsage;
}

interface ScenarioResult {
  readonly scenario: Scenario;
  readonly maximum: Record<ServerKind, number>;
  readonly runs: readonly RateRun[];
}

export async function runLatency(options: LatencyOptions, log: (line: string) => void): Promise<BenchmarkReport> {
  const cores = cpuPlan();
  const scratch = await mkdtemp(path.join(tmpdir(), 'gatehouse-bench-latency-'));
  const bench = await startTokenBench(cores.load);
  try {
    const scenarios: Scenario[] = [
      {
        name: 'plain',
        label: 'plain Check (mTLS principal, 50-rule set + demo policies)',
        body: encodeFixedCheckRequest(),
        expectedPolicy: EXPECTED_DEMO_POLICY,
        configFile: await writePlainGatehouse(),
      },
      {
        name: 'jwt-l1',
        label: 'JWT L1 hit (one ES256 token)',
        body: encodeTokenCheckRequest(signJwt(userClaims(bench.idp.url, 0), bench.keys.ES256)),
        expectedPolicy: EXPECTED_JWT_POLICY,
        configFile: await writeTokenGatehouse(bench, { redisUrl: bench.redis.url, keyPrefix: freshKeyPrefix('latency') }),
      },
    ];
    const results: ScenarioResult[] = [];
    for (const scenario of scenarios) results.push(await runScenario(scenario, scratch, options, cores, log));
    return report(results, options, cores.note);
  } finally {
    await bench.close();
  }
}

async function runScenario(
  scenario: Scenario,
  scratch: string,
  options: LatencyOptions,
  cores: ReturnType<typeof cpuPlan>,
  log: (line: string) => void,
): Promise<ScenarioResult> {
  const bodiesFile = path.join(scratch, `${scenario.name}.bodies`);
  await writeBodies(bodiesFile, [scenario.body]);
  const servers: Record<ServerKind, ServerProcess> = {
    null: spawnServer({ script: NULL_SERVER, core: cores.server, port: await freePort() }),
    gatehouse: spawnServer({
      script: GATEHOUSE_CLI,
      args: ['serve', '--config', scenario.configFile],
      core: cores.server,
      port: await freePort(),
    }),
  };
  let kind: ServerKind = 'null';
  try {
    for (kind of ['null', 'gatehouse'] as const) await probeAnswer(kind, servers[kind].port, scenario.body, scenario.expectedPolicy);

    const maximum: Record<ServerKind, number> = { null: 0, gatehouse: 0 };
    for (kind of ['null', 'gatehouse'] as const) {
      const result = await runLoadGenerator(
        {
          mode: 'closed',
          port: servers[kind].port,
          bodiesFile,
          channels: options.channels,
          concurrency: options.concurrency,
          warmupSeconds: options.closedWarmupSeconds,
          durationSeconds: options.closedSeconds,
          cycle: true,
          expect: kind === 'gatehouse' ? 'allow' : 'status-ok',
        },
        cores.load,
      );
      if (result.unexpected > 0 || result.errors > 0)
        throw new Error(`closed loop: ${result.unexpected} unexpected answers, ${result.errors} errors: ${result.examples.join('; ')}`);
      maximum[kind] = result.perSecond;
      log(`latency ${scenario.name} ${kind}: maximum ${formatNumber(result.perSecond)} Checks/s (closed loop)`);
    }

    const runs: RateRun[] = [];
    for (const [index, fraction] of options.fractions.entries()) {
      const rate = Math.max(1, Math.round(maximum.gatehouse * fraction));
      const sequenceFile = path.join(scratch, `${scenario.name}-${rate}.sequence.json`);
      await writeFile(sequenceFile, JSON.stringify(new Array<number>(rate * options.openSeconds).fill(0)));
      const order: ServerKind[] = index % 2 === 0 ? ['null', 'gatehouse'] : ['gatehouse', 'null'];
      for (kind of order) {
        const usage = measureDuringLoad(servers[kind].pid, options.openWarmupSeconds, options.openSeconds);
        usage.catch(() => undefined); // read below; a failed run reports its own error instead
        const result = await runLoadGenerator(
          {
            mode: 'open',
            port: servers[kind].port,
            bodiesFile,
            sequenceFile,
            expected: ['allow'],
            ratePerSecond: rate,
            deadlineMs: options.deadlineMs,
            channels: options.channels,
            warmupSeconds: options.openWarmupSeconds,
            warmupBodies: [0],
          },
          cores.load,
        );
        const run = summarizeRun(result, fraction, rate, kind, await usage);
        runs.push(run);
        log(
          `latency ${scenario.name} ${kind} at ${formatNumber(rate)}/s: p50 ${run.quantilesMs[0]?.toFixed(2)} ms, p99 ${run.quantilesMs[2]?.toFixed(2)} ms, ` +
            `max ${run.maxMs.toFixed(1)} ms, ${run.errors} errors, ${run.wrong} wrong, generator CPU ${run.generatorCpuPercent.toFixed(0)} %`,
        );
      }
    }
    for (kind of ['null', 'gatehouse'] as const) await probeAnswer(kind, servers[kind].port, scenario.body, scenario.expectedPolicy);
    return { scenario, maximum, runs };
  } catch (error) {
    throw new Error(`latency ${scenario.name}, ${kind} server: ${(error as Error).message}\n${servers[kind].output()}`, { cause: error });
  } finally {
    await Promise.all([servers.null.stop(), servers.gatehouse.stop()]);
  }
}

function summarizeRun(result: OpenLoopResult, fraction: number, rate: number, kind: ServerKind, usage: ProcessUsage): RateRun {
  const answered = result.latencies.filter((_, i) => result.outcomes[i] !== 2).sort((a, b) => a - b);
  return {
    fraction,
    rate,
    kind,
    quantilesMs: QUANTILES.map((q) => percentile(answered, q)),
    maxMs: answered[answered.length - 1] ?? Number.NaN,
    errors: result.outcomes.filter((outcome) => outcome === 2).length + result.warmupProblems,
    wrong: result.outcomes.filter((outcome) => outcome === 1).length,
    generatorCpuPercent: result.cpuPercent,
    usage,
  };
}

function report(results: readonly ScenarioResult[], options: LatencyOptions, coresNote: string): BenchmarkReport {
  const targets: TargetOutcome[] = [];
  const sections = results.flatMap(({ scenario, maximum, runs }) => {
    const atTarget = runs.find((run) => run.kind === 'gatehouse' && run.fraction === TARGET_FRACTION);
    if (atTarget !== undefined) {
      const p99 = atTarget.quantilesMs[2] ?? Number.NaN;
      targets.push({
        target: `p99 ≤ ${TARGET_P99_MS} ms at half of the maximum throughput (${scenario.label.split(' (')[0]})`,
        result: `${p99.toFixed(2)} ms at ${formatNumber(atTarget.rate)} Checks/s (null server: ${(
          runs.find((run) => run.kind === 'null' && run.fraction === TARGET_FRACTION)?.quantilesMs[2] ?? Number.NaN
        ).toFixed(2)} ms)`,
        met: p99 <= TARGET_P99_MS && atTarget.errors === 0 && atTarget.wrong === 0,
      });
    }
    return [
      `### ${scenario.label}`,
      '',
      `Maximum throughput (closed loop): Gatehouse **${formatNumber(maximum.gatehouse)}** Checks/s, null server ${formatNumber(maximum.null)} Checks/s; the rates below are fractions of Gatehouse's.`,
      '',
      table(
        [
          'rate, Checks/s',
          'of max',
          'server',
          'p50 ms',
          'p90 ms',
          'p99 ms',
          'p99.9 ms',
          'max ms',
          'errors / wrong',
          'server CPU-s per 1,000',
          'generator CPU',
        ],
        runs.map((run) => [
          formatNumber(run.rate),
          `${Math.round(run.fraction * 100)} %`,
          run.kind === 'gatehouse' ? 'Gatehouse' : 'null server',
          ...run.quantilesMs.map((value) => value.toFixed(2)),
          run.maxMs.toFixed(1),
          `${run.errors} / ${run.wrong}`,
          cpuSecondsPerThousand(run.usage, run.rate).toFixed(3),
          `${run.generatorCpuPercent.toFixed(0)} %`,
        ]),
      ),
      '',
    ];
  });
  const markdown = [
    ...sections,
    'Command: `npm run bench`, or just this benchmark: `npm run build && node dist/bench/run.js --only latency`.',
    '',
    `- Maximum throughput: bench/load-generator.ts in a closed loop (${options.channels} HTTP/2 connections, ${options.concurrency} Checks in flight, one body), ${options.closedWarmupSeconds} s warm-up + ${options.closedSeconds} s measured, against each server. The generator is a Node process on one core and is slower than h2load: this maximum is what it can drive, below what h2load reaches in the Throughput section, so the rates stay within what the same generator can send on time.`,
    `- Open loop: the same generator at a fixed rate over ${options.channels} connections, ${options.openWarmupSeconds} s of warm-up at that rate (not recorded), then ${options.openSeconds} s recorded; each Check is sent at its scheduled time whatever earlier ones are doing, and its latency counts from that time (no coordinated omission), so the generator's own delays count too: the null server's row at the same rate shows them. Every answer is decoded and must be an allow; gRPC deadline ${formatNumber(options.deadlineMs)} ms. Errors are gRPC errors and deadlines (warm-up included), wrong = any other answer.`,
    '- Percentiles: nearest rank over the answered Checks of the recorded part. Server CPU-s per 1,000 Checks from /proc as in the Throughput section, over the recorded part, at the fixed rate.',
    `- Servers: one Gatehouse and one null server per scenario, both pinned to the same core and kept for all of the scenario's runs (the idle one uses nothing); rates in ascending order, servers alternating. Checked with a grpc-js client before and after. Cores: ${coresNote}.`,
    "- Plain: the throughput benchmark's request and configuration (allowed by `default/todos-viewer-allow`). JWT L1 hit: the JWT throughput benchmark's configuration, with Redis, and one ES256 token (allowed by `default/todos-users`), verified once before, so every Check is an L1 hit.",
  ].join('\n');
  return { name: 'latency', title: 'Latency at fixed rates', targets, markdown };
}
