/**
 * The TokenReviewer with real parts: JWTs signed by real keys and served by a
 * real JWKS server, the real token cache (L1, and L2 in a real Redis shared by
 * two replicas), break-glass tokens while the identity provider is down, the
 * audience rules of the TokenReview contract, and every refusal with its code.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import test, { type ExecutionContext } from 'ava';
import { createRedisConnections, RedisStore } from '../../../gateway/cache/redis.js';
import { TokenCache } from '../../../gateway/cache/token-cache.js';
import { FieldReader } from '../../../gateway/config/load.js';
import { JwksRegistry } from '../../../gateway/identity/index.js';
import { readJwtAuthenticators, type JwtAuthenticator } from '../../../gateway/kubernetes/index.js';
import { createLogger } from '../../../gateway/log.js';
import { readBreakGlassTokens, type BreakGlassToken } from '../../../services/kubernetes-webhook/break-glass-tokens.js';
import { TokenReviewer } from '../../../services/kubernetes-webhook/token-reviewer.js';
import type { TokenReviewVerdict } from '../../../services/kubernetes-webhook/types.js';
import { startJwksServer, type JwksServer } from '../../helpers/jwks-server.js';
import { redisUrlForTests, uniquePrefix } from '../../helpers/redis.js';
import { epochSeconds, generateTestKey, jwksOf, signToken, type TestKey } from '../../helpers/tokens.js';

const MAX_TOKEN_BYTES = 16 * 1024;

let es256: TestKey;
let eddsa: TestKey;
let idp: JwksServer;
let otherIdp: JwksServer;
// One registry for every reviewer, as one webhook process has; a generous timeout, for a loaded test machine.
const keys = new JwksRegistry({ fetchTimeoutMs: 10_000 });

test.before(async () => {
  [es256, eddsa] = await Promise.all([generateTestKey('ES256'), generateTestKey('EdDSA')]);
  [idp, otherIdp] = await Promise.all([startJwksServer(jwksOf(es256)), startJwksServer(jwksOf(eddsa))]);
});

test.after.always(async () => {
  keys.close();
  await Promise.all([idp?.close(), otherIdp?.close()]);
});

/** The webhook's authenticators: the main identity provider (two audiences) and another one. */
function authenticators(main: JwksServer = idp, other: JwksServer = otherIdp): JwtAuthenticator[] {
  return readJwtAuthenticators(
    new FieldReader('webhook.yaml'),
    [
      {
        issuer: { url: main.url, audiences: ['kubernetes', 'kubernetes-admin'], audienceMatchPolicy: 'MatchAny', jwksUri: main.jwksUri },
        settings: { algorithms: ['ES256'] },
        claimMappings: { username: { claim: 'sub', prefix: 'oidc:' }, groups: { claim: 'groups', prefix: '' } },
      },
      {
        issuer: { url: other.url, audiences: ['kubernetes'], jwksUri: other.jwksUri },
        claimMappings: { username: { expression: "'partner:' + claims.sub" } },
      },
    ],
    'jwt',
  );
}

/** A break-glass token and its configuration entry, created the way the documentation says. */
function breakGlass(name = 'cluster-admin-1'): { token: string; entries: BreakGlassToken[] } {
  const token = randomBytes(32).toString('base64');
  const sha256 = createHash('sha256').update(token).digest('hex');
  const entries = readBreakGlassTokens(
    new FieldReader('break-glass.yaml'),
    [
      { name: 'other', sha256: createHash('sha256').update('another token').digest('hex'), user: { username: 'someone' } },
      { name, sha256, user: { username: 'break-glass:admin', groups: ['system:masters'] } },
    ],
    'breakGlassTokens',
  );
  return { token, entries };
}

interface Setup {
  readonly reviewer: TokenReviewer;
  readonly cache: TokenCache;
  readonly logs: Record<string, unknown>[];
}

function setup(
  t: ExecutionContext,
  options: { authenticators?: JwtAuthenticator[]; breakGlassTokens?: BreakGlassToken[]; cache?: TokenCache } = {},
): Setup {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const cache = options.cache ?? new TokenCache();
  const reviewer = new TokenReviewer({
    authenticators: options.authenticators ?? authenticators(),
    breakGlassTokens: options.breakGlassTokens ?? [],
    keys,
    cache,
    maxTokenBytes: MAX_TOKEN_BYTES,
    log: createLogger('debug', sink),
  });
  return { reviewer, cache, logs };
}

function claims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const now = epochSeconds();
  return { iss: idp.url, sub: 'alice', aud: 'kubernetes', iat: now, exp: now + 600, groups: ['dev'], ...extra };
}

function refused(t: ExecutionContext, verdict: TokenReviewVerdict, code: string, token?: string): void {
  if (verdict.authenticated) {
    t.fail(`expected ${code}, got ${JSON.stringify(verdict)}`);
    return;
  }
  t.is(verdict.code, code, verdict.error);
  t.true(verdict.error.length > 0);
  if (token) t.false(verdict.error.includes(token), 'the error never quotes the token');
}

