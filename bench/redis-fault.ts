/**
 * Redis fault: Gatehouse with Redis under a steady open-loop load of valid,
 * invalid and token-less Checks; the bench's redis-server is killed
 * (SIGKILL) a third of the way in and started again, empty, on the same port
 * two thirds of the way in. Every Check must still get the right answer in
 * time; the report gives latency before, during and after the outage and how
 * long after the restart Gatehouse's L2 writes land again.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectCheckClient, decisionOf, firstAnswer } from './check-client.js';
import { countTokenKeys, encodeTokenCheckRequest, freshKeyPrefix, pinRedis, startTokenBench, writeTokenGatehouse } from './jwt-fixture.js';
import { signJwt, userClaims, type TokenAlgorithm } from './jwt-tokens.js';
import { runLoadGenerator, writeBodies } from './load-client.js';
import type { OpenLoopResult } from './load-generator.js';
import { GATEHOUSE_CLI, cpuPlan, freePort, spawnServer } from './processes.js';
import { table, type BenchmarkReport } from './report.js';
import { formatNumber, percentile } from './stats.js';

export interface RedisFaultOptions {
  readonly ratePerSecond: number;
  readonly durationSeconds: number;
  /** Seconds after the load starts when redis-server is killed, and when it is started again. */
  readonly killAtSeconds: number;
  readonly restartAtSeconds: number;
  /** Per-Check gRPC deadline of the load generator. */
  readonly deadlineMs: number;
  /** Unrecorded load before the measured part: the same rate, reused and invalid tokens, no token. */
  readonly warmupSeconds: number;
}

export const REDIS_FAULT_DEFAULTS: RedisFaultOptions = {
  ratePerSecond: 2000,
  durationSeconds: 30,
  killAtSeconds: 10,
  restartAtSeconds: 20,
  deadlineMs: 1000,
  warmupSeconds: 3,
};

/** Envoy's default ext_authz timeout: a Check slower than this fails the request in a default mesh. */
const ENVOY_DEFAULT_TIMEOUT_MS = 200;
const ALLOW = 'allow';
const REUSED_TOKENS_PER_ALGORITHM = 100;
const ALGORITHMS: readonly TokenAlgorithm[] = ['ES256', 'RS256', 'EdDSA'];

/** The request mix, per 20 Checks: 11 reused valid tokens, 3 fresh valid, 1+1+1 invalid (three kinds), 3 without a token. */
const MIX = ['reused', 'fresh', 'reused', 'none', 'reused', 'expired', 'reused', 'fresh', 'reused', 'none'] as const;
const MIX_TAIL = ['reused', 'bad-signature', 'reused', 'fresh', 'reused', 'wrong-audience', 'reused', 'none', 'reused', 'reused'] as const;
type Kind = (typeof MIX)[number] | (typeof MIX_TAIL)[number];
const PATTERN: readonly Kind[] = [...MIX, ...MIX_TAIL];

