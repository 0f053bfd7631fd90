/**
 * RedisStore and the token cache's L2 against real Redis servers: a shared
 * one (REDIS_URL or spawned), and servers of the test's own for killing,
 * slowing down and clustering.
 */
import test, { type ExecutionContext } from 'ava';
import { Redis } from 'ioredis';
import { createRedisConnections, RedisStore, type RedisConfig, type RedisConnections } from '../../../gateway/cache/redis.js';
import { TokenCache } from '../../../gateway/cache/token-cache.js';
import { redisUrlForTests, spawnRedis, spawnRedisCluster, ttlMatches, uniquePrefix, type TestRedis } from '../../helpers/redis.js';
import { countingVerifier, eventually, ok, silentLog, sleep, verifiedToken } from './fixtures.js';

/** Functional tests allow a loaded machine's latency; the timeout tests set their own. */
const FUNCTIONAL_TIMEOUT_MS = 2000;

let shared: TestRedis;
test.before(async () => {
  shared = await redisUrlForTests();
});
test.after.always(async () => {
  await shared.stop();
});

async function connect(t: ExecutionContext, config: RedisConfig): Promise<RedisConnections> {
  const redis = createRedisConnections({ commandTimeoutMs: FUNCTIONAL_TIMEOUT_MS, ...config }, silentLog);
  t.teardown(() => redis.close());
  t.true(await redis.ready(5000), 'redis ready');
  return redis;
}

test('RedisStore prefixes keys, sets a TTL, reads back, and counts', async (t) => {
  const prefix = uniquePrefix('store');
  const redis = await connect(t, { url: shared.url, keyPrefix: prefix });
  const store = new RedisStore(redis.commands, redis.keyPrefix);
  const written = performance.now();
  await store.set('a', 'value', 5000);
  t.is(await store.get('a'), 'value');
  t.is(await store.get('missing'), undefined);
  const ttl = await redis.commands.pttl(`${prefix}a`);
  t.true(ttlMatches(ttl, 5000, written), `pttl ${ttl}`);
  t.true(store.healthy);
  t.like(store.stats(), { gets: 2, hits: 1, sets: 1, errors: 0 });
  t.true(store.stats().latencyMs.samples === 3);
  t.deepEqual(store.health(), { connected: true, errors: 0 });
});

test('two replicas share L2: an ES256 token verified by one is an L2 hit for the other', async (t) => {
  const prefix = uniquePrefix('l2');
  const [redisA, redisB] = await Promise.all([
    connect(t, { url: shared.url, keyPrefix: prefix }),
    connect(t, { url: shared.url, keyPrefix: prefix }),
  ]);
  const replicaA = new TokenCache({ shared: new RedisStore(redisA.commands, prefix) });
  const replicaB = new TokenCache({ shared: new RedisStore(redisB.commands, prefix) });
  const token = verifiedToken({ algorithm: 'ES256' });
  const verifierA = countingVerifier(ok(token));
  const verifierB = countingVerifier(ok(token));

  t.is((await replicaA.lookup('k', 'ES256', verifierA.verify)).tier, 'verified');
  await replicaA.flushWrites();
  const fromL2 = await replicaB.lookup('k', 'ES256', verifierB.verify);
  t.is(fromL2.tier, 'l2');
  t.deepEqual(fromL2.verdict, ok(token));
  t.is((await replicaB.lookup('k', 'ES256', verifierB.verify)).tier, 'l1', 'written back to L1');
  t.is(verifierB.calls, 0);
  t.like(replicaB.stats(), { hits: { l1: 1, l2: 1 }, misses: { l2: 0 } });
});

