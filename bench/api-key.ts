/**
 * API-key throughput: Checks per second of Gatehouse deciding requests that
 * carry an API key (an ALLOW policy requiring the key's request principal),
 * against the null ext_authz server driven by the same load generator with
 * the same bodies, alternating, pinned like the throughput benchmark.
 * Scenarios:
 *
 * - L1 hit, key file: one key on every request, keys in a key file (h2load);
 * - L1 hit, Redis: the same with keys in Redis (h2load);
 * - miss, Redis: distinct keys cycled with `apiKeys.cache.maxEntries: 1`, so
 *   every Check costs its one Redis GET (load-generator.js).
 *
 * Redis's own counters (GET hits and misses) show which tier answered.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { stringify } from 'yaml';
import { generateApiKey, hashApiKey } from '../gateway/identity/api-key.js';
import { storedApiKeyRecord, type ApiKeyRecord } from '../gateway/identity/api-key-record.js';
import { RedisApiKeyStore } from '../gateway/identity/api-key-redis-store.js';
import { spawnRedis } from '../test/helpers/redis.js';
import { loadPackageDefinition } from '../gateway/envoy/descriptors.js';
import { probeAnswer } from './check-client.js';
import { CHECK_PATH, fixedCheckRequest, grpcFrame } from './fixed-request.js';
import { writeGatehouseFixture } from './gatehouse-fixture.js';
import { runH2load } from './h2load.js';
import { counterDelta, freshKeyPrefix, pinRedis, redisCounters, type RedisCounters } from './jwt-fixture.js';
import { runLoadGenerator, writeBodies } from './load-client.js';
import { GATEHOUSE_CLI, NULL_SERVER, cpuPlan, cpuProfileOptions, freePort, spawnServer, type ServerProcess } from './processes.js';
import { table, type BenchmarkReport, type TargetOutcome } from './report.js';
import { formatNumber, formatRatio, formatSummary, summarize } from './stats.js';
import type * as protoLoader from '@grpc/proto-loader';

export interface ApiKeyBenchOptions {
  readonly repetitions: number;
  readonly warmupSeconds: number;
  readonly durationSeconds: number;
  /** Distinct keys for the miss scenario. */
  readonly missKeys: number;
  /** HTTP/2 connections and Checks in flight (h2load: -c and -c×-m). */
  readonly channels: number;
  readonly concurrency: number;
  readonly profileDir?: string;
}

export const API_KEY_DEFAULTS: ApiKeyBenchOptions = {
  repetitions: 3,
  warmupSeconds: 1,
  durationSeconds: 2,
  missKeys: 4000,
  channels: 4,
  concurrency: 64,
};

/** The policy that allows a request with a valid key. */
const EXPECTED_POLICY = 'default/todos-api-key';
const TARGET = 0.85;

type ScenarioName = 'l1-file' | 'l1-redis' | 'miss-redis';

interface Scenario {
  readonly name: ScenarioName;
  readonly label: string;
  readonly generator: 'h2load' | 'load-generator.js';
  /** h2load: one gRPC frame; load-generator.js: the bodies file. */
  readonly bodiesFile: string;
  readonly probe: Buffer;
  readonly distinctBodies: number;
  readonly configFile: string;
  readonly target?: number;
}

interface RunRecord {
  readonly rate: number;
  readonly answered: number;
  readonly redis?: RedisCounters;
}

const POLICY = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: todos-api-key, namespace: default }
spec:
  selector: { matchLabels: { app: todos } }
  action: ALLOW
  rules:
    - from: [{ source: { requestPrincipals: ["gatehouse.dev/api-key/reminder"] } }]
      to: [{ operation: { methods: [GET], paths: ["/todos/*"] } }]
