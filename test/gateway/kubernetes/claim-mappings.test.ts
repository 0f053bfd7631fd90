/**
 * Kubernetes' structured authentication rules for one JWT authenticator, one
 * row per rule: claim mappings (claim with prefix, CEL expressions), the
 * email_verified rule, the reserved system: prefix, groups as a string or a
 * list, uid, extra, claim and user validation rules; and the configuration
 * mistakes, each naming its field.
 */
import test from 'ava';
import { FieldReader } from '../../../gateway/config/load.js';
import { ValidationError } from '../../../gateway/errors.js';
import type { VerifiedToken } from '../../../gateway/identity/index.js';
import {
  issuerRuleOfAuthenticator,
  mapTokenToUser,
  readJwtAuthenticators,
  type JwtAuthenticator,
  type KubernetesUser,
  type UserMappingCode,
} from '../../../gateway/kubernetes/index.js';

const ISSUER = 'https://login.example.com';

type Entry = Record<string, unknown>;

/** An authenticator entry: the issuer and a username mapping, with `change` merged over it. */
function entry(change: Entry = {}): Entry {
  return {
    issuer: { url: ISSUER, audiences: ['kubernetes'], jwksUri: `${ISSUER}/jwks` },
    claimMappings: { username: { claim: 'sub', prefix: 'oidc:' } },
    ...change,
  };
}

function read(entries: unknown): JwtAuthenticator[] {
  return readJwtAuthenticators(new FieldReader('authentication.yaml'), entries, 'jwt');
}

function authenticator(change: Entry = {}): JwtAuthenticator {
  return read([entry(change)])[0]!;
}

function mappings(claimMappings: Entry): Entry {
  return { claimMappings: { username: { claim: 'sub', prefix: 'oidc:' }, ...claimMappings } };
}

/** A token as verification leaves it: the claims are all mapping looks at. */
function verified(claims: Record<string, unknown>): VerifiedToken {
  return {
    principal: `${ISSUER}/${String(claims.sub)}`,
    issuer: ISSUER,
    subject: String(claims.sub),
    audiences: ['kubernetes'],
    claims: { iss: ISSUER, aud: 'kubernetes', ...claims },
    algorithm: 'ES256',
  };
}

function user(username: string, rest: Partial<KubernetesUser> = {}): KubernetesUser {
  return { username, groups: [], extra: {}, ...rest };
}

type Expected = KubernetesUser | { readonly code: UserMappingCode; readonly reason?: RegExp };

