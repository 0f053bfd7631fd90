/**
 * The security table: one row per attack on token verification, each
 * asserting the TokenErrorCode it must end in, against a real JWKS server.
 * Then the tokens that must pass, and what they map to.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import {
  authenticateRequest,
  compileRequestAuthentications,
  defaultIssuerExtensions,
  JwksManager,
  parseRequestAuthentications,
  TokenErrorCode,
  verifyToken,
  type IssuerExtensions,
  type IssuerRule,
  type TokenVerdict,
} from '../../../gateway/identity/index.js';
import { checkInput } from '../../helpers/check-input.js';
import { startJwksServer, type JwksServer } from '../../helpers/jwks-server.js';
import {
  epochSeconds,
  generateTestKey,
  jwksOf,
  publicKeyAsHmacSecret,
  signToken,
  unsignedToken,
  type TestKey,
} from '../../helpers/tokens.js';

interface Fixture {
  idp: JwksServer;
  attacker: JwksServer;
  rsa: TestKey;
  ec: TestKey;
  ed: TestKey;
  evil: TestKey;
  keys: JwksManager;
}

let fixture: Fixture;
const now = new Date();
const nowSeconds = epochSeconds(now);
const peerSha256Hex = randomBytes(32).toString('hex');

test.before(async () => {
  const [rsa, ec, ed, evil] = await Promise.all([
    generateTestKey('RS256'),
    generateTestKey('ES256'),
    generateTestKey('EdDSA'),
    generateTestKey('RS256', 'attacker-key'),
  ]);
  const idp = await startJwksServer(jwksOf(rsa, ec, ed));
  const attacker = await startJwksServer(jwksOf(evil));
  const keys = new JwksManager({ kind: 'uri', uri: idp.jwksUri });
  await keys.prefetch();
  fixture = { idp, attacker, rsa, ec, ed, evil, keys };
});

test.after.always(async () => {
  fixture.keys.close();
  await fixture.idp.close();
  await fixture.attacker.close();
});

/** A rule compiled from a real RequestAuthentication document. */
function ruleFor(extensions: Partial<IssuerExtensions> = {}, audiences: string[] = []): IssuerRule {
  const text = [
    'apiVersion: security.istio.io/v1',
    'kind: RequestAuthentication',
    'metadata: { name: idp, namespace: default }',
    'spec:',
    '  jwtRules:',
    `  - issuer: ${fixture.idp.url}`,
    `    jwksUri: ${fixture.idp.jwksUri}`,
    ...(audiences.length > 0 ? [`    audiences: [${audiences.join(', ')}]`] : []),
  ].join('\n');
  const set = compileRequestAuthentications(parseRequestAuthentications([{ file: 'ra.yaml', text }]), () => ({
    ...defaultIssuerExtensions,
    ...extensions,
  }));
  return set.issuers[0] as IssuerRule;
}

function claims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { iss: fixture.idp.url, sub: 'alice', aud: 'todos', iat: nowSeconds - 10, exp: nowSeconds + 300, ...extra };
}

interface Row {
  readonly name: string;
  readonly code: TokenErrorCode;
  readonly token: (f: Fixture) => Promise<string> | string;
  readonly extensions?: Partial<IssuerExtensions>;
  readonly audiences?: string[];
  readonly peerSha256Hex?: string;
  /** Extra assertions after the verdict. */
  readonly after?: (f: Fixture) => void | string;
}

