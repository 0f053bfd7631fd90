/**
 * Revocation between "replicas": each is a RevocationService, a TokenCache
 * and its own Redis connections, as in a Gatehouse process.
 */
import test, { type ExecutionContext } from 'ava';
import { createRedisConnections, type RedisConfig, type RedisConnections } from '../../../gateway/cache/redis.js';
import { RevocationService, revocationMatches, type RevocationConfig } from '../../../gateway/cache/revocation.js';
import { TokenCache } from '../../../gateway/cache/token-cache.js';
import { redisUrlForTests, spawnRedisCluster, ttlMatches, uniquePrefix, type TestRedis } from '../../helpers/redis.js';
import { countingVerifier, eventually, ok, silentLog, verifiedToken } from './fixtures.js';
import type { VerifiedToken } from '../../../gateway/identity/issuer-rule.js';

/** Functional tests allow a loaded machine's latency; the timeout tests set their own. */
const FUNCTIONAL_TIMEOUT_MS = 2000;

let shared: TestRedis;
test.before(async () => {
  shared = await redisUrlForTests();
});
test.after.always(async () => {
  await shared.stop();
});

interface Replica {
  readonly redis: RedisConnections;
  readonly revocation: RevocationService;
  readonly cache: TokenCache;
  /** Puts `token` in this replica's L1 under `key`. */
  warm(key: string, token: VerifiedToken): Promise<void>;
}

/**
 * Revocations must reach every replica within a second. The waits below give
 * a loaded, shared CI machine an allowance on top of that for its
 * scheduling; the time a revocation took is logged.
 */
const PROPAGATION_MS = 1000;
const SCHEDULING_ALLOWANCE_MS = 3000;
const PROPAGATION_WAIT_MS = PROPAGATION_MS + SCHEDULING_ALLOWANCE_MS;

async function replica(t: ExecutionContext, config: RedisConfig, revocationConfig?: RevocationConfig): Promise<Replica> {
  const redis = createRedisConnections({ commandTimeoutMs: FUNCTIONAL_TIMEOUT_MS, ...config }, silentLog);
  const revocation = new RevocationService({ redis, log: silentLog, config: revocationConfig });
  const cache = new TokenCache({ revocation });
  revocation.onRevocation((matches) => cache.dropWhere(matches));
  t.teardown(async () => {
    await revocation.stop();
    await redis.close();
  });
  t.true(await revocation.start(5000), 'revocation feed live');
  return {
    redis,
    revocation,
    cache,
    warm: async (key, token) => {
      await cache.lookup(key, 'RS256', countingVerifier(ok(token)).verify);
    },
  };
}

test('without Redis, revocation is local and immediate', async (t) => {
  const revocation = new RevocationService({ log: silentLog });
  const cache = new TokenCache({ revocation });
  revocation.onRevocation((matches) => cache.dropWhere(matches));
  t.true(await revocation.start());
  const token = verifiedToken();
  await cache.lookup('k', 'RS256', countingVerifier(ok(token)).verify);
  const outcome = await revocation.revokeToken(token.jti ?? '', token.expiresAt);
  t.false(outcome.shared);
  t.true(revocation.isRevoked(token));
  t.true(revocation.connected());
  t.is(cache.stats().l1.entries, 0);
  t.like(await cache.lookup('k', 'RS256', countingVerifier(ok(token)).verify), { verdict: { ok: false, code: 'TOKEN_REVOKED' } });
});

test('revocation by jti reaches another replica and drops its L1 entry within a second', async (t) => {
  const config = { url: shared.url, keyPrefix: uniquePrefix('jti') };
  const [a, b] = await Promise.all([replica(t, config), replica(t, config)]);
  const token = verifiedToken();
  const bystander = verifiedToken();
  await b.warm('token', token);
  await b.warm('bystander', bystander);

  const outcome = await a.revocation.revokeToken(token.jti ?? '', token.expiresAt);
  t.true(outcome.shared);
  const took = await eventually(() => b.revocation.isRevoked(token), PROPAGATION_WAIT_MS, 'revocation reached replica B');
  t.log(`reached the other replica in ${took} ms`);
  t.is(b.cache.stats().l1.entries, 1, 'only the revoked token left L1');
  t.like(await b.cache.lookup('token', 'RS256', countingVerifier(ok(token)).verify), { verdict: { ok: false, code: 'TOKEN_REVOKED' } });
  t.is((await b.cache.lookup('bystander', 'RS256', countingVerifier(ok(bystander)).verify)).tier, 'l1');
  t.false(b.revocation.isRevoked(bystander));
});

test('revocation by subject revokes the tokens issued before the cut-off, on every replica', async (t) => {
  const config = { url: shared.url, keyPrefix: uniquePrefix('subject') };
  const [a, b] = await Promise.all([replica(t, config), replica(t, config)]);
  const nowSeconds = Math.floor(Date.now() / 1000);
  const old = verifiedToken({ subject: 'alice', issuedAt: nowSeconds - 600 });
  const bob = verifiedToken({ subject: 'bob', issuedAt: nowSeconds - 600 });
  await b.warm('old', old);
  await b.warm('bob', bob);

  const outcome = await a.revocation.revokeSubject(old.principal);
  t.true(outcome.shared);
  t.like(outcome.revocation, { kind: 'subject', principal: old.principal });
  // The default cut-off is the end of the second the revocation was made in.
  const cutOff = outcome.revocation.kind === 'subject' ? outcome.revocation.issuedBefore : 0;
  t.true(cutOff === nowSeconds + 1 || cutOff === nowSeconds + 2, `cut-off ${cutOff}, now ${nowSeconds}`);
  const sameSecond = verifiedToken({ subject: 'alice', issuedAt: cutOff - 1 });
  const noIat = verifiedToken({ subject: 'alice', issuedAt: undefined });
  const later = verifiedToken({ subject: 'alice', issuedAt: cutOff + 4 });
  await eventually(() => b.revocation.isRevoked(old), PROPAGATION_WAIT_MS, 'subject revocation reached replica B');
  t.true(b.revocation.isRevoked(sameSecond), 'issued in the same second as the revocation');
  t.true(b.revocation.isRevoked(noIat), 'no iat: cannot show it is newer');
  t.false(b.revocation.isRevoked(later), 'issued after the cut-off');
  t.false(b.revocation.isRevoked(bob));
  t.is(b.cache.stats().l1.entries, 1);
});