const rows: [name: string, change: Entry, claims: Record<string, unknown>, expected: Expected][] = [
  // username
  ['username from a claim behind its prefix', {}, { sub: 'alice' }, user('oidc:alice')],
  [
    'username from a claim with an explicitly empty prefix',
    { claimMappings: { username: { claim: 'sub', prefix: '' } } },
    { sub: 'alice' },
    user('alice'),
  ],
  [
    'username from an expression',
    { claimMappings: { username: { expression: "'corp:' + claims.preferred_username" } } },
    { sub: '1', preferred_username: 'alice' },
    user('corp:alice'),
  ],
  ['missing username claim: not authenticated', {}, { name: 'alice' }, { code: 'USER_MAPPING_FAILED', reason: /no 'sub' claim/ }],
  [
    'username claim that is not a string: not authenticated',
    { claimMappings: { username: { claim: 'employee', prefix: '' } } },
    { sub: 'a', employee: 42 },
    { code: 'USER_MAPPING_FAILED' },
  ],
  [
    'a claim named like an Object property is still looked up in the claims',
    { claimMappings: { username: { claim: 'constructor', prefix: '' } } },
    { sub: 'a' },
    { code: 'USER_MAPPING_FAILED', reason: /no 'constructor' claim/ },
  ],
  [
    'username expression yielding the empty string: not authenticated',
    { claimMappings: { username: { expression: "has(claims.upn) ? claims.upn : ''" } } },
    { sub: 'a' },
    { code: 'USER_MAPPING_FAILED', reason: /empty string/ },
  ],
  [
    'username expression yielding a number: not authenticated',
    { claimMappings: { username: { expression: 'claims.employee' } } },
    { sub: 'a', employee: 42 },
    { code: 'USER_MAPPING_FAILED', reason: /must yield a string/ },
  ],
  [
    'username expression reading a missing claim: not authenticated',
    { claimMappings: { username: { expression: 'claims.upn' } } },
    { sub: 'a' },
    { code: 'USER_MAPPING_FAILED', reason: /upn/ },
  ],
  // email_verified
  [
    'username from email with email_verified true',
    { claimMappings: { username: { claim: 'email', prefix: '' } } },
    { sub: 'a', email: 'alice@example.com', email_verified: true },
    user('alice@example.com'),
  ],
  [
    'username from email with email_verified false: refused',
    { claimMappings: { username: { claim: 'email', prefix: '' } } },
    { sub: 'a', email: 'alice@example.com', email_verified: false },
    { code: 'EMAIL_NOT_VERIFIED' },
  ],
  [
    'username from email without email_verified: refused',
    { claimMappings: { username: { claim: 'email', prefix: '' } } },
    { sub: 'a', email: 'alice@example.com' },
    { code: 'EMAIL_NOT_VERIFIED' },
  ],
  [
    'username from email with email_verified the string "true": refused',
    { claimMappings: { username: { claim: 'email', prefix: '' } } },
    { sub: 'a', email: 'alice@example.com', email_verified: 'true' },
    { code: 'EMAIL_NOT_VERIFIED' },
  ],
  [
    'username expression over email: the author checks email_verified (here: absent counts as verified, as Kubernetes suggests)',
    {
      claimValidationRules: [{ expression: 'claims.?email_verified.orValue(true) == true', message: 'email not verified' }],
      claimMappings: { username: { expression: 'claims.email' } },
    },
    { sub: 'a', email: 'alice@example.com' },
    user('alice@example.com'),
  ],
  [
    "username expression over email: the author's check refuses an unverified address",
    {
      claimValidationRules: [{ expression: 'claims.?email_verified.orValue(true) == true', message: 'email not verified' }],
      claimMappings: { username: { expression: 'claims.email' } },
    },
    { sub: 'a', email: 'alice@example.com', email_verified: false },
    { code: 'CLAIM_VALIDATION_FAILED', reason: /^email not verified$/ },
  ],
  // system: prefix
  [
    'username with the system: prefix from a claim: refused',
    { claimMappings: { username: { claim: 'sub', prefix: '' } } },
    { sub: 'system:admin' },
    { code: 'USER_RESERVED_PREFIX' },
  ],
  [
    'username with the system: prefix from an expression: refused',
    { claimMappings: { username: { expression: "'system:' + claims.sub" } } },
    { sub: 'kube-scheduler' },
    { code: 'USER_RESERVED_PREFIX' },
  ],
  [
    'a group with the system: prefix: refused',
    mappings({ groups: { claim: 'groups', prefix: '' } }),
    { sub: 'alice', groups: ['dev', 'system:masters'] },
    { code: 'USER_RESERVED_PREFIX' },
  ],
  // groups
  [
    'groups from a list claim, each behind the prefix',
    mappings({ groups: { claim: 'groups', prefix: 'oidc:' } }),
    { sub: 'alice', groups: ['dev', 'ops'] },
    user('oidc:alice', { groups: ['oidc:dev', 'oidc:ops'] }),
  ],
  [
    'groups from a string claim: one group',
    mappings({ groups: { claim: 'groups', prefix: 'oidc:' } }),
    { sub: 'alice', groups: 'dev' },
    user('oidc:alice', { groups: ['oidc:dev'] }),
  ],
  ['groups claim missing: no groups', mappings({ groups: { claim: 'groups' } }), { sub: 'alice' }, user('oidc:alice')],
  ['groups claim null: no groups', mappings({ groups: { claim: 'groups' } }), { sub: 'alice', groups: null }, user('oidc:alice')],
  [
    'groups claim list with empty strings: those are dropped',
    mappings({ groups: { claim: 'groups' } }),
    { sub: 'alice', groups: ['dev', ''] },
    user('oidc:alice', { groups: ['dev'] }),
  ],
  [
    'groups claim that is a number: not authenticated',
    mappings({ groups: { claim: 'groups' } }),
    { sub: 'alice', groups: 7 },
    { code: 'USER_MAPPING_FAILED' },
  ],
  [
    'groups claim list holding a non-string: not authenticated',
    mappings({ groups: { claim: 'groups' } }),
    { sub: 'alice', groups: ['dev', 7] },
    { code: 'USER_MAPPING_FAILED' },
  ],
  [
    'groups from an expression yielding a list',
    mappings({ groups: { expression: "claims.roles.map(r, 'role:' + r)" } }),
    { sub: 'alice', roles: ['reader', 'writer'] },
    user('oidc:alice', { groups: ['role:reader', 'role:writer'] }),
  ],
  [
    'groups from an expression yielding a string',
    mappings({ groups: { expression: "'team:' + claims.team" } }),
    { sub: 'alice', team: 'infra' },
    user('oidc:alice', { groups: ['team:infra'] }),
  ],
  [
    'groups expression yielding the empty string: no groups',
    mappings({ groups: { expression: "has(claims.team) ? claims.team : ''" } }),
    { sub: 'alice' },
    user('oidc:alice'),
  ],
  [
    'groups expression yielding a map: not authenticated',
    mappings({ groups: { expression: 'claims.team' } }),
    { sub: 'alice', team: { name: 'infra' } },
    { code: 'USER_MAPPING_FAILED' },
  ],
  // uid
  ['uid from a claim', mappings({ uid: { claim: 'oid' } }), { sub: 'alice', oid: 'f00' }, user('oidc:alice', { uid: 'f00' })],
  ['uid claim missing: not authenticated', mappings({ uid: { claim: 'oid' } }), { sub: 'alice' }, { code: 'USER_MAPPING_FAILED' }],
  [
    'uid from an expression',
    mappings({ uid: { expression: "claims.tid + '/' + claims.oid" } }),
    { sub: 'alice', tid: 't', oid: 'o' },
    user('oidc:alice', { uid: 't/o' }),
  ],
  // extra
  [
    'extra from expressions: a string, a list; "", [] and null leave the key out',
    mappings({
      extra: [
        { key: 'example.com/tenant', valueExpression: 'claims.tenant' },
        { key: 'example.com/scopes', valueExpression: "claims.scp.split(' ')" },
        { key: 'example.com/empty', valueExpression: "''" },
        { key: 'example.com/none', valueExpression: '[]' },
        { key: 'example.com/null', valueExpression: 'null' },
      ],
    }),
    { sub: 'alice', tenant: 'acme', scp: 'read write' },
    user('oidc:alice', { extra: { 'example.com/tenant': ['acme'], 'example.com/scopes': ['read', 'write'] } }),
  ],
  [
    'extra expression yielding a number: not authenticated',
    mappings({ extra: [{ key: 'example.com/level', valueExpression: 'claims.level' }] }),
    { sub: 'alice', level: 3 },
    { code: 'USER_MAPPING_FAILED', reason: /example\.com\/level/ },
  ],
  // claim validation rules
  [
    'claim rule with a required value that holds',
    { claimValidationRules: [{ claim: 'hd', requiredValue: 'example.com' }] },
    { sub: 'alice', hd: 'example.com' },
    user('oidc:alice'),
  ],
  [
    'claim rule with another value: refused',
    { claimValidationRules: [{ claim: 'hd', requiredValue: 'example.com' }] },
    { sub: 'alice', hd: 'evil.example' },
    { code: 'CLAIM_VALIDATION_FAILED', reason: /'hd' claim/ },
  ],
  [
    'claim rule with the claim missing: refused',
    { claimValidationRules: [{ claim: 'hd', requiredValue: 'example.com' }] },
    { sub: 'alice' },
    { code: 'CLAIM_VALIDATION_FAILED', reason: /no 'hd' claim/ },
  ],
  [
    'claim rule without requiredValue: the claim must be the empty string',
    { claimValidationRules: [{ claim: 'marker' }] },
    { sub: 'alice', marker: '' },
    user('oidc:alice'),
  ],
  [
    'claim rule compares strings only: a boolean claim does not hold',
    { claimValidationRules: [{ claim: 'admin', requiredValue: 'true' }] },
    { sub: 'alice', admin: true },
    { code: 'CLAIM_VALIDATION_FAILED' },
  ],
  [
    'expression rules: all must hold (lifetime within a day)',
    {
      claimValidationRules: [
        { claim: 'hd', requiredValue: 'example.com' },
        { expression: 'claims.exp - claims.nbf <= 86400', message: 'token lifetime too long' },
      ],
    },
    { sub: 'alice', hd: 'example.com', nbf: 1_000_000, exp: 1_000_000 + 3600 },
    user('oidc:alice'),
  ],
  [
    'expression rule that does not hold: its message',
    { claimValidationRules: [{ expression: 'claims.exp - claims.nbf <= 86400', message: 'token lifetime too long' }] },
    { sub: 'alice', nbf: 1_000_000, exp: 1_000_000 + 2 * 86400 },
    { code: 'CLAIM_VALIDATION_FAILED', reason: /^token lifetime too long$/ },
  ],
  [
    'expression rule without a message: the reason names the rule',
    { claimValidationRules: [{ expression: "claims.amr.exists(m, m == 'mfa')" }] },
    { sub: 'alice', amr: ['pwd'] },
    { code: 'CLAIM_VALIDATION_FAILED', reason: /rule 0 does not hold/ },
  ],
  [
    'expression rule that fails to evaluate: refused',
    { claimValidationRules: [{ expression: "claims.amr.exists(m, m == 'mfa')" }] },
    { sub: 'alice' },
    { code: 'CLAIM_VALIDATION_FAILED', reason: /failed to evaluate/ },
  ],
  // user validation rules
  [
    'user rules see the mapped user: username, uid, groups, extra',
    {
      ...mappings({
        uid: { claim: 'oid' },
        groups: { claim: 'groups', prefix: 'oidc:' },
        extra: [{ key: 'example.com/tenant', valueExpression: 'claims.tenant' }],
      }),
      userValidationRules: [
        { expression: "user.username.startsWith('oidc:') && user.uid == 'o1'" },
        { expression: "'oidc:dev' in user.groups && user.extra['example.com/tenant'][0] == 'acme'" },
      ],
    },
    { sub: 'alice', oid: 'o1', groups: ['dev'], tenant: 'acme' },
    user('oidc:alice', { uid: 'o1', groups: ['oidc:dev'], extra: { 'example.com/tenant': ['acme'] } }),
  ],
  [
    'user rule that does not hold: its message',
    {
      claimMappings: { username: { expression: "claims.sub + '@corp'" } },
      userValidationRules: [{ expression: "!user.username.endsWith('@corp')", message: 'corp users sign in elsewhere' }],
    },
    { sub: 'alice' },
    { code: 'USER_VALIDATION_FAILED', reason: /^corp users sign in elsewhere$/ },
  ],
  [
    'user rule over a token without a uid sees the empty string',
    { userValidationRules: [{ expression: "user.uid != ''", message: 'a uid is required' }] },
    { sub: 'alice' },
    { code: 'USER_VALIDATION_FAILED', reason: /a uid is required/ },
  ],
];

