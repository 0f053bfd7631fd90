/**
 * Redis faults under load: Redis killed and started again (empty), and Redis
 * stalled (`DEBUG SLEEP`). Redis never decides a request
 * (docs/cache-and-revocation.md, "When Redis fails"), so every Check gets
 * the same decision as without the fault, none fails, and the shared state
 * comes back by itself within the reconnect backoff.
 */
import test from 'ava';
import { Redis } from 'ioredis';
import { connect } from '../helpers/grpc-client.js';
import { spawnRedis, uniquePrefix } from '../helpers/redis.js';
import { describeRecords, startCheckLoad } from './check-load.js';
import { delay, eventually } from './eventually.js';
import { startTokenGateway, type TokenGateway } from './token-gateway.js';

const COMMAND_TIMEOUT_MS = 100;
/** Reconnect backoff: 50 ms doubling to a 2 s cap, plus up to 0.1 s of jitter (gateway/cache/redis.ts). */
const MAX_RECONNECT_DELAY_MS = 2100;
/** How often the gateway updates its `gatehouse.shared-state` health entry (gateway/cli/serve.ts). */
const HEALTH_UPDATE_MS = 1000;
/** Time for the machine to schedule what follows a recovery (a Check, a poll); generous for a loaded 2-core CI runner. */
const SCHEDULING_ALLOWANCE_MS = 3000;

async function redisGateway(redisUrl: string): Promise<{ gateway: TokenGateway; keyPrefix: string }> {
  const keyPrefix = uniquePrefix('faults');
  const gateway = await startTokenGateway({
    config: `redis: { url: "${redisUrl}", keyPrefix: "${keyPrefix}", commandTimeoutMs: ${COMMAND_TIMEOUT_MS} }\n`,
  });
  return { gateway, keyPrefix };
}

function sharedStateProbe(address: string) {
  const health = connect('grpc.health.v1.Health', address);
  return {
    is: async (status: string) =>
      (await health.call<{ status: string }>('Check', { service: 'gatehouse.shared-state' }, 1000)).status === status,
    close: () => health.close(),
  };
}

/** Whether a verified token has been written to Redis under the prefix since it was last emptied. */
async function tokenKeyWritten(inspector: Redis, keyPrefix: string): Promise<boolean> {
  const [, keys] = await inspector.scan('0', 'MATCH', `${keyPrefix}token:*`, 'COUNT', 10_000);
  return keys.length > 0;
}

test('Redis killed and restarted under load: no failed or wrong Check; L2 writes and health return within the reconnect backoff', async (t) => {
  const redis = await spawnRedis();
  t.teardown(() => redis.stop());
  const { gateway, keyPrefix } = await redisGateway(redis.url);
  t.teardown(() => gateway.close());
  // The test's own client retries fast and never queues, so it reads Redis as soon as it is back.
  const inspector = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => 20 });
  inspector.on('error', () => undefined);
  t.teardown(() => inspector.disconnect());
  const sharedState = sharedStateProbe(gateway.gatehouse.address);
  t.teardown(() => sharedState.close());
  await eventually(() => sharedState.is('SERVING'), 10_000);

  const load = startCheckLoad({ address: gateway.gatehouse.address, cases: gateway.steady, phase: 'Redis up' });
  await eventually(() => tokenKeyWritten(inspector, keyPrefix), 5000);

  await redis.kill();
  load.phase = 'Redis killed';
  await eventually(() => sharedState.is('NOT_SERVING'), HEALTH_UPDATE_MS + SCHEDULING_ALLOWANCE_MS);
  await delay(1000);

  // The fault ends when redis-server starts; the gateway may reconnect before restart() has seen it answer PING.
  const restartedAt = performance.now();
  await redis.restart();
  load.phase = 'Redis restarted, empty';
  const writtenAt = await eventually(() => tokenKeyWritten(inspector, keyPrefix), 10_000);
  const servingAt = await eventually(() => sharedState.is('SERVING'), 10_000);
  await delay(300);
  const { records, failed, wrong } = await load.stop();

  t.deepEqual(describeRecords(failed), '', `${failed.length} of ${records.length} Checks failed`);
  t.deepEqual(describeRecords(wrong), '', `${wrong.length} of ${records.length} Checks got a wrong decision`);
  t.true(
    records.filter((entry) => entry.sentPhase === 'Redis killed' && entry.kind === 'fresh token').length > 0,
    'tokens never seen before were verified while Redis was down',
  );
  const l2RecoveryMs = writtenAt - restartedAt;
  t.true(
    l2RecoveryMs <= MAX_RECONNECT_DELAY_MS + SCHEDULING_ALLOWANCE_MS,
    `first L2 write ${l2RecoveryMs.toFixed(0)} ms after the restart`,
  );
  const healthRecoveryMs = servingAt - restartedAt;
  t.true(
    healthRecoveryMs <= MAX_RECONNECT_DELAY_MS + HEALTH_UPDATE_MS + SCHEDULING_ALLOWANCE_MS,
    `shared-state SERVING ${healthRecoveryMs.toFixed(0)} ms after the restart`,
  );
  t.true(gateway.gatehouse.logs.some((line) => line.msg === 'redis connection restored'));
});

test('Redis stalled (DEBUG SLEEP) under load: no failed or wrong Check, none waits for the stall; health recovers when it ends', async (t) => {
  const stallSeconds = 3;
  const redis = await spawnRedis();
  t.teardown(() => redis.stop());
  const { gateway } = await redisGateway(redis.url);
  t.teardown(() => gateway.close());
  const staller = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: 0 });
  t.teardown(() => staller.disconnect());
  const sharedState = sharedStateProbe(gateway.gatehouse.address);
  t.teardown(() => sharedState.close());
  await eventually(() => sharedState.is('SERVING'), 10_000);

  const load = startCheckLoad({ address: gateway.gatehouse.address, cases: gateway.steady, phase: 'Redis up' });
  await delay(500);
  load.phase = 'Redis stalled';
  const stallStartedAt = performance.now();
  const stall = staller.call('DEBUG', 'SLEEP', String(stallSeconds));
  const unhealthy = eventually(() => sharedState.is('NOT_SERVING'), stallSeconds * 1000);
  await stall;
  const stallEndedAt = performance.now();
  load.phase = 'Redis answering again';
  await t.notThrowsAsync(unhealthy, 'shared-state NOT_SERVING during the stall');
  const servingAt = await eventually(() => sharedState.is('SERVING'), 10_000);
  await delay(300);
  const { records, failed, wrong } = await load.stop();

  t.deepEqual(describeRecords(failed), '', `${failed.length} of ${records.length} Checks failed`);
  t.deepEqual(describeRecords(wrong), '', `${wrong.length} of ${records.length} Checks got a wrong decision`);
  const duringStall = records.filter((entry) => entry.sentAt >= stallStartedAt && entry.answeredAt <= stallEndedAt);
  t.true(duringStall.length > 0, 'Checks were answered while Redis stalled');
  const slowest = Math.max(
    ...records.filter((entry) => entry.sentPhase === 'Redis stalled').map((entry) => entry.answeredAt - entry.sentAt),
  );
  // Each lookup gives up after commandTimeoutMs; no Check is held for the length of the stall.
  t.true(slowest < stallEndedAt - stallStartedAt, `slowest Check sent during the stall took ${slowest.toFixed(0)} ms`);
  const healthRecoveryMs = servingAt - stallEndedAt;
  t.true(
    healthRecoveryMs <= HEALTH_UPDATE_MS + SCHEDULING_ALLOWANCE_MS,
    `shared-state SERVING ${healthRecoveryMs.toFixed(0)} ms after the stall`,
  );
});