`;

export async function runApiKeyBench(options: ApiKeyBenchOptions, log: (line: string) => void): Promise<BenchmarkReport> {
  const cores = cpuPlan();
  const scratch = await mkdtemp(path.join(tmpdir(), 'gatehouse-bench-api-key-'));
  const redis = await spawnRedis();
  const inspector = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
  try {
    await pinRedis(inspector, cores.load);
    const scenarios = await prepareScenarios(scratch, redis.url, inspector, options, log);
    const runs = new Map<ScenarioName, { gatehouse: RunRecord[]; null: RunRecord[] }>();
    for (const scenario of scenarios) runs.set(scenario.name, { gatehouse: [], null: [] });
    for (let repetition = 0; repetition < options.repetitions; repetition++) {
      for (const scenario of scenarios) {
        for (const kind of repetition % 2 === 0 ? (['null', 'gatehouse'] as const) : (['gatehouse', 'null'] as const)) {
          const record = await timedRun(kind, scenario, inspector, options, cores);
          runs.get(scenario.name)?.[kind].push(record);
          log(
            `api-key ${scenario.name} ${kind} #${repetition + 1}: ${formatNumber(record.rate)} Checks/s` +
              (record.redis ? `, Redis GET hits ${record.redis.getHits} misses ${record.redis.getMisses}` : ''),
          );
        }
      }
    }
    return report(scenarios, runs, options, cores.note);
  } finally {
    inspector.disconnect();
    await redis.stop();
  }
}

