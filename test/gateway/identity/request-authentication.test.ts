/**
 * RequestAuthentication documents: what is accepted and how it compiles,
 * every rejection with its field path, which workloads a document applies
 * to, and where tokens are found in a request.
 */
import test from 'ava';
import { ValidationError } from '../../../gateway/errors.js';
import {
  compileRequestAuthentications,
  defaultIssuerExtensions,
  defaultTokenLocations,
  extractToken,
  parseRequestAuthentications,
  TokenErrorCode,
  validateIssuerExtensions,
  type IssuerExtensions,
  type IssuerRule,
} from '../../../gateway/identity/index.js';
import { parsePolicyDocuments } from '../../../gateway/policy/index.js';
import { checkInput } from '../../helpers/check-input.js';

const jwks = JSON.stringify({
  keys: [
    {
      kty: 'EC',
      crv: 'P-256',
      x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
      y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
      kid: 'a',
    },
  ],
});

const header = (name = 'ra', namespace = 'default') =>
  `apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: ${name}, namespace: ${namespace}}\n`;
const withRule = (rule: string) =>
  `${header()}spec:\n  jwtRules:\n  - issuer: https://idp.example\n    jwksUri: https://idp.example/jwks\n${rule}`;

const extensionsFor = (): IssuerExtensions => defaultIssuerExtensions;

function compile(text: string, extensions: (issuer: string) => IssuerExtensions = extensionsFor, rootNamespace = 'istio-system') {
  return compileRequestAuthentications(parseRequestAuthentications([{ file: 'ra.yaml', text }]), extensions, { rootNamespace });
}

test('a full v1 document compiles to an issuer rule with every field', (t) => {
  const set = compile(
    [
      header('full', 'todo'),
      'spec:',
      '  selector: {matchLabels: {app: todos}}',
      '  jwtRules:',
      '  - issuer: https://idp.example',
      '    audiences: [todos, reminders]',
      '    jwksUri: https://idp.example/jwks',
      '    fromHeaders: [{name: X-Jwt-Assertion}, {name: Authorization, prefix: "Bearer "}]',
      '    fromParams: [token]',
      '    fromCookies: [session]',
      '    outputPayloadToHeader: x-jwt-payload',
      '    outputClaimToHeaders: [{header: x-tenant, claim: tenant}]',
      '    forwardOriginalToken: true',
      '    timeout: 1.5s',
    ].join('\n'),
  );
  const [rule] = set.rulesFor({ namespace: 'todo', labels: { app: 'todos' } });
  t.like(rule, {
    id: 'todo/full#0',
    issuer: 'https://idp.example',
    audiences: ['todos', 'reminders'],
    jwksUri: 'https://idp.example/jwks',
    jwksFetchTimeoutMs: 1500,
    locations: [
      { kind: 'header', name: 'x-jwt-assertion', prefix: '' },
      { kind: 'header', name: 'authorization', prefix: 'Bearer ' },
      { kind: 'param', name: 'token' },
      { kind: 'cookie', name: 'session' },
    ],
    outputPayloadToHeader: 'x-jwt-payload',
    outputClaimToHeaders: [{ header: 'x-tenant', claim: 'tenant' }],
    forwardOriginalToken: true,
    extensions: defaultIssuerExtensions,
  });
  t.regex(rule?.fingerprint ?? '', /^[0-9a-f]{64}$/);
});

test('defaults: Istio token locations, forwardOriginalToken false, v1beta1 accepted, inline jwks parsed', (t) => {
  const text = `apiVersion: security.istio.io/v1beta1\nkind: RequestAuthentication\nmetadata: {name: b}\nspec:\n  jwtRules:\n  - issuer: https://idp.example\n    jwks: '${jwks}'\n`;
  const [rule] = compile(text).rulesFor({ namespace: 'default', labels: {} });
  t.deepEqual(rule?.locations, defaultTokenLocations);
  t.false(rule?.forwardOriginalToken);
  t.is(rule?.jwks?.keys[0]?.kid, 'a');
  t.is(rule?.id, 'default/b#0');
});

test('fingerprints change with issuer settings and audiences, not with document names or locations', (t) => {
  const rule = (text: string, extensions: IssuerExtensions = defaultIssuerExtensions) =>
    compile(text, () => extensions).rulesFor({ namespace: 'default', labels: {} })[0] as IssuerRule;
  const base = rule(withRule(''));
  t.is(rule(withRule('    fromParams: [t]\n')).fingerprint, base.fingerprint);
  t.not(rule(withRule('    audiences: [a]\n')).fingerprint, base.fingerprint);
  t.not(rule(withRule(''), { ...defaultIssuerExtensions, clockSkewSeconds: 0 }).fingerprint, base.fingerprint);
  t.is(
    rule(withRule(''), { requiredClaims: [], clockSkewSeconds: 30, algorithms: defaultIssuerExtensions.algorithms, discovery: false })
      .fingerprint,
    base.fingerprint,
    'key order does not matter',
  );
});