test('a valid token: authenticated as the mapped user, for the audiences it carries that the authenticator accepts', async (t) => {
  const { reviewer } = setup(t);
  const token = await signToken(claims({ aud: ['kubernetes', 'dashboard'] }), es256);
  t.deepEqual(await reviewer.review({ token, audiences: [] }), {
    authenticated: true,
    user: { username: 'oidc:alice', groups: ['dev'], extra: {} },
    audiences: ['kubernetes'],
  });
});

test.serial('a warm review does not verify the signature again, nor ask the identity provider', async (t) => {
  const { reviewer, cache } = setup(t);
  const token = await signToken(claims({ sub: 'warm' }), es256);
  t.true((await reviewer.review({ token, audiences: [] })).authenticated);
  const cold = cache.stats();
  const idpRequests = idp.requestCount;
  for (let i = 0; i < 5; i++) t.true((await reviewer.review({ token, audiences: ['kubernetes'] })).authenticated);
  const warm = cache.stats();
  t.is(cold.verifications, 1);
  t.is(warm.verifications, 1, 'no verification after the first review');
  t.is(warm.hits.l1, cold.hits.l1 + 5);
  t.is(idp.requestCount, idpRequests);
});

test('with several authenticators, a token goes to the one of its issuer (warm too)', async (t) => {
  const { reviewer, cache } = setup(t);
  const token = await signToken(claims({ iss: otherIdp.url, sub: 'bob' }), eddsa);
  const expected = { authenticated: true, user: { username: 'partner:bob', groups: [], extra: {} }, audiences: ['kubernetes'] };
  t.deepEqual(await reviewer.review({ token, audiences: [] }), expected);
  t.deepEqual(await reviewer.review({ token, audiences: [] }), expected);
  t.is(cache.stats().verifications, 1);
});

const audienceRows: [
  name: string,
  tokenAudiences: string[],
  requested: string[],
  expected: string[] | 'AUDIENCE_MISMATCH' | 'TOKEN_WRONG_AUDIENCE',
][] = [
  ['none requested: the authenticator’s audiences the token carries', ['kubernetes'], [], ['kubernetes']],
  [
    'none requested: every accepted audience the token carries',
    ['kubernetes-admin', 'x', 'kubernetes'],
    [],
    ['kubernetes', 'kubernetes-admin'],
  ],
  ['requested and carried and accepted', ['kubernetes'], ['kubernetes'], ['kubernetes']],
  [
    'only the intersection of requested, carried and accepted',
    ['kubernetes', 'kubernetes-admin'],
    ['https://kubernetes.default.svc', 'kubernetes-admin'],
    ['kubernetes-admin'],
  ],
  ['requested but not carried', ['kubernetes'], ['kubernetes-admin'], 'AUDIENCE_MISMATCH'],
  ['requested and carried but not accepted by the authenticator', ['kubernetes', 'dashboard'], ['dashboard'], 'AUDIENCE_MISMATCH'],
  ['requested audiences the token does not know at all', ['kubernetes'], ['https://kubernetes.default.svc'], 'AUDIENCE_MISMATCH'],
  ['no accepted audience in the token: refused by verification', ['dashboard'], [], 'TOKEN_WRONG_AUDIENCE'],
];

for (const [name, tokenAudiences, requested, expected] of audienceRows) {
  test(`audiences: ${name}`, async (t) => {
    const { reviewer } = setup(t);
    const token = await signToken(claims({ aud: tokenAudiences }), es256);
    const verdict = await reviewer.review({ token, audiences: requested });
    if (typeof expected === 'string') {
      refused(t, verdict, expected, token);
      return;
    }
    t.true(verdict.authenticated, JSON.stringify(verdict));
    if (verdict.authenticated) t.deepEqual(verdict.audiences, expected);
  });
}

test('break-glass: authenticates while the identity provider is down; logged at warn without the token, counted', async (t) => {
  const downIdp = await startJwksServer(jwksOf(es256));
  await downIdp.close();
  const { token, entries } = breakGlass();
  const { reviewer, logs } = setup(t, { authenticators: authenticators(downIdp), breakGlassTokens: entries });

  const jwt = await signToken(claims({ iss: downIdp.url }), es256);
  refused(t, await reviewer.review({ token: jwt, audiences: [] }), 'TOKEN_KEYS_UNAVAILABLE', jwt);

  const verdict = await reviewer.review({ token, audiences: ['https://kubernetes.default.svc'] });
  t.deepEqual(verdict, {
    authenticated: true,
    user: { username: 'break-glass:admin', groups: ['system:masters'], extra: {} },
    audiences: ['https://kubernetes.default.svc'],
    breakGlass: 'cluster-admin-1',
  });
  await reviewer.review({ token, audiences: [] });

  const uses = logs.filter((line) => line.breakGlass !== undefined);
  t.is(uses.length, 2);
  t.like(uses[0], { level: 'warn', breakGlass: 'cluster-admin-1', username: 'break-glass:admin' });
  const written = JSON.stringify(logs);
  const digest = entries[1]!.sha256;
  for (const secret of [token, digest.toString('hex'), digest.toString('base64'), digest.toString('base64url')]) {
    t.false(written.includes(secret), 'neither the token nor its digest is logged');
  }
  t.like(reviewer.stats(), {
    reviews: 3,
    authenticated: 2,
    breakGlassUses: { 'cluster-admin-1': 2 },
    refused: { TOKEN_KEYS_UNAVAILABLE: 1 },
  });
});

