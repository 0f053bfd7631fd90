/**
 * Telemetry's cost on the hit path: Checks per second of Gatehouse deciding
 * the fixed request with telemetry off (no admin HTTP port, no OTEL_*
 * variable) and on (the admin HTTP port's `/metrics` scraped once a second,
 * spans exported over OTLP (http/protobuf) to a local sink, metrics pushed
 * over OTLP too), driven by h2load like the throughput benchmark. "On"
 * traces 1% of the Checks, as a mesh samples its traces; a third mode,
 * reported beside the target, traces every Check (a sampled `traceparent`
 * in the request). Runs alternate, on the same core.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { loadPackageDefinition } from '../gateway/envoy/descriptors.js';
import { connectCheckClient, describeResponse, firstAnswer } from './check-client.js';
import { AUTHORIZATION_SERVICE, CHECK_PATH, EXPECTED_DEMO_POLICY, fixedCheckRequest, grpcFrame } from './fixed-request.js';
import { DEMO_WORKLOADS, configYaml, demoPolicyFiles, writeGatehouseFixture } from './gatehouse-fixture.js';
import { h2loadArgs, runH2load } from './h2load.js';
import { startOtlpSink, type OtlpSink } from './otlp-sink.js';
import { throughputPolicies } from './policies.js';
import { GATEHOUSE_CLI, cpuPlan, cpuProfileOptions, freePort, spawnServer } from './processes.js';
import { THROUGHPUT_DEFAULTS, type ThroughputOptions } from './throughput.js';
import { table, type BenchmarkReport } from './report.js';
import { formatNumber, formatRatio, formatSummary, summarize } from './stats.js';

/** The throughput benchmark's load and repetitions, with profiles per mode under `profileDir`. */
export type TelemetryBenchOptions = ThroughputOptions;

export const TELEMETRY_DEFAULTS: TelemetryBenchOptions = THROUGHPUT_DEFAULTS;
const TARGET_RATIO = 0.9;
const RULES = 50;
const SCRAPE_INTERVAL_MS = 1000;
/** A sampled parent (flags 01): with the default sampler (parentbased_always_on) every Check's span is recorded and exported. */
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
/** The share of Checks traced in mode `on`. */
const SAMPLED = 0.01;

/** `on`: 1% of Checks traced (root spans, ratio sampler); `all`: every Check traced (a sampled parent). */
type Mode = 'off' | 'on' | 'all';
const MODES: readonly Mode[] = ['off', 'on', 'all'];