interface Row {
  readonly name: string;
  readonly text: string;
  readonly field: string;
  readonly problem: RegExp;
}

const rows: Row[] = [
  { name: 'unknown spec field', text: `${header()}spec:\n  rules: []\n`, field: 'spec.rules', problem: /unknown field/ },
  {
    name: 'unsupported apiVersion',
    text: 'apiVersion: security.istio.io/v2\nkind: RequestAuthentication\nmetadata: {name: a}\n',
    field: 'apiVersion',
    problem: /unsupported version/,
  },
  {
    name: 'missing name',
    text: 'apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {}\n',
    field: 'metadata.name',
    problem: /must be a string/,
  },
  {
    name: 'missing issuer',
    text: `${header()}spec:\n  jwtRules:\n  - jwksUri: https://a/\n`,
    field: 'spec.jwtRules[0].issuer',
    problem: /must be a string/,
  },
  {
    name: 'empty issuer',
    text: `${header()}spec:\n  jwtRules:\n  - issuer: ""\n`,
    field: 'spec.jwtRules[0].issuer',
    problem: /must not be empty/,
  },
  { name: 'unknown jwtRule field', text: withRule('    jwks_uri: x\n'), field: 'spec.jwtRules[0].jwks_uri', problem: /unknown field/ },
  {
    name: 'audiences not a list',
    text: withRule('    audiences: todos\n'),
    field: 'spec.jwtRules[0].audiences',
    problem: /must be a list/,
  },
  {
    name: 'jwksUri not a URL',
    text: `${header()}spec:\n  jwtRules:\n  - issuer: a\n    jwksUri: ftp://idp/jwks\n`,
    field: 'spec.jwtRules[0].jwksUri',
    problem: /not an http or https URL/,
  },
  {
    name: 'jwks and jwksUri together',
    text: withRule(`    jwks: '${jwks}'\n`),
    field: 'spec.jwtRules[0].jwks',
    problem: /mutually exclusive/,
  },
  {
    name: 'jwks not JSON',
    text: `${header()}spec:\n  jwtRules:\n  - issuer: a\n    jwks: '{keys'\n`,
    field: 'spec.jwtRules[0].jwks',
    problem: /not valid JSON/,
  },
  {
    name: 'jwks not a key set',
    text: `${header()}spec:\n  jwtRules:\n  - issuer: a\n    jwks: '{"kty": "RSA"}'\n`,
    field: 'spec.jwtRules[0].jwks',
    problem: /no "keys" list/,
  },
  {
    name: 'jwks with a private key',
    text: `${header()}spec:\n  jwtRules:\n  - issuer: a\n    jwks: '{"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": "c"}]}'\n`,
    field: 'spec.jwtRules[0].jwks',
    problem: /private key/,
  },
  {
    name: 'fromHeaders without name',
    text: withRule('    fromHeaders: [{prefix: "Bearer "}]\n'),
    field: 'spec.jwtRules[0].fromHeaders[0].name',
    problem: /must be a string/,
  },
  {
    name: 'fromHeaders with a bad header name',
    text: withRule('    fromHeaders: [{name: "x token"}]\n'),
    field: 'spec.jwtRules[0].fromHeaders[0].name',
    problem: /not a valid HTTP header name/,
  },
  {
    name: 'empty fromParams entry',
    text: withRule('    fromParams: [""]\n'),
    field: 'spec.jwtRules[0].fromParams[0]',
    problem: /must not be empty/,
  },
  {
    name: 'bad cookie name',
    text: withRule('    fromCookies: ["a;b"]\n'),
    field: 'spec.jwtRules[0].fromCookies[0]',
    problem: /not a valid cookie name/,
  },
  {
    name: 'outputClaimToHeaders without claim',
    text: withRule('    outputClaimToHeaders: [{header: x-a}]\n'),
    field: 'spec.jwtRules[0].outputClaimToHeaders[0].claim',
    problem: /must be a string/,
  },
  {
    name: 'forwardOriginalToken as a string',
    text: withRule('    forwardOriginalToken: "yes"\n'),
    field: 'spec.jwtRules[0].forwardOriginalToken',
    problem: /true or false/,
  },
  { name: 'timeout not a duration', text: withRule('    timeout: 5\n'), field: 'spec.jwtRules[0].timeout', problem: /must be a string/ },
  { name: 'timeout without unit', text: withRule('    timeout: "5"\n'), field: 'spec.jwtRules[0].timeout', problem: /not a duration/ },
  { name: 'timeout too long', text: withRule('    timeout: 120s\n'), field: 'spec.jwtRules[0].timeout', problem: /at most 60s/ },
  {
    name: 'selector and targetRef together',
    text: `${header()}spec:\n  selector: {matchLabels: {app: a}}\n  targetRef: {kind: Service, name: a}\n`,
    field: 'spec.targetRef',
    problem: /mutually exclusive/,
  },
  {
    name: 'targetRef of an unsupported kind',
    text: `${header()}spec:\n  targetRefs: [{kind: Deployment, name: a}]\n`,
    field: 'spec.targetRefs[0].kind',
    problem: /not supported/,
  },
  {
    name: 'duplicate document',
    text: `${header()}---\n${header()}`,
    field: 'metadata.name',
    problem: /duplicate RequestAuthentication default\/ra/,
  },
];

