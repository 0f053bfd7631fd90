/**
 * Soak: one Gatehouse under a steady open-loop load for minutes (ten by
 * default), at 80 % of the maximum throughput it reached in a short closed
 * loop just before, with a mix of plain mTLS Checks, JWT L1 hits and
 * denials. Every few seconds the server's RSS and CPU time (from /proc), the
 * Checks it counted and its event loop's delay (both from its `/metrics`)
 * are sampled; every answer is checked against the expected decision.
 * Not part of `npm run bench`: `npm run soak`.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectCheckClient, decisionOf, firstAnswer } from './check-client.js';
import { SOURCE_PRINCIPAL } from './fixed-request.js';
import { encodeTokenCheckRequest, freshKeyPrefix, startTokenBench, writeTokenGatehouse, type TokenBench } from './jwt-fixture.js';
import { signJwt, userClaims } from './jwt-tokens.js';
import { runLoadGenerator, writeBodies } from './load-client.js';
import type { OpenLoopResult } from './load-generator.js';
import type { PolicyFile } from './policies.js';
import { GATEHOUSE_CLI, cpuPlan, freePort, spawnServer, type ServerProcess } from './processes.js';
import { mebibytes, readProcess, type ProcessReading } from './proc-stats.js';
import { table, type BenchmarkReport } from './report.js';
import { formatNumber, percentile } from './stats.js';

export interface SoakOptions {
  readonly minutes: number;
  /** How often the server is sampled. */
  readonly sampleSeconds: number;
  /** The closed loop that finds the maximum throughput: warm-up, then measured. */
  readonly closedWarmupSeconds: number;
  readonly closedSeconds: number;
  /** The share of the maximum the soak holds. */
  readonly fraction: number;
  readonly channels: number;
  readonly concurrency: number;
  readonly deadlineMs: number;
}

export const SOAK_DEFAULTS: SoakOptions = {
  minutes: 10,
  sampleSeconds: 5,
  closedWarmupSeconds: 1,
  closedSeconds: 5,
  fraction: 0.8,
  channels: 4,
  concurrency: 64,
  deadlineMs: 1000,
};

/** RSS may grow this much from the end of the warm-up to its highest sample. */
const RSS_FLAT_WITHIN = 0.1;
const ALLOW = 'allow';
/** A peer that no policy allows without a token. */
const STRANGER = 'spiffe://cluster.local/ns/default/sa/share';
const TOKENS = 50;
/** Per 20 Checks: 8 plain mTLS allows, 8 JWT L1 hits, 2 expired tokens, 2 from a peer no policy allows. */
const PATTERN = ['plain', 'jwt', 'plain', 'jwt', 'plain', 'jwt', 'expired', 'plain', 'jwt', 'stranger'] as const;
type MixKind = (typeof PATTERN)[number];

/** A reading of the server during the soak; `t` is seconds from the first recorded Check (negative in the warm-up). */
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
    await probeMix(server.port, mix);
    await scrape(metricsUrl); // loads the SDK, which starts measuring the event loop's delay

    const allowedFile = path.join(scratch, 'allowed.bodies');
    await writeBodies(allowedFile, mix.allowedBodies);
    const closed = await runLoadGenerator(
      {
        mode: 'closed',
        port: server.port,
        bodiesFile: allowedFile,
        channels: options.channels,
        concurrency: options.concurrency,
        warmupSeconds: options.closedWarmupSeconds,
        durationSeconds: options.closedSeconds,
        cycle: true,
        expect: 'allow',
      },
      cores.load,
    );
    if (closed.unexpected > 0 || closed.errors > 0) throw new Error(`closed loop: ${closed.examples.join('; ')}`);
    const rate = Math.max(1, Math.round(closed.perSecond * options.fraction));
    const seconds = Math.round(options.minutes * 60);
    const warmupSeconds = Math.min(30, Math.max(2, Math.round(seconds / 10)));
    log(`soak: maximum ${formatNumber(closed.perSecond)} Checks/s (closed loop); holding ${formatNumber(rate)}/s for ${seconds} s`);

    const bodiesFile = path.join(scratch, 'mix.bodies');
    const sequenceFile = path.join(scratch, 'mix.sequence.json');
    await writeBodies(bodiesFile, mix.bodies);
    await writeFile(sequenceFile, JSON.stringify(Array.from({ length: rate * seconds }, (_, i) => mix.next(i))));

    const pid = server.pid;
    const samples: Sample[] = [];
    let startedAt = Date.now() + warmupSeconds * 1000;
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
    let result: OpenLoopResult;
    try {
      result = await runLoadGenerator(
        {
          mode: 'open',
          port: server.port,
          bodiesFile,
          sequenceFile,
          expected: mix.expected,
          ratePerSecond: rate,
          deadlineMs: options.deadlineMs,
          channels: options.channels,
          warmupSeconds,
          warmupBodies: mix.allowedIndices,
        },
        cores.load,
        (at) => (startedAt = at),
      );
    } finally {
      sampling = false;
      await sampler;
    }
    samples.push(await takeSample(pid, metricsUrl, startedAt));
    await probeMix(server.port, mix); // still answering as expected
    return report({ options, closedRate: closed.perSecond, rate, seconds, warmupSeconds, samples, result, coresNote: cores.note });
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

