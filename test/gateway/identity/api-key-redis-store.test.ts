/**
 * API keys in a real Redis: the records `gatehouse api-key` writes, what the
 * gateway reads (one GET), revocation reaching another replica through the
 * shared feed, and what happens when Redis goes away.
 */
import test, { type ExecutionContext } from 'ava';
import { createRedisConnections, type RedisConnections } from '../../../gateway/cache/redis.js';
import { RevocationService } from '../../../gateway/cache/revocation.js';
import { ApiKeyAuthenticator } from '../../../gateway/identity/api-key-authenticator.js';
import { RedisApiKeyStore } from '../../../gateway/identity/api-key-redis-store.js';
import { apiKeyRetentionMs } from '../../../gateway/identity/api-key-store.js';
import { newApiKey } from '../../helpers/api-keys.js';
import { checkInput } from '../../helpers/check-input.js';
import { redisUrlForTests, spawnRedis, uniquePrefix, type TestRedis } from '../../helpers/redis.js';
import { eventually, silentLog } from '../cache/fixtures.js';

let shared: TestRedis;
test.before(async () => {
  shared = await redisUrlForTests();
});
test.after.always(async () => {
  await shared.stop();
});

async function connect(t: ExecutionContext, url: string, keyPrefix: string): Promise<RedisConnections> {
  const redis = createRedisConnections({ url, keyPrefix, commandTimeoutMs: 2000 }, silentLog);
  t.teardown(() => redis.close());
  t.true(await redis.ready(5000), 'redis ready');
  return redis;
}

const presenting = (key: string) => checkInput({ headers: { 'x-api-key': key } });
const locations = { headers: [{ name: 'x-api-key', prefix: '' }] };

test('create stores the record under the prefix with a TTL past notAfter; find is one GET; a second create of the id fails', async (t) => {
  const prefix = uniquePrefix('api-key');
  const redis = await connect(t, shared.url, prefix);
  const store = new RedisApiKeyStore(redis.commands, redis.keyPrefix);
  const notAfter = Date.now() + 3_600_000;
  const { key, record } = newApiKey({ scopes: ['todos:read'], notAfter });
  await store.create(record);
  const stored = await redis.commands.get(`${prefix}api-key:${record.id}`);
  t.truthy(stored);
  t.false(stored!.includes(key.slice(21)), 'only the hash is stored');
  const ttl = await redis.commands.pttl(`${prefix}api-key:${record.id}`);
  t.true(Math.abs(ttl - (notAfter + apiKeyRetentionMs - Date.now())) < 5000, `TTL ${ttl} ms`);
  t.deepEqual(await store.find(record.id), { kind: 'found', record });
  t.deepEqual(await store.find('0000000000000000'), { kind: 'absent' });
  await t.throwsAsync(store.create(record), { message: /exists already/ });
});

test('revoke marks the record and bounds how long it is kept; list shows every record of the prefix only', async (t) => {
  const prefix = uniquePrefix('api-key');
  const redis = await connect(t, shared.url, prefix);
  const store = new RedisApiKeyStore(redis.commands, redis.keyPrefix);
  const other = new RedisApiKeyStore(redis.commands, uniquePrefix('other'));
  const a = newApiKey();
  const b = newApiKey({ principal: 'share' });
  await Promise.all([store.create(a.record), store.create(b.record), other.create(newApiKey().record)]);
  t.is(await redis.commands.pttl(store.keyOf(a.record.id)), -1, 'no notAfter: kept until revoked');
  const now = Date.now();
  const revoked = await store.revoke(a.record.id, now);
  t.is(revoked?.revokedAt, now);
  const found = await store.find(a.record.id);
  t.is(found.kind === 'found' ? found.record.revokedAt : undefined, now);
  const ttl = await redis.commands.pttl(store.keyOf(a.record.id));
  t.true(ttl > 0 && ttl <= apiKeyRetentionMs);
  t.is(await store.revoke('0000000000000000', now), undefined);
  t.deepEqual(
    (await store.list()).map((record) => record.id),
    [a.record.id, b.record.id].sort(),
  );
});