test('RS256 tokens are verified locally: L2 is neither read nor written for them (no replica would read it back)', async (t) => {
  const prefix = uniquePrefix('l2rsa');
  const redis = await connect(t, { url: shared.url, keyPrefix: prefix });
  const replicaA = new TokenCache({ shared: new RedisStore(redis.commands, prefix) });
  const replicaB = new TokenCache({ shared: new RedisStore(redis.commands, prefix) });
  const token = verifiedToken({ algorithm: 'RS256' });
  t.is((await replicaA.lookup('k', 'RS256', countingVerifier(ok(token)).verify)).tier, 'verified');
  await replicaA.flushWrites();
  t.is(await redis.commands.get(`${prefix}token:k`), null, 'not written');
  t.is((await replicaB.lookup('k', 'RS256', countingVerifier(ok(token)).verify)).tier, 'verified');
  t.like(replicaB.stats(), { misses: { l2: 0 } }, 'L2 was not asked');
  // The same cache does share an ES256 verdict: L2 is on, only not for RSA.
  await replicaA.lookup('e', 'ES256', countingVerifier(ok(verifiedToken({ algorithm: 'ES256' }))).verify);
  await replicaA.flushWrites();
  t.truthy(await redis.commands.get(`${prefix}token:e`), 'ES256 written');
});

test('the L2 TTL is capped by exp and by maxTtlSeconds', async (t) => {
  const prefix = uniquePrefix('l2ttl');
  const redis = await connect(t, { url: shared.url, keyPrefix: prefix });
  const cache = new TokenCache({ shared: new RedisStore(redis.commands, prefix), maxTtlSeconds: 60 });
  const written = performance.now();
  const nowMs = Date.now();
  const nowSeconds = Math.floor(nowMs / 1000);
  await cache.lookup('short', 'ES256', countingVerifier(ok(verifiedToken({ expiresAt: nowSeconds + 10 }))).verify);
  await cache.lookup('long', 'ES256', countingVerifier(ok(verifiedToken({ expiresAt: nowSeconds + 3600 }))).verify);
  await cache.flushWrites();
  const short = await redis.commands.pttl(`${prefix}token:short`);
  const long = await redis.commands.pttl(`${prefix}token:long`);
  // exp is whole seconds: the TTL runs to it from the write, so it is up to a second under ten.
  t.true(ttlMatches(short, (nowSeconds + 10) * 1000 - nowMs, written), `by exp: ${short}`);
  t.true(ttlMatches(long, 60_000, written), `by maxTtlSeconds: ${long}`);
});

test('an L2 entry verified longer than maxTtlSeconds ago, or not an entry at all, is a miss', async (t) => {
  const prefix = uniquePrefix('l2old');
  const redis = await connect(t, { url: shared.url, keyPrefix: prefix });
  const store = new RedisStore(redis.commands, prefix);
  const token = verifiedToken();
  await store.set('token:old', JSON.stringify({ token, verifiedAt: Date.now() - 301_000 }), 60_000);
  await store.set('token:junk', '{"token":{"principal":42}}', 60_000);
  const cache = new TokenCache({ shared: store, maxTtlSeconds: 300 });
  t.is((await cache.lookup('old', 'ES256', countingVerifier(ok(token)).verify)).tier, 'verified');
  t.is((await cache.lookup('junk', 'ES256', countingVerifier(ok(token)).verify)).tier, 'verified');
  t.is(cache.stats().misses.l2, 2);
});

test('Redis killed mid-run: lookups keep answering from L1 and local verification, health flips and comes back by itself', async (t) => {
  const server = await spawnRedis();
  t.teardown(() => server.stop());
  const prefix = uniquePrefix('kill');
  const redis = await connect(t, { url: server.url, keyPrefix: prefix });
  const store = new RedisStore(redis.commands, prefix);
  const cache = new TokenCache({ shared: store });
  const warm = verifiedToken();
  await cache.lookup('warm', 'ES256', countingVerifier(ok(warm)).verify);
  await cache.flushWrites();

  await server.kill();
  await eventually(() => !store.healthy, 2000, 'store unhealthy');

  const started = performance.now();
  t.is((await cache.lookup('warm', 'ES256', countingVerifier(ok(warm)).verify)).tier, 'l1');
  const fresh = await cache.lookup('fresh', 'ES256', countingVerifier(ok(verifiedToken())).verify);
  t.is(fresh.tier, 'verified');
  t.true(fresh.verdict.ok);
  await cache.flushWrites();
  const elapsed = performance.now() - started;
  // Far under the 2 s command timeout a dead Redis would cost if lookups waited for it.
  t.true(elapsed < FUNCTIONAL_TIMEOUT_MS / 2, `answered in ${elapsed.toFixed(1)} ms without waiting for Redis`);
  t.false(store.healthy);
  t.false(store.health().connected);
  t.true(store.health().errors >= 1);
  t.truthy(store.health().lastError);

  await server.restart();
  await eventually(() => store.healthy, 5000, 'store healthy again');
  await store.set('after', 'yes', 5000);
  t.is(await store.get('after'), 'yes');
});