export async function runTelemetryBench(options: TelemetryBenchOptions, log: (line: string) => void): Promise<BenchmarkReport> {
  const cores = cpuPlan();
  const scratch = await mkdtemp(path.join(tmpdir(), 'gatehouse-bench-'));
  const messages = { plain: checkRequest(), traced: checkRequest(TRACEPARENT) };
  const bodyFiles = { plain: path.join(scratch, 'check-request.grpc'), traced: path.join(scratch, 'traced-check-request.grpc') };
  await writeFile(bodyFiles.plain, grpcFrame(messages.plain));
  await writeFile(bodyFiles.traced, grpcFrame(messages.traced));

  const demo = demoPolicyFiles();
  const extraApps = ['billing', 'search', 'notify', 'audit-log', 'export', 'profile'];
  const workloads = [...DEMO_WORKLOADS, ...extraApps.map((app) => ({ namespace: 'default', serviceAccount: app, app }))];
  const policies = [...throughputPolicies(RULES), ...demo.files];
  const configs = {
    off: await writeGatehouseFixture(`${configYaml(workloads, 'warn')}telemetry: { adminHttp: { enabled: false } }\n`, policies),
    on: await writeGatehouseFixture(
      `${configYaml(workloads, 'warn')}telemetry: { adminHttp: { enabled: true, host: 127.0.0.1 } }\n`,
      policies,
    ),
  };

  const rates: Record<Mode, number[]> = { off: [], on: [], all: [] };
  const exported: Record<Mode, { scrapes: number; traceExports: number; traceBytes: number; metricExports: number }> = {
    off: { scrapes: 0, traceExports: 0, traceBytes: 0, metricExports: 0 },
    on: { scrapes: 0, traceExports: 0, traceBytes: 0, metricExports: 0 },
    all: { scrapes: 0, traceExports: 0, traceBytes: 0, metricExports: 0 },
  };
  for (let repetition = 0; repetition < options.repetitions; repetition++) {
    // Each mode comes first, second and third in turn.
    const order = MODES.map((_, i) => MODES[(i + repetition) % MODES.length]!);
    for (const mode of order) {
      const port = await freePort();
      const adminPort = await freePort();
      const sink = mode === 'off' ? undefined : await startOtlpSink();
      const traced = mode === 'all';
      const message = traced ? messages.traced : messages.plain;
      const server = spawnServer({
        script: GATEHOUSE_CLI,
        args: ['serve', '--config', mode === 'off' ? configs.off : configs.on],
        core: cores.server,
        port,
        nodeOptions: cpuProfileOptions(options.profileDir === undefined ? undefined : path.join(options.profileDir, mode)),
        env: sink ? telemetryEnvironment(sink, adminPort, traced ? undefined : SAMPLED) : { OTEL_SDK_DISABLED: 'true' },
      });
      let scraper: Scraper | undefined;
      try {
        await verify(port, message);
        scraper = sink ? scrapeEverySecond(adminPort) : undefined;
        const bodyFile = traced ? bodyFiles.traced : bodyFiles.plain;
        const result = await runH2load({ port, path: CHECK_PATH, bodyFile, ...options, core: cores.load });
        await verify(port, message);
        if (scraper) {
          const { scrapes, decisions } = await scraper.stop();
          if (scrapes === 0 || decisions === 0) throw new Error(`/metrics was scraped ${scrapes} times and counted ${decisions} decisions`);
          exported[mode].scrapes += scrapes;
        }
        rates[mode].push(result.requestsPerSecond);
        log(`telemetry ${mode} #${repetition + 1}: ${formatNumber(result.requestsPerSecond)} Checks/s (${result.succeeded} requests)`);
      } catch (error) {
        throw new Error(`telemetry ${mode}: ${(error as Error).message}\n${server.output()}`, { cause: error });
      } finally {
        await scraper?.stop();
        // SIGTERM exports the spans still batched before the process exits.
        await server.stop(10_000);
        if (sink) {
          const received = sink.received();
          exported[mode].traceExports += received['/v1/traces']?.requests ?? 0;
          exported[mode].traceBytes += received['/v1/traces']?.bytes ?? 0;
          exported[mode].metricExports += received['/v1/metrics']?.requests ?? 0;
          await sink.close();
        }
      }
    }
  }
  if (exported.on.traceExports === 0 || exported.all.traceExports === 0) throw new Error('the OTLP sink received no spans');

  const off = summarize(rates.off);
  const on = summarize(rates.on);
  const all = summarize(rates.all);
  const ratio = on.median / off.median;
  const describe = (mode: Mode): string => {
    const { scrapes, traceExports, traceBytes, metricExports } = exported[mode];
    return `${scrapes} scrapes, ${formatNumber(traceExports)} span exports (${formatNumber(traceBytes / 1_048_576, 1)} MiB), ${metricExports} metric exports`;
  };
  const shownArgs = h2loadArgs({ port: 0, path: CHECK_PATH, bodyFile: 'check-request.grpc', ...options }).map((arg) =>
    /\s/.test(arg) ? `'${arg}'` : arg,
  );
  shownArgs[shownArgs.length - 1] = `http://127.0.0.1:$PORT${CHECK_PATH}`;
  const markdown = [
    table(
      ['Gatehouse', 'Checks/s median (min–max)', 'runs'],
      [
        ['telemetry off (no admin HTTP port, no OTEL_* variable)', formatSummary(off), String(off.samples.length)],
        [
          `telemetry on (Prometheus scraped 1/s, OTLP metrics, ${SAMPLED * 100}% of Checks traced over OTLP)`,
          formatSummary(on),
          String(on.samples.length),
        ],
        ['**ratio on / off**', `**${formatRatio(ratio)}**`, ''],
        ['telemetry on, every Check traced (not the target: see below)', formatSummary(all), String(all.samples.length)],
        ['ratio every Check traced / off', formatRatio(all.median / off.median), ''],
      ],
    ),
    '',
    'Command: `npm run build && node dist/bench/run.js --only telemetry`.',
    '',
    `- Load: \`h2load ${shownArgs.join(' ')}\`, ${options.repetitions} runs per mode, alternating, ${options.warmupSeconds} s warm-up + ${options.durationSeconds} s measured each. Cores: ${cores.note}.`,
    `- Request: the throughput benchmark's fixed CheckRequest; Gatehouse allows it by \`${EXPECTED_DEMO_POLICY}\` (checked before and after each run). Policies: the throughput benchmark's ${RULES} rules plus the demo's; log level warn.`,
    `- Off: \`telemetry.adminHttp.enabled: false\` and \`OTEL_SDK_DISABLED=true\`: Checks are neither timed nor counted and the SDK is never loaded.`,
    `- On: the admin HTTP port on 127.0.0.1 with \`GET /metrics\` once a second during the run, each scrape seeing the decision counter; \`OTEL_TRACES_EXPORTER=otlp\`, \`OTEL_METRICS_EXPORTER=otlp\` (every 5 s), \`OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf\` to a sink in the benchmark process that reads and discards each export (bench/otlp-sink.ts). \`OTEL_TRACES_SAMPLER=parentbased_traceidratio\` with \`OTEL_TRACES_SAMPLER_ARG=${SAMPLED}\`: the request has no \`traceparent\`, so each Check's span is a root span, recorded and exported for ${SAMPLED * 100}% of them (what a mesh sampling 1% of its traces hands Gatehouse, since the parent's flag decides). ${describe('on')}.`,
    `- Every Check traced: the same, with a sampled \`traceparent\` (flags 01) in the request and the default sampler (\`parentbased_always_on\`), so every Check's span is recorded and exported; the batch span processor keeps its defaults (queue 2048, batches of 512) and drops what a full queue cannot take, as in production. ${describe('all')}. An exported span costs Gatehouse's process about 15–20 µs of CPU (creating it, encoding it, sending it), against about 60 µs for the whole Check: trace a sample, not every Check (docs/telemetry.md).`,
  ].join('\n');
  return {
    name: 'telemetry',
    title: 'Telemetry cost',
    targets: [
      {
        target: `telemetry on ≥ ${TARGET_RATIO}× telemetry off (hit path)`,
        result: formatRatio(ratio),
        met: ratio >= TARGET_RATIO,
      },
    ],
    markdown,
  };
}

