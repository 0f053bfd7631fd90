/**
 * Latency at fixed request rates: for the plain Check (an mTLS principal
 * against the throughput benchmark's policies) and the JWT L1-hit Check,
 * the maximum throughput Gatehouse reaches in a closed loop, then an open
 * loop at 25 %, 50 % and 75 % of it, Gatehouse and the null ext_authz server
 * at the same rates, one after the other. Both loops are h2load (a C client),
 * so the load generator's own delays stay small next to the server's; the
 * null server's row at the same rate shows what is left of them.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { probeAnswer } from './check-client.js';
import { CHECK_PATH, EXPECTED_DEMO_POLICY, encodeFixedCheckRequest, grpcFrame } from './fixed-request.js';
import {
  CLIENT_STAGGER_MS,
  RATE_TICK_MS,
  h2loadArgs,
  h2loadFixedRateArgs,
  runH2load,
  startH2loadAtFixedRate,
  type H2loadFixedRateResult,
} from './h2load.js';
import { EXPECTED_JWT_POLICY, encodeTokenCheckRequest, freshKeyPrefix, startTokenBench, writeTokenGatehouse } from './jwt-fixture.js';
import { signJwt, userClaims } from './jwt-tokens.js';
import {
  GATEHOUSE_CLI,
  H2_FLOOR_SERVER,
  NULL_SERVER,
  cpuPlan,
  freePort,
  spawnProgram,
  spawnServer,
  waitForPort,
  type ServerProcess,
} from './processes.js';
import { PROC_NOTE, cpuSecondsPerThousand, measureDuringLoad, mebibytes, type ProcessUsage } from './proc-stats.js';
import { table, type BenchmarkReport, type TargetOutcome } from './report.js';
import { formatNumber, percentile } from './stats.js';
import { writePlainGatehouse } from './throughput.js';

export interface LatencyOptions {
  /** Closed loop that finds the maximum throughput: h2load as in the Throughput section. */
  readonly closedWarmupSeconds: number;
  readonly closedSeconds: number;
  readonly closedClients: number;
  readonly closedStreams: number;
  /** Each open-loop run: warm-up at the same rate (not recorded), then recorded. */
  readonly openWarmupSeconds: number;
  readonly openSeconds: number;
  /** Fractions of the maximum throughput the open loop runs at. */
  readonly fractions: readonly number[];
  /** Runs of each server at the target fraction (half of the maximum): its p99 is their median. */
  readonly targetRepetitions: number;
  /** Open loop: connections, and requests each may have in flight (enough to ride out a stall of most of a second). */
  readonly openClients: number;
  readonly openStreams: number;
}

export const LATENCY_DEFAULTS: LatencyOptions = {
  closedWarmupSeconds: 1,
  closedSeconds: 4,
  closedClients: 4,
  closedStreams: 16,
  openWarmupSeconds: 1,
  openSeconds: 5,
  fractions: [0.25, 0.5, 0.75],
  targetRepetitions: 3,
  // one client per stagger step of h2load's rate tick: their bursts take turns
  openClients: RATE_TICK_MS / CLIENT_STAGGER_MS,
  openStreams: 1024,
};

/** The target: p99 at half of the maximum throughput. */
const TARGET_FRACTION = 0.5;
const TARGET_P99_MS = 1;
const QUANTILES = [0.5, 0.9, 0.99, 0.999] as const;
/** A run whose recorded part sent fewer than this share of the Checks due did not hold its rate. */
const HELD_SHARE = 0.99;
/** Run past the recorded part, so that it ends before the clients finish one after the other. */
const TAIL_SECONDS = 0.5;

/**
 * The servers of a run: Gatehouse; the null grpc-js ext_authz server (the
 * baseline of every benchmark); and two floors that do no gRPC work at all:
 * Node's HTTP/2 stack answering a fixed OK (what Gatehouse's transport costs
 * before any decision), and nghttpd, a C HTTP/2 server sending a fixed file
 * (what the machine, the loopback and h2load cost).
 */
type ServerKind = 'null' | 'gatehouse' | 'node-h2' | 'c-h2';

