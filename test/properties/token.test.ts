/**
 * Properties of token verification (gateway/identity/jwt.ts) against a real
 * JWKS server: random strings and mutations of a validly signed token never
 * throw and always end in a verdict with a TokenErrorCode; nothing is ever
 * accepted with claims other than those signed; random claim sets signed
 * with the real key are accepted exactly when a simple model of the rules says so.
 */
import test from 'ava';
import fc from 'fast-check';
import {
  compileRequestAuthentications,
  defaultIssuerExtensions,
  JwksManager,
  parseRequestAuthentications,
  peekIssuer,
  TokenErrorCode,
  verifyToken,
  type IssuerRule,
} from '../../gateway/identity/index.js';
import { startJwksServer } from '../helpers/jwks-server.js';
import { epochSeconds, generateTestKey, jwksOf, signToken } from '../helpers/tokens.js';
import { numRuns } from './runs.js';

const key = await generateTestKey('ES256');
const idp = await startJwksServer(jwksOf(key));
const keys = new JwksManager({ kind: 'uri', uri: idp.jwksUri });
await keys.prefetch();

const rule = compileRequestAuthentications(
  parseRequestAuthentications([
    {
      file: 'ra.yaml',
      text: `apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: { name: idp, namespace: default }\nspec:\n  jwtRules:\n  - issuer: ${idp.url}\n    jwksUri: ${idp.jwksUri}\n    audiences: [todos]\n`,
    },
  ]),
  () => defaultIssuerExtensions,
).issuers[0] as IssuerRule;
const now = new Date();
const nowSeconds = epochSeconds(now);
const codes = new Set<string>(Object.values(TokenErrorCode));
const valid = await signToken({ iss: idp.url, sub: 'alice', aud: 'todos', iat: nowSeconds - 10, exp: nowSeconds + 600 }, key);
const [validHeader, validPayload] = valid.split('.');
test.after.always(async () => {
  keys.close();
  await idp.close();
});
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('');

const mutated = fc.oneof(
  fc.tuple(fc.nat(), fc.constantFrom(...BASE64URL, '.', '=', ' ', '')).map(([at, char]) => {
    const i = at % valid.length;
    return valid.slice(0, i) + char + valid.slice(i + 1);
  }),
  fc.nat().map((at) => valid.slice(0, at % valid.length)),
  fc.string({ unit: fc.constantFrom(...BASE64URL), maxLength: 90 }).map((signature) => `${validHeader}.${validPayload}.${signature}`),
  fc.json().map((json) => `${validHeader}.${Buffer.from(json).toString('base64url')}.${valid.split('.')[2]}`),
  fc.json().map((json) => `${Buffer.from(json).toString('base64url')}.${validPayload}.${valid.split('.')[2]}`),
  fc.string(),
);

test('random and mutated tokens: always a verdict with a known code, never accepted with claims other than those signed', async (t) => {
  await fc.assert(
    fc.asyncProperty(mutated, async (token) => {
      const peeked = peekIssuer(token);
      if (!peeked.ok && !codes.has(peeked.code)) return false;
      const verdict = await verifyToken(token, rule, keys, { now });
      if (!verdict.ok)
        return codes.has(verdict.code) && verdict.reason.length > 0 && (token.length < 16 || !verdict.reason.includes(token.slice(0, 16)));
      // Only the signed header and claims verify (a signature's unused trailing bits may differ: same bytes).
      const [header, payload] = token.split('.');
      return header === validHeader && payload === validPayload && verdict.token.subject === 'alice';
    }),
    { numRuns: numRuns(1500) },
  );
  t.pass();
});

const claimValue = (...values: unknown[]) => fc.option(fc.constantFrom(...values), { nil: undefined });
const claims = fc.record({
  iss: claimValue(idp.url, 'https://other.example', 42, ''),
  sub: claimValue('alice', '', 7, null),
  aud: claimValue('todos', 'other', ['x', 'todos'], []),
  exp: claimValue(nowSeconds + 600, nowSeconds - 600),
  nbf: claimValue(nowSeconds - 600, nowSeconds + 600),
  iat: claimValue(nowSeconds - 60, nowSeconds + 600),
});

/** The rules, simply: right issuer, an audience of the rule, a non-empty string subject, and inside its validity. */
function shouldAccept(c: Record<string, unknown>): boolean {
  const audiences = typeof c.aud === 'string' ? [c.aud] : Array.isArray(c.aud) ? c.aud : [];
  return (
    c.iss === idp.url &&
    audiences.includes('todos') &&
    typeof c.sub === 'string' &&
    c.sub !== '' &&
    (c.exp === undefined || (c.exp as number) > nowSeconds) &&
    (c.nbf === undefined || (c.nbf as number) <= nowSeconds) &&
    (c.iat === undefined || (c.iat as number) <= nowSeconds)
  );
}

test('random claim sets signed with the real key are accepted exactly when the rules say so', async (t) => {
  await fc.assert(
    fc.asyncProperty(claims, async (generated) => {
      const present = Object.fromEntries(Object.entries(generated).filter(([, value]) => value !== undefined));
      const verdict = await verifyToken(await signToken(present, key), rule, keys, { now });
      if (verdict.ok !== shouldAccept(present)) return false;
      return verdict.ok ? verdict.token.principal === `${idp.url}/alice` : codes.has(verdict.code);
    }),
    { numRuns: numRuns(400) },
  );
  t.pass();
});
