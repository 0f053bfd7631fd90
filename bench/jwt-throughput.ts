/**
 * JWT throughput: Checks per second of Gatehouse deciding requests that carry
 * a bearer token (RequestAuthentication + an ALLOW policy requiring a request
 * principal), against the null ext_authz server driven by the same load
 * generator with the same bodies, alternating, pinned like the throughput
 * benchmark. Scenarios:
 *
 * - L1 hit: one ES256 token on every request (h2load, and load-generator.js as a cross-check);
 * - L2 hit: 4,000 distinct ES256 tokens verified once beforehand, Gatehouse
 *   with `jwt.cache.l1MaxEntries: 1`, so every Check misses L1 and reads Redis;
 * - miss: a distinct fresh token on every Check (RS256, ES256, EdDSA), a fresh
 *   Gatehouse process and Redis key prefix per run.
 *
 * Redis's own counters (GET hits and misses, SET calls) show which tier answered.
 * Each server's CPU time and RSS over the measured window come from /proc
 * (proc-stats.ts).
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectCheckClient, firstAnswer, probeAnswer } from './check-client.js';
import { CHECK_PATH, grpcFrame } from './fixed-request.js';
import { runH2load } from './h2load.js';
import {
  EXPECTED_JWT_POLICY,
  counterDelta,
  countTokenKeys,
  encodeTokenCheckRequest,
  freshKeyPrefix,
  redisCounters,
  startTokenBench,
  writeTokenGatehouse,
  type RedisCounters,
  type TokenBench,
} from './jwt-fixture.js';
import { signJwt, TOKEN_ALGORITHMS, userClaims, type TokenAlgorithm } from './jwt-tokens.js';
import { runLoadGenerator, writeBodies } from './load-client.js';
import type { ClosedLoopResult } from './load-generator.js';
import { GATEHOUSE_CLI, NULL_SERVER, cpuPlan, cpuProfileOptions, freePort, spawnServer, type ServerProcess } from './processes.js';
import { PROC_NOTE, cpuSecondsPerThousand, measureDuringLoad, usageCells, type ProcessUsage } from './proc-stats.js';
import { table, type BenchmarkReport, type TargetOutcome } from './report.js';
import { formatNumber, formatRatio, formatSummary, summarize, type Summary } from './stats.js';

export interface JwtThroughputOptions {
  readonly repetitions: number;
  readonly warmupSeconds: number;
  readonly durationSeconds: number;
  /** Distinct ES256 tokens in L2 for the L2-hit scenario. */
  readonly l2Tokens: number;
  /** Distinct tokens per algorithm for the miss scenarios: more than one run can send. */
  readonly missTokens: number;
  /** load-generator.js: HTTP/2 connections and calls in flight (h2load: the same, -c and -c×-m). */
  readonly channels: number;
  readonly concurrency: number;
  readonly profileDir?: string;
}

export const JWT_THROUGHPUT_DEFAULTS: JwtThroughputOptions = {
  repetitions: 3,
  warmupSeconds: 1,
  durationSeconds: 2,
  l2Tokens: 4000,
  missTokens: 36_000,
  channels: 4,
  concurrency: 64,
};

type ScenarioName = 'l1-h2load' | 'l1' | 'l2' | `miss-${TokenAlgorithm}`;

interface Scenario {
  readonly name: ScenarioName;
  readonly label: string;
  readonly generator: 'h2load' | 'load-generator.js';
  /** Bodies file, and the body every probe sends (never one of the measured bodies, for misses). */
  readonly bodiesFile: string;
  readonly probe: Buffer;
  readonly distinctBodies: number;
  /** Gatehouse set-up per run. */
  readonly l1MaxEntries?: number;
  readonly keyPrefix: () => string;
  readonly target?: number;
}

interface RunRecord {
  readonly rate: number;
  readonly cpuPercent?: number;
  readonly answered: number;
  readonly unexpected: number;
  readonly errors: number;
  readonly redis?: RedisCounters;
  readonly distinctSent?: number;
  readonly usage: ProcessUsage;
}

/** The hit path's CPU budget: CPU-seconds per 1,000 JWT L1-hit Checks (h2load). */
const HIT_PATH_CPU_TARGET = 0.09;