test('a record that is not valid is never used', async (t) => {
  const prefix = uniquePrefix('api-key');
  const redis = await connect(t, shared.url, prefix);
  const store = new RedisApiKeyStore(redis.commands, redis.keyPrefix);
  const { key, record } = newApiKey();
  await redis.commands.set(store.keyOf(record.id), '{"id":"not json');
  t.is((await store.find(record.id)).kind, 'unavailable');
  const apiKeys = new ApiKeyAuthenticator({ store, locations });
  const result = await apiKeys.authenticate(presenting(key));
  t.is(result.kind === 'rejected' ? result.code : result.kind, 'APIKEY_STORE_UNAVAILABLE');
  // A valid record stored under another id's key is not that id's record.
  const other = newApiKey();
  await store.create(other.record);
  await redis.commands.set(store.keyOf(record.id), (await redis.commands.get(store.keyOf(other.record.id)))!);
  t.is((await store.find(record.id)).kind, 'unavailable');
});

test('revoking on one replica stops another replica, which had the key cached, within a second', async (t) => {
  const prefix = uniquePrefix('api-key');
  const replicas = await Promise.all(
    [0, 1].map(async () => {
      const redis = await connect(t, shared.url, prefix);
      const revocation = new RevocationService({ redis, log: silentLog });
      t.teardown(() => revocation.stop());
      t.true(await revocation.start(5000));
      const store = new RedisApiKeyStore(redis.commands, redis.keyPrefix);
      return { store, revocation, apiKeys: new ApiKeyAuthenticator({ store, locations, revocation, cache: { maxTtlMs: 3_600_000 } }) };
    }),
  );
  const [a, b] = replicas as [(typeof replicas)[0], (typeof replicas)[0]];
  const old = newApiKey();
  const next = newApiKey();
  await a.store.create(old.record);
  await a.store.create(next.record);
  for (const { apiKeys } of replicas) t.is((await apiKeys.authenticate(presenting(old.key))).kind, 'authenticated');
  t.is(b.apiKeys.stats().entries, 1);

  // What `gatehouse api-key revoke` does: mark the record, then publish.
  await a.store.revoke(old.record.id, Date.now());
  const outcome = await a.revocation.revokeApiKey(old.record.id, Date.now() + 3_600_000);
  t.true(outcome.shared);
  const took = await eventually(async () => {
    const result = await b.apiKeys.authenticate(presenting(old.key));
    return result.kind === 'rejected' && result.code === 'APIKEY_REVOKED';
  }, 1000);
  t.log(`replica b refused the revoked key after ${took} ms`);
  t.is((await b.apiKeys.authenticate(presenting(next.key))).kind, 'authenticated');

  // A replica starting later learns the revocation from Redis, and the record says so too.
  const late = new RevocationService({ redis: await connect(t, shared.url, prefix), log: silentLog });
  t.teardown(() => late.stop());
  t.true(await late.start(5000));
  t.true(late.isApiKeyRevoked(old.record.id));
  t.is(late.stats().apiKeys, 1);
});

test('with Redis gone, a cached key keeps working until its entry expires; an uncached one is refused as store unavailable', async (t) => {
  const own = await spawnRedis();
  t.teardown(() => own.stop());
  const redis = await connect(t, own.url, uniquePrefix('api-key'));
  const store = new RedisApiKeyStore(redis.commands, redis.keyPrefix);
  const cached = newApiKey();
  const uncached = newApiKey();
  await store.create(cached.record);
  await store.create(uncached.record);
  const revocation = new RevocationService({ redis, log: silentLog });
  t.teardown(() => revocation.stop());
  t.true(await revocation.start(5000));
  const apiKeys = new ApiKeyAuthenticator({ store, locations, revocation, cache: { maxTtlMs: 3_600_000, maxAgeWhileDisconnectedMs: 0 } });
  t.is((await apiKeys.authenticate(presenting(cached.key))).kind, 'authenticated');
  await own.kill();
  // The feed is down, so the entry is too old to serve without asking Redis; Redis cannot answer; the last known record stands.
  await eventually(() => !revocation.connected(), 5000);
  const served = await apiKeys.authenticate(presenting(cached.key));
  t.is(served.kind, 'authenticated');
  const refused = await apiKeys.authenticate(presenting(uncached.key));
  t.is(refused.kind === 'rejected' ? refused.code : refused.kind, 'APIKEY_STORE_UNAVAILABLE');
});
