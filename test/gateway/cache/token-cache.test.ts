import test from 'ava';
import { TokenErrorCode, type TokenVerdict, type VerifiedToken } from '../../../gateway/identity/issuer-rule.js';
import { readSharedFirst } from '../../../gateway/cache/l2-policy.js';
import { TokenCache, tokenCacheKey, type RevocationView } from '../../../gateway/cache/token-cache.js';
import { ManualClock, countingVerifier, ok, verifiedToken } from './fixtures.js';

const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl';

test('the cache key is a base64url SHA-256 of fingerprint and token, and never contains the token', (t) => {
  const key = tokenCacheKey(jwt, 'fingerprint-a');
  t.regex(key, /^[A-Za-z0-9_-]{43}$/);
  t.is(tokenCacheKey(jwt, 'fingerprint-a'), key);
  t.not(tokenCacheKey(jwt, 'fingerprint-b'), key, 'another issuer rule configuration, another key');
  t.not(tokenCacheKey(`${jwt}x`, 'fingerprint-a'), key);
  t.false(key.includes('eyJ'));
});

test('a verified token is served from L1 afterwards, without verifying again', async (t) => {
  const cache = new TokenCache();
  const token = verifiedToken();
  const verifier = countingVerifier(ok(token));
  const key = tokenCacheKey(jwt, 'f');
  const first = await cache.lookup(key, 'RS256', verifier.verify);
  const second = await cache.lookup(key, 'RS256', verifier.verify);
  t.is(first.tier, 'verified');
  t.is(second.tier, 'l1');
  t.deepEqual(second.verdict, ok(token));
  t.is(verifier.calls, 1);
  t.like(cache.stats(), { hits: { l1: 1, l2: 0, negative: 0 }, misses: { l1: 1, l2: 0 }, verifications: 1 });
});

const ttlRows: { name: string; expiresInSeconds: number | undefined; maxTtlSeconds: number; servedUntilMs: number }[] = [
  { name: 'capped by exp', expiresInSeconds: 2, maxTtlSeconds: 300, servedUntilMs: 2000 },
  { name: 'capped by maxTtlSeconds', expiresInSeconds: 3600, maxTtlSeconds: 1, servedUntilMs: 1000 },
  { name: 'a token without exp: maxTtlSeconds', expiresInSeconds: undefined, maxTtlSeconds: 5, servedUntilMs: 5000 },
];
for (const row of ttlRows) {
  test(`L1 lifetime ${row.name}`, async (t) => {
    const clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000);
    const cache = new TokenCache({ now: clock.now, maxTtlSeconds: row.maxTtlSeconds });
    const expiresAt = row.expiresInSeconds === undefined ? undefined : clock.ms / 1000 + row.expiresInSeconds;
    const verifier = countingVerifier(ok(verifiedToken({ expiresAt })));
    await cache.lookup('k', 'RS256', verifier.verify);
    clock.advance(row.servedUntilMs - 1);
    t.is((await cache.lookup('k', 'RS256', verifier.verify)).tier, 'l1', 'still served just before the deadline');
    clock.advance(1);
    t.is((await cache.lookup('k', 'RS256', verifier.verify)).tier, 'verified', 'verified again at the deadline');
    t.is(verifier.calls, 2);
  });
}

test('a token that is already past exp when verified is not cached', async (t) => {
  const cache = new TokenCache();
  const verifier = countingVerifier(ok(verifiedToken({ expiresAt: Math.floor(Date.now() / 1000) - 1 })));
  await cache.lookup('k', 'RS256', verifier.verify);
  await cache.lookup('k', 'RS256', verifier.verify);
  t.is(verifier.calls, 2);
  t.is(cache.stats().l1.entries, 0);
});