for (const [name, change, claims, expected] of rows) {
  test(`mapping: ${name}`, (t) => {
    const mapped = mapTokenToUser(authenticator(change), verified(claims));
    if ('username' in expected) {
      t.deepEqual(mapped, { ok: true, user: expected });
      return;
    }
    if (mapped.ok) {
      t.fail(`expected ${expected.code}, got ${JSON.stringify(mapped.user)}`);
      return;
    }
    t.is(mapped.code, expected.code, mapped.reason);
    if (expected.reason) t.regex(mapped.reason, expected.reason);
  });
}

test('mapping a token twice gives the same user (no state between calls)', (t) => {
  const a = authenticator(mappings({ groups: { claim: 'groups' } }));
  const token = verified({ sub: 'alice', groups: ['dev'] });
  t.deepEqual(mapTokenToUser(a, token), mapTokenToUser(a, token));
});

const invalid: [name: string, entries: unknown, field: string][] = [
  ['not a list', entry(), 'jwt'],
  ['unknown field', [entry({ claimMapping: {} })], 'jwt[0].claimMapping'],
  ['issuer missing', [{ claimMappings: { username: { claim: 'sub', prefix: '' } } }], 'jwt[0].issuer'],
  ['issuer url over http', [entry({ issuer: { url: 'http://login.example.com', audiences: ['k'] } })], 'jwt[0].issuer.url'],
  ['issuer url with a query', [entry({ issuer: { url: `${ISSUER}?tenant=1`, audiences: ['k'] } })], 'jwt[0].issuer.url'],
  ['issuer url with a fragment', [entry({ issuer: { url: `${ISSUER}#x`, audiences: ['k'] } })], 'jwt[0].issuer.url'],
  ['issuer url with user info', [entry({ issuer: { url: 'https://u:p@login.example.com', audiences: ['k'] } })], 'jwt[0].issuer.url'],
  ['issuer url not a URL', [entry({ issuer: { url: 'login', audiences: ['k'] } })], 'jwt[0].issuer.url'],
  ['audiences missing', [entry({ issuer: { url: ISSUER } })], 'jwt[0].issuer.audiences'],
  ['audiences empty', [entry({ issuer: { url: ISSUER, audiences: [] } })], 'jwt[0].issuer.audiences'],
  [
    'an audience twice',
    [entry({ issuer: { url: ISSUER, audiences: ['k', 'k'], audienceMatchPolicy: 'MatchAny' } })],
    'jwt[0].issuer.audiences[1]',
  ],
  [
    'two audiences without audienceMatchPolicy',
    [entry({ issuer: { url: ISSUER, audiences: ['a', 'b'] } })],
    'jwt[0].issuer.audienceMatchPolicy',
  ],
  [
    'audienceMatchPolicy other than MatchAny',
    [entry({ issuer: { url: ISSUER, audiences: ['a'], audienceMatchPolicy: 'MatchAll' } })],
    'jwt[0].issuer.audienceMatchPolicy',
  ],
  [
    'jwksUri over http',
    [entry({ issuer: { url: ISSUER, audiences: ['k'], jwksUri: 'http://login.example.com/jwks' } })],
    'jwt[0].issuer.jwksUri',
  ],
  [
    'jwksUri and jwks both',
    [entry({ issuer: { url: ISSUER, audiences: ['k'], jwksUri: `${ISSUER}/jwks`, jwks: { keys: [] } } })],
    'jwt[0].issuer',
  ],
  ['inline jwks that is not a key set', [entry({ issuer: { url: ISSUER, audiences: ['k'], jwks: { nope: 1 } } })], 'jwt[0].issuer.jwks'],
  [
    'no key source with discovery turned off',
    [entry({ issuer: { url: ISSUER, audiences: ['k'] }, settings: { discovery: false } })],
    'jwt[0].issuer',
  ],
  ['HMAC algorithm', [entry({ settings: { algorithms: ['HS256'] } })], 'jwt[0].settings.algorithms[0]'],
  ['clock skew beyond the issuer limit', [entry({ settings: { clockSkewSeconds: 500 } })], 'jwt[0].settings.clockSkewSeconds'],
  ['unknown setting', [entry({ settings: { leeway: 5 } })], 'jwt[0].settings.leeway'],
  ['claimMappings missing', [{ issuer: { url: ISSUER, audiences: ['k'] } }], 'jwt[0].claimMappings'],
  ['username missing', [entry({ claimMappings: {} })], 'jwt[0].claimMappings.username'],
  ['username claim without prefix', [entry({ claimMappings: { username: { claim: 'sub' } } })], 'jwt[0].claimMappings.username.prefix'],
  [
    'username claim and expression both',
    [entry({ claimMappings: { username: { claim: 'sub', prefix: '', expression: 'claims.sub' } } })],
    'jwt[0].claimMappings.username',
  ],
  [
    'username expression with a prefix',
    [entry({ claimMappings: { username: { expression: 'claims.sub', prefix: 'x:' } } })],
    'jwt[0].claimMappings.username.prefix',
  ],
  [
    'username prefix in the reserved system: space',
    [entry({ claimMappings: { username: { claim: 'sub', prefix: 'system:oidc:' } } })],
    'jwt[0].claimMappings.username.prefix',
  ],
  [
    'username expression that yields a bool',
    [entry({ claimMappings: { username: { expression: 'claims.exp > 0' } } })],
    'jwt[0].claimMappings.username.expression',
  ],
  [
    'username expression that does not parse',
    [entry({ claimMappings: { username: { expression: 'claims.sub +' } } })],
    'jwt[0].claimMappings.username.expression',
  ],
  [
    'username expression over claims.email that never checks claims.email_verified',
    [entry({ claimMappings: { username: { expression: 'claims.email' } } })],
    'jwt[0].claimMappings.username.expression',
  ],
  [
    'groups expression that yields a bool',
    [entry(mappings({ groups: { expression: "'dev' in claims.groups" } }))],
    'jwt[0].claimMappings.groups.expression',
  ],
  ['uid with a prefix', [entry(mappings({ uid: { claim: 'oid', prefix: 'x' } }))], 'jwt[0].claimMappings.uid.prefix'],
  [
    'extra key in upper case',
    [entry(mappings({ extra: [{ key: 'Example.com/tenant', valueExpression: 'claims.t' }] }))],
    'jwt[0].claimMappings.extra[0].key',
  ],
  [
    'extra key without a domain',
    [entry(mappings({ extra: [{ key: 'tenant', valueExpression: 'claims.t' }] }))],
    'jwt[0].claimMappings.extra[0].key',
  ],
  [
    'extra key with an empty path',
    [entry(mappings({ extra: [{ key: 'example.com/', valueExpression: 'claims.t' }] }))],
    'jwt[0].claimMappings.extra[0].key',
  ],
  [
    'extra key under a domain reserved for Kubernetes',
    [entry(mappings({ extra: [{ key: 'authentication.kubernetes.io/x', valueExpression: 'claims.t' }] }))],
    'jwt[0].claimMappings.extra[0].key',
  ],
  [
    'extra key mapped twice',
    [
      entry(
        mappings({
          extra: [
            { key: 'example.com/t', valueExpression: 'claims.t' },
            { key: 'example.com/t', valueExpression: 'claims.u' },
          ],
        }),
      ),
    ],
    'jwt[0].claimMappings.extra[1].key',
  ],
  [
    'extra without valueExpression',
    [entry(mappings({ extra: [{ key: 'example.com/t' }] }))],
    'jwt[0].claimMappings.extra[0].valueExpression',
  ],
  [
    'claim rule with claim and expression',
    [entry({ claimValidationRules: [{ claim: 'hd', expression: 'true' }] })],
    'jwt[0].claimValidationRules[0]',
  ],
  [
    'claim rule with claim and message',
    [entry({ claimValidationRules: [{ claim: 'hd', requiredValue: 'x', message: 'm' }] })],
    'jwt[0].claimValidationRules[0].message',
  ],
  [
    'claim rule expression that yields a string',
    [entry({ claimValidationRules: [{ expression: 'claims.hd' + " + ''" }] })],
    'jwt[0].claimValidationRules[0].expression',
  ],
  ['user rule without expression', [entry({ userValidationRules: [{ message: 'm' }] })], 'jwt[0].userValidationRules[0].expression'],
  [
    'user rule reading claims (only user is in scope)',
    [entry({ userValidationRules: [{ expression: "claims.sub != ''" }] })],
    'jwt[0].userValidationRules[0].expression',
  ],
  ['the same issuer twice', [entry(), entry()], 'jwt[1].issuer.url'],
];