const SERVER_LABEL: Record<ServerKind, string> = {
  gatehouse: 'Gatehouse',
  null: 'null server',
  'node-h2': 'node:http2 floor',
  'c-h2': 'C HTTP/2 floor',
};

/** nghttpd, from Debian's nghttp2-server: the C floor is measured only where it is installed. */
const NGHTTPD = '/usr/sbin/nghttpd';

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
  /** Which of the runs at this rate (1 when there is one). */
  readonly repetition: number;
  /** Checks sent in the recorded part, and rate × its duration. */
  readonly sent: number;
  readonly due: number;
  /** p50, p90, p99, p99.9 and max of the answered Checks, ms. */
  readonly quantilesMs: readonly number[];
  readonly maxMs: number;
  /** Failed streams and non-2xx answers, warm-up included. */
  readonly errors: number;
  readonly usage: ProcessUsage;
  readonly generatorUsage: ProcessUsage;
}

interface ScenarioResult {
  readonly scenario: Scenario;
  /** Closed-loop maximum of the two gRPC servers (the floors are measured only at the fixed rates). */
  readonly maximum: { readonly null: number; readonly gatehouse: number };
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
  const bodyFile = path.join(scratch, `${scenario.name}.grpc`);
  await writeFile(bodyFile, grpcFrame(scenario.body));
  const servers: Partial<Record<ServerKind, ServerProcess>> = {
    null: spawnServer({ script: NULL_SERVER, core: cores.server, port: await freePort() }),
    gatehouse: spawnServer({
      script: GATEHOUSE_CLI,
      args: ['serve', '--config', scenario.configFile],
      core: cores.server,
      port: await freePort(),
    }),
    'node-h2': spawnServer({ script: H2_FLOOR_SERVER, core: cores.server, port: await freePort() }),
  };
  if (existsSync(NGHTTPD)) servers['c-h2'] = await startNghttpd(scratch, scenario.name, cores.server);
  const server = (kind: ServerKind): ServerProcess => {
    const found = servers[kind];
    if (found === undefined) throw new Error(`no ${kind} server in this run`);
    return found;
  };
  let kind: ServerKind = 'null';
  // the C floor sends a file and speaks no gRPC: h2load's count of non-2xx answers is its check
  const probe = () =>
    kind === 'c-h2'
      ? Promise.resolve()
      : probeAnswer(kind === 'gatehouse' ? 'gatehouse' : 'null', server(kind).port, scenario.body, scenario.expectedPolicy);
  try {
    const maximum = { null: 0, gatehouse: 0 };
    for (kind of ['null', 'gatehouse'] as const) {
      await probe();
      const result = await runH2load({
        port: server(kind).port,
        path: CHECK_PATH,
        bodyFile,
        clients: options.closedClients,
        streams: options.closedStreams,
        warmupSeconds: options.closedWarmupSeconds,
        durationSeconds: options.closedSeconds,
        core: cores.load,
      });
      await probe();
      maximum[kind] = result.requestsPerSecond;
      log(`latency ${scenario.name} ${kind}: maximum ${formatNumber(result.requestsPerSecond)} Checks/s (closed loop)`);
    }

    const runs: RateRun[] = [];
    const rounds = options.fractions.flatMap((fraction) =>
      Array.from({ length: fraction === TARGET_FRACTION ? options.targetRepetitions : 1 }, (_, index) => ({
        fraction,
        repetition: index + 1,
      })),
    );
    for (const [index, { fraction, repetition }] of rounds.entries()) {
      // a whole number of Checks per second for each client
      const rate = Math.max(1, Math.round((maximum.gatehouse * fraction) / options.openClients)) * options.openClients;
      const kinds = (Object.keys(servers) as ServerKind[]).sort((a, b) => KIND_ORDER.indexOf(a) - KIND_ORDER.indexOf(b));
      const order = index % 2 === 0 ? kinds : kinds.reverse();
      for (kind of order) {
        await probe();
        const h2load = startH2loadAtFixedRate({
          port: server(kind).port,
          path: CHECK_PATH,
          bodyFile,
          clients: options.openClients,
          streams: options.openStreams,
          ratePerSecond: rate,
          seconds: options.openWarmupSeconds + options.openSeconds + TAIL_SECONDS,
          logFile: path.join(scratch, `${scenario.name}-${kind}-${rate}-${repetition}.log`),
          core: cores.load,
        });
        const usages = Promise.all([
          measureDuringLoad(server(kind).pid, options.openWarmupSeconds, options.openSeconds),
          measureDuringLoad(h2load.pid, options.openWarmupSeconds, options.openSeconds),
        ]);
        usages.catch(() => undefined); // read below; a failed run reports its own error instead
        const result = await h2load.result;
        const [usage, generatorUsage] = await usages;
        await probe(); // still answering correctly after the load
        const run = summarizeRun(result, { fraction, rate, kind, repetition, usage, generatorUsage }, options);
        runs.push(run);
        log(
          `latency ${scenario.name} ${kind} at ${formatNumber(rate)}/s: sent ${formatNumber(run.sent)} of ${formatNumber(run.due)}, ` +
            `p50 ${run.quantilesMs[0]?.toFixed(3)} ms, p99 ${run.quantilesMs[2]?.toFixed(3)} ms, max ${run.maxMs.toFixed(2)} ms, ` +
            `${run.errors} errors, generator CPU ${(generatorUsage.cpuShare * 100).toFixed(0)} %`,
        );
      }
    }
    return { scenario, maximum, runs };
  } catch (error) {
    throw new Error(`latency ${scenario.name}, ${kind} server: ${(error as Error).message}\n${servers[kind]?.output() ?? ''}`, {
      cause: error,
    });
  } finally {
    await Promise.all(Object.values(servers).map((started) => started.stop()));
  }
}