test('a changed issuer rule fingerprint misses', async (t) => {
  const cache = new TokenCache();
  const verifier = countingVerifier(ok(verifiedToken()));
  await cache.lookup(tokenCacheKey(jwt, 'before'), 'RS256', verifier.verify);
  const after = await cache.lookup(tokenCacheKey(jwt, 'after'), 'RS256', verifier.verify);
  t.is(after.tier, 'verified');
  t.is(verifier.calls, 2);
});

test('L1 is bounded by bytes: the least recently used entries go first', async (t) => {
  const bigClaims = { blob: 'x'.repeat(2000) };
  const cache = new TokenCache({ maxBytes: 10_000, maxEntries: 1000 });
  for (let i = 0; i < 20; i++) {
    await cache.lookup(`k${i}`, 'RS256', countingVerifier(ok(verifiedToken({ claims: bigClaims }))).verify);
  }
  const { l1 } = cache.stats();
  t.true(l1.bytes <= 10_000, `${l1.bytes} bytes`);
  t.true(l1.entries >= 3 && l1.entries < 20, `${l1.entries} entries`);
  t.is((await cache.lookup('k19', 'RS256', countingVerifier(ok(verifiedToken())).verify)).tier, 'l1');
  t.is((await cache.lookup('k0', 'RS256', countingVerifier(ok(verifiedToken())).verify)).tier, 'verified');
});

test('L1 is bounded by entries', async (t) => {
  const cache = new TokenCache({ maxEntries: 5 });
  for (let i = 0; i < 12; i++) await cache.lookup(`k${i}`, 'RS256', countingVerifier(ok(verifiedToken())).verify);
  t.is(cache.stats().l1.entries, 5);
});

test('identical concurrent misses share one verification', async (t) => {
  const cache = new TokenCache();
  const token = verifiedToken();
  const verifier = countingVerifier(ok(token), 30);
  const results = await Promise.all(Array.from({ length: 50 }, () => cache.lookup('k', 'RS256', verifier.verify)));
  t.is(verifier.calls, 1);
  t.true(results.every((result) => result.verdict.ok && result.verdict.token === token));
  t.like(cache.stats(), { singleFlightJoins: 49, inFlight: 0 });
});

test('a failing verification shared by concurrent lookups is not cached', async (t) => {
  const cache = new TokenCache();
  const verifier = countingVerifier({ ok: false, code: TokenErrorCode.KeysUnavailable, reason: 'jwks down' }, 20);
  const results = await Promise.all(Array.from({ length: 5 }, () => cache.lookup('k', 'RS256', verifier.verify)));
  t.is(verifier.calls, 1);
  t.true(results.every((result) => !result.verdict.ok));
  await cache.lookup('k', 'RS256', verifier.verify);
  t.is(verifier.calls, 2);
});

test('a bad signature is remembered for negativeTtlSeconds, then verified again', async (t) => {
  const clock = new ManualClock();
  const cache = new TokenCache({ now: clock.now, negativeTtlSeconds: 2 });
  const verdict: TokenVerdict = { ok: false, code: TokenErrorCode.BadSignature, reason: 'signature does not verify' };
  const verifier = countingVerifier(verdict);
  t.is((await cache.lookup('k', 'RS256', verifier.verify)).tier, 'verified');
  const remembered = await cache.lookup('k', 'RS256', verifier.verify);
  t.is(remembered.tier, 'negative');
  t.deepEqual(remembered.verdict, verdict);
  clock.advance(2001);
  t.is((await cache.lookup('k', 'RS256', verifier.verify)).tier, 'verified');
  t.is(verifier.calls, 2);
});

test('the negative cache is bounded', async (t) => {
  const cache = new TokenCache({ negativeMaxEntries: 3 });
  const verdict: TokenVerdict = { ok: false, code: TokenErrorCode.BadSignature, reason: 'bad' };
  for (let i = 0; i < 10; i++) await cache.lookup(`k${i}`, 'RS256', countingVerifier(verdict).verify);
  t.is(cache.stats().negativeEntries, 3);
});