const rows: Row[] = [
  { name: 'alg none (unsigned token)', code: TokenErrorCode.AlgorithmNotAllowed, token: () => unsignedToken(claims()) },
  {
    name: 'alg none even when configured extensions were bypassed',
    code: TokenErrorCode.AlgorithmNotAllowed,
    extensions: { algorithms: ['RS256'] },
    token: () => unsignedToken(claims(), { typ: 'JWT' }),
  },
  {
    name: 'algorithm not in the allow-list (ES256 when only RS256 is allowed)',
    code: TokenErrorCode.AlgorithmNotAllowed,
    extensions: { algorithms: ['RS256'] },
    token: (f) => signToken(claims(), f.ec),
  },
  {
    name: 'algorithm confusion: HS256 with the RSA public key as secret, HMAC not allowed',
    code: TokenErrorCode.AlgorithmNotAllowed,
    token: async (f) => signToken(claims(), await publicKeyAsHmacSecret(f.rsa), { alg: 'HS256', kid: f.rsa.kid }),
  },

  {
    name: 'unknown critical header',
    code: TokenErrorCode.UnknownCritical,
    token: (f) => signToken(claims(), f.rsa, { crit: ['x-must-understand'], header: { 'x-must-understand': true } }),
  },
  { name: 'wrong issuer', code: TokenErrorCode.UnknownIssuer, token: (f) => signToken(claims({ iss: 'https://evil.example' }), f.rsa) },
  {
    name: 'wrong audience',
    code: TokenErrorCode.WrongAudience,
    audiences: ['todos'],
    token: (f) => signToken(claims({ aud: 'reminders' }), f.rsa),
  },
  {
    name: 'no audience when audiences are required',
    code: TokenErrorCode.WrongAudience,
    audiences: ['todos'],
    token: (f) => signToken(claims({ aud: undefined }), f.rsa),
  },
  { name: 'expired', code: TokenErrorCode.Expired, token: (f) => signToken(claims({ exp: nowSeconds - 3600 }), f.rsa) },
  {
    name: 'expired only by less than the clock skew is accepted: one minute past is not',
    code: TokenErrorCode.Expired,
    token: (f) => signToken(claims({ exp: nowSeconds - 60 }), f.rsa),
  },
  { name: 'nbf in the future', code: TokenErrorCode.NotYetValid, token: (f) => signToken(claims({ nbf: nowSeconds + 3600 }), f.rsa) },
  {
    name: 'iat far in the future',
    code: TokenErrorCode.IssuedInFuture,
    token: (f) => signToken(claims({ iat: nowSeconds + 3600 }), f.rsa),
  },
  {
    name: 'iat far in the future with maxTokenAge set',
    code: TokenErrorCode.IssuedInFuture,
    extensions: { maxTokenAgeSeconds: 600 },
    token: (f) => signToken(claims({ iat: nowSeconds + 3600 }), f.rsa),
  },
  {
    name: 'too old (maxTokenAge)',
    code: TokenErrorCode.TooOld,
    extensions: { maxTokenAgeSeconds: 600 },
    token: (f) => signToken(claims({ iat: nowSeconds - 3600 }), f.rsa),
  },
  {
    name: 'no iat with maxTokenAge set',
    code: TokenErrorCode.MissingClaim,
    extensions: { maxTokenAgeSeconds: 600 },
    token: (f) => signToken(claims({ iat: undefined }), f.rsa),
  },
  {
    name: 'missing required claim',
    code: TokenErrorCode.MissingClaim,
    extensions: { requiredClaims: ['tenant'] },
    token: (f) => signToken(claims(), f.rsa),
  },
  { name: 'no sub (no principal)', code: TokenErrorCode.MissingClaim, token: (f) => signToken(claims({ sub: undefined }), f.rsa) },
  {
    name: 'wrong typ',
    code: TokenErrorCode.WrongType,
    extensions: { requiredType: 'at+jwt' },
    token: (f) => signToken(claims(), f.rsa, { typ: 'JWT' }),
  },
  {
    name: 'missing typ when one is required',
    code: TokenErrorCode.WrongType,
    extensions: { requiredType: 'at+jwt' },
    token: (f) => signToken(claims(), f.rsa),
  },
  { name: 'oversized token', code: TokenErrorCode.TooLarge, token: (f) => signToken(claims({ blob: 'x'.repeat(20_000) }), f.rsa) },
  { name: 'kid not in the JWKS', code: TokenErrorCode.NoMatchingKey, token: (f) => signToken(claims(), f.evil) },
  {
    name: 'jku and x5u pointing at an attacker server are never fetched',
    code: TokenErrorCode.NoMatchingKey,
    token: (f) => signToken(claims(), f.evil, { header: { jku: f.attacker.jwksUri, x5u: `${f.attacker.url}/cert.pem` } }),
    after: (f) => (f.attacker.requestCount === 0 ? undefined : `attacker server got ${f.attacker.requestCount} requests`),
  },
  {
    name: 'embedded jwk header with the attacker key, legitimate kid',
    code: TokenErrorCode.BadSignature,
    token: (f) => signToken(claims(), f.evil, { kid: f.rsa.kid, header: { jwk: f.evil.publicJwk } }),
  },
  {
    name: 'embedded jwk header with the attacker key, no kid',
    code: TokenErrorCode.BadSignature,
    token: (f) => signToken(claims(), f.evil, { kid: null, header: { jwk: f.evil.publicJwk } }),
  },
  {
    name: 'tampered claims',
    code: TokenErrorCode.BadSignature,
    token: async (f) => {
      const [header, , signature] = (await signToken(claims(), f.rsa)).split('.');
      return `${header}.${Buffer.from(JSON.stringify(claims({ sub: 'admin' }))).toString('base64url')}.${signature}`;
    },
  },
  {
    name: 'cnf x5t#S256 of another certificate',
    code: TokenErrorCode.CertificateBindingMismatch,
    peerSha256Hex,
    token: (f) => signToken(claims({ cnf: { 'x5t#S256': randomBytes(32).toString('base64url') } }), f.rsa),
  },
  {
    name: 'cnf x5t#S256 and no peer certificate',
    code: TokenErrorCode.CertificateBindingMismatch,
    token: (f) => signToken(claims({ cnf: { 'x5t#S256': Buffer.from(peerSha256Hex, 'hex').toString('base64url') } }), f.rsa),
  },
  { name: 'garbage token', code: TokenErrorCode.Malformed, token: () => 'not.a.token' },
  { name: 'two parts only', code: TokenErrorCode.Malformed, token: () => 'eyJhbGciOiJSUzI1NiJ9.e30' },
  {
    name: 'encrypted token (JWE)',
    code: TokenErrorCode.Malformed,
    token: () => `${Buffer.from('{"alg":"dir","enc":"A256GCM"}').toString('base64url')}.x.y.z.w`,
  },
];

