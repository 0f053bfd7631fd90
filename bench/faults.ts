/**
 * Faults under load: for each of six faults, Gatehouse (Redis, a JWKS
 * identity provider, watched policy files) takes a steady open-loop load of
 * valid, invalid and token-less Checks, the fault is injected a third of the
 * way in and ended two thirds of the way in. Every answer is compared with
 * the decision expected for its request; requests whose right decision
 * changes with the fault (a token of a newly published key, a request a new
 * policy version decides) are sent by a probe in this process, judged by the
 * phase they were sent in. The report gives, per fault, Checks sent, failed,
 * wrong, p99 latency during the fault and the recovery time.
 */
import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import { connect } from '../test/helpers/grpc-client.js';
import { connectCheckClient, decisionOf, firstAnswer, type CheckClient } from './check-client.js';
import { writeGatehouseFixture } from './gatehouse-fixture.js';
import { countTokenKeys, encodeTokenCheckRequest, freshKeyPrefix, startTokenBench, tokenPolicies, type TokenBench } from './jwt-fixture.js';
import { generateSigningKey, jwksOf, signJwt, userClaims, TOKEN_ALGORITHMS, type SigningKey } from './jwt-tokens.js';
import { runLoadGenerator, writeBodies } from './load-client.js';
import type { OpenLoopResult } from './load-generator.js';
import { GATEHOUSE_CLI, cpuPlan, freePort, spawnServer, type ServerProcess } from './processes.js';
import { table, type BenchmarkReport } from './report.js';
import { formatNumber } from './stats.js';

export interface FaultsOptions {
  readonly ratePerSecond: number;
  /** Recorded seconds per fault; the fault runs in the middle third. */
  readonly durationSeconds: number;
  /** Per-Check gRPC deadline of the load generator and the probe. */
  readonly deadlineMs: number;
  readonly warmupSeconds: number;
}

// 30 s per fault: the token issue's target is Redis killed during a 30-second load
export const FAULTS_DEFAULTS: FaultsOptions = { ratePerSecond: 500, durationSeconds: 30, deadlineMs: 1000, warmupSeconds: 2 };

/** Gatehouse's settings the recovery times depend on. */
const COMMAND_TIMEOUT_MS = 50;
const FETCH_TIMEOUT_MS = 1000;
/**
 * How long a Check waits for a key fetch: longer than the SIGTERM case's slow
 * fetch (FETCH_TIMEOUT_MS / 2), so its Check is still in flight at SIGTERM;
 * shorter than a fetch that times out, so the hanging endpoint's Checks are told to retry.
 */
const CHECK_WAIT_MS = 800;
const UNKNOWN_KID_COOLDOWN_SECONDS = 2;
const DRAIN_SECONDS = 10;
/** How often the probe sends a Check whose right decision depends on the fault's phase. */
const PROBE_INTERVAL_MS = 20;
const ALLOW = 'allow';
const NO_MATCHING_KEY = 'Unauthorized TOKEN_NO_MATCHING_KEY';
const KEYS_PENDING = 'ServiceUnavailable TOKEN_KEYS_PENDING';
const NO_ALLOW_MATCH = 'Forbidden NO_ALLOW_MATCH';

type FaultName = 'redis-kill' | 'redis-stall' | 'jwks-errors' | 'jwks-hang' | 'policy-invalid' | 'sigterm';

const FAULTS: readonly { name: FaultName; title: string; recovery: string }[] = [
  { name: 'redis-kill', title: 'Redis killed, restarted empty', recovery: 'restart → first new `token:` key in Redis (an L2 write)' },
  { name: 'redis-stall', title: 'Redis stalled (`DEBUG SLEEP`)', recovery: 'stall ends → health `gatehouse.shared-state` SERVING' },
  { name: 'jwks-errors', title: 'JWKS answering 500, then garbage', recovery: 'endpoint back → first token of the new key allowed' },
  { name: 'jwks-hang', title: 'JWKS hanging (accepts, never answers)', recovery: 'endpoint back → first token of the new key allowed' },
  { name: 'policy-invalid', title: 'policy file replaced by two invalid ones', recovery: 'valid version written → first Check it decides' },
  { name: 'sigterm', title: 'SIGTERM (drain)', recovery: 'SIGTERM → process exited (0), the Check in flight answered' },
];