interface Mix {
  readonly bodies: readonly Buffer[];
  readonly expected: readonly string[];
  /** The body index of the i-th Check of the soak. */
  next(i: number): number;
  /** What the closed loop and the warm-up send: the bodies that are allowed. */
  readonly allowedIndices: readonly number[];
  readonly allowedBodies: readonly Buffer[];
  /** One body of each kind, for the probes. */
  readonly probes: readonly number[];
}

function makeMix(bench: TokenBench): Mix {
  const bodies: Buffer[] = [];
  const expected: string[] = [];
  const add = (body: Buffer, decision: string) => {
    expected.push(decision);
    return bodies.push(body) - 1;
  };
  const plain = add(encodeTokenCheckRequest(undefined), ALLOW);
  const tokens = Array.from({ length: TOKENS }, (_, n) =>
    add(encodeTokenCheckRequest(signJwt(userClaims(bench.idp.url, n), bench.keys.ES256)), ALLOW),
  );
  const now = Math.floor(Date.now() / 1000);
  const expired = add(
    encodeTokenCheckRequest(signJwt(userClaims(bench.idp.url, TOKENS, 600, now - 7200), bench.keys.ES256)),
    'Unauthorized TOKEN_EXPIRED',
  );
  const stranger = add(encodeTokenCheckRequest(undefined, STRANGER), 'Forbidden NO_ALLOW_MATCH');
  const byKind: Record<MixKind, (i: number) => number> = {
    plain: () => plain,
    jwt: (i) => tokens[i % TOKENS] as number,
    expired: () => expired,
    stranger: () => stranger,
  };
  const allowedIndices = [plain, ...tokens];
  return {
    bodies,
    expected,
    next: (i) => byKind[PATTERN[i % PATTERN.length] as MixKind](i),
    allowedIndices,
    allowedBodies: allowedIndices.map((index) => bodies[index] as Buffer),
    probes: [plain, ...tokens, expired, stranger],
  };
}

/** Every probe body gets its expected decision (which also puts every token in L1); throws otherwise. */
async function probeMix(port: number, mix: Mix): Promise<void> {
  const client = connectCheckClient(port);
  try {
    for (const index of mix.probes) {
      const decision = decisionOf(await firstAnswer(client, mix.bodies[index] as Buffer));
      if (decision !== mix.expected[index]) throw new Error(`probe of body ${index}: expected ${mix.expected[index]}, got ${decision}`);
    }
  } finally {
    client.close();
  }
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
  readonly result: OpenLoopResult;
  readonly coresNote: string;
}