for (const code of [TokenErrorCode.Expired, TokenErrorCode.KeysUnavailable, TokenErrorCode.NoMatchingKey, TokenErrorCode.WrongAudience]) {
  test(`${code} is not cached`, async (t) => {
    const cache = new TokenCache();
    const verifier = countingVerifier({ ok: false, code, reason: 'no' });
    await cache.lookup('k', 'RS256', verifier.verify);
    const again = await cache.lookup('k', 'RS256', verifier.verify);
    t.is(again.tier, 'verified');
    t.is(verifier.calls, 2);
    t.is(cache.stats().negativeEntries, 0);
  });
}

class FixedRevocation implements RevocationView {
  revoked = new Set<string>();
  live = true;
  isRevoked(token: VerifiedToken): boolean {
    return token.jti !== undefined && this.revoked.has(token.jti);
  }
  connected(): boolean {
    return this.live;
  }
}

test('a cached token that is revoked is answered TOKEN_REVOKED and leaves L1', async (t) => {
  const revocation = new FixedRevocation();
  const cache = new TokenCache({ revocation });
  const token = verifiedToken();
  const verifier = countingVerifier(ok(token));
  t.true((await cache.lookup('k', 'RS256', verifier.verify)).verdict.ok);
  revocation.revoked.add(token.jti ?? '');
  const revoked = await cache.lookup('k', 'RS256', verifier.verify);
  t.like(revoked, { tier: 'l1', verdict: { ok: false, code: 'TOKEN_REVOKED' } });
  t.is(cache.stats().l1.entries, 0);
  t.like(await cache.lookup('k', 'RS256', verifier.verify), { tier: 'verified', verdict: { ok: false, code: 'TOKEN_REVOKED' } });
});

test('while the revocation feed is down, L1 entries older than maxL1AgeWhileDisconnectedMs are verified again', async (t) => {
  const clock = new ManualClock();
  const revocation = new FixedRevocation();
  const cache = new TokenCache({ revocation, now: clock.now, maxL1AgeWhileDisconnectedMs: 1000 });
  const verifier = countingVerifier(ok(verifiedToken()));
  await cache.lookup('k', 'RS256', verifier.verify);
  revocation.live = false;
  clock.advance(1000);
  t.is((await cache.lookup('k', 'RS256', verifier.verify)).tier, 'l1', 'young enough');
  clock.advance(1);
  t.is((await cache.lookup('k', 'RS256', verifier.verify)).tier, 'verified', 'too old while disconnected');
  t.is((await cache.lookup('k', 'RS256', verifier.verify)).tier, 'l1', 'the fresh verdict is served');
  clock.advance(5000);
  revocation.live = true;
  t.is((await cache.lookup('k', 'RS256', verifier.verify)).tier, 'l1', 'connected again: age does not matter');
  t.is(cache.stats().staleWhileDisconnected, 1);
});

test('dropWhere removes matching L1 entries only', async (t) => {
  const cache = new TokenCache();
  const alice = verifiedToken({ subject: 'alice' });
  const bob = verifiedToken({ subject: 'bob' });
  await cache.lookup('a', 'RS256', countingVerifier(ok(alice)).verify);
  await cache.lookup('b', 'RS256', countingVerifier(ok(bob)).verify);
  t.is(
    cache.dropWhere((token) => token.subject === 'alice'),
    1,
  );
  t.is((await cache.lookup('a', 'RS256', countingVerifier(ok(alice)).verify)).tier, 'verified');
  t.is((await cache.lookup('b', 'RS256', countingVerifier(ok(bob)).verify)).tier, 'l1');
});

test('the L2-first rule follows the measurement: RSA and HMAC verify locally, EC and EdDSA ask Redis', (t) => {
  for (const alg of ['RS256', 'PS256', 'HS256']) t.false(readSharedFirst(alg), alg);
  for (const alg of ['ES256', 'ES384', 'EdDSA']) t.true(readSharedFirst(alg), alg);
  t.false(readSharedFirst('none'));
});
