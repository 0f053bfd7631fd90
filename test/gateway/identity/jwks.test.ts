/**
 * The JWKS manager against a real HTTP key server: timeouts, background
 * refresh, unknown-kid refetch under a cooldown, single flight, stale
 * serving and its limit, OIDC discovery, bad responses, and the warm start of
 * a cold replica from a real Redis.
 */
import test, { type ExecutionContext } from 'ava';
import { createRedisConnections, RedisStore } from '../../../gateway/cache/redis.js';
import {
  compileRequestAuthentications,
  defaultIssuerExtensions,
  JwksManager,
  JwksRegistry,
  parseRequestAuthentications,
  TokenErrorCode,
  verifyToken,
  type IssuerRule,
  type JwksOptions,
  type JwksSource,
  type TokenVerdict,
} from '../../../gateway/identity/index.js';
import { createLogger } from '../../../gateway/log.js';
import { startJwksServer, type JwksServer } from '../../helpers/jwks-server.js';
import { redisUrlForTests, uniquePrefix } from '../../helpers/redis.js';
import { generateTestKey, jwksOf, signToken, type TestKey } from '../../helpers/tokens.js';

const silentLog = createLogger('silent');

/** A clock the test moves by hand. */
class Clock {
  ms = Date.now();
  readonly now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

async function server(t: ExecutionContext, ...keys: TestKey[]): Promise<JwksServer> {
  const idp = await startJwksServer(jwksOf(...keys));
  t.teardown(() => idp.close());
  return idp;
}

function manager(t: ExecutionContext, source: JwksSource, options: Partial<JwksOptions> = {}): JwksManager {
  const keys = new JwksManager(source, { log: silentLog, ...options });
  t.teardown(() => keys.close());
  return keys;
}

function ruleOf(issuer: string): IssuerRule {
  const text = `apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: r}\nspec:\n  jwtRules:\n  - issuer: ${issuer}\n`;
  const set = compileRequestAuthentications(parseRequestAuthentications([{ file: 'ra.yaml', text }]), () => ({
    ...defaultIssuerExtensions,
    discovery: true,
  }));
  return set.issuers[0] as IssuerRule;
}

async function verify(keys: JwksManager, key: TestKey, issuer: string, clock?: Clock): Promise<TokenVerdict> {
  const now = new Date(clock?.ms ?? Date.now());
  const iat = Math.floor(now.getTime() / 1000);
  const token = await signToken({ iss: issuer, sub: 'alice', iat, exp: iat + 300 }, key);
  return verifyToken(token, ruleOf(issuer), keys, { now });
}

let rsa: TestKey;
let rotated: TestKey;
let unknown: TestKey;
test.before(async () => {
  [rsa, rotated, unknown] = await Promise.all([generateTestKey('RS256'), generateTestKey('ES256'), generateTestKey('RS256')]);
});

test('a hanging key server costs one fetch timeout, then KeysUnavailable', async (t) => {
  const idp = await server(t, rsa);
  idp.mode = 'hang';
  const keys = manager(t, { kind: 'uri', uri: idp.jwksUri }, { fetchTimeoutMs: 200 });
  const started = Date.now();
  t.false(await keys.prefetch());
  t.true(Date.now() - started < 1500, `took ${Date.now() - started} ms`);
  t.regex(keys.status.lastError ?? '', /did not answer within 200 ms/);
  const verdict = await verify(keys, rsa, idp.url);
  t.like(verdict, { ok: false, code: TokenErrorCode.KeysUnavailable });
  if (!verdict.ok) t.regex(verdict.reason, /no key set has been fetched/);
});

test('a failing, garbage, non-JWKS or oversized response is not a key set', async (t) => {
  for (const [mode, problem] of [
    ['fail', /HTTP 500/],
    ['garbage', /did not return JSON/],
    ['not-a-key-set', /has no "keys" list/],
    ['huge', /more than 1048576 bytes/],
  ] as const) {
    const idp = await server(t, rsa);
    idp.mode = mode;
    const keys = manager(t, { kind: 'uri', uri: idp.jwksUri });
    t.false(await keys.prefetch(), mode);
    t.regex(keys.status.lastError ?? '', problem, mode);
    t.like(await verify(keys, rsa, idp.url), { ok: false, code: TokenErrorCode.KeysUnavailable }, mode);
  }
});

test('the background refresh picks up a key rotation', async (t) => {
  const idp = await server(t, rsa);
  const keys = manager(t, { kind: 'uri', uri: idp.jwksUri }, { refreshIntervalMs: 100, unknownKidCooldownMs: 3_600_000 });
  t.true(await keys.prefetch());
  t.like(await verify(keys, rotated, idp.url), { ok: false, code: TokenErrorCode.NoMatchingKey });
  idp.jwks = jwksOf(rotated);
  const deadline = Date.now() + 5000;
  let verdict = await verify(keys, rotated, idp.url);
  while (!verdict.ok && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    verdict = await verify(keys, rotated, idp.url);
  }
  t.true(verdict.ok);
  t.true(idp.jwksRequestCount >= 2);
  t.like(await verify(keys, rsa, idp.url), { ok: false, code: TokenErrorCode.NoMatchingKey }, 'the retired key is gone');
});

test('an unknown kid triggers one refetch per cooldown', async (t) => {
  const idp = await server(t, rsa);
  const clock = new Clock();
  const keys = manager(t, { kind: 'uri', uri: idp.jwksUri }, { now: clock.now, unknownKidCooldownMs: 30_000 });
  t.true(await keys.prefetch());
  t.is(idp.jwksRequestCount, 1);

  idp.jwks = jwksOf(rsa, rotated);
  t.like(
    await verify(keys, rotated, idp.url, clock),
    { ok: false, code: TokenErrorCode.NoMatchingKey },
    'within the cooldown of the prefetch',
  );
  t.is(idp.jwksRequestCount, 1);

  clock.advance(30_000);
  t.true((await verify(keys, rotated, idp.url, clock)).ok, 'the new key is fetched');
  t.is(idp.jwksRequestCount, 2);

  t.like(await verify(keys, unknown, idp.url, clock), { ok: false, code: TokenErrorCode.NoMatchingKey });
  t.like(await verify(keys, unknown, idp.url, clock), { ok: false, code: TokenErrorCode.NoMatchingKey });
  t.is(idp.jwksRequestCount, 2, 'no refetch within the cooldown');

  clock.advance(30_000);
  t.like(await verify(keys, unknown, idp.url, clock), { ok: false, code: TokenErrorCode.NoMatchingKey });
  t.is(idp.jwksRequestCount, 3, 'one refetch after the cooldown');
});

test('single flight: concurrent verifications on a cold manager share one fetch', async (t) => {
  const idp = await server(t, rsa);
  idp.delayMs = 100;
  const keys = manager(t, { kind: 'uri', uri: idp.jwksUri });
  const verdicts = await Promise.all(Array.from({ length: 25 }, () => verify(keys, rsa, idp.url)));
  t.true(verdicts.every((verdict) => verdict.ok));
  t.is(idp.jwksRequestCount, 1);
});

test('single flight: concurrent unknown kids after the cooldown share one refetch', async (t) => {
  const idp = await server(t, rsa);
  const clock = new Clock();
  const keys = manager(t, { kind: 'uri', uri: idp.jwksUri }, { now: clock.now });
  t.true(await keys.prefetch());
  clock.advance(60_000);
  idp.jwks = jwksOf(rsa, rotated);
  idp.delayMs = 100;
  const verdicts = await Promise.all(Array.from({ length: 25 }, () => verify(keys, rotated, idp.url, clock)));
  t.true(verdicts.every((verdict) => verdict.ok));
  t.is(idp.jwksRequestCount, 2);
});

/** Far above checkWaitMs, far below fetchTimeoutMs: a fetch a loaded machine cannot mistake for either. */
const SLOW_FETCH_MS = 2000;

test('an unknown kid waits for its refetch at most checkWaitMs (KeysPending); the fetch goes on and the next verification uses its keys', async (t) => {
  const idp = await server(t, rsa);
  const keys = manager(t, { kind: 'uri', uri: idp.jwksUri }, { checkWaitMs: 100, fetchTimeoutMs: 10_000, unknownKidCooldownMs: 0 });
  t.true(await keys.prefetch());
  idp.jwks = jwksOf(rsa, rotated);
  idp.delayMs = SLOW_FETCH_MS;

  const started = performance.now();
  const waited = await verify(keys, rotated, idp.url);
  const waitedMs = performance.now() - started;
  t.like(waited, { ok: false, code: TokenErrorCode.KeysPending });
  if (!waited.ok) t.regex(waited.reason, /still being fetched after 100 ms; retry/);
  t.true(waitedMs < SLOW_FETCH_MS * 0.75, `the verification waited ${waitedMs.toFixed(0)} ms, not for the whole fetch`);
  t.true((await verify(keys, rsa, idp.url)).ok, 'a token of a known key does not wait at all');

  let verdict = waited;
  const deadline = Date.now() + SLOW_FETCH_MS + 10_000;
  while (!verdict.ok && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    verdict = await verify(keys, rotated, idp.url);
  }
  t.true(verdict.ok, 'the refetch finished in the background and found the new key');
  t.is(idp.jwksRequestCount, 2, 'the verifications that came while it ran joined the one refetch');
});

test('a cold manager whose first fetch is slow: KeysPending within checkWaitMs, then the fetched set', async (t) => {
  const idp = await server(t, rsa);
  idp.delayMs = SLOW_FETCH_MS;
  const keys = manager(t, { kind: 'uri', uri: idp.jwksUri }, { checkWaitMs: 50, fetchTimeoutMs: 10_000 });
  t.like(await verify(keys, rsa, idp.url), { ok: false, code: TokenErrorCode.KeysPending });
  let verdict = await verify(keys, rsa, idp.url);
  const deadline = Date.now() + SLOW_FETCH_MS + 10_000;
  while (!verdict.ok && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    verdict = await verify(keys, rsa, idp.url);
  }
  t.true(verdict.ok);
  t.is(idp.jwksRequestCount, 1);
});

test('a failing key server: the last good set serves until maxStale, then KeysUnavailable', async (t) => {
  const idp = await server(t, rsa);
  const clock = new Clock();
  const keys = manager(t, { kind: 'uri', uri: idp.jwksUri }, { now: clock.now, refreshIntervalMs: 300_000, maxStaleMs: 3_600_000 });
  t.true(await keys.prefetch());
  idp.mode = 'fail';

  clock.advance(30 * 60_000);
  t.true((await verify(keys, rsa, idp.url, clock)).ok, 'stale but within maxStale');
  await keys.refresh('test');
  t.regex(keys.status.lastError ?? '', /HTTP 500/);
  t.true((await verify(keys, rsa, idp.url, clock)).ok, 'a failed refresh keeps the last good set');

  clock.advance(31 * 60_000);
  const verdict = await verify(keys, rsa, idp.url, clock);
  t.like(verdict, { ok: false, code: TokenErrorCode.KeysUnavailable });
  if (!verdict.ok) t.regex(verdict.reason, /older than the allowed staleness.*HTTP 500/);

  idp.mode = 'serve';
  clock.advance(60_000);
  t.true((await verify(keys, rsa, idp.url, clock)).ok, 'recovers once the server answers again');
});

test('OIDC discovery finds jwks_uri under the issuer', async (t) => {
  const idp = await server(t, rsa);
  const keys = manager(t, { kind: 'discovery', issuer: idp.url });
  t.true((await verify(keys, rsa, idp.url)).ok);
  t.is(idp.requests.get('/.well-known/openid-configuration'), 1);
  t.is(idp.jwksRequestCount, 1);
});

test('OIDC discovery refuses a document that names another issuer', async (t) => {
  const idp = await server(t, rsa);
  const keys = manager(t, { kind: 'discovery', issuer: `${idp.url}/` });
  t.false(await keys.prefetch());
  t.regex(keys.status.lastError ?? '', /names issuer/);
  t.is(idp.jwksRequestCount, 0);
});

test('an inline key set is never fetched', async (t) => {
  const keys = manager(t, { kind: 'inline', jwks: jwksOf(rsa) });
  t.true(await keys.prefetch());
  t.true((await verify(keys, rsa, 'https://inline.example')).ok);
  t.like(await verify(keys, unknown, 'https://inline.example'), { ok: false, code: TokenErrorCode.NoMatchingKey });
  t.is(keys.status.fetches, 0);
});

test('the registry shares one manager per key source', async (t) => {
  const idp = await server(t, rsa);
  const registry = new JwksRegistry({ log: silentLog });
  t.teardown(() => registry.close());
  const a = { ...ruleOf(idp.url), id: 'default/a#0', jwksUri: idp.jwksUri };
  const b = { ...ruleOf(idp.url), id: 'default/b#0', jwksUri: idp.jwksUri, audiences: ['x'] };
  t.is(registry.forRule(a), registry.forRule(b));
  await registry.prefetch([a, b]);
  t.is(idp.jwksRequestCount, 1);
});

test('a cold replica loads the key set from Redis and never waits on the identity provider', async (t) => {
  const redis = await redisUrlForTests();
  t.teardown(() => redis.stop());
  const prefix = uniquePrefix('jwks');
  const connect = async () => {
    const connections = createRedisConnections({ url: redis.url, keyPrefix: prefix, commandTimeoutMs: 2000 }, silentLog);
    t.teardown(() => connections.close());
    t.true(await connections.ready(5000));
    return new RedisStore(connections.commands, connections.keyPrefix);
  };
  const idp = await server(t, rsa);

  const warm = manager(t, { kind: 'uri', uri: idp.jwksUri }, { store: await connect() });
  t.true(await warm.prefetch());
  t.is(idp.jwksRequestCount, 1);

  idp.mode = 'hang';
  const cold = manager(t, { kind: 'uri', uri: idp.jwksUri }, { store: await connect(), fetchTimeoutMs: 5000 });
  const started = Date.now();
  t.true((await verify(cold, rsa, idp.url)).ok);
  t.true(Date.now() - started < 1000, 'served from the store, not the hanging server');
  t.is(idp.jwksRequestCount, 1, 'the cold replica did not ask the identity provider');
});