/** `sampled`: the ratio of root spans recorded; absent: the default sampler (parent-based, always on). */
function telemetryEnvironment(sink: OtlpSink, adminPort: number, sampled?: number): NodeJS.ProcessEnv {
  return {
    ...(sampled === undefined ? {} : { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: String(sampled) }),
    OTEL_EXPORTER_PROMETHEUS_PORT: String(adminPort),
    OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_METRICS_EXPORTER: 'otlp',
    OTEL_METRIC_EXPORT_INTERVAL: '5000',
  };
}

/** The fixed CheckRequest, with a W3C `traceparent` among its headers when one is given, serialized. */
function checkRequest(traceparent?: string): Buffer {
  const request = fixedCheckRequest() as { attributes: { request: { http: { headers: Record<string, string> } } } };
  if (traceparent !== undefined) request.attributes.request.http.headers.traceparent = traceparent;
  const service = loadPackageDefinition()[AUTHORIZATION_SERVICE] as grpc.ServiceDefinition | undefined;
  if (!service?.Check) throw new Error(`${AUTHORIZATION_SERVICE}/Check is missing from the descriptor set; run the build`);
  return service.Check.requestSerialize(request);
}

interface Scraper {
  /** Stops scraping; resolves with the scrapes made and the decisions the last one counted. */
  stop(): Promise<{ scrapes: number; decisions: number }>;
}

function scrapeEverySecond(port: number): Scraper {
  let scrapes = 0;
  let decisions = 0;
  let inFlight: Promise<void> = Promise.resolve();
  const scrape = async (): Promise<void> => {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    scrapes++;
    const counted = [...text.matchAll(/^gatehouse_decisions_total\{[^}]*\} (\d+)/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
    if (counted > 0) decisions = counted;
  };
  const timer = setInterval(() => {
    inFlight = inFlight.then(scrape).catch(() => undefined);
  }, SCRAPE_INTERVAL_MS);
  let stopped: Promise<{ scrapes: number; decisions: number }> | undefined;
  return {
    stop: () =>
      (stopped ??= (async () => {
        clearInterval(timer);
        await inFlight;
        return { scrapes, decisions };
      })()),
  };
}

/** Throws unless Gatehouse allows the request by the expected policy. */
async function verify(port: number, message: Buffer): Promise<void> {
  const client = connectCheckClient(port);
  try {
    const answer = describeResponse(await firstAnswer(client, message));
    if (!answer.allowed || answer.policy !== EXPECTED_DEMO_POLICY) {
      throw new Error(`expected an allow by ${EXPECTED_DEMO_POLICY}, got status ${answer.code} (policy ${answer.policy ?? 'none'})`);
    }
  } finally {
    client.close();
  }
}