test('break-glass: a token that is not one of them goes on to JWT verification', async (t) => {
  const { token, entries } = breakGlass();
  const { reviewer } = setup(t, { breakGlassTokens: entries });
  const nearMiss = `${token.slice(0, -2)}${token.endsWith('A=') ? 'B=' : 'A='}`;
  refused(t, await reviewer.review({ token: nearMiss, audiences: [] }), 'TOKEN_MALFORMED', nearMiss);
  const jwt = await signToken(claims(), es256);
  const verdict = await reviewer.review({ token: jwt, audiences: [] });
  t.true(verdict.authenticated && verdict.breakGlass === undefined);
  t.deepEqual(reviewer.stats().breakGlassUses, {});
});

test('refusals: each with its code, never quoting the token', async (t) => {
  const { reviewer } = setup(t);
  const stranger = await generateTestKey('ES256', es256.kid);
  const now = epochSeconds();
  const rows: [name: string, token: string, code: string][] = [
    ['empty token', '', 'TOKEN_MISSING'],
    ['oversized token', 'a'.repeat(MAX_TOKEN_BYTES + 1), 'TOKEN_TOO_LARGE'],
    ['not a JWT', 'not-a-jwt', 'TOKEN_MALFORMED'],
    ['signed by another key under the same kid', await signToken(claims(), stranger), 'TOKEN_BAD_SIGNATURE'],
    ['expired', await signToken(claims({ iat: now - 7200, exp: now - 3600 }), es256), 'TOKEN_EXPIRED'],
    ['unknown issuer', await signToken(claims({ iss: 'https://elsewhere.example.com' }), es256), 'TOKEN_UNKNOWN_ISSUER'],
    ['algorithm the authenticator does not allow', await signToken(claims(), eddsa), 'TOKEN_ALGORITHM_NOT_ALLOWED'],
    ['no sub', await signToken(claims({ sub: undefined }), es256), 'TOKEN_MISSING_CLAIM'],
    ['no exp: a Kubernetes credential never lives forever', await signToken(claims({ exp: undefined }), es256), 'TOKEN_MISSING_CLAIM'],
    ['a reserved system: group', await signToken(claims({ groups: 'system:masters' }), es256), 'USER_RESERVED_PREFIX'],
    ['groups of the wrong shape', await signToken(claims({ groups: { admin: true } }), es256), 'USER_MAPPING_FAILED'],
  ];
  for (const [name, token, code] of rows) {
    const verdict = await reviewer.review({ token, audiences: [] });
    t.false(verdict.authenticated, name);
    if (!verdict.authenticated) {
      t.is(verdict.code, code, `${name}: ${verdict.error}`);
      if (token) t.false(verdict.error.includes(token), name);
    }
  }
  t.like(reviewer.stats(), { reviews: rows.length, authenticated: 0 });
  t.is(
    Object.values(reviewer.stats().refused).reduce((sum, n) => sum + n, 0),
    rows.length,
  );
});

test('a refused mapping is remembered with the cached token and refused again without verifying', async (t) => {
  const { reviewer, cache } = setup(t);
  const token = await signToken(claims({ sub: 'carol', groups: ['system:nodes'] }), es256);
  refused(t, await reviewer.review({ token, audiences: [] }), 'USER_RESERVED_PREFIX', token);
  refused(t, await reviewer.review({ token, audiences: [] }), 'USER_RESERVED_PREFIX', token);
  t.is(cache.stats().verifications, 1);
});

test('two replicas share the verified token through Redis (L2): the second does not verify it', async (t) => {
  const redis = await redisUrlForTests();
  t.teardown(() => redis.stop());
  const prefix = uniquePrefix('token-review');
  const replica = async (): Promise<Setup> => {
    const connections = createRedisConnections({ url: redis.url, keyPrefix: prefix, commandTimeoutMs: 2000 }, createLogger('silent'));
    t.teardown(() => connections.close());
    t.true(await connections.ready(5000));
    return setup(t, { cache: new TokenCache({ shared: new RedisStore(connections.commands, connections.keyPrefix) }) });
  };
  const [a, b] = [await replica(), await replica()];
  const token = await signToken(claims({ sub: 'dave' }), es256);

  t.true((await a.reviewer.review({ token, audiences: [] })).authenticated);
  await a.cache.flushWrites();
  t.deepEqual(await b.reviewer.review({ token, audiences: ['kubernetes'] }), {
    authenticated: true,
    user: { username: 'oidc:dave', groups: ['dev'], extra: {} },
    audiences: ['kubernetes'],
  });
  t.like(b.cache.stats(), { verifications: 0, hits: { l2: 1 } });
});
