/**
 * The fuzz run: the bundled gateway, serving a policy set with one known
 * allow rule, gets 100,000 random and mutated CheckRequests over real gRPC
 * (the generator and oracle are test/helpers/fuzz-check-requests.ts, shared
 * with test/properties/fuzz-server.test.ts). It passes with zero crashes
 * (the process alive, health SERVING at the end, nothing uncaught on
 * stderr), every answer a well-formed CheckResponse or a clean gRPC error,
 * and zero allows the rule does not match.
 *
 *   npm run fuzz                                  build, then 100,000 requests (exit 1 on a violation)
 *   node dist/bench/fuzz.js --requests 1000000 --seed 42
 *   node dist/bench/run.js --only fuzz            as a section of bench/RESULTS.md
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  createFuzzMaterial,
  crashLines,
  fuzzConfigYaml,
  fuzzPolicyFiles,
  healthStatus,
  runFuzz,
  type FuzzTally,
} from '../test/helpers/fuzz-check-requests.js';
import { writeGatehouseFixture } from './gatehouse-fixture.js';
import { GATEHOUSE_CLI, cpuPlan, freePort, spawnServer } from './processes.js';
import { table, type BenchmarkReport } from './report.js';
import { formatNumber } from './stats.js';

export interface FuzzOptions {
  readonly requests: number;
  readonly seed: number;
  /** Checks in flight at once, over one HTTP/2 connection. */
  readonly concurrency: number;
}

export const FUZZ_DEFAULTS: FuzzOptions = { requests: 100_000, seed: 20_261_129, concurrency: 32 };

/** Runs the fuzz and reports it; the targets say whether it passed. */
export async function runFuzzBench(options: FuzzOptions, log: (line: string) => void): Promise<BenchmarkReport> {
  const material = await createFuzzMaterial();
  const configFile = await writeGatehouseFixture(
    `listen: { host: 127.0.0.1, port: 9191 }\n${fuzzConfigYaml}`,
    Object.entries(fuzzPolicyFiles(material.jwks)).map(([name, text]) => ({ name, text })),
  );
  const plan = cpuPlan();
  const server = spawnServer({ script: GATEHOUSE_CLI, args: ['serve', '--config', configFile], core: plan.server, port: await freePort() });
  let stderr = '';
  server.child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  try {
    await waitForServing(server.port, () => server.output());
    log(`fuzz: ${options.requests} requests, seed ${options.seed}, ${options.concurrency} in flight`);
    const tally = await runFuzz(server.port, {
      ...options,
      material,
      progress: (answered) => log(`fuzz: ${answered} answered`),
      progressEvery: 20_000,
    });
    const maxRssMiB = peakRssMiB(server.child.pid);
    const alive = server.child.exitCode === null && server.child.signalCode === null;
    const health = await healthStatus(server.port);
    const crashes = crashLines(stderr);
    return report(options, tally, { alive, health, crashes, maxRssMiB, cpu: plan.note });
  } finally {
    await server.stop();
  }
}

interface ServerState {
  readonly alive: boolean;
  readonly health: string;
  readonly crashes: readonly string[];
  readonly maxRssMiB: number | undefined;
  readonly cpu: string;
}