for (const row of rows) {
  test(`rejects: ${row.name}`, async (t) => {
    const rule = ruleFor(row.extensions, row.audiences);
    const token = await row.token(fixture);
    const verdict = await verifyToken(token, rule, fixture.keys, {
      now,
      ...(row.peerSha256Hex === undefined ? {} : { peerCertificateSha256Hex: row.peerSha256Hex }),
    });
    t.false(verdict.ok);
    if (verdict.ok) return;
    t.is(verdict.code, row.code, verdict.reason);
    t.false(verdict.reason.includes(token), 'the reason never quotes the token');
    const payload = token.split('.')[1] ?? '';
    if (payload.length > 8) t.false(verdict.reason.includes(payload), 'nor its claims');
    const problem = row.after?.(fixture);
    if (typeof problem === 'string') t.fail(problem);
  });
}

test('rejects: two different tokens in two locations', async (t) => {
  const rule = ruleFor();
  const [a, b] = await Promise.all([signToken(claims(), fixture.rsa), signToken(claims({ sub: 'bob' }), fixture.rsa)]);
  const input = checkInput({ headers: { authorization: `Bearer ${a}` }, query: `access_token=${b}` });
  const outcome = await authenticateRequest(input.request, [rule], (token, r) => verifyToken(token, r, fixture.keys, { now }));
  t.like(outcome, { outcome: 'rejected', code: TokenErrorCode.MultipleTokens });
});

test('rejects: a token from an issuer no rule of the workload names', async (t) => {
  const rule = ruleFor();
  const token = await signToken(claims({ iss: 'https://other.example' }), fixture.rsa);
  const input = checkInput({ headers: { authorization: `Bearer ${token}` } });
  const outcome = await authenticateRequest(input.request, [rule], (token, r) => verifyToken(token, r, fixture.keys, { now }));
  t.like(outcome, { outcome: 'rejected', code: TokenErrorCode.UnknownIssuer });
});

test('accepts: within the clock skew of exp and nbf', async (t) => {
  const token = await signToken(claims({ exp: nowSeconds - 10, nbf: nowSeconds + 10 }), fixture.rsa);
  const verdict = await verifyToken(token, ruleFor(), fixture.keys, { now });
  t.true(verdict.ok, reasonOf(verdict));
});

for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
  test(`accepts: a valid ${alg} token, claims mapped`, async (t) => {
    const key = alg === 'RS256' ? fixture.rsa : alg === 'ES256' ? fixture.ec : fixture.ed;
    const token = await signToken(
      claims({ aud: ['todos', 'reminders'], azp: 'web-app', jti: 'token-1', scope: 'read', iat: nowSeconds - 5 }),
      key,
    );
    const verdict = await verifyToken(token, ruleFor({}, ['todos']), fixture.keys, { now });
    t.true(verdict.ok, reasonOf(verdict));
    if (!verdict.ok) return;
    t.like(verdict.token, {
      principal: `${fixture.idp.url}/alice`,
      issuer: fixture.idp.url,
      subject: 'alice',
      audiences: ['todos', 'reminders'],
      presenter: 'web-app',
      expiresAt: nowSeconds + 300,
      issuedAt: nowSeconds - 5,
      jti: 'token-1',
      algorithm: alg,
    });
    t.is(verdict.token.claims['scope'], 'read');
  });
}

test('accepts: a single string aud becomes a one-element list; typ and cnf binding satisfied', async (t) => {
  const thumbprint = Buffer.from(peerSha256Hex, 'hex').toString('base64url');
  const token = await signToken(claims({ aud: 'todos', cnf: { 'x5t#S256': thumbprint } }), fixture.rsa, { typ: 'at+jwt' });
  const verdict = await verifyToken(token, ruleFor({ requiredType: 'at+jwt' }, ['todos']), fixture.keys, {
    now,
    peerCertificateSha256Hex: peerSha256Hex,
  });
  t.true(verdict.ok, reasonOf(verdict));
  if (verdict.ok) t.deepEqual(verdict.token.audiences, ['todos']);
});

test('rejects: algorithm confusion even with HS256 forced into the allow-list past configuration checks', async (t) => {
  const forced = ruleFor();
  const rule: IssuerRule = { ...forced, extensions: { ...forced.extensions, algorithms: ['RS256', 'HS256'] } };
  const token = await signToken(claims(), await publicKeyAsHmacSecret(fixture.rsa), { alg: 'HS256', kid: fixture.rsa.kid });
  t.like(await verifyToken(token, rule, fixture.keys, { now }), { ok: false, code: TokenErrorCode.AlgorithmNotAllowed });
});

function reasonOf(verdict: TokenVerdict): string {
  return verdict.ok ? 'ok' : `${verdict.code}: ${verdict.reason}`;
}
