/**
 * Soak: one Gatehouse under a steady fixed-rate load for minutes (ten by
 * default), at 80 % of the maximum throughput it reached in a short closed
 * loop just before, with a mix of plain mTLS Checks, JWT L1 hits and
 * denials. The load is h2load (a C client, one process per kind of Check,
 * each at its share of the rate), so the rate is held whatever the server
 * does; a Node client could not hold 80 % of what one core of Gatehouse
 * answers. Every few seconds the server's RSS and CPU time (from /proc),
 * the Checks it counted and its event loop's delay (both from its
 * `/metrics`) are sampled. h2load sees HTTP statuses only, so the decisions
 * are checked on the server's own count: every Check of each kind must be
 * counted under that kind's decision code and policy, and nothing else.
 * Not part of `npm run bench`: `npm run soak`.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectCheckClient, decisionOf, firstAnswer } from './check-client.js';
import { CHECK_PATH, SOURCE_PRINCIPAL, grpcFrame } from './fixed-request.js';
import { runH2load, runH2loadAtFixedRate, type H2loadRateSummary } from './h2load.js';
import { encodeTokenCheckRequest, freshKeyPrefix, startTokenBench, writeTokenGatehouse, type TokenBench } from './jwt-fixture.js';
import { signJwt, userClaims } from './jwt-tokens.js';
import type { PolicyFile } from './policies.js';
import { GATEHOUSE_CLI, cpuPlan, freePort, spawnServer, type ServerProcess } from './processes.js';
import { mebibytes, readProcess, type ProcessReading } from './proc-stats.js';
import { table, type BenchmarkReport } from './report.js';
import { formatNumber } from './stats.js';

export interface SoakOptions {
  readonly minutes: number;
  /** How often the server is sampled. */
  readonly sampleSeconds: number;
  /** The closed loop that finds the maximum throughput: warm-up, then measured. */
  readonly closedWarmupSeconds: number;
  readonly closedSeconds: number;
  /** The share of the maximum the soak holds. */
  readonly fraction: number;
  /** h2load per kind of Check: connections, and streams in flight per connection at most. */
  readonly clients: number;
  readonly streams: number;
}

export const SOAK_DEFAULTS: SoakOptions = {
  minutes: 10,
  sampleSeconds: 5,
  closedWarmupSeconds: 1,
  closedSeconds: 5,
  fraction: 0.8,
  clients: 2,
  streams: 64,
};

/** RSS may grow this much from the end of the warm-up to its highest sample. */
const RSS_FLAT_WITHIN = 0.1;
/** A peer that no policy allows without a token. */
const STRANGER = 'spiffe://cluster.local/ns/default/sa/share';

/** One kind of Check of the mix: its share of the rate and the decision the server must count it under. */
interface MixKind {
  readonly name: string;
  readonly description: string;
  readonly share: number;
  readonly body: Buffer;
  /** `code` and `policy` labels of `gatehouse_decisions_total`. */
  readonly code: string;
  readonly policy: string;
}

/** A reading of the server during the soak; `t` is seconds from the end of the warm-up (negative before). */
interface Sample {
  readonly t: number;
  readonly process: ProcessReading;
  readonly checks: number;
  /** The event loop's delay over the server's last complete window, seconds; absent before the first. */
  readonly delay?: { readonly p50: number; readonly p99: number; readonly max: number };
}