/** What one fault run measured; offsets in ms from the start of the recorded load. */
interface FaultRun {
  readonly result: OpenLoopResult;
  readonly faultFrom: number;
  readonly faultTo: number;
  readonly recoveryMs: number | undefined;
  readonly probe: ProbeCounts;
  /** SIGTERM only: when it was sent; Checks scheduled after it and refused at once are not failures (Envoy sends them elsewhere). */
  readonly drainFrom?: number;
  readonly note?: string;
}

interface ProbeCounts {
  readonly sent: number;
  readonly failed: number;
  readonly wrong: number;
  readonly examples: string[];
}

export async function runFaults(options: FaultsOptions, log: (line: string) => void): Promise<BenchmarkReport> {
  const runs = new Map<FaultName, FaultRun>();
  for (const fault of FAULTS) {
    const started = Date.now();
    runs.set(fault.name, await runFault(fault.name, options, log));
    log(`faults: ${fault.name} done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
  return report(runs, options);
}

/** The bodies every fault's load sends: reused valid tokens, invalid tokens; and the expected decision of each. */
function steadyBodies(
  bench: TokenBench,
  withoutToken: boolean,
): { bodies: Buffer[]; expected: string[]; sequence: (total: number) => number[] } {
  const issuer = bench.idp.url;
  const keys = TOKEN_ALGORITHMS.map((alg) => bench.keys[alg]);
  const bodies: Buffer[] = [];
  const expected: string[] = [];
  const add = (token: string | undefined, decision: string): number => {
    expected.push(decision);
    return bodies.push(encodeTokenCheckRequest(token)) - 1;
  };
  const reused = Array.from({ length: 300 }, (_, i) => add(signJwt(userClaims(issuer, i), keys[i % keys.length] as SigningKey), ALLOW));
  const now = Math.floor(Date.now() / 1000);
  const expired = add(signJwt(userClaims(issuer, 1000, 600, now - 7200), bench.keys.ES256), 'Unauthorized TOKEN_EXPIRED');
  const good = signJwt(userClaims(issuer, 1001), bench.keys.ES256);
  const forged = add(
    `${good.slice(0, good.lastIndexOf('.') + 1)}${Buffer.alloc(64, 7).toString('base64url')}`,
    'Unauthorized TOKEN_BAD_SIGNATURE',
  );
  const none = withoutToken ? add(undefined, NO_ALLOW_MATCH) : undefined;
  let n = 2000;
  // Per 10 Checks: 6 reused tokens (cache hits), 2 fresh ones (verified, written to L2), 1 invalid, 1 without a token (or reused).
  const sequence = (total: number): number[] =>
    Array.from({ length: total }, (_, i) => {
      const slot = i % 10;
      if (slot === 3 || slot === 7) return add(signJwt(userClaims(issuer, n++), keys[n % keys.length] as SigningKey), ALLOW);
      if (slot === 5) return i % 20 === 5 ? expired : forged;
      if (slot === 9 && none !== undefined) return none;
      return reused[(i * 7919) % reused.length] as number;
    });
  return { bodies, expected, sequence };
}

function gatehouseConfig(redisUrl: string, keyPrefix: string): string {
  return [
    'listen: { host: 127.0.0.1, port: 9191 }',
    'policies: { paths: [./policies], rootNamespace: istio-system, defaultNamespace: default, watch: true }',
    'identity: { trustDomains: [cluster.local] }',
    'workloads:',
    '  - { namespace: default, serviceAccount: todos, labels: { app: todos }, service: todos }',
    '  - { namespace: default, serviceAccount: reminder, labels: { app: reminder }, service: reminder }',
    `redis: { url: "${redisUrl}", keyPrefix: "${keyPrefix}", commandTimeoutMs: ${COMMAND_TIMEOUT_MS} }`,
    `jwt: { jwks: { fetchTimeoutMs: ${FETCH_TIMEOUT_MS}, checkWaitMs: ${CHECK_WAIT_MS}, refreshIntervalSeconds: 3600, unknownKidCooldownSeconds: ${UNKNOWN_KID_COOLDOWN_SECONDS} } }`,
    `drainSeconds: ${DRAIN_SECONDS}`,
    'log: { level: warn }',
    '',
  ].join('\n');
}

/** Version 2 of the ALLOW policy: any caller may GET a todo, with or without a token. */
const POLICY_V2 = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: todos-users, namespace: default }
spec:
  selector: { matchLabels: { app: todos } }
  action: ALLOW
  rules:
    - to: [{ operation: { methods: [GET], paths: ["/todos/*"] } }]
`;
const INVALID_POLICIES = [
  'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nspec: { rules: [ { to: \n',
  POLICY_V2.replace('rules:', 'rulez:'),
];

async function runFault(name: FaultName, options: FaultsOptions, log: (line: string) => void): Promise<FaultRun> {
  const cores = cpuPlan();
  const bench = await startTokenBench(cores.load);
  const keyPrefix = freshKeyPrefix(`faults-${name}`);
  const configFile = await writeGatehouseFixture(gatehouseConfig(bench.redis.url, keyPrefix), tokenPolicies(bench.idp));
  const policiesDir = path.join(path.dirname(configFile), 'policies');
  const adminPort = await freePort();
  const server = spawnServer({
    script: GATEHOUSE_CLI,
    args: ['serve', '--config', configFile],
    core: cores.server,
    port: await freePort(),
    env: { OTEL_EXPORTER_PROMETHEUS_PORT: String(adminPort) },
  });
  const probeClient = connectCheckClient(server.port);
  try {
    // The policy fault's probe sends requests without a token, whose decision the new policy version changes.
    const steady = steadyBodies(bench, name !== 'policy-invalid');
    const total = options.ratePerSecond * options.durationSeconds;
    const sequence = steady.sequence(total);
    const scratch = path.dirname(configFile);
    const bodiesFile = path.join(scratch, 'faults.bodies');
    const sequenceFile = path.join(scratch, 'faults.sequence.json');
    await writeBodies(bodiesFile, steady.bodies);
    await writeFile(sequenceFile, JSON.stringify(sequence));
    for (const index of [0, sequence[3] as number, sequence[5] as number, sequence[15] as number, sequence[9] as number]) {
      const decision = decisionOf(await firstAnswer(probeClient, steady.bodies[index] as Buffer));
      if (decision !== steady.expected[index]) throw new Error(`probe: expected ${steady.expected[index]}, got ${decision}`);
    }

    const faultFrom = (options.durationSeconds * 1000) / 3;
    const faultTo = (options.durationSeconds * 2000) / 3;
    const fault = faultActions(name, { bench, server, probeClient, policiesDir, adminPort, keyPrefix, options, log });
    let timeline: Promise<Measured> = Promise.resolve({ recoveryMs: undefined, probe: emptyProbe() });
    const result = await runLoadGenerator(
      {
        mode: 'open',
        port: server.port,
        bodiesFile,
        sequenceFile,
        expected: steady.expected,
        ratePerSecond: options.ratePerSecond,
        deadlineMs: options.deadlineMs,
        channels: 2,
        warmupSeconds: options.warmupSeconds,
        warmupBodies: Array.from({ length: 20 }, (_, i) => sequence[i] as number),
      },
      cores.load,
      (startedAt) => {
        timeline = fault(startedAt, startedAt + faultFrom, startedAt + faultTo, startedAt + options.durationSeconds * 1000);
      },
    );
    const measured = await timeline;
    return { result, faultFrom, faultTo, ...measured };
  } catch (error) {
    throw new Error(`faults (${name}): ${(error as Error).message}\n${server.output()}`, { cause: error });
  } finally {
    probeClient.close();
    await server.stop();
    await bench.close();
  }
}

interface Measured {
  readonly recoveryMs: number | undefined;
  readonly probe: ProbeCounts;
  readonly drainFrom?: number;
  readonly note?: string;
}

interface FaultContext {
  readonly bench: TokenBench;
  readonly server: ServerProcess;
  readonly probeClient: CheckClient;
  readonly policiesDir: string;
  readonly adminPort: number;
  readonly keyPrefix: string;
  readonly options: FaultsOptions;
  readonly log: (line: string) => void;
}

type Timeline = (startedAt: number, faultFrom: number, faultTo: number, end: number) => Promise<Measured>;

/** What happens during the load for each fault, and how its recovery is seen. */
function faultActions(name: FaultName, context: FaultContext): Timeline {
  const { bench, log } = context;
  switch (name) {
    case 'redis-kill':
      return async (_startedAt, faultFrom, faultTo, end) => {
        await sleepUntil(faultFrom);
        await bench.redis.kill();
        await sleepUntil(faultTo);
        // The fault ends when redis-server starts; Gatehouse may reconnect before restart() has seen it answer PING.
        const restartedAt = Date.now();
        await bench.redis.restart();
        const writtenAt = await pollUntil(async () => (await countTokenKeys(bench.inspector, context.keyPrefix)) > 0, end);
        return { recoveryMs: writtenAt === undefined ? undefined : writtenAt - restartedAt, probe: emptyProbe() };
      };
    case 'redis-stall':
      return async (_startedAt, faultFrom, faultTo, end) => {
        const staller = new Redis(bench.redis.port, '127.0.0.1', { maxRetriesPerRequest: 0 });
        const health = connect('grpc.health.v1.Health', `127.0.0.1:${context.server.port}`);
        const sharedState = async () =>
          (await health.call<{ status: string }>('Check', { service: 'gatehouse.shared-state' }, 1000)).status;
        try {
          await sleepUntil(faultFrom);
          await staller.call('DEBUG', 'SLEEP', ((faultTo - faultFrom) / 1000).toFixed(1));
          const stallEndedAt = Date.now();
          const servingAt = await pollUntil(async () => (await sharedState()) === 'SERVING', end);
          return { recoveryMs: servingAt === undefined ? undefined : servingAt - stallEndedAt, probe: emptyProbe() };
        } finally {
          staller.disconnect();
          health.close();
        }
      };
    case 'jwks-errors':
    case 'jwks-hang':
      return async (_startedAt, faultFrom, faultTo, end) => {
        const rotated = generateSigningKey('ES256');
        let n = 0;
        let phase: 'before' | 'fault' | 'back' | 'fetched' = 'before';
        const right = (sentIn: string): readonly string[] =>
          sentIn === 'back' ? [NO_MATCHING_KEY, KEYS_PENDING, ALLOW] : sentIn === 'fetched' ? [ALLOW] : [NO_MATCHING_KEY, KEYS_PENDING];
        let recoveredAt: number | undefined;
        const probe = runProbe(
          context.probeClient,
          () => encodeTokenCheckRequest(signJwt(userClaims(bench.idp.url, 100_000 + n++), rotated)),
          () => phase,
          (sentIn, decision) => {
            if (decision === ALLOW && recoveredAt === undefined && phase === 'back') {
              recoveredAt = Date.now();
              phase = 'fetched';
            }
            return right(sentIn).includes(decision);
          },
          end,
          // A token of an unknown key waits for the key fetch it triggers or joins: up to checkWaitMs.
          FETCH_TIMEOUT_MS + context.options.deadlineMs,
        );
        await sleepUntil(faultFrom);
        bench.idp.jwks = jwksOf([...TOKEN_ALGORITHMS.map((alg) => bench.keys[alg]), rotated]);
        phase = 'fault';
        if (name === 'jwks-hang') bench.idp.mode = 'hang';
        else {
          bench.idp.mode = 'fail';
          await sleepUntil((faultFrom + faultTo) / 2);
          bench.idp.mode = 'garbage';
        }
        await sleepUntil(faultTo);
        bench.idp.mode = 'serve';
        const backAt = Date.now();
        phase = 'back';
        log(`faults: ${name}: endpoint back`);
        const counts = await probe;
        return { recoveryMs: recoveredAt === undefined ? undefined : recoveredAt - backAt, probe: counts };
      };
    case 'policy-invalid':
      return async (_startedAt, faultFrom, faultTo, end) => {
        let phase: 'v1' | 'v2 written' | 'v2' = 'v1';
        const right = (sentIn: string): readonly string[] =>
          sentIn === 'v1' ? [NO_ALLOW_MATCH] : sentIn === 'v2 written' ? [NO_ALLOW_MATCH, ALLOW] : [ALLOW];
        let appliedAt: number | undefined;
        const probe = runProbe(
          context.probeClient,
          () => encodeTokenCheckRequest(undefined),
          () => phase,
          (sentIn, decision) => {
            if (decision === ALLOW && appliedAt === undefined && phase === 'v2 written') {
              appliedAt = Date.now();
              phase = 'v2';
            }
            return right(sentIn).includes(decision);
          },
          end,
          context.options.deadlineMs,
        );
        const replace = async (text: string): Promise<void> => {
          const staged = path.join(path.dirname(context.policiesDir), 'authz.yaml.next');
          await writeFile(staged, text);
          await rename(staged, path.join(context.policiesDir, 'authz.yaml'));
        };
        await sleepUntil(faultFrom);
        await replace(INVALID_POLICIES[0] as string);
        await sleepUntil((faultFrom + faultTo) / 2);
        await replace(INVALID_POLICIES[1] as string);
        await sleepUntil(faultTo);
        await replace(POLICY_V2);
        const writtenAt = Date.now();
        phase = 'v2 written';
        const counts = await probe;
        return { recoveryMs: appliedAt === undefined ? undefined : appliedAt - writtenAt, probe: counts };
      };
    case 'sigterm':
      return async (startedAt, faultFrom) => {
        await sleepUntil(faultFrom);
        // A token of a key the set does not have waits for a key fetch the provider answers slowly: a Check in flight.
        bench.idp.delayMs = FETCH_TIMEOUT_MS / 2;
        const rotated = generateSigningKey('ES256');
        const fetchesBefore = bench.idp.jwksRequestCount;
        const inFlight = context.probeClient
          .check(encodeTokenCheckRequest(signJwt(userClaims(bench.idp.url, 200_000), rotated)), { deadlineMs: DRAIN_SECONDS * 1000 })
          .then(decisionOf, (error: Error) => `error: ${error.message}`);
        await pollUntil(() => Promise.resolve(bench.idp.jwksRequestCount > fetchesBefore), Date.now() + 5000);
        const exited = new Promise<number | null>((resolve) => context.server.child.once('exit', (code) => resolve(code)));
        context.server.child.kill('SIGTERM');
        const terminatedAt = Date.now();
        const notReadyAt = await pollUntil(
          async () => (await fetch(`http://127.0.0.1:${context.adminPort}/readyz`)).status === 503,
          terminatedAt + DRAIN_SECONDS * 1000,
        );
        const code = await exited;
        const exitedAt = Date.now();
        const answer = await inFlight;
        const ok = answer === NO_MATCHING_KEY;
        return {
          recoveryMs: exitedAt - terminatedAt,
          probe: {
            sent: 1,
            failed: answer.startsWith('error') ? 1 : 0,
            wrong: ok || answer.startsWith('error') ? 0 : 1,
            examples: ok ? [] : [answer],
          },
          drainFrom: terminatedAt - startedAt,
          note: `exit code ${code}; /readyz 503 ${notReadyAt === undefined ? 'never seen' : `${notReadyAt - terminatedAt} ms`} after SIGTERM; the Check in flight: ${answer}`,
        };
      };
  }
}

/**
 * Sends one Check every PROBE_INTERVAL_MS until `end`, each judged by
 * `judge(phase it was sent in, decision)`; resolves with the counts.
 */
async function runProbe(
  client: CheckClient,
  body: () => Buffer,
  phase: () => string,
  judge: (sentIn: string, decision: string) => boolean,
  end: number,
  deadlineMs: number,
): Promise<ProbeCounts> {
  const counts = { sent: 0, failed: 0, wrong: 0, examples: [] as string[] };
  const pending: Promise<void>[] = [];
  while (Date.now() < end) {
    const sentIn = phase();
    counts.sent++;
    pending.push(
      client.check(body(), { deadlineMs }).then(
        (response) => {
          const decision = decisionOf(response);
          // Judged against the phase it was sent in and the one it is answered in, as a transition may fall between.
          if (!judge(sentIn, decision) && !judge(phase(), decision)) {
            counts.wrong++;
            if (counts.examples.length < 5) counts.examples.push(`sent while ${sentIn}: ${decision}`);
          }
        },
        (error: Error) => {
          counts.failed++;
          if (counts.examples.length < 5) counts.examples.push(`sent while ${sentIn}: ${error.message}`);
        },
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, PROBE_INTERVAL_MS));
  }
  await Promise.all(pending);
  return counts;
}

function emptyProbe(): ProbeCounts {
  return { sent: 0, failed: 0, wrong: 0, examples: [] };
}

/** Polls every 10 ms until `probe` says yes (resolves with the epoch ms it did) or `until` passes (undefined). */
async function pollUntil(probe: () => Promise<boolean>, until: number): Promise<number | undefined> {
  while (Date.now() < until) {
    const askedAt = Date.now();
    if (await probe().catch(() => false)) return askedAt;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return undefined;
}

function sleepUntil(epochMs: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, epochMs - Date.now())));
}

/** The value at quantile `q` of sorted values (nearest rank). */
function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
}