/** The order of the servers at the first rate; each later rate reverses the previous one. */
const KIND_ORDER: readonly ServerKind[] = ['c-h2', 'node-h2', 'null', 'gatehouse'];

/**
 * nghttpd serving the scenario's answer: a file at the Check path holding a
 * gRPC frame, sent whole for every POST.
 */
async function startNghttpd(scratch: string, name: string, core: number | undefined): Promise<ServerProcess> {
  const root = path.join(scratch, `${name}-htdocs`);
  await mkdir(path.join(root, path.dirname(CHECK_PATH)), { recursive: true });
  await writeFile(path.join(root, CHECK_PATH), grpcFrame(Buffer.alloc(0)));
  const port = await freePort();
  const nghttpd = spawnProgram(NGHTTPD, ['--no-tls', '--htdocs', root, '--address', '127.0.0.1', String(port)], { core, port });
  await waitForPort(port);
  return nghttpd;
}

/**
 * The recorded part of a run: the Checks sent from `openWarmupSeconds` after
 * the first one, for `openSeconds`; latencies of those answered with HTTP 2xx.
 */
function summarizeRun(
  result: H2loadFixedRateResult,
  run: Pick<RateRun, 'fraction' | 'rate' | 'kind' | 'repetition' | 'usage' | 'generatorUsage'>,
  options: LatencyOptions,
): RateRun {
  const first = result.requests.reduce((earliest, request) => Math.min(earliest, request.startMicros), Infinity);
  const from = first + options.openWarmupSeconds * 1e6;
  const until = from + options.openSeconds * 1e6;
  const recorded = result.requests.filter((request) => request.startMicros >= from && request.startMicros < until);
  const answered = recorded
    .filter((request) => request.status >= 200 && request.status < 300)
    .map((request) => request.durationMicros / 1000)
    .sort((a, b) => a - b);
  return {
    ...run,
    sent: recorded.length,
    due: run.rate * options.openSeconds,
    quantilesMs: QUANTILES.map((q) => percentile(answered, q)),
    maxMs: answered[answered.length - 1] ?? Number.NaN,
    errors: result.failed,
  };
}