function report(run: SoakRun): BenchmarkReport {
  const { options, rate, seconds, samples, result } = run;
  const recorded = samples.filter((sample) => sample.t >= 0);
  const first = recorded[0];
  const last = recorded[recorded.length - 1];
  if (first === undefined || last === undefined) throw new Error('no sample after the warm-up');
  const rssMax = Math.max(...recorded.map((sample) => sample.process.rssBytes));
  const flat = rssMax <= first.process.rssBytes * (1 + RSS_FLAT_WITHIN);
  const delays = recorded.flatMap((sample) => (sample.delay === undefined ? [] : [sample.delay]));
  const worstP99 = Math.max(...delays.map((delay) => delay.p99));
  const worstMax = Math.max(...delays.map((delay) => delay.max));
  const count = (outcome: number) => result.outcomes.filter((value) => value === outcome).length;
  const errors = count(2) + result.warmupProblems;
  const wrong = count(1);
  const latencies = result.latencies.filter((_, i) => result.outcomes[i] !== 2).sort((a, b) => a - b);
  const cpuPerThousand = ((last.process.cpuSeconds - first.process.cpuSeconds) / (last.checks - first.checks)) * 1000;
  const ms = (seconds: number) => (seconds * 1000).toFixed(1);

  // One row per minute (per 10 s when the soak is shorter than 3 minutes).
  const rowSeconds = seconds >= 180 ? 60 : 10;
  const rows: string[][] = [];
  let previous = first;
  for (let end = rowSeconds; end <= seconds + rowSeconds / 2; end += rowSeconds) {
    const within = recorded.filter((sample) => sample.t > previous.t && sample.t <= end + options.sampleSeconds / 2);
    const sample = within[within.length - 1];
    if (sample === undefined) continue;
    const inRow = (offset: number) => offset >= (end - rowSeconds) * 1000 && offset < end * 1000;
    let rowErrors = 0;
    let rowWrong = 0;
    result.offsets.forEach((offset, i) => {
      if (!inRow(offset)) return;
      if (result.outcomes[i] === 2) rowErrors++;
      if (result.outcomes[i] === 1) rowWrong++;
    });
    const rowDelays = within.flatMap((entry) => (entry.delay === undefined ? [] : [entry.delay]));
    rows.push([
      `${end - rowSeconds}–${end} s`,
      mebibytes(sample.process.rssBytes),
      (((sample.process.cpuSeconds - previous.process.cpuSeconds) / ((sample.process.at - previous.process.at) / 1000)) * 100).toFixed(0),
      formatNumber(sample.checks - previous.checks),
      String(rowErrors),
      String(rowWrong),
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
          `${formatNumber(run.closedRate)} → **${formatNumber(rate)} Checks/s** for ${seconds} s`,
        ],
        ['Checks recorded (after the warm-up)', formatNumber(result.outcomes.length)],
        ['errors (gRPC errors and deadlines, warm-up included)', `**${formatNumber(errors)}**`],
        ['wrong decisions', `**${formatNumber(wrong)}**`],
        [
          'RSS after the warm-up / at the end / highest sample, MiB',
          `${mebibytes(first.process.rssBytes)} / ${mebibytes(last.process.rssBytes)} / ${mebibytes(rssMax)} (peak VmHWM ${mebibytes(last.process.peakRssBytes)})`,
        ],
        [`RSS flat within ${RSS_FLAT_WITHIN * 100} %`, flat ? 'yes' : '**no**'],
        ['event loop delay: worst 10 s window p99 / max, ms', delays.length === 0 ? 'not reported' : `${ms(worstP99)} / ${ms(worstMax)}`],
        ['server CPU-seconds per 1,000 Checks (whole recorded part)', cpuPerThousand.toFixed(3)],
        [
          'latency from the scheduled send: p50 / p99 / p99.9 / max, ms',
          [0.5, 0.99, 0.999].map((q) => percentile(latencies, q).toFixed(2)).join(' / ') +
            ` / ${(latencies[latencies.length - 1] ?? Number.NaN).toFixed(1)}`,
        ],
        ['load generator CPU', `${result.cpuPercent.toFixed(0)} % of a core`],
      ],
    ),
    '',
    table(['recorded', 'RSS MiB', 'server CPU %', 'Checks answered', 'errors', 'wrong', 'event loop p99 ms', 'event loop max ms'], rows),
    '',
    ...(result.examples.length === 0 ? [] : [`First problems: ${result.examples.map((example) => `\`${example}\``).join('; ')}`, '']),
    `Command: \`npm run soak\` (${SOAK_DEFAULTS.minutes} minutes), or \`npm run build && node dist/bench/run.js --only soak --soak-minutes <m>\`. Not part of \`npm run bench\`.`,
    '',
    `- Load: bench/load-generator.ts, first in a closed loop (${options.channels} HTTP/2 connections, ${options.concurrency} Checks in flight, the allowed bodies of the mix, ${options.closedWarmupSeconds} s + ${options.closedSeconds} s) for the maximum, then in an open loop at ${options.fraction * 100} % of it: ${run.warmupSeconds} s of warm-up (allowed bodies, not recorded) and ${seconds} s recorded, each Check sent at its scheduled time and its latency counted from then; gRPC deadline ${formatNumber(options.deadlineMs)} ms. Every answer is decoded and compared with the expected decision.`,
    `- Mix per 20 Checks: 8 plain mTLS Checks (the reminder service's peer principal, no token; allowed by \`default/todos-reminder\`), 8 with one of ${TOKENS} ES256 tokens (L1 hits; allowed by \`default/todos-users\`), 2 with an expired token (401 TOKEN_EXPIRED), 2 from a peer no policy allows, without a token (403 NO_ALLOW_MATCH). Each kind is probed before and after the soak.`,
    `- Gatehouse: the JWT throughput benchmark's configuration (Redis, log level warn) plus the plain policy, and the admin HTTP port on 127.0.0.1. Every ${options.sampleSeconds} s the benchmark reads the server's RSS (\`VmRSS\`) and CPU time (threads' schedstat) from /proc and scrapes \`/metrics\` (as Prometheus would): \`gatehouse_decisions_total\` for the Checks answered, \`gatehouse_runtime_event_loop_delay_seconds\` for the event loop's delay over the server's last complete 10 s window. "RSS after the warm-up" is the first sample of the recorded part; flat = no recorded sample more than ${RSS_FLAT_WITHIN * 100} % above it.`,
    `- Cores: ${run.coresNote}; the bench's redis-server on the load generator's core.`,
  ].join('\n');
  return {
    name: 'soak',
    title: 'Soak',
    targets: [
      {
        target: `soak at ${options.fraction * 100} % of the maximum throughput: 0 errors, 0 wrong decisions`,
        result: `${formatNumber(errors)} errors, ${formatNumber(wrong)} wrong in ${formatNumber(result.outcomes.length)} Checks (${seconds / 60} min)`,
        met: errors === 0 && wrong === 0,
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