test('a replica whose subscriber was disconnected reloads what it missed when it reconnects', async (t) => {
  const config = { url: shared.url, keyPrefix: uniquePrefix('reconnect') };
  const [a, b] = await Promise.all([replica(t, config), replica(t, config)]);
  const token = verifiedToken();
  await b.warm('token', token);

  b.redis.subscriber.disconnect();
  await eventually(() => !b.revocation.connected(), 1000, 'feed down');
  await a.revocation.revokeToken(token.jti ?? '', token.expiresAt);
  await a.revocation.revokeSubject('https://idp.example/mallory');
  t.false(b.revocation.isRevoked(token), 'missed while disconnected');

  await b.redis.subscriber.connect();
  await eventually(() => b.revocation.connected(), 3000, 'feed live again');
  t.true(b.revocation.isRevoked(token));
  t.true(b.revocation.isRevoked(verifiedToken({ subject: 'mallory' })));
  t.is(b.cache.stats().l1.entries, 0, 'reloaded revocations drop L1 entries too');

  const another = verifiedToken();
  await a.revocation.revokeToken(another.jti ?? '', another.expiresAt);
  await eventually(() => b.revocation.isRevoked(another), PROPAGATION_WAIT_MS, 'live messages after reconnect');
});

test('a replica that starts later loads the stored revocations', async (t) => {
  const config = { url: shared.url, keyPrefix: uniquePrefix('late') };
  const a = await replica(t, config);
  const token = verifiedToken();
  await a.revocation.revokeToken(token.jti ?? '', token.expiresAt);
  const late = await replica(t, config);
  t.true(late.revocation.isRevoked(token));
  t.like(late.revocation.stats(), { jtis: 1, reloads: 1, connected: true });
});

test('a jti revocation is kept in Redis until exp plus a clock-skew margin, or jtiTtlSeconds without exp', async (t) => {
  const prefix = uniquePrefix('keys');
  const a = await replica(t, { url: shared.url, keyPrefix: prefix }, { jtiTtlSeconds: 120 });
  const written = performance.now();
  const nowMs = Date.now();
  const nowSeconds = Math.floor(nowMs / 1000);
  await a.revocation.revokeToken('with-exp', nowSeconds + 60);
  await a.revocation.revokeToken('without-exp');
  const withExp = await a.redis.commands.pttl(`${prefix}revoked:jti:with-exp`);
  const withoutExp = await a.redis.commands.pttl(`${prefix}revoked:jti:without-exp`);
  t.true(ttlMatches(withExp, (nowSeconds + 60 + 300) * 1000 - nowMs, written), `exp + 5 min: ${withExp}`);
  t.true(ttlMatches(withoutExp, 120_000, written), `jtiTtlSeconds: ${withoutExp}`);
});

test('the mirror is bounded: past the bound the oldest revocations are forgotten and counted', async (t) => {
  const revocation = new RevocationService({ log: silentLog, config: { maxJtiEntries: 3 } });
  for (let i = 0; i < 5; i++) await revocation.revokeToken(`jti-${i}`);
  t.like(revocation.stats(), { jtis: 3, evicted: 2 });
  t.false(revocation.isRevoked(verifiedToken({ jti: 'jti-0' })));
  t.true(revocation.isRevoked(verifiedToken({ jti: 'jti-4' })));
});

test('revocationMatches is the predicate listeners receive', (t) => {
  const token = verifiedToken({ subject: 'carol', issuedAt: 100 });
  t.true(revocationMatches({ kind: 'jti', jti: token.jti ?? '', until: Infinity }, token));
  t.true(revocationMatches({ kind: 'subject', principal: token.principal, issuedBefore: 101, until: Infinity }, token));
  t.false(revocationMatches({ kind: 'subject', principal: token.principal, issuedBefore: 100, until: Infinity }, token));
});

test('revocation works across a Redis Cluster (pub/sub and reload over every master)', async (t) => {
  const cluster = await spawnRedisCluster(3);
  t.teardown(() => cluster.stop());
  const config: RedisConfig = { cluster: { nodes: cluster.addresses }, keyPrefix: uniquePrefix('cluster'), commandTimeoutMs: 200 };
  const [a, b] = await Promise.all([replica(t, config), replica(t, config)]);
  const tokens = Array.from({ length: 10 }, () => verifiedToken());
  for (const token of tokens) await a.revocation.revokeToken(token.jti ?? '', token.expiresAt);
  const took = await eventually(
    () => tokens.every((token) => b.revocation.isRevoked(token)),
    PROPAGATION_WAIT_MS,
    'published across the cluster',
  );
  t.log(`all ten reached the other replica ${took} ms after the last was published`);
  const late = await replica(t, config);
  t.true(
    tokens.every((token) => late.revocation.isRevoked(token)),
    'reloaded from keys on every master',
  );
});
