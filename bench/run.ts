/**
 * Runs the benchmarks and rewrites their sections of bench/RESULTS.md
 * (results-file.ts): the sections of benchmarks not run this time, and the
 * hand-written analysis between the ANALYSIS markers, are kept as they are.
 *
 *   node dist/bench/run.js                      all of them (what `npm run bench` runs)
 *   node dist/bench/run.js --only throughput    one or more, comma-separated: throughput, cold-start, rule-scaling,
 *                                               jwt-throughput, cache-rss, delegation, kubernetes-webhook,
 *                                               api-key, telemetry, latency, allocation, faults; and fuzz (only when named: 100,000
 *                                               fuzzed Checks take minutes; also `npm run fuzz`), soak (only when named:
 *                                               ten minutes by default, --soak-minutes <m>; also `npm run soak`)
 *   node dist/bench/run.js --quick              fewer repetitions, for trying changes (RESULTS.md is not written)
 *   node dist/bench/run.js --only throughput --cpu-prof <dir>   Gatehouse writes V8 CPU profiles to <dir>
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ALLOCATION_DEFAULTS, runAllocation } from './allocation.js';
import { COLD_START_DEFAULTS, runColdStart } from './cold-start.js';
import { h2loadAvailable, H2LOAD } from './h2load.js';
import { JWT_THROUGHPUT_DEFAULTS, runJwtThroughput } from './jwt-throughput.js';
import { LATENCY_DEFAULTS, runLatency } from './latency.js';
import { FUZZ_DEFAULTS, runFuzzBench } from './fuzz.js';
import { FAULTS_DEFAULTS, runFaults } from './faults.js';
import { CACHE_RSS_DEFAULTS, runCacheRss } from './cache-rss.js';
import { DELEGATION_DEFAULTS, runDelegation } from './delegation.js';
import { KUBERNETES_WEBHOOK_DEFAULTS, runKubernetesWebhook } from './kubernetes-webhook.js';
import { API_KEY_DEFAULTS, runApiKeyBench } from './api-key.js';
import { TELEMETRY_DEFAULTS, runTelemetryBench } from './telemetry.js';
import { describeMachine } from './machine.js';
import { SOAK_DEFAULTS, runSoak } from './soak.js';
import type { BenchmarkReport } from './report.js';
import { mergeSections, parseResults, renderResults, sectionOf, type ResultSection } from './results-file.js';
import { RULE_SCALING_DEFAULTS, runRuleScaling } from './rule-scaling.js';
import { THROUGHPUT_DEFAULTS, runThroughput } from './throughput.js';

const RESULTS_PATH = fileURLToPath(new URL('../../bench/RESULTS.md', import.meta.url));
const BENCHMARKS = [
  'throughput',
  'cold-start',
  'rule-scaling',
  'jwt-throughput',
  'faults',
  'cache-rss',
  'delegation',
  'kubernetes-webhook',
  'api-key',
  'telemetry',
  'latency',
  'allocation',
] as const;
/** Run only when named in --only: each takes longer than the default run should grow by. */
const ON_REQUEST = ['fuzz', 'soak'] as const;
const KNOWN: readonly string[] = [...BENCHMARKS, ...ON_REQUEST];
type BenchmarkName = (typeof BENCHMARKS)[number] | (typeof ON_REQUEST)[number];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      quick: { type: 'boolean', default: false },
      'cpu-prof': { type: 'string' },
      'soak-minutes': { type: 'string' },
    },
  });
  const selected = values.only === undefined ? [...BENCHMARKS] : values.only.split(',').map((name) => name.trim());
  const soakMinutes = values['soak-minutes'] === undefined ? SOAK_DEFAULTS.minutes : Number(values['soak-minutes']);
  if (!(soakMinutes > 0)) throw new Error(`--soak-minutes must be a positive number, got '${values['soak-minutes']}'`);
  for (const name of selected) {
    if (!KNOWN.includes(name)) throw new Error(`unknown benchmark '${name}' (known: ${KNOWN.join(', ')})`);
  }
  if (['throughput', 'jwt-throughput', 'api-key', 'telemetry'].some((name) => selected.includes(name)) && !h2loadAvailable())
    throw new Error(`${H2LOAD} not found: install the Debian package nghttp2-client`);

  const log = (line: string) => process.stderr.write(`${line}\n`);
  const run = {
    machine: describeMachine(),
    command:
      values.only === undefined
        ? 'npm run bench'
        : `npm run build && node dist/bench/run.js --only ${selected.join(',')}` +
          (values['soak-minutes'] === undefined ? '' : ` --soak-minutes ${values['soak-minutes']}`),
  };
  log(run.machine);
  const sections: ResultSection[] = [];
  for (const name of selected as BenchmarkName[]) {
    const benchmarkStart = Date.now();
    const report = await runOne(name, values.quick, values['cpu-prof'], soakMinutes, log);
    const minutes = (Date.now() - benchmarkStart) / 60_000;
    sections.push(sectionOf(report, run, minutes));
    log(`${name}: ${(minutes * 60).toFixed(0)} s`);
  }
  for (const section of sections) log(`\n${section.text}`);

  if (values.quick || values['cpu-prof'] !== undefined) {
    log('\n(--quick or --cpu-prof: RESULTS.md not written)');
    return;
  }
  const previous = parseResults(existsSync(RESULTS_PATH) ? readFileSync(RESULTS_PATH, 'utf8') : undefined);
  writeFileSync(RESULTS_PATH, renderResults(mergeSections(previous.sections, sections, KNOWN), previous.analysis));
  log(`\nwrote ${RESULTS_PATH}: ${sections.map((section) => section.title).join(', ')}`);
}