export async function runSoak(options: SoakOptions, log: (line: string) => void): Promise<BenchmarkReport> {
  const cores = cpuPlan();
  const scratch = await mkdtemp(path.join(tmpdir(), 'gatehouse-bench-soak-'));
  const bench = await startTokenBench(cores.load);
  const adminPort = await freePort();
  const metricsUrl = `http://127.0.0.1:${adminPort}/metrics`;
  let server: ServerProcess | undefined;
  try {
    const mix = makeMix(bench);
    const configFile = await writeTokenGatehouse(bench, {
      redisUrl: bench.redis.url,
      keyPrefix: freshKeyPrefix('soak'),
      extraConfig: `telemetry: { adminHttp: { enabled: true, host: 127.0.0.1, port: ${adminPort} } }`,
      extraPolicies: [PLAIN_POLICY],
    });
    server = spawnServer({ script: GATEHOUSE_CLI, args: ['serve', '--config', configFile], core: cores.server, port: await freePort() });
    const port = server.port;
    await probeMix(port, mix);
    await scrape(metricsUrl); // loads the SDK, which starts measuring the event loop's delay

    const bodyFiles = new Map<MixKind, string>();
    for (const kind of mix) {
      const file = path.join(scratch, `${kind.name}.grpc`);
      await writeFile(file, grpcFrame(kind.body));
      bodyFiles.set(kind, file);
    }
    const plainFile = bodyFiles.get(mix[0]!)!;
    const closed = await runH2load({
      port,
      path: CHECK_PATH,
      bodyFile: plainFile,
      clients: 4,
      streams: 16,
      warmupSeconds: options.closedWarmupSeconds,
      durationSeconds: options.closedSeconds,
      core: cores.load,
    });
    const rate = Math.max(mix.length, Math.round(closed.requestsPerSecond * options.fraction));
    const seconds = Math.round(options.minutes * 60);
    const warmupSeconds = Math.min(30, Math.max(2, Math.round(seconds / 10)));
    log(
      `soak: maximum ${formatNumber(closed.requestsPerSecond)} Checks/s (closed loop, h2load); holding ${formatNumber(rate)}/s for ${seconds} s`,
    );

    const before = decisionCounts(await scrape(metricsUrl));
    const pid = server.pid;
    const samples: Sample[] = [];
    const startedAt = Date.now() + warmupSeconds * 1000;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const next = Date.now() + options.sampleSeconds * 1000;
        const sample = await takeSample(pid, metricsUrl, startedAt);
        samples.push(sample);
        if (samples.length % Math.max(1, Math.round(60 / options.sampleSeconds)) === 0)
          log(`soak: ${sample.t.toFixed(0)} s, RSS ${mebibytes(sample.process.rssBytes)} MiB, ${formatNumber(sample.checks)} Checks`);
        await sleep(Math.max(0, next - Date.now()));
      }
    })();
    let results: H2loadRateSummary[];
    try {
      results = await Promise.all(
        mix.map((kind) =>
          runH2loadAtFixedRate({
            port,
            path: CHECK_PATH,
            bodyFile: bodyFiles.get(kind)!,
            clients: options.clients,
            streams: options.streams,
            ratePerSecond: rate * kind.share,
            seconds: warmupSeconds + seconds,
            core: cores.load,
          }),
        ),
      );
    } finally {
      sampling = false;
      await sampler;
    }
    samples.push(await takeSample(pid, metricsUrl, startedAt));
    const after = decisionCounts(await scrape(metricsUrl));
    await probeMix(port, mix); // still answering as expected
    return report({
      options,
      closedRate: closed.requestsPerSecond,
      rate,
      seconds,
      warmupSeconds,
      samples,
      mix,
      results,
      before,
      after,
      coresNote: cores.note,
    });
  } catch (error) {
    throw new Error(`soak: ${(error as Error).message}\n${server?.output() ?? ''}`, { cause: error });
  } finally {
    await server?.stop();
    await bench.close();
  }
}

/** Lets the reminder service GET todos without a token (the plain mTLS Check). */
const PLAIN_POLICY: PolicyFile = {
  name: 'plain.yaml',
  text: `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: todos-reminder, namespace: default }
spec:
  selector: { matchLabels: { app: todos } }
  action: ALLOW
  rules:
    - from: [{ source: { principals: ["${SOURCE_PRINCIPAL.slice('spiffe://'.length)}"] } }]
      to: [{ operation: { methods: [GET], paths: ["/todos/*"] } }]
`,
};