export async function runJwtThroughput(options: JwtThroughputOptions, log: (line: string) => void): Promise<BenchmarkReport> {
  const cores = cpuPlan();
  const scratch = await mkdtemp(path.join(tmpdir(), 'gatehouse-bench-jwt-'));
  const bench = await startTokenBench(cores.load);
  try {
    const scenarios = await prepareScenarios(bench, scratch, options, log);
    const runs = new Map<ScenarioName, { gatehouse: RunRecord[]; null: RunRecord[] }>();
    for (const scenario of scenarios) runs.set(scenario.name, { gatehouse: [], null: [] });

    for (let repetition = 0; repetition < options.repetitions; repetition++) {
      for (const scenario of scenarios) {
        const order: ('null' | 'gatehouse')[] = repetition % 2 === 0 ? ['null', 'gatehouse'] : ['gatehouse', 'null'];
        for (const kind of order) {
          const record = await timedRun(kind, scenario, bench, options, cores);
          runs.get(scenario.name)?.[kind].push(record);
          log(
            `jwt-throughput ${scenario.name} ${kind} #${repetition + 1}: ${formatNumber(record.rate)} Checks/s` +
              `, ${cpuSecondsPerThousand(record.usage, record.rate).toFixed(3)} CPU-s per 1,000` +
              (record.cpuPercent === undefined ? '' : `, generator CPU ${record.cpuPercent.toFixed(0)} %`) +
              (record.redis ? `, Redis GET hits ${record.redis.getHits} misses ${record.redis.getMisses} SET ${record.redis.sets}` : ''),
          );
        }
      }
    }
    return report(scenarios, runs, options, cores.note);
  } finally {
    await bench.close();
  }
}

async function prepareScenarios(
  bench: TokenBench,
  scratch: string,
  options: JwtThroughputOptions,
  log: (line: string) => void,
): Promise<Scenario[]> {
  const issuer = bench.idp.url;
  let n = 0;
  const token = (alg: TokenAlgorithm) => signJwt(userClaims(issuer, n++), bench.keys[alg]);
  const bodiesFile = async (name: string, bodies: Buffer[]) => {
    const file = path.join(scratch, `${name}.bodies`);
    await writeBodies(file, bodies);
    return file;
  };

  const l1Body = encodeTokenCheckRequest(token('ES256'));
  const l1Frame = path.join(scratch, 'l1.grpc');
  await writeFile(l1Frame, grpcFrame(l1Body));
  const l1 = { probe: l1Body, distinctBodies: 1, keyPrefix: () => freshKeyPrefix('l1') };

  const l2Prefix = freshKeyPrefix('l2');
  const l2Bodies = Array.from({ length: options.l2Tokens }, () => encodeTokenCheckRequest(token('ES256')));
  const l2File = await bodiesFile('l2', l2Bodies);
  await fillL2(bench, l2File, l2Prefix, options.l2Tokens, log);

  const scenarios: Scenario[] = [
    { name: 'l1-h2load', label: 'L1 hit: one ES256 token', generator: 'h2load', bodiesFile: l1Frame, ...l1, target: 0.9 },
    { name: 'l1', label: 'L1 hit: one ES256 token', generator: 'load-generator.js', bodiesFile: await bodiesFile('l1', [l1Body]), ...l1 },
    {
      name: 'l2',
      label: `L2 hit: ${formatNumber(options.l2Tokens)} ES256 tokens, l1MaxEntries 1`,
      generator: 'load-generator.js',
      bodiesFile: l2File,
      probe: encodeTokenCheckRequest(token('ES256')),
      distinctBodies: options.l2Tokens,
      l1MaxEntries: 1,
      keyPrefix: () => l2Prefix,
      target: 0.75,
    },
  ];
  for (const alg of TOKEN_ALGORITHMS) {
    const started = Date.now();
    const bodies = Array.from({ length: options.missTokens }, () => encodeTokenCheckRequest(token(alg)));
    log(`jwt-throughput: signed ${formatNumber(options.missTokens)} ${alg} tokens in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    scenarios.push({
      name: `miss-${alg}`,
      label: `miss: a fresh ${alg} token every Check`,
      generator: 'load-generator.js',
      bodiesFile: await bodiesFile(`miss-${alg}`, bodies),
      probe: encodeTokenCheckRequest(token(alg)),
      distinctBodies: options.missTokens,
      keyPrefix: () => freshKeyPrefix(`miss-${alg.toLowerCase()}`),
      ...(alg === 'RS256' ? { target: 0.5 } : {}),
    });
  }
  return scenarios;
}

/** Verifies every L2 token once through a Gatehouse, so Redis holds them all; checks that it does. */
async function fillL2(bench: TokenBench, bodiesFile: string, keyPrefix: string, count: number, log: (line: string) => void) {
  const configFile = await writeTokenGatehouse(bench, { redisUrl: bench.redis.url, keyPrefix, l1MaxEntries: 1 });
  const server = spawnServer({ script: GATEHOUSE_CLI, args: ['serve', '--config', configFile], port: await freePort() });
  const client = connectCheckClient(server.port);
  try {
    await firstAnswer(client, encodeTokenCheckRequest(undefined));
    const pass = await runLoadGenerator(
      {
        mode: 'closed',
        port: server.port,
        bodiesFile,
        channels: 1,
        concurrency: 16,
        warmupSeconds: 0,
        durationSeconds: 120,
        cycle: false,
        expect: 'allow',
      },
      undefined,
    );
    if (pass.unexpected > 0 || pass.errors > 0) throw new Error(`L2 warm-up pass: ${pass.examples.join('; ')}`);
    const deadline = Date.now() + 5000;
    let stored = 0;
    while ((stored = await countTokenKeys(bench.inspector, keyPrefix)) < count && Date.now() < deadline) await sleep(50);
    if (stored !== count) throw new Error(`L2 warm-up pass: Redis holds ${stored} token keys, expected ${count}`);
    log(`jwt-throughput: L2 holds ${formatNumber(stored)} verified ES256 tokens`);
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${server.output()}`, { cause: error });
  } finally {
    client.close();
    await server.stop();
  }
}