export async function runRedisFault(options: RedisFaultOptions, log: (line: string) => void): Promise<BenchmarkReport> {
  const cores = cpuPlan();
  const scratch = await mkdtemp(path.join(tmpdir(), 'gatehouse-bench-fault-'));
  const bench = await startTokenBench(cores.load);
  const issuer = bench.idp.url;
  const keyPrefix = freshKeyPrefix('fault');
  let n = 0;
  const key = (i: number) => bench.keys[ALGORITHMS[i % ALGORITHMS.length] as TokenAlgorithm];

  // Bodies: reused valid tokens, the invalid ones, no token; fresh tokens are appended as the sequence needs them.
  const bodies: Buffer[] = [];
  const expected: string[] = [];
  const add = (body: Buffer, decision: string): number => {
    expected.push(decision);
    return bodies.push(body) - 1;
  };
  const reused = Array.from({ length: REUSED_TOKENS_PER_ALGORITHM * ALGORITHMS.length }, (_, i) =>
    add(encodeTokenCheckRequest(signJwt(userClaims(issuer, n++), key(i))), ALLOW),
  );
  const now = Math.floor(Date.now() / 1000);
  const expiredToken = signJwt(userClaims(issuer, n++, 600, now - 7200), bench.keys.ES256);
  const good = signJwt(userClaims(issuer, n++), bench.keys.ES256);
  const tampered = `${good.slice(0, good.lastIndexOf('.') + 1)}${Buffer.alloc(64, 7).toString('base64url')}`;
  const invalid: Record<'expired' | 'bad-signature' | 'wrong-audience', number> = {
    expired: add(encodeTokenCheckRequest(expiredToken), 'Unauthorized TOKEN_EXPIRED'),
    'bad-signature': add(encodeTokenCheckRequest(tampered), 'Unauthorized TOKEN_BAD_SIGNATURE'),
    'wrong-audience': add(
      encodeTokenCheckRequest(signJwt({ ...userClaims(issuer, n++), aud: 'billing' }, bench.keys.RS256)),
      'Unauthorized TOKEN_WRONG_AUDIENCE',
    ),
  };
  const none = add(encodeTokenCheckRequest(undefined), 'Forbidden NO_ALLOW_MATCH');

  const total = options.ratePerSecond * options.durationSeconds;
  const sequence: number[] = [];
  let fresh = 0;
  for (let i = 0; i < total; i++) {
    const kind = PATTERN[i % PATTERN.length] as Kind;
    if (kind === 'reused') sequence.push(reused[(i * 7919) % reused.length] as number);
    else if (kind === 'fresh') sequence.push(add(encodeTokenCheckRequest(signJwt(userClaims(issuer, n++), key(fresh++))), ALLOW));
    else if (kind === 'none') sequence.push(none);
    else sequence.push(invalid[kind]);
  }
  const bodiesFile = path.join(scratch, 'fault.bodies');
  const sequenceFile = path.join(scratch, 'fault.sequence.json');
  await writeBodies(bodiesFile, bodies);
  await writeFile(sequenceFile, JSON.stringify(sequence));

  const configFile = await writeTokenGatehouse(bench, { redisUrl: bench.redis.url, keyPrefix });
  const server = spawnServer({
    script: GATEHOUSE_CLI,
    args: ['serve', '--config', configFile],
    core: cores.server,
    port: await freePort(),
  });
  try {
    // Every kind of body gets the expected answer before the load starts (a wrong expectation is not a fault).
    const client = connectCheckClient(server.port);
    for (const index of [reused[0], reused[1], reused[2], invalid.expired, invalid['bad-signature'], invalid['wrong-audience'], none]) {
      const decision = decisionOf(await firstAnswer(client, bodies[index as number] as Buffer));
      if (decision !== expected[index as number]) throw new Error(`probe: expected ${expected[index as number]}, got ${decision}`);
    }
    client.close();

    const events: { killedAt?: number; restartedAt?: number; recoveredAt?: number; keysBeforeKill?: number } = {};
    const timeline = (startedAt: number): Promise<void> =>
      (async () => {
        await sleepUntil(startedAt + options.killAtSeconds * 1000);
        events.keysBeforeKill = await countTokenKeys(bench.inspector, keyPrefix);
        await bench.redis.kill();
        events.killedAt = Date.now();
        log(`redis-fault: redis-server killed at ${((events.killedAt - startedAt) / 1000).toFixed(2)} s`);
        await sleepUntil(startedAt + options.restartAtSeconds * 1000);
        await bench.redis.restart();
        events.restartedAt = Date.now();
        log(`redis-fault: redis-server restarted (empty) at ${((events.restartedAt - startedAt) / 1000).toFixed(2)} s`);
        // The bench's own client reconnects too; the first `token:` key under the prefix is Gatehouse's first L2 write since.
        while (Date.now() < startedAt + options.durationSeconds * 1000) {
          try {
            if ((await countTokenKeys(bench.inspector, keyPrefix)) > 0) {
              events.recoveredAt = Date.now();
              break;
            }
          } catch {
            // the bench's client is still reconnecting
          }
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        await pinRedis(bench.inspector, cores.load).catch(() => undefined);
      })();
    let timelineDone: Promise<void> = Promise.resolve();
    const result = await runLoadGenerator(
      {
        mode: 'open',
        port: server.port,
        bodiesFile,
        sequenceFile,
        expected,
        ratePerSecond: options.ratePerSecond,
        deadlineMs: options.deadlineMs,
        channels: 2,
        warmupSeconds: options.warmupSeconds,
        warmupBodies: [...reused, ...Object.values(invalid), none],
      },
      cores.load,
      (startedAt) => {
        timelineDone = timeline(startedAt);
      },
    );
    await timelineDone;
    return report(result, events, options, fresh, cores.note);
  } catch (error) {
    throw new Error(`redis-fault: ${(error as Error).message}\n${server.output()}`, { cause: error });
  } finally {
    await server.stop();
    await bench.close();
  }
}

function report(
  result: OpenLoopResult,
  events: { killedAt?: number; restartedAt?: number; recoveredAt?: number; keysBeforeKill?: number },
  options: RedisFaultOptions,
  freshTokens: number,
  coresNote: string,
): BenchmarkReport {
  const killed = (events.killedAt ?? Number.NaN) - result.startedAt;
  const restarted = (events.restartedAt ?? Number.NaN) - result.startedAt;
  const recoveryMs =
    events.recoveredAt === undefined || events.restartedAt === undefined ? undefined : events.recoveredAt - events.restartedAt;
  const phases = [
    { name: 'before (Redis up)', from: 0, to: killed },
    { name: 'during (Redis killed)', from: killed, to: restarted },
    { name: 'after (restarted, empty)', from: restarted, to: Number.POSITIVE_INFINITY },
  ];
  const count = (outcome: number) => result.outcomes.filter((value) => value === outcome).length;
  const failed = count(2);
  const wrong = count(1);
  const rows = phases.map((phase) => {
    const latencies: number[] = [];
    let phaseFailed = 0;
    let phaseWrong = 0;
    result.offsets.forEach((offset, i) => {
      if (offset < phase.from || offset >= phase.to) return;
      if (result.outcomes[i] === 2) phaseFailed++;
      else latencies.push(result.latencies[i] as number);
      if (result.outcomes[i] === 1) phaseWrong++;
    });
    latencies.sort((a, b) => a - b);
    const slow = latencies.filter((value) => value > ENVOY_DEFAULT_TIMEOUT_MS).length;
    return [
      phase.name,
      formatNumber(latencies.length + phaseFailed),
      String(phaseFailed),
      String(phaseWrong),
      percentile(latencies, 0.5).toFixed(2),
      percentile(latencies, 0.99).toFixed(2),
      (latencies[latencies.length - 1] ?? 0).toFixed(1),
      String(slow),
    ];
  });
  const markdown = [
    table(
      [
        'phase',
        'Checks',
        'failed (gRPC error / timeout)',
        'wrong decisions',
        'p50 ms',
        'p99 ms',
        'max ms',
        `> ${ENVOY_DEFAULT_TIMEOUT_MS} ms`,
      ],
      rows,
    ),
    '',
    table(
      ['', 'this run'],
      [
        ['Checks sent', formatNumber(result.outcomes.length)],
        ['failed Checks (gRPC errors, deadline exceeded)', `${failed} (must be 0: ${failed === 0 ? 'met' : '**not met**'})`],
        ['wrong decisions', `${wrong} (must be 0: ${wrong === 0 ? 'met' : '**not met**'})`],
        ['redis-server killed / restarted at', `${(killed / 1000).toFixed(2)} s / ${(restarted / 1000).toFixed(2)} s`],
        ['`token:` keys under the prefix just before the kill', formatNumber(events.keysBeforeKill ?? 0)],
        [
          'recovery: restart → first new `token:` key (an L2 write by Gatehouse)',
          recoveryMs === undefined ? '**none seen**' : `${formatNumber(recoveryMs)} ms`,
        ],
        ['warm-up Checks with an error or a wrong answer (not counted above)', String(result.warmupProblems)],
        ['load generator CPU', `${result.cpuPercent.toFixed(0)} % of a core`],
      ],
    ),
    ...(result.examples.length > 0 ? ['', `First problems: ${result.examples.map((example) => `\`${example}\``).join('; ')}`] : []),
    '',
    'Command: `npm run build && node dist/bench/run.js --only redis-fault`.',
    '',
    `- Load: bench/load-generator.ts in open loop, ${formatNumber(options.ratePerSecond)} Checks/s for ${options.warmupSeconds} s of warm-up (reused and invalid tokens, no token; not recorded) and then ${options.durationSeconds} s recorded, over 2 HTTP/2 connections, each Check sent at its scheduled time whatever earlier ones are doing; latency counts from the scheduled time (no coordinated omission). gRPC deadline ${formatNumber(options.deadlineMs)} ms. Every answer is decoded and compared with the expected decision.`,
    `- Mix per 20 Checks: 11 with one of ${REUSED_TOKENS_PER_ALGORITHM * ALGORITHMS.length} reused valid tokens (ES256, RS256, EdDSA; expected allow, mostly L1 hits), 3 with a fresh valid token (${formatNumber(freshTokens)} in all, each sent once; expected allow, verified and written to L2), 1 expired (401 TOKEN_EXPIRED), 1 with a bad signature (401 TOKEN_BAD_SIGNATURE), 1 for another audience (401 TOKEN_WRONG_AUDIENCE), 3 without a token (403 NO_ALLOW_MATCH).`,
    `- Fault: the bench's redis-server (no persistence) gets SIGKILL at ${options.killAtSeconds} s and is started again on the same port at ${options.restartAtSeconds} s, empty. Recovery is observed from Redis: the bench's own client polls \`SCAN <prefix>token:*\` every 10 ms after the restart; the first key found is the first L2 write Gatehouse made since.`,
    `- Gatehouse: as in the JWT throughput benchmark (defaults: \`l1MaxEntries\` 100 000, \`commandTimeoutMs\` 50, revocation feed on the same Redis). Cores: ${coresNote}; redis-server on the load generator's core.`,
  ].join('\n');
  return {
    name: 'redis-fault',
    title: 'Redis fault',
    targets: [
      { target: 'Redis killed and restarted under load: 0 failed Checks', result: String(failed), met: failed === 0 },
      { target: 'Redis killed and restarted under load: 0 wrong decisions', result: String(wrong), met: wrong === 0 },
    ],
    markdown,
  };
}

function sleepUntil(epochMs: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, epochMs - Date.now())));
}