function report(results: readonly ScenarioResult[], options: LatencyOptions, coresNote: string): BenchmarkReport {
  const targets: TargetOutcome[] = [];
  const held = (run: RateRun) => run.sent >= HELD_SHARE * run.due;
  const sections = results.flatMap(({ scenario, maximum, runs }) => {
    const atTarget = (kind: ServerKind) => runs.filter((run) => run.kind === kind && run.fraction === TARGET_FRACTION);
    /** The median p99 of a server's runs at the target rate, with their range. */
    const p99Of = (kind: ServerKind) => {
      const p99s = atTarget(kind)
        .map((run) => run.quantilesMs[2] ?? Number.NaN)
        .sort((a, b) => a - b);
      const median = percentile(p99s, 0.5);
      const range = p99s.length > 1 ? ` (${(p99s[0] as number).toFixed(2)}–${(p99s[p99s.length - 1] as number).toFixed(2)})` : '';
      return { median, text: `${median.toFixed(2)} ms${range}` };
    };
    const gatehouseRuns = atTarget('gatehouse');
    const first = gatehouseRuns[0];
    if (first !== undefined) {
      const p99 = p99Of('gatehouse');
      const others = (['null', 'node-h2', 'c-h2'] as const)
        .flatMap((other) => (atTarget(other).length === 0 ? [] : [`${SERVER_LABEL[other]}: ${p99Of(other).text}`]))
        .join('; ');
      const notHeld = gatehouseRuns.filter((run) => !held(run));
      targets.push({
        target: `p99 ≤ ${TARGET_P99_MS} ms at half of the maximum throughput (${scenario.label.split(' (')[0]})`,
        result:
          `median of ${gatehouseRuns.length} runs ${p99.text} at ${formatNumber(first.rate)} Checks/s (${others})` +
          (notHeld.length === 0 ? '' : `; rate not held in ${notHeld.length} of the runs`),
        met: p99.median <= TARGET_P99_MS && gatehouseRuns.every((run) => run.errors === 0) && notHeld.length === 0,
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
          'sent / due',
          'p50 ms',
          'p90 ms',
          'p99 ms',
          'p99.9 ms',
          'max ms',
          'errors',
          'server CPU-s per 1,000',
          'server RSS, MiB',
          'h2load CPU',
        ],
        runs.map((run) => [
          formatNumber(run.rate),
          `${Math.round(run.fraction * 100)} %${run.fraction === TARGET_FRACTION && options.targetRepetitions > 1 ? `, run ${run.repetition}` : ''}`,
          SERVER_LABEL[run.kind],
          `${formatNumber(run.sent)} / ${formatNumber(run.due)}`,
          ...run.quantilesMs.map((value) => value.toFixed(3)),
          run.maxMs.toFixed(2),
          String(run.errors),
          cpuSecondsPerThousand(run.usage, run.rate).toFixed(3),
          mebibytes(run.usage.rssBytes),
          `${(run.generatorUsage.cpuShare * 100).toFixed(0)} %`,
        ]),
      ),
      '',
    ];
  });
  const shownArgs = (args: string[]) => {
    const shown = args.map((arg) => (/\s/.test(arg) ? `'${arg}'` : arg));
    shown[shown.length - 1] = `http://127.0.0.1:$PORT${CHECK_PATH}`;
    return shown.join(' ');
  };
  const target = { port: 0, path: CHECK_PATH, bodyFile: 'check-request.grpc' };
  const closedArgs = h2loadArgs({
    ...target,
    clients: options.closedClients,
    streams: options.closedStreams,
    warmupSeconds: options.closedWarmupSeconds,
    durationSeconds: options.closedSeconds,
  });
  const openSeconds = options.openWarmupSeconds + options.openSeconds + TAIL_SECONDS;
  const openArgs = h2loadFixedRateArgs({
    ...target,
    clients: options.openClients,
    streams: options.openStreams,
    ratePerSecond: 0,
    seconds: openSeconds,
    logFile: 'requests.log',
  });
  // the rate differs from run to run: show how -n and --rps follow from it
  openArgs[openArgs.indexOf('-n') + 1] = `<rate × ${openSeconds}>`;
  openArgs[openArgs.indexOf('--rps') + 1] = `<rate / ${options.openClients}>`;
  const markdown = [
    ...sections,
    'Command: `npm run bench`, or just this benchmark: `npm run build && node dist/bench/run.js --only latency`.',
    '',
    `- Maximum throughput: \`h2load ${shownArgs(closedArgs)}\` against each server, as in the Throughput section (a closed loop: each connection keeps ${options.closedStreams} Checks in flight).`,
    `- Open loop: \`h2load ${shownArgs(openArgs)}\`: ${options.openClients} HTTP/2 connections, each sending rate / ${options.openClients} Checks per second whatever earlier ones are doing (h2load --rps); up to ${formatNumber(options.openStreams)} in flight per connection, so the rate waits for a free stream only once ${formatNumber(options.openStreams * options.openClients)} Checks are unanswered at once (a stall of most of a second at these rates). h2load's rate timer fires every ${RATE_TICK_MS} ms at most and sends what is due in one burst: the connections are opened ${CLIENT_STAGGER_MS} ms apart (-r 1 --rate-period ${CLIENT_STAGGER_MS}ms), so their bursts take turns and the server gets about rate / 1,000 Checks each millisecond rather than all of a tick's at once. h2load cannot combine -r with a duration (-D), so a run is a number of requests: rate × ${openSeconds} s; the first ${options.openWarmupSeconds} s after its first Check are warm-up (not recorded), the next ${options.openSeconds} s recorded, the last ${TAIL_SECONDS} s dropped while the connections finish one after the other.`,
    `- Half of the maximum (the target's rate): ${options.targetRepetitions} runs of every server, each rate's servers in the reverse order of the run before; the target compares the median of Gatehouse's p99s (their range in brackets), as one 5-second window can hold a single pause or none.`,
    `- Sent / due: the Checks h2load sent in the recorded part (its log) against rate × ${options.openSeconds} s; a run below ${HELD_SHARE * 100} % did not hold its rate, and its target row says so; above 100 %, Checks held back while no stream was free were sent late, and their wait is not counted.`,
    "- Latency: from h2load's log (--log-file), one line per Check: the time h2load sent it and the time until the end of the answer. It counts from the actual send, not from a schedule: a stall that held h2load itself back would not be counted, but h2load's event loop is C and uses a fraction of its core (h2load CPU), and the null server's row at the same rate shows the floor that the generator, the loopback and grpc-js set together. Percentiles: nearest rank over the Checks of the recorded part answered with HTTP 2xx.",
    '- Errors: failed streams and non-2xx answers of the whole run, as h2load counts them. h2load cannot see the gRPC status: a grpc-js client sends the same bytes before and after every run, and Gatehouse must allow it by the expected policy, the null server answer status 0.',
    `- Server CPU-s per 1,000 Checks and RSS (at the end of the window) over the recorded part, at the fixed rate; h2load CPU = its CPU time per wall second over the same window. ${PROC_NOTE}`,
    `- Servers: per scenario one of each, all pinned to the same core and kept for all of the scenario's runs (the idle ones use nothing); rates in ascending order, each rate running the servers in the reverse order of the one before. Cores: ${coresNote}.`,
    "- Floors: the node:http2 floor is Node's HTTP/2 stack alone (bench/h2-floor-server.ts: reads each POST to its end, answers gRPC status 0 with an empty CheckResponse), the transport Gatehouse answers Check on; the C HTTP/2 floor is nghttpd (Debian package nghttp2-server; its row is missing where it is not installed) sending a 5-byte file for every POST. Neither decodes, decides or keeps anything per call: their tails are what Node's HTTP/2 stack and garbage collector, and below them the machine, the loopback and h2load, leave to any server on this machine. No server can be judged against 1 ms where the C floor's own p99 is above it.",
    "- Plain: the throughput benchmark's request and configuration (allowed by `default/todos-viewer-allow`). JWT L1 hit: the JWT throughput benchmark's configuration, with Redis, and one ES256 token (allowed by `default/todos-users`), verified by the first probe, so every timed Check is an L1 hit.",
  ].join('\n');
  return { name: 'latency', title: 'Latency at fixed rates', targets, markdown };
}