for (const [name, entries, field] of invalid) {
  test(`invalid: ${name} → ${field}`, (t) => {
    const error = t.throws(() => read(entries), { instanceOf: ValidationError });
    t.is(error?.field, field, error?.message);
  });
}

test('valid: http on a loopback issuer, several audiences with MatchAny, an inline key set', (t) => {
  const [loopback] = read([
    entry({ issuer: { url: 'http://127.0.0.1:8080/realms/k', audiences: ['a', 'b'], audienceMatchPolicy: 'MatchAny' } }),
  ]);
  t.is(loopback?.issuer.url, 'http://127.0.0.1:8080/realms/k');
  t.deepEqual(loopback?.issuer.audiences, ['a', 'b']);
  t.true(loopback?.settings.discovery, 'no key source: OIDC discovery from the issuer URL');
  const jwks = { keys: [{ kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo', kid: 'k1' }] };
  const [inline] = read([entry({ issuer: { url: ISSUER, audiences: ['k'], jwks: JSON.stringify(jwks) } })]);
  t.deepEqual(inline?.issuer.jwks, jwks);
  t.false(inline?.settings.discovery);
});

test('the issuer rule of an authenticator: its issuer, audiences, key source and settings; fingerprints follow them', (t) => {
  const a = authenticator({ settings: { algorithms: ['ES256'], clockSkewSeconds: 10 } });
  const rule = issuerRuleOfAuthenticator(a, 'jwt[0]');
  t.like(rule, { id: 'jwt[0]', issuer: ISSUER, audiences: ['kubernetes'], jwksUri: `${ISSUER}/jwks` });
  t.deepEqual(rule.extensions.algorithms, ['ES256']);
  t.is(rule.extensions.clockSkewSeconds, 10);
  t.deepEqual(rule.extensions.requiredClaims, ['exp'], 'Kubernetes requires exp');
  const withClaims = authenticator({ settings: { requiredClaims: ['tenant', 'exp'] } });
  t.deepEqual(issuerRuleOfAuthenticator(withClaims, 'jwt[0]').extensions.requiredClaims, ['exp', 'tenant']);
  t.is(issuerRuleOfAuthenticator(a, 'other').fingerprint, rule.fingerprint, 'the id is not part of the fingerprint');
  const otherAudience = authenticator({ issuer: { url: ISSUER, audiences: ['other'], jwksUri: `${ISSUER}/jwks` } });
  t.not(issuerRuleOfAuthenticator(otherAudience, 'jwt[0]').fingerprint, rule.fingerprint);
});