test('Redis slow (DEBUG SLEEP): commands time out after commandTimeoutMs and lookups still answer', async (t) => {
  const server = await spawnRedis();
  t.teardown(() => server.stop());
  const prefix = uniquePrefix('slow');
  const redis = await connect(t, { url: server.url, keyPrefix: prefix, commandTimeoutMs: 50 });
  const store = new RedisStore(redis.commands, prefix);
  const cache = new TokenCache({ shared: store });

  // Sent on the same connection, so the server is asleep before it reads the lookup's GET.
  const sleeping = redis.commands.call('DEBUG', 'SLEEP', '0.5').catch(() => 'timed out too');
  const started = performance.now();
  const result = await cache.lookup('k', 'ES256', countingVerifier(ok(verifiedToken())).verify);
  const elapsed = performance.now() - started;
  t.is(result.tier, 'verified');
  t.true(result.verdict.ok);
  // Well before the 500 ms sleep ends (the bound allows for a loaded machine): the lookup did not wait for Redis.
  t.true(elapsed < 400, `answered in ${elapsed.toFixed(1)} ms`);
  t.true(store.stats().timeouts >= 1);
  t.false(store.healthy);
  t.is(await sleeping, 'timed out too');
  await sleep(500);
  await cache.flushWrites();
  await store.set('after', 'yes', 5000);
  t.true(store.healthy);
  t.is(await store.get('after'), 'yes');
});

test('Cluster of three masters: keys across slots, and two replicas share L2', async (t) => {
  const cluster = await spawnRedisCluster(3);
  t.teardown(() => cluster.stop());
  const prefix = uniquePrefix('cluster');
  const config: RedisConfig = { cluster: { nodes: cluster.addresses }, keyPrefix: prefix, commandTimeoutMs: 200 };
  const [redisA, redisB] = await Promise.all([connect(t, config), connect(t, config)]);
  const store = new RedisStore(redisA.commands, prefix);
  for (let i = 0; i < 60; i++) await store.set(`k${i}`, `v${i}`, 60_000);
  for (let i = 0; i < 60; i++) t.is(await store.get(`k${i}`), `v${i}`);
  const sizes = await Promise.all(
    cluster.nodes.map(async (node) => {
      const client = new Redis(node.port, '127.0.0.1');
      try {
        return await client.dbsize();
      } finally {
        client.disconnect();
      }
    }),
  );
  t.true(
    sizes.every((size) => size > 0),
    `keys on every master: ${sizes.join(', ')}`,
  );
  t.is(store.stats().errors, 0);

  const replicaA = new TokenCache({ shared: store });
  const replicaB = new TokenCache({ shared: new RedisStore(redisB.commands, prefix) });
  const token = verifiedToken();
  await replicaA.lookup('k', 'ES256', countingVerifier(ok(token)).verify);
  await replicaA.flushWrites();
  t.is((await replicaB.lookup('k', 'ES256', countingVerifier(ok(token)).verify)).tier, 'l2');
});

test('Sentinel: the store reads and writes on the master the sentinel names', async (t) => {
  const master = await spawnRedis();
  t.teardown(() => master.stop());
  const sentinel = await spawnRedis({ sentinelOf: { masterName: 'gatehouse', port: master.port } });
  t.teardown(() => sentinel.stop());
  const prefix = uniquePrefix('sentinel');
  const redis = await connect(t, {
    sentinel: { masterName: 'gatehouse', sentinels: [{ host: '127.0.0.1', port: sentinel.port }] },
    keyPrefix: prefix,
  });
  const store = new RedisStore(redis.commands, prefix);
  await store.set('k', 'v', 5000);
  t.is(await store.get('k'), 'v');
  const direct = new Redis(master.port, '127.0.0.1');
  t.teardown(() => direct.disconnect());
  t.is(await direct.get(`${prefix}k`), 'v', 'written on the master');
});