for (const row of rows) {
  test(`rejects: ${row.name}`, (t) => {
    const error = t.throws(() => parseRequestAuthentications([{ file: 'ra.yaml', text: row.text }]), { instanceOf: ValidationError });
    t.is(error?.field, row.field);
    t.regex(error?.problem ?? '', row.problem);
    t.regex(error?.message ?? '', /^ra\.yaml#\d /);
  });
}

test('compiling rejects a rule without key source unless discovery is on for its issuer', (t) => {
  const text = `${header()}spec:\n  jwtRules:\n  - issuer: https://idp.example\n`;
  const error = t.throws(() => compile(text), { instanceOf: ValidationError });
  t.is(error?.field, 'spec.jwtRules[0]');
  t.regex(error?.problem ?? '', /neither jwksUri nor jwks/);
  t.notThrows(() => compile(text, () => ({ ...defaultIssuerExtensions, discovery: true })));
  const notUrl = `${header()}spec:\n  jwtRules:\n  - issuer: idp\n`;
  t.throws(() => compile(notUrl, () => ({ ...defaultIssuerExtensions, discovery: true })), { message: /not an http\(s\) URL/ });
});

test('issuer extensions: none, HMAC and unknown algorithms are configuration errors', (t) => {
  for (const [algorithm, problem] of [
    ['none', /never allowed/],
    ['NONE', /never allowed/],
    ['HS256', /HMAC/],
    ['RS1', /not a supported/],
  ] as const) {
    const error = t.throws(
      () => validateIssuerExtensions({ ...defaultIssuerExtensions, algorithms: ['RS256', algorithm] }, 'gatehouse.yaml', 'jwt.defaults'),
      {
        instanceOf: ValidationError,
      },
    );
    t.is(error?.field, 'jwt.defaults.algorithms[1]');
    t.regex(error?.problem ?? '', problem);
  }
  t.throws(() => compile(withRule(''), () => ({ ...defaultIssuerExtensions, algorithms: ['none'] })), { message: /never allowed/ });
  t.throws(() => validateIssuerExtensions({ ...defaultIssuerExtensions, clockSkewSeconds: -1 }, 'g.yaml', 'jwt.defaults'), {
    message: /clockSkewSeconds/,
  });
  t.notThrows(() => validateIssuerExtensions(defaultIssuerExtensions, 'g.yaml', 'jwt.defaults'));
});

test('other kinds are left alone; the policy loader still reads its own documents from the same file', (t) => {
  const text = `${withRule('')}---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p}\nspec: {}\n`;
  t.is(parseRequestAuthentications([{ file: 'all.yaml', text }]).documents.length, 1);
  t.is(parsePolicyDocuments([{ file: 'all.yaml', text }]).policies.length, 1);
});

test('targeting: root namespace mesh-wide, namespace, selector, targetRefs, in (namespace, name) order', (t) => {
  const doc = (name: string, namespace: string, spec: string) =>
    `${header(name, namespace)}spec:\n${spec}  jwtRules:\n  - issuer: https://${name}.example\n    jwksUri: https://${name}.example/jwks\n`;
  const text = [
    doc('mesh', 'istio-system', ''),
    doc('ns', 'todo', ''),
    doc('labels', 'todo', '  selector: {matchLabels: {app: todos, tier: api}}\n'),
    doc('service', 'todo', '  targetRefs: [{kind: Service, name: todos}]\n'),
    doc('gateway', 'todo', '  targetRef: {kind: Gateway, group: gateway.networking.k8s.io, name: edge}\n'),
    doc('other', 'reminder', ''),
  ].join('---\n');
  const set = compile(text);
  const issuers = (workload: Parameters<typeof set.rulesFor>[0]) =>
    set.rulesFor(workload).map((rule) => new URL(rule.issuer).hostname.split('.')[0]);
  t.deepEqual(issuers({ namespace: 'todo', labels: {} }), ['mesh', 'ns']);
  t.deepEqual(issuers({ namespace: 'todo', labels: { app: 'todos' } }), ['mesh', 'ns'], 'a selector needs all its labels');
  t.deepEqual(issuers({ namespace: 'todo', labels: { app: 'todos', tier: 'api' } }), ['mesh', 'labels', 'ns']);
  t.deepEqual(issuers({ namespace: 'todo', labels: {}, service: 'todos' }), ['mesh', 'ns', 'service']);
  t.deepEqual(issuers({ namespace: 'todo', labels: {}, gateway: 'edge' }), ['mesh', 'gateway', 'ns']);
  t.deepEqual(issuers({ namespace: 'reminder', labels: { app: 'todos', tier: 'api' } }), ['mesh', 'other']);
  t.deepEqual(issuers({ labels: {} }), ['mesh'], 'unknown namespace: mesh-wide rules only');
  t.is(set.issuers.length, 6);
  t.is(set.ruleCount, 6);
  const workload = { namespace: 'todo', labels: {} };
  t.is(set.rulesFor(workload), set.rulesFor(workload), 'memoized per workload object');
});

test('issuers lists one rule per distinct fingerprint', (t) => {
  const text = [
    withRule(''),
    `${header('copy')}spec:\n  jwtRules:\n  - issuer: https://idp.example\n    jwksUri: https://idp.example/jwks\n`,
  ].join('---\n');
  const set = compile(text);
  t.is(set.ruleCount, 2);
  t.is(set.issuers.length, 1);
});

// Token extraction.

const rule = (locations: IssuerRule['locations'], id = 'r'): IssuerRule => ({
  id,
  issuer: 'https://idp.example',
  audiences: [],
  locations,
  outputClaimToHeaders: [],
  forwardOriginalToken: false,
  extensions: defaultIssuerExtensions,
  fingerprint: id,
});
const defaults = rule(defaultTokenLocations);
const options = { maxTokenBytes: 64 };

test('extract: Authorization Bearer, prefix stripped exactly, header name case-insensitive', (t) => {
  const custom = rule([{ kind: 'header', name: 'X-Token', prefix: '' }], 'custom');
  t.like(extractToken(checkInput({ headers: { Authorization: 'Bearer abc' } }).request, [defaults], options), {
    found: true,
    token: 'abc',
    location: { kind: 'header', name: 'authorization' },
  });
  t.like(extractToken(checkInput({ headers: { authorization: 'bearer abc' } }).request, [defaults], options), { found: false });
  t.like(extractToken(checkInput({ headers: { 'x-token': 'abc' } }).request, [defaults, custom], options), {
    found: true,
    token: 'abc',
    rules: [custom],
  });
});

test('extract: query parameter, URL-decoded', (t) => {
  t.like(extractToken(checkInput({ query: 'a=1&access_token=ab%2Ec+d' }).request, [defaults], options), {
    found: true,
    token: 'ab.c d',
    location: { kind: 'param', name: 'access_token' },
  });
});

test('extract: cookie', (t) => {
  const cookie = rule([{ kind: 'cookie', name: 'session' }]);
  t.like(extractToken(checkInput({ headers: { cookie: 'theme=dark; session="abc"; x=1' } }).request, [cookie], options), {
    found: true,
    token: 'abc',
  });
  t.like(extractToken(checkInput({ headers: { cookie: 'session=abc' } }).request, [defaults], options), { found: false });
});

test('extract: the same token in two locations is one token, found by every rule that looks there', (t) => {
  const other = rule([{ kind: 'param', name: 'access_token' }], 'param-only');
  const found = extractToken(
    checkInput({ headers: { authorization: 'Bearer abc' }, query: 'access_token=abc' }).request,
    [defaults, other],
    options,
  );
  t.like(found, { found: true, token: 'abc', location: { kind: 'header' } });
  if (found.found) t.deepEqual(found.rules, [defaults, other]);
});

test('extract: two different tokens are ambiguous, also in one repeated header or parameter', (t) => {
  for (const short of [
    { headers: { authorization: 'Bearer a' }, query: 'access_token=b' },
    { headers: { authorization: 'Bearer a,Bearer b' } },
    { query: 'access_token=a&access_token=b' },
  ]) {
    t.like(extractToken(checkInput(short).request, [defaults], options), { found: false, error: TokenErrorCode.MultipleTokens });
  }
});

test('extract: an oversized token is rejected before anything else', (t) => {
  const found = extractToken(checkInput({ headers: { authorization: `Bearer ${'a'.repeat(65)}` } }).request, [defaults], options);
  t.like(found, { found: false, error: TokenErrorCode.TooLarge });
});

test('extract: no rules or no token means no token', (t) => {
  t.like(extractToken(checkInput({ headers: { authorization: 'Bearer a' } }).request, [], options), { found: false, error: undefined });
  t.like(extractToken(checkInput({ headers: { authorization: 'Bearer ' } }).request, [defaults], options), {
    found: false,
    error: undefined,
  });
});