function runOne(
  name: BenchmarkName,
  quick: boolean,
  profileDir: string | undefined,
  soakMinutes: number,
  log: (line: string) => void,
): Promise<BenchmarkReport> {
  switch (name) {
    case 'throughput':
      return runThroughput(
        quick
          ? { ...THROUGHPUT_DEFAULTS, repetitions: 1, durationSeconds: 2, warmupSeconds: 1, profileDir }
          : { ...THROUGHPUT_DEFAULTS, profileDir },
        log,
      );
    case 'cold-start':
      return runColdStart(quick ? { runs: 3 } : COLD_START_DEFAULTS, log);
    case 'rule-scaling':
      return runRuleScaling(quick ? { ...RULE_SCALING_DEFAULTS, rounds: 2, iterations: 4_000 } : RULE_SCALING_DEFAULTS, log);
    case 'jwt-throughput':
      return runJwtThroughput(
        quick
          ? { ...JWT_THROUGHPUT_DEFAULTS, repetitions: 1, durationSeconds: 1, missTokens: 20_000, profileDir }
          : { ...JWT_THROUGHPUT_DEFAULTS, profileDir },
        log,
      );
    case 'faults':
      return runFaults(quick ? { ...FAULTS_DEFAULTS, durationSeconds: 6, warmupSeconds: 1 } : FAULTS_DEFAULTS, log);
    case 'cache-rss':
      return runCacheRss(quick ? { ...CACHE_RSS_DEFAULTS, runs: 1 } : CACHE_RSS_DEFAULTS, log);
    case 'delegation':
      return runDelegation(
        quick
          ? { ...DELEGATION_DEFAULTS, rounds: 2, iterations: 4_000, wireRepetitions: 1, exchangeRepetitions: 1, durationSeconds: 2 }
          : DELEGATION_DEFAULTS,
        log,
      );
    case 'kubernetes-webhook':
      return runKubernetesWebhook(
        quick ? { ...KUBERNETES_WEBHOOK_DEFAULTS, repetitions: 1, durationSeconds: 2, users: 100 } : KUBERNETES_WEBHOOK_DEFAULTS,
        log,
      );
    case 'api-key':
      return runApiKeyBench(
        quick
          ? { ...API_KEY_DEFAULTS, repetitions: 1, durationSeconds: 1, missKeys: 500, profileDir }
          : { ...API_KEY_DEFAULTS, profileDir },
        log,
      );
    case 'latency':
      return runLatency(
        quick ? { ...LATENCY_DEFAULTS, closedSeconds: 2, openSeconds: 2, fractions: [0.5], targetRepetitions: 1 } : LATENCY_DEFAULTS,
        log,
      );
    case 'allocation':
      return runAllocation(quick ? { ...ALLOCATION_DEFAULTS, shortChecks: 5_000, longChecks: 25_000 } : ALLOCATION_DEFAULTS, log);
    case 'soak':
      return runSoak({ ...SOAK_DEFAULTS, minutes: soakMinutes }, log);
    case 'telemetry':
      return runTelemetryBench(
        quick
          ? { ...TELEMETRY_DEFAULTS, repetitions: 1, durationSeconds: 2, warmupSeconds: 1, profileDir }
          : { ...TELEMETRY_DEFAULTS, profileDir },
        log,
      );
    case 'fuzz':
      return runFuzzBench(quick ? { ...FUZZ_DEFAULTS, requests: 5_000 } : FUZZ_DEFAULTS, log);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