/** Per 20 Checks: 8 plain mTLS allows, 8 JWT L1 hits, 2 expired tokens, 2 from a peer no policy allows. */
function makeMix(bench: TokenBench): MixKind[] {
  const now = Math.floor(Date.now() / 1000);
  return [
    {
      name: 'plain',
      description: "plain mTLS Checks (the reminder service's peer principal, no token)",
      share: 0.4,
      body: encodeTokenCheckRequest(undefined),
      code: 'ALLOWED',
      policy: 'default/todos-reminder',
    },
    {
      name: 'jwt',
      // From a peer the plain policy does not allow, so only the token can be what allows it.
      description: 'Checks with an ES256 token from a peer that no policy allows by itself (L1 hits)',
      share: 0.4,
      body: encodeTokenCheckRequest(signJwt(userClaims(bench.idp.url, 1), bench.keys.ES256), STRANGER),
      code: 'ALLOWED',
      policy: 'default/todos-users',
    },
    {
      name: 'expired',
      description: 'Checks with an expired token (401)',
      share: 0.1,
      body: encodeTokenCheckRequest(signJwt(userClaims(bench.idp.url, 2, 600, now - 7200), bench.keys.ES256)),
      code: 'TOKEN_EXPIRED',
      policy: '',
    },
    {
      name: 'stranger',
      description: 'Checks from a peer no policy allows, without a token (403)',
      share: 0.1,
      body: encodeTokenCheckRequest(undefined, STRANGER),
      code: 'NO_ALLOW_MATCH',
      policy: '',
    },
  ];
}

/** Every kind gets its expected decision (which also puts the token in L1); throws otherwise. */
async function probeMix(port: number, mix: readonly MixKind[]): Promise<void> {
  const client = connectCheckClient(port);
  try {
    for (const kind of mix) {
      const response = await firstAnswer(client, kind.body);
      const decision = decisionOf(response);
      const as = kind.code === 'ALLOWED' ? decision === 'allow' : decision.endsWith(` ${kind.code}`);
      if (!as) throw new Error(`probe of ${kind.name}: expected ${kind.code}, got ${decision}`);
    }
  } finally {
    client.close();
  }
}