async function timedRun(
  kind: 'null' | 'gatehouse',
  scenario: Scenario,
  bench: TokenBench,
  options: JwtThroughputOptions,
  cores: ReturnType<typeof cpuPlan>,
): Promise<RunRecord> {
  const port = await freePort();
  let server: ServerProcess;
  if (kind === 'gatehouse') {
    const configFile = await writeTokenGatehouse(bench, {
      redisUrl: bench.redis.url,
      keyPrefix: scenario.keyPrefix(),
      ...(scenario.l1MaxEntries === undefined ? {} : { l1MaxEntries: scenario.l1MaxEntries }),
    });
    server = spawnServer({
      script: GATEHOUSE_CLI,
      args: ['serve', '--config', configFile],
      core: cores.server,
      port,
      nodeOptions: cpuProfileOptions(options.profileDir),
    });
  } else {
    server = spawnServer({ script: NULL_SERVER, core: cores.server, port });
  }
  try {
    await probeAnswer(kind, port, scenario.probe, EXPECTED_JWT_POLICY);
    const before = kind === 'gatehouse' ? await redisCounters(bench.inspector) : undefined;
    let record: RunRecord;
    const warmupSeconds = scenario.generator === 'h2load' ? Math.max(1, Math.round(options.warmupSeconds)) : options.warmupSeconds;
    const usage = measureDuringLoad(server.pid, warmupSeconds, options.durationSeconds);
    usage.catch(() => undefined); // read below; a failed run reports its own error instead
    if (scenario.generator === 'h2load') {
      const result = await runH2load({
        port,
        path: CHECK_PATH,
        bodyFile: scenario.bodiesFile,
        clients: options.channels,
        streams: options.concurrency / options.channels,
        durationSeconds: options.durationSeconds,
        warmupSeconds,
        core: cores.load,
      });
      record = { rate: result.requestsPerSecond, answered: result.succeeded, unexpected: 0, errors: 0, usage: await usage };
    } else {
      const result = await runLoadGenerator(
        {
          mode: 'closed',
          port,
          bodiesFile: scenario.bodiesFile,
          channels: options.channels,
          concurrency: options.concurrency,
          warmupSeconds: options.warmupSeconds,
          durationSeconds: options.durationSeconds,
          cycle: kind === 'null' || !scenario.name.startsWith('miss-'),
          expect: kind === 'gatehouse' ? 'allow' : 'status-ok',
        },
        cores.load,
      );
      checkGenerated(result, kind, scenario);
      record = {
        rate: result.perSecond,
        cpuPercent: result.cpuPercent,
        answered: result.answered,
        unexpected: result.unexpected,
        errors: result.errors,
        distinctSent: Math.min(result.bodiesSent, scenario.distinctBodies),
        usage: await usage,
      };
    }
    await probeAnswer(kind, port, scenario.probe, EXPECTED_JWT_POLICY); // still answering correctly after the load
    if (before) record = { ...record, redis: counterDelta(before, await redisCounters(bench.inspector)) };
    return record;
  } catch (error) {
    throw new Error(`${scenario.name}, ${kind} server: ${(error as Error).message}\n${server.output()}`, { cause: error });
  } finally {
    await server.stop();
  }
}