async function prepareScenarios(
  scratch: string,
  redisUrl: string,
  inspector: Redis,
  options: ApiKeyBenchOptions,
  log: (line: string) => void,
): Promise<Scenario[]> {
  const newKey = (): { key: string; record: ApiKeyRecord } => {
    const { id, key } = generateApiKey();
    return { key, record: { id, principal: 'reminder', scopes: ['todos:read'], sha256: hashApiKey(key), createdAt: Date.now() } };
  };
  const frameFile = async (name: string, body: Buffer) => {
    const file = path.join(scratch, `${name}.grpc`);
    await writeFile(file, grpcFrame(body));
    return file;
  };

  // Keys in a file: no Redis in this Gatehouse at all.
  const fileKey = newKey();
  const fileConfig = await gatehouseConfig('apiKeys: { file: ./keys.yaml, watch: false }');
  await writeFile(path.join(path.dirname(fileConfig), 'keys.yaml'), stringify({ keys: [storedApiKeyRecord(fileKey.record)] }));

  // Keys in Redis: one for the hit scenario, many for the misses.
  const keyPrefix = freshKeyPrefix('api-key');
  const store = new RedisApiKeyStore(inspector, keyPrefix);
  const redisKey = newKey();
  const missKeys = Array.from({ length: options.missKeys }, newKey);
  const started = Date.now();
  for (const { record } of [redisKey, ...missKeys]) await store.create(record);
  log(`api-key: stored ${formatNumber(missKeys.length + 1)} keys in Redis in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const redisSection = `redis: { url: "${redisUrl}", keyPrefix: "${keyPrefix}" }`;
  const redisConfig = await gatehouseConfig(`${redisSection}\napiKeys: {}`);
  // Every Check of the miss scenario waits on Redis, which shares a core with the load generator: a 50 ms timeout would deny some.
  const missConfig = await gatehouseConfig(
    `redis: { url: "${redisUrl}", keyPrefix: "${keyPrefix}", commandTimeoutMs: 500 }\napiKeys: { cache: { maxEntries: 1 } }`,
  );
  const missBodies = path.join(scratch, 'miss.bodies');
  await writeBodies(
    missBodies,
    missKeys.map(({ key }) => encodeKeyCheckRequest(key)),
  );

  return [
    {
      name: 'l1-file',
      label: 'L1 hit: one key, key file',
      generator: 'h2load',
      bodiesFile: await frameFile('l1-file', encodeKeyCheckRequest(fileKey.key)),
      probe: encodeKeyCheckRequest(fileKey.key),
      distinctBodies: 1,
      configFile: fileConfig,
      target: TARGET,
    },
    {
      name: 'l1-redis',
      label: 'L1 hit: one key, Redis',
      generator: 'h2load',
      bodiesFile: await frameFile('l1-redis', encodeKeyCheckRequest(redisKey.key)),
      probe: encodeKeyCheckRequest(redisKey.key),
      distinctBodies: 1,
      configFile: redisConfig,
    },
    {
      name: 'miss-redis',
      label: `miss: ${formatNumber(missKeys.length)} keys cycled, cache of 1, Redis`,
      generator: 'load-generator.js',
      bodiesFile: missBodies,
      probe: encodeKeyCheckRequest(redisKey.key),
      distinctBodies: missKeys.length,
      configFile: missConfig,
    },
  ];
}

/** The Gatehouse config (log level warn) with the API-key policy and the given extra sections. */
function gatehouseConfig(extra: string): Promise<string> {
  const config = [
    'listen: { host: 127.0.0.1, port: 9191 }',
    'policies: { paths: [./policies], rootNamespace: istio-system, defaultNamespace: default, watch: false }',
    'identity: { trustDomains: [cluster.local] }',
    'workloads:',
    '  - { namespace: default, serviceAccount: todos, labels: { app: todos }, service: todos }',
    '  - { namespace: default, serviceAccount: reminder, labels: { app: reminder }, service: reminder }',
    'log: { level: warn }',
    extra,
    '',
  ].join('\n');
  return writeGatehouseFixture(config, [{ name: 'todos-api-key.yaml', text: POLICY }]);
}

function checkMethod(): protoLoader.MethodDefinition<object, object> {
  const service = loadPackageDefinition()['envoy.service.auth.v3.Authorization'] as protoLoader.ServiceDefinition;
  return service.Check as protoLoader.MethodDefinition<object, object>;
}

/** The fixed CheckRequest (reminder → todos, GET /todos/123) with `x-api-key: <key>`. */
function encodeKeyCheckRequest(key: string): Buffer {
  const request = fixedCheckRequest() as { attributes: { request: { http: { headers: Record<string, string> } } } };
  request.attributes.request.http.headers['x-api-key'] = key;
  return checkMethod().requestSerialize(request);
}

async function timedRun(
  kind: 'null' | 'gatehouse',
  scenario: Scenario,
  inspector: Redis,
  options: ApiKeyBenchOptions,
  cores: ReturnType<typeof cpuPlan>,
): Promise<RunRecord> {
  const port = await freePort();
  const server: ServerProcess =
    kind === 'gatehouse'
      ? spawnServer({
          script: GATEHOUSE_CLI,
          args: ['serve', '--config', scenario.configFile],
          core: cores.server,
          port,
          nodeOptions: cpuProfileOptions(options.profileDir),
        })
      : spawnServer({ script: NULL_SERVER, core: cores.server, port });
  try {
    await probeAnswer(kind, port, scenario.probe, EXPECTED_POLICY);
    const before = kind === 'gatehouse' ? await redisCounters(inspector) : undefined;
    let record: RunRecord;
    if (scenario.generator === 'h2load') {
      const result = await runH2load({
        port,
        path: CHECK_PATH,
        bodyFile: scenario.bodiesFile,
        clients: options.channels,
        streams: options.concurrency / options.channels,
        durationSeconds: options.durationSeconds,
        warmupSeconds: Math.max(1, Math.round(options.warmupSeconds)),
        core: cores.load,
      });
      record = { rate: result.requestsPerSecond, answered: result.succeeded };
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
          cycle: true,
          expect: kind === 'gatehouse' ? 'allow' : 'status-ok',
        },
        cores.load,
      );
      if (result.unexpected > 0 || result.errors > 0)
        throw new Error(`${result.unexpected} unexpected answers, ${result.errors} gRPC errors: ${result.examples.join('; ')}`);
      record = { rate: result.perSecond, answered: result.answered };
    }
    await probeAnswer(kind, port, scenario.probe, EXPECTED_POLICY); // still answering correctly after the load
    return before ? { ...record, redis: counterDelta(before, await redisCounters(inspector)) } : record;
  } catch (error) {
    throw new Error(`${scenario.name}, ${kind} server: ${(error as Error).message}\n${server.output()}`, { cause: error });
  } finally {
    await server.stop();
  }
}

function report(
  scenarios: readonly Scenario[],
  runs: Map<ScenarioName, { gatehouse: RunRecord[]; null: RunRecord[] }>,
  options: ApiKeyBenchOptions,
  coresNote: string,
): BenchmarkReport {
  const targets: TargetOutcome[] = [];
  const rows: string[][] = [];
  const checks: string[][] = [];
  for (const scenario of scenarios) {
    const { gatehouse, null: baseline } = runs.get(scenario.name) ?? { gatehouse: [], null: [] };
    const g = summarize(gatehouse.map((record) => record.rate));
    const b = summarize(baseline.map((record) => record.rate));
    const ratio = g.median / b.median;
    rows.push([
      scenario.label,
      scenario.generator,
      formatSummary(g),
      formatSummary(b),
      `**${formatRatio(ratio)}**`,
      scenario.target === undefined ? '—' : `≥ ${scenario.target}× ${ratio >= scenario.target ? 'met' : '**not met**'}`,
    ]);
    if (scenario.target !== undefined)
      targets.push({
        target: `API key ${scenario.label} ≥ ${scenario.target}× the null server`,
        result: formatRatio(ratio),
        met: ratio >= scenario.target,
      });
    const sum = (pick: (record: RunRecord) => number) => formatNumber(gatehouse.reduce((total, record) => total + pick(record), 0));
    checks.push([
      scenario.name,
      sum((record) => record.answered),
      formatNumber(scenario.distinctBodies),
      sum((record) => record.redis?.getHits ?? 0),
      sum((record) => record.redis?.getMisses ?? 0),
    ]);
  }
  const markdown = [
    table(
      ['scenario', 'generator', 'Gatehouse Checks/s median (min–max)', 'null server Checks/s median (min–max)', 'ratio', 'target'],
      rows,
    ),
    '',
    'What each Gatehouse run did (all runs of a scenario added up; Redis counters are deltas of `INFO stats` across the run):',
    '',
    table(['scenario', 'Checks answered', 'distinct keys', 'Redis GET hits', 'GET misses'], checks),
    '',
    'Command: `npm run build && node dist/bench/run.js --only api-key`.',
    '',
    `- Each scenario: ${options.repetitions} runs per server, alternating, ${options.warmupSeconds} s warm-up + ${options.durationSeconds} s measured each; a new server process per run.`,
    `- Cores: ${coresNote}; the bench's redis-server is pinned to the load generator's core.`,
    `- Load: h2load as in the throughput benchmark (\`-c ${options.channels} -m ${options.concurrency / options.channels}\`, one fixed body), or bench/load-generator.ts (${options.channels} HTTP/2 connections, ${options.concurrency} Checks in flight, bodies cycled; any answer that is not an allow fails the benchmark). Each ratio compares runs of the same generator with the same bodies.`,
    `- Gatehouse: \`gatehouse serve\`, log level warn, one ALLOW policy for \`app: todos\` requiring \`requestPrincipals: [gatehouse.dev/api-key/reminder]\` for GET /todos/*. Each Check is the throughput benchmark's request plus \`x-api-key: ghk_…\`. Key file: \`apiKeys.file\` holding one key, no Redis. Redis: the bench's own redis-server holding ${formatNumber(options.missKeys + 1)} keys under a fresh prefix; the miss scenario sets \`apiKeys.cache.maxEntries: 1\` (and \`redis.commandTimeoutMs: 500\`, since Redis shares the load generator's core and a slow GET is a refusal), so each Check reads its key's record (one GET) and hashes and compares the key.`,
    `- Checked before and after each timed run with a grpc-js client: Gatehouse allows by \`${EXPECTED_POLICY}\`, the null server answers status 0.`,
  ].join('\n');
  return { name: 'api-key', title: 'API-key throughput', targets, markdown };
}