function report(options: FuzzOptions, tally: FuzzTally, server: ServerState): BenchmarkReport {
  const rate = tally.requests / tally.seconds;
  const byCount = (entries: Iterable<[string, number]>) =>
    [...entries]
      .sort((a, b) => b[1] - a[1])
      .map(([name, count]) => [name, String(count), `${formatNumber((100 * count) / tally.requests, 2)} %`]);
  const bypasses = tally.violations.filter((violation) => violation.startsWith('allowed')).length;
  const decidedByPolicies = policyDecided(tally.outcomes);
  const markdown = [
    `${tally.requests} CheckRequests (seed ${options.seed}, ${options.concurrency} in flight on one HTTP/2 connection) in ${formatNumber(tally.seconds, 1)} s: ${formatNumber(rate, 0)} per second. ${server.cpu}.`,
    '',
    'Requests by how they were made:',
    '',
    table(['kind', 'requests', 'share'], byCount(tally.kinds)),
    '',
    'Answers:',
    '',
    table(['outcome', 'answers', 'share'], byCount(tally.outcomes)),
    '',
    `Reached the policies (allowed, or denied with \`POLICY_DENIED\` or \`NO_ALLOW_MATCH\`): ${decidedByPolicies} (${formatNumber((100 * decidedByPolicies) / tally.requests, 1)} %); the rest stopped at decoding, peer identity or the token. Allows, each with the allowed shape by the oracle: ${tally.allows}. Gateway at the end: ${server.alive ? 'running' : '**exited**'}, health ${server.health}, peak RSS ${server.maxRssMiB === undefined ? 'unknown' : `${formatNumber(server.maxRssMiB, 0)} MiB`}.`,
    '',
    ...(tally.violations.length === 0 ? [] : ['Violations:', '', ...tally.violations.map((violation) => `- ${violation}`), '']),
    ...(server.crashes.length === 0 ? [] : ['Uncaught on stderr:', '', ...server.crashes.map((line) => `- \`${line}\``), '']),
    'Kinds: random bytes; a CheckRequest with every field drawn from a palette of valid, near-miss and hostile values (structured), or its encoding with bytes flipped, overwritten, cut, inserted or repeated (mutated); the allowed shape with one part replaced from the same palette (near-valid: the method, the path, the peer principal or certificate, the token, a header, the host, the destination, or `header_map`); a Struct nested thousands deep. Outcomes name the decision code of the denial body: how far each request got. ' +
      'Policy set: one mesh-wide ALLOW (source principal, GET, a path prefix), a DENY inside it, a RequestAuthentication with an inline key set. ' +
      'The oracle (test/helpers/fuzz-check-requests.ts) decodes each allowed request itself and checks that its principal, method and path (normalized by its own RFC 3986 model) fit the rule. ' +
      'Bytes that are not a CheckRequest may get gRPC INTERNAL or INVALID_ARGUMENT; anything that decodes must get a CheckResponse.',
  ].join('\n');
  return {
    name: 'fuzz',
    title: 'Fuzz: random and mutated CheckRequests',
    targets: [
      {
        target: `${options.requests} fuzzed Checks: no crash (process alive, health SERVING, nothing uncaught on stderr)`,
        result: `${server.alive ? 'alive' : 'exited'}, ${server.health}, ${server.crashes.length} stderr lines`,
        met: server.alive && server.health === 'SERVING' && server.crashes.length === 0,
      },
      {
        target: 'every answer a well-formed CheckResponse or a clean gRPC error; zero allows the allow rule does not match',
        result: `${tally.violations.length === 0 ? 0 : tally.violations.length} violations (${bypasses} allows outside the rule)`,
        met: tally.violations.length === 0 && tally.requests === options.requests,
      },
    ],
    markdown,
  };
}

/** Waits until the gateway's health service answers SERVING. */
async function waitForServing(port: number, output: () => string, timeoutMs = 20_000): Promise<void> {
  const giveUp = Date.now() + timeoutMs;
  while ((await healthStatus(port)) !== 'SERVING') {
    if (Date.now() > giveUp) throw new Error(`gatehouse did not serve within ${timeoutMs} ms:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The process's peak resident set (VmHWM), where /proc has it. */
function peakRssMiB(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { requests: { type: 'string' }, seed: { type: 'string' }, concurrency: { type: 'string' } },
  });
  const options: FuzzOptions = {
    requests: Number(values.requests ?? FUZZ_DEFAULTS.requests),
    seed: Number(values.seed ?? FUZZ_DEFAULTS.seed),
    concurrency: Number(values.concurrency ?? FUZZ_DEFAULTS.concurrency),
  };
  const log = (line: string) => process.stderr.write(`${line}\n`);
  runFuzzBench(options, log)
    .then((result) => {
      process.stdout.write(`## ${result.title}\n\n${result.markdown}\n`);
      const failed = result.targets.filter((target) => !target.met);
      for (const target of failed) log(`FAILED: ${target.target}: ${target.result}`);
      process.exitCode = failed.length === 0 ? 0 : 1;
    })
    .catch((error: unknown) => {
      log(`fuzz: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      process.exitCode = 1;
    });
}

/** Answers that a policy decided: allows, and denials by a DENY policy or for want of a matching ALLOW. */
export function policyDecided(outcomes: ReadonlyMap<string, number>): number {
  let count = 0;
  for (const [outcome, answers] of outcomes) if (/^allow$| POLICY_DENIED$| NO_ALLOW_MATCH$/.test(outcome)) count += answers;
  return count;
}