function checkGenerated(result: ClosedLoopResult, kind: 'null' | 'gatehouse', scenario: Scenario): void {
  if (result.unexpected > 0 || result.errors > 0)
    throw new Error(`${result.unexpected} unexpected answers, ${result.errors} gRPC errors: ${result.examples.join('; ')}`);
  if (kind === 'gatehouse' && scenario.name.startsWith('miss-') && result.exhaustedAtSeconds !== null)
    throw new Error(
      `the ${formatNumber(scenario.distinctBodies)} distinct tokens ran out after ${result.exhaustedAtSeconds.toFixed(1)} s: raise missTokens`,
    );
}

function report(
  scenarios: readonly Scenario[],
  runs: Map<ScenarioName, { gatehouse: RunRecord[]; null: RunRecord[] }>,
  options: JwtThroughputOptions,
  coresNote: string,
): BenchmarkReport {
  const targets: TargetOutcome[] = [];
  const rows: string[][] = [];
  const checks: string[][] = [];
  const usageRows: string[][] = [];
  const cpu = (records: readonly RunRecord[]) => {
    const values = records.flatMap((record) => (record.cpuPercent === undefined ? [] : [record.cpuPercent]));
    return values.length === 0 ? 'not measured' : `${formatSummary(summarize(values))} %`;
  };
  for (const scenario of scenarios) {
    const { gatehouse, null: baseline } = runs.get(scenario.name) ?? { gatehouse: [], null: [] };
    const g: Summary = summarize(gatehouse.map((record) => record.rate));
    const b: Summary = summarize(baseline.map((record) => record.rate));
    const ratio = g.median / b.median;
    rows.push([
      scenario.label,
      scenario.generator === 'h2load' ? 'h2load' : 'load-generator.js',
      formatSummary(g),
      formatSummary(b),
      `**${formatRatio(ratio)}**`,
      scenario.target === undefined ? '—' : `≥ ${scenario.target}× ${ratio >= scenario.target ? 'met' : '**not met**'}`,
      `${cpu(baseline)} / ${cpu(gatehouse)}`,
    ]);
    if (scenario.target !== undefined)
      targets.push({
        target: `JWT ${scenario.label.split(':')[0]}${scenario.name.startsWith('miss') ? ' RS256' : ''} ≥ ${scenario.target}× the null server`,
        result: formatRatio(ratio),
        met: ratio >= scenario.target,
      });
    const cells = (records: readonly RunRecord[]) =>
      usageCells(
        records.map((record) => record.usage),
        records.map((record) => record.rate),
      );
    usageRows.push([`${scenario.label} (${scenario.generator})`, 'Gatehouse', ...cells(gatehouse)]);
    usageRows.push(['', 'null server', ...cells(baseline)]);
    if (scenario.name === 'l1-h2load') {
      const perThousand = summarize(gatehouse.map((record) => cpuSecondsPerThousand(record.usage, record.rate))).median;
      targets.push({
        target: `≤ ${HIT_PATH_CPU_TARGET} CPU-seconds per 1,000 hit-path Checks (JWT L1 hit)`,
        result: `${perThousand.toFixed(3)} (plain mTLS path: see Throughput)`,
        met: perThousand <= HIT_PATH_CPU_TARGET,
      });
    }
    const sum = (pick: (record: RunRecord) => number) => formatNumber(gatehouse.reduce((total, record) => total + pick(record), 0));
    checks.push([
      `${scenario.name} (${scenario.generator})`,
      sum((record) => record.answered),
      scenario.generator === 'h2load' ? 'not visible to h2load' : sum((record) => record.unexpected + record.errors),
      scenario.generator === 'h2load' ? '1' : gatehouse.map((record) => formatNumber(record.distinctSent ?? 0)).join(', '),
      sum((record) => record.redis?.getHits ?? 0),
      sum((record) => record.redis?.getMisses ?? 0),
      sum((record) => record.redis?.sets ?? 0),
    ]);
  }
  const markdown = [
    table(
      [
        'scenario',
        'generator',
        'Gatehouse Checks/s median (min–max)',
        'null server Checks/s median (min–max)',
        'ratio',
        'target',
        'generator CPU, % of a core (null / Gatehouse runs)',
      ],
      rows,
    ),
    '',
    'What each Gatehouse run did (all runs of a scenario added up; Redis counters are deltas of `INFO stats` / `INFO commandstats` across the run, a few of them from the JWKS copy Gatehouse keeps in Redis):',
    '',
    table(
      [
        'scenario',
        'Checks answered',
        'non-OK answers + gRPC errors',
        'distinct tokens sent per run',
        'Redis GET hits',
        'GET misses',
        'SET',
      ],
      checks,
    ),
    '',
    'What each server process used in the measured windows (read from /proc):',
    '',
    table(
      [
        'scenario',
        'server',
        'CPU-seconds per 1,000 Checks: median (min–max)',
        'CPU, % of a core',
        'RSS at the end, MiB',
        'peak RSS (VmHWM), MiB',
      ],
      usageRows,
    ),
    '',
    'Command: `npm run build && node dist/bench/run.js --only jwt-throughput`.',
    '',
    `- Each scenario: ${options.repetitions} runs per server, alternating, ${options.warmupSeconds} s warm-up + ${options.durationSeconds} s measured each; a new server process per run.`,
    `- Cores: ${coresNote}; the bench's redis-server is pinned to the load generator's core.`,
    `- Load: h2load as in the throughput benchmark (\`-c ${options.channels} -m ${options.concurrency / options.channels}\`, one fixed body), or bench/load-generator.ts: a grpc-js client process with ${options.channels} HTTP/2 connections and ${options.concurrency} Checks in flight, taking pre-encoded bodies from a list in order; it does not decode responses with proto-loader but scans them for the gRPC status and \`ok_response\`, and counts every answer that is not an allow (against Gatehouse) or status 0 (against the null server). Each ratio compares runs of the same generator with the same bodies: the null server gets the scenario's own bodies, cycled.`,
    `- Gatehouse: \`gatehouse serve\`, log level warn, with Redis (default \`commandTimeoutMs\` 50), a RequestAuthentication for \`app: todos\` (issuer = the bench's JWKS server over HTTP, audience \`todos\`) and an ALLOW policy requiring \`requestPrincipals: [<issuer>/*]\` for GET /todos/*. Each Check is the throughput benchmark's request plus \`authorization: Bearer <token>\`; tokens carry ten claims (iss, sub, aud, exp, iat, jti, azp, email, roles, scope), signed with RSA 2048, P-256 or Ed25519.`,
    `- Checked before and after each timed run with a grpc-js client (a token of the same algorithm that is not among the measured ones): Gatehouse allows by \`${EXPECTED_JWT_POLICY}\`, the null server answers status 0. Any non-OK answer or gRPC error from load-generator.js fails the benchmark.`,
    `- ${PROC_NOTE} The hit-path CPU target is read from the h2load L1-hit runs, where the server, not the generator, is the bottleneck.`,
    `- L2 hit: the ${formatNumber(options.l2Tokens)} tokens are verified once by a Gatehouse beforehand (Redis then holds ${formatNumber(options.l2Tokens)} \`token:\` keys under the scenario's prefix); every measured Gatehouse uses that prefix and \`jwt.cache.l1MaxEntries: 1\`.`,
    `- Misses: ${formatNumber(options.missTokens)} tokens per algorithm, each sent at most once per Gatehouse run (the generator stops if they run out, which fails the benchmark); every run starts a new Gatehouse with a new key prefix, so neither tier has seen them.`,
  ].join('\n');
  return { name: 'jwt-throughput', title: 'JWT throughput', targets, markdown };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