/** `gatehouse_decisions_total` by `code` and `policy` label, keyed `code policy`. */
function decisionCounts(metrics: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const match of metrics.matchAll(/^gatehouse_decisions_total\{([^}]*)\} (\d+)$/gm)) {
    const labels = match[1] ?? '';
    const label = (name: string) => new RegExp(`${name}="([^"]*)"`).exec(labels)?.[1] ?? '';
    const key = `${label('code')} ${label('policy')}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(match[2]));
  }
  return counts;
}

async function scrape(url: string): Promise<string> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  return response.text();
}

async function takeSample(pid: number, metricsUrl: string, startedAt: number): Promise<Sample> {
  const process = readProcess(pid);
  const at = Date.now();
  const text = await scrape(metricsUrl);
  const checks = [...text.matchAll(/^gatehouse_decisions_total\{[^}]*\} (\d+)$/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
  const quantile = (q: string) =>
    Number(new RegExp(`^gatehouse_runtime_event_loop_delay_seconds\\{quantile="${q}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  const delay = { p50: quantile('0.5'), p99: quantile('0.99'), max: quantile('1') };
  return { t: (at - startedAt) / 1000, process, checks, ...(Number.isNaN(delay.max) ? {} : { delay }) };
}

interface SoakRun {
  readonly options: SoakOptions;
  readonly closedRate: number;
  readonly rate: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly samples: readonly Sample[];
  readonly mix: readonly MixKind[];
  /** h2load's results, one per kind of the mix, in the mix's order. */
  readonly results: readonly H2loadRateSummary[];
  /** The server's decision counts before and after the load. */
  readonly before: ReadonlyMap<string, number>;
  readonly after: ReadonlyMap<string, number>;
  readonly coresNote: string;
}

/** Sent vs counted, per kind; a Check counted under a decision no kind expects is wrong too. */
function checkDecisions(run: SoakRun): { sent: number; wrong: number; lines: string[][] } {
  const counted = new Map<string, number>();
  for (const [key, count] of run.after) counted.set(key, count - (run.before.get(key) ?? 0));
  const expected = new Map<string, number>();
  run.mix.forEach((kind, i) => {
    const key = `${kind.code} ${kind.policy}`;
    expected.set(key, (expected.get(key) ?? 0) + (run.results[i]?.done ?? 0));
  });
  let wrong = 0;
  const lines: string[][] = [];
  for (const key of new Set([...expected.keys(), ...counted.keys()])) {
    const want = expected.get(key) ?? 0;
    const got = counted.get(key) ?? 0;
    if (want === 0 && got === 0) continue;
    wrong += Math.abs(want - got);
    const [code, policy] = key.split(' ');
    lines.push([code ?? '', policy === '' || policy === undefined ? '—' : policy, formatNumber(want), formatNumber(got)]);
  }
  const sent = run.results.reduce((sum, result) => sum + result.done, 0);
  return { sent, wrong, lines };
}

function report(run: SoakRun): BenchmarkReport {
  const { options, rate, seconds, samples } = run;
  const recorded = samples.filter((sample) => sample.t >= 0);
  const first = recorded[0];
  const last = recorded[recorded.length - 1];
  if (first === undefined || last === undefined) throw new Error('no sample after the warm-up');
  const rssMax = Math.max(...recorded.map((sample) => sample.process.rssBytes));
  const flat = rssMax <= first.process.rssBytes * (1 + RSS_FLAT_WITHIN);
  const delays = recorded.flatMap((sample) => (sample.delay === undefined ? [] : [sample.delay]));
  const worstP99 = Math.max(...delays.map((delay) => delay.p99));
  const worstMax = Math.max(...delays.map((delay) => delay.max));
  const errors = run.results.reduce((sum, result) => sum + result.failed, 0);
  const decisions = checkDecisions(run);
  const cpuPerThousand = ((last.process.cpuSeconds - first.process.cpuSeconds) / (last.checks - first.checks)) * 1000;
  const ms = (seconds: number) => (seconds * 1000).toFixed(1);
  const latency = run.results.map(
    (result, i) => `${run.mix[i]?.name}: ${result.requestTime.meanMs.toFixed(2)} / ${result.requestTime.maxMs.toFixed(1)}`,
  );

  // One row per minute (per 10 s when the soak is shorter than 3 minutes).
  const rowSeconds = seconds >= 180 ? 60 : 10;
  const rows: string[][] = [];
  let previous = first;
  for (let end = rowSeconds; end <= seconds + rowSeconds / 2; end += rowSeconds) {
    const within = recorded.filter((sample) => sample.t > previous.t && sample.t <= end + options.sampleSeconds / 2);
    const sample = within[within.length - 1];
    if (sample === undefined) continue;
    const rowDelays = within.flatMap((entry) => (entry.delay === undefined ? [] : [entry.delay]));
    const wallSeconds = (sample.process.at - previous.process.at) / 1000;
    rows.push([
      `${end - rowSeconds}–${end} s`,
      mebibytes(sample.process.rssBytes),
      (((sample.process.cpuSeconds - previous.process.cpuSeconds) / wallSeconds) * 100).toFixed(0),
      formatNumber(sample.checks - previous.checks),
      formatNumber((sample.checks - previous.checks) / wallSeconds),
      rowDelays.length === 0 ? '—' : ms(Math.max(...rowDelays.map((delay) => delay.p99))),
      rowDelays.length === 0 ? '—' : ms(Math.max(...rowDelays.map((delay) => delay.max))),
    ]);
    previous = sample;
  }

  const markdown = [
    table(
      ['', 'this run'],
      [
        [
          'maximum throughput (closed loop) → held rate',
          `${formatNumber(run.closedRate)} → **${formatNumber(rate)} Checks/s** for ${seconds} s (after ${run.warmupSeconds} s of warm-up)`,
        ],
        ['Checks sent (warm-up included)', formatNumber(decisions.sent)],
        ['errors (failed streams and non-2xx answers, warm-up included)', `**${formatNumber(errors)}**`],
        ['wrong decisions (sent vs counted by the server, per decision)', `**${formatNumber(decisions.wrong)}**`],
        [
          'RSS after the warm-up / at the end / highest sample, MiB',
          `${mebibytes(first.process.rssBytes)} / ${mebibytes(last.process.rssBytes)} / ${mebibytes(rssMax)} (peak VmHWM ${mebibytes(last.process.peakRssBytes)})`,
        ],
        [`RSS flat within ${RSS_FLAT_WITHIN * 100} %`, flat ? 'yes' : '**no**'],
        ['event loop delay: worst 10 s window p99 / max, ms', delays.length === 0 ? 'not reported' : `${ms(worstP99)} / ${ms(worstMax)}`],
        ['server CPU-seconds per 1,000 Checks (whole recorded part)', cpuPerThousand.toFixed(3)],
        ["latency as h2load measures it: mean / max per kind, ms (percentiles: see 'Latency at fixed rates')", latency.join('; ')],
      ],
    ),
    '',
    table(['decision code', 'policy', 'Checks sent', 'counted by Gatehouse'], decisions.lines),
    '',
    table(['recorded', 'RSS MiB', 'server CPU %', 'Checks answered', 'Checks/s', 'event loop p99 ms', 'event loop max ms'], rows),
    '',
    `Command: \`npm run soak\` (${SOAK_DEFAULTS.minutes} minutes), or \`npm run build && node dist/bench/run.js --only soak --soak-minutes <m>\`. Not part of \`npm run bench\`.`,
    '',
    `- Load: h2load (nghttp2), first in a closed loop with the plain Check (4 connections × 16 streams, ${options.closedWarmupSeconds} s + ${options.closedSeconds} s) for the maximum, then ${options.fraction * 100} % of it at a fixed rate (h2load \`--rps\`), one h2load process per kind of Check, each with ${options.clients} connections and up to ${options.streams} streams per connection, all on the load core, for the warm-up and the recorded part.`,
    `- Mix: ${run.mix.map((kind) => `${kind.share * 100} % ${kind.description}`).join('; ')}. Each kind is probed (decoded) before and after the soak.`,
    "- Decisions: h2load sees HTTP statuses only (a gRPC denial is HTTP 200), so every Check is checked on the server's own count instead: the increase of `gatehouse_decisions_total` by decision code and policy over the load must equal, for each decision, the Checks h2load completed of the kinds expected to get it. A Check answered otherwise, or not counted, is a wrong decision.",
    `- Gatehouse: the JWT throughput benchmark's configuration (Redis, log level warn) plus the plain policy, and the admin HTTP port on 127.0.0.1. Every ${options.sampleSeconds} s the benchmark reads the server's RSS (\`VmRSS\`) and CPU time (threads' schedstat) from /proc and scrapes \`/metrics\` (as Prometheus would): \`gatehouse_decisions_total\` for the Checks answered, \`gatehouse_runtime_event_loop_delay_seconds\` for the event loop's delay over the server's last complete 10 s window. "RSS after the warm-up" is the first sample of the recorded part; flat = no recorded sample more than ${RSS_FLAT_WITHIN * 100} % above it.`,
    `- Cores: ${run.coresNote}; the bench's redis-server on the load generator's core.`,
  ].join('\n');
  return {
    name: 'soak',
    title: 'Soak',
    targets: [
      {
        target: `soak at ${options.fraction * 100} % of the maximum throughput: 0 errors, 0 wrong decisions`,
        result: `${formatNumber(errors)} errors, ${formatNumber(decisions.wrong)} wrong in ${formatNumber(decisions.sent)} Checks (${seconds / 60} min)`,
        met: errors === 0 && decisions.wrong === 0,
      },
      {
        target: `RSS flat within ${RSS_FLAT_WITHIN * 100} % during the soak`,
        result: `${mebibytes(first.process.rssBytes)} → ${mebibytes(last.process.rssBytes)} MiB (highest ${mebibytes(rssMax)})`,
        met: flat,
      },
    ],
    markdown,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