function report(runs: ReadonlyMap<FaultName, FaultRun>, options: FaultsOptions): BenchmarkReport {
  const rows: string[][] = [];
  const targets: BenchmarkReport['targets'][number][] = [];
  const problems: string[] = [];
  for (const fault of FAULTS) {
    const run = runs.get(fault.name);
    if (run === undefined) continue;
    const { result, probe } = run;
    // SIGTERM: Checks scheduled after the drain began are refused at once (never timed out): Envoy retries them elsewhere.
    const drainFrom = run.drainFrom ?? Number.POSITIVE_INFINITY;
    let failed = probe.failed;
    let wrong = probe.wrong;
    let refused = 0;
    const duringFault: number[] = [];
    result.outcomes.forEach((outcome, i) => {
      const offset = result.offsets[i] as number;
      const latency = result.latencies[i] as number;
      if (outcome === 2 && offset >= drainFrom && latency < options.deadlineMs) refused++;
      else if (outcome === 2) failed++;
      if (outcome === 1) wrong++;
      if (outcome !== 2 && offset >= run.faultFrom && offset < run.faultTo) duringFault.push(latency);
    });
    duringFault.sort((a, b) => a - b);
    const sent = result.outcomes.length + probe.sent;
    rows.push([
      fault.title,
      formatNumber(sent),
      String(failed),
      String(wrong),
      percentile(duringFault, 0.99).toFixed(1),
      run.recoveryMs === undefined ? '**not seen**' : `${formatNumber(run.recoveryMs)} ms`,
      fault.recovery,
      String(result.warmupProblems),
    ]);
    targets.push(
      { target: `${fault.title} under load: 0 failed Checks`, result: String(failed), met: failed === 0 },
      { target: `${fault.title} under load: 0 wrong decisions`, result: String(wrong), met: wrong === 0 },
    );
    if (run.note !== undefined || refused > 0)
      problems.push(
        `- ${fault.title}: ${run.note ?? ''}${refused > 0 ? `; ${formatNumber(refused)} Checks sent after SIGTERM refused at once` : ''}.`,
      );
    const examples = [...result.examples, ...probe.examples];
    if (examples.length > 0 && (failed > 0 || wrong > 0))
      problems.push(
        `- ${fault.title}, first problems: ${examples
          .slice(0, 5)
          .map((text) => `\`${text}\``)
          .join('; ')}`,
      );
  }
  const third = options.durationSeconds / 3;
  const markdown = [
    table(
      [
        'fault',
        'Checks sent',
        'failed (gRPC error / timeout)',
        'wrong decisions',
        'p99 ms during the fault',
        'recovery',
        'recovery measured as',
        'warm-up Checks failed or wrong (no fault yet; not counted)',
      ],
      rows,
    ),
    '',
    ...problems,
    ...(problems.length > 0 ? [''] : []),
    'Command: `npm run build && node dist/bench/run.js --only faults`.',
    '',
    `- Load: bench/load-generator.ts in open loop, ${formatNumber(options.ratePerSecond)} Checks/s, ${options.warmupSeconds} s of warm-up (not recorded), then ${options.durationSeconds} s recorded per fault over 2 HTTP/2 connections; latency from the scheduled time; gRPC deadline ${formatNumber(options.deadlineMs)} ms. Per 10 Checks: 6 with one of 300 reused valid tokens (ES256, RS256, EdDSA), 2 with a fresh valid token, 1 expired or forged (401), 1 without a token (403; for the policy fault, a reused token instead). Each answer is compared with the expected decision.`,
    `- Probe: for the JWKS and policy faults, one Check every ${PROBE_INTERVAL_MS} ms from the bench process whose right decision depends on the phase it was sent in: a token of a key published when the fault starts (401 TOKEN_NO_MATCHING_KEY while the endpoint fails, or 503 TOKEN_KEYS_PENDING when the fetch it joined outlasts \`checkWaitMs\`; allowed once fetched), or a request without a token (403 under policy version 1, allowed by version 2). Its Checks are counted in the table.`,
    `- Faults, each on a fresh Gatehouse, Redis and identity provider, from ${third.toFixed(0)} s to ${(2 * third).toFixed(0)} s: redis-server SIGKILL then restarted empty; \`DEBUG SLEEP\` for the whole window; the JWKS endpoint answering 500 then malformed JSON, or never answering; the ALLOW policy replaced (by rename, as a ConfigMap update) by broken YAML, then by a policy with an unknown field, then by version 2; SIGTERM at ${third.toFixed(0)} s with a Check waiting for a slow key fetch (the load after SIGTERM is refused by design: the pod is NOT_SERVING and Envoy sends elsewhere; only Checks that failed before the drain or timed out count as failed).`,
    '- The warm-up column is a baseline without any fault: Checks failing there mean the machine (shared, 2 cores) was too busy, not that the fault did harm.',
    `- Gatehouse settings the recovery depends on: Redis reconnect backoff 50 ms doubling to 2 s, \`commandTimeoutMs\` ${COMMAND_TIMEOUT_MS}; \`jwt.jwks.fetchTimeoutMs\` ${FETCH_TIMEOUT_MS}, \`checkWaitMs\` ${CHECK_WAIT_MS}, \`unknownKidCooldownSeconds\` ${UNKNOWN_KID_COOLDOWN_SECONDS}; policy reload debounce 150 ms; health entry updated every second; \`drainSeconds\` ${DRAIN_SECONDS}.`,
  ].join('\n');
  return { name: 'faults', title: 'Faults under load', targets, markdown };
}
