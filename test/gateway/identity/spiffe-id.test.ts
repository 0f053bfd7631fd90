import test from 'ava';
import fc from 'fast-check';
import { parseSpiffeId, spiffePrincipal } from '../../../gateway/identity/index.js';

type Row =
  | {
      readonly name: string;
      readonly input: string;
      readonly valid: true;
      readonly path?: string;
      readonly namespace?: string;
      readonly serviceAccount?: string;
    }
  | { readonly name: string; readonly input: string; readonly valid: false; readonly reason: string };

const longSegment = 'a'.repeat(2048 - 'spiffe://td/'.length);

const rows: readonly Row[] = [
  // Valid
  {
    name: 'Istio workload',
    input: 'spiffe://cluster.local/ns/default/sa/reminder',
    valid: true,
    namespace: 'default',
    serviceAccount: 'reminder',
  },
  { name: 'trust domain only', input: 'spiffe://example.org', valid: true, path: '' },
  { name: 'opaque path', input: 'spiffe://example.org/9eebccd2-12bf-40a6-b262-65fe0487d453', valid: true },
  { name: 'upper-case path is allowed', input: 'spiffe://example.org/Payments/Web-FE', valid: true },
  { name: 'dots, dashes, underscores', input: 'spiffe://my_td-1.example.org/a.b/c-d/e_f', valid: true },
  { name: 'segment of three dots is not a dot-segment', input: 'spiffe://example.org/.../x', valid: true },
  { name: 'segment starting with a dot', input: 'spiffe://example.org/.hidden', valid: true },
  { name: 'ns/sa with extra segment is not Istio', input: 'spiffe://td/ns/a/sa/b/c', valid: true },
  { name: 'sa before ns is not Istio', input: 'spiffe://td/sa/b/ns/a', valid: true },
  { name: 'exactly 2048 bytes', input: `spiffe://td/${longSegment}`, valid: true },
  { name: 'trust domain of 255 bytes', input: `spiffe://${'a'.repeat(255)}/x`, valid: true },
  { name: 'numeric trust domain', input: 'spiffe://10.0.0.1/x', valid: true },
  // Scheme
  { name: 'empty', input: '', valid: false, reason: 'SPIFFE ID is empty' },
  { name: 'upper-case scheme', input: 'SPIFFE://example.org/x', valid: false, reason: "scheme must be lower-case 'spiffe'" },
  { name: 'mixed-case scheme', input: 'Spiffe://example.org/x', valid: false, reason: "scheme must be lower-case 'spiffe'" },
  { name: 'https scheme', input: 'https://example.org/x', valid: false, reason: "SPIFFE ID must start with 'spiffe://'" },
  { name: 'no scheme', input: 'example.org/ns/a/sa/b', valid: false, reason: "SPIFFE ID must start with 'spiffe://'" },
  { name: 'single slash after scheme', input: 'spiffe:/example.org/x', valid: false, reason: "SPIFFE ID must start with 'spiffe://'" },
  { name: 'leading whitespace', input: ' spiffe://example.org/x', valid: false, reason: "SPIFFE ID must start with 'spiffe://'" },
  // Trust domain
  { name: 'empty trust domain', input: 'spiffe:///x', valid: false, reason: 'trust domain is empty' },
  { name: 'nothing after scheme', input: 'spiffe://', valid: false, reason: 'trust domain is empty' },
  { name: 'upper-case trust domain', input: 'spiffe://Example.org/x', valid: false, reason: 'trust domain contains an upper-case letter' },
  { name: 'userinfo', input: 'spiffe://user@example.org/x', valid: false, reason: 'userinfo is not allowed' },
  { name: 'userinfo with password', input: 'spiffe://u:p@example.org/x', valid: false, reason: 'userinfo is not allowed' },
  { name: 'port', input: 'spiffe://example.org:8443/x', valid: false, reason: 'port is not allowed' },
  {
    name: 'percent-encoded trust domain',
    input: 'spiffe://exa%6dple.org/x',
    valid: false,
    reason: 'trust domain contains percent-encoding',
  },
  {
    name: 'space in trust domain',
    input: 'spiffe://exa mple.org',
    valid: false,
    reason: 'trust domain contains a character that is not allowed: U+0020',
  },
  {
    name: 'non-ASCII trust domain',
    input: 'spiffe://exämple.org',
    valid: false,
    reason: 'trust domain contains a character that is not allowed: U+00E4',
  },
  { name: 'IPv6 literal', input: 'spiffe://[::1]/x', valid: false, reason: "trust domain contains a character that is not allowed: '['" },
  {
    name: 'trust domain over 255 bytes',
    input: `spiffe://${'a'.repeat(256)}/x`,
    valid: false,
    reason: 'trust domain is longer than 255 bytes',
  },
  // Path
  { name: 'trailing slash after trust domain', input: 'spiffe://example.org/', valid: false, reason: "path ends with '/'" },
  { name: 'trailing slash after path', input: 'spiffe://example.org/ns/a/', valid: false, reason: "path ends with '/'" },
  { name: 'double slash', input: 'spiffe://example.org/ns//a', valid: false, reason: "path contains an empty segment ('//')" },
  { name: 'dot segment', input: 'spiffe://example.org/ns/./a', valid: false, reason: "path segment is '.'" },
  { name: 'dot-dot segment', input: 'spiffe://example.org/ns/../admin', valid: false, reason: "path segment is '..'" },
  { name: 'trailing dot-dot', input: 'spiffe://example.org/a/..', valid: false, reason: "path segment is '..'" },
  { name: 'percent-encoding in path', input: 'spiffe://example.org/ns/%2e%2e/a', valid: false, reason: 'path contains percent-encoding' },
  {
    name: 'space in path',
    input: 'spiffe://example.org/my service',
    valid: false,
    reason: 'path contains a character that is not allowed: U+0020',
  },
  {
    name: 'tilde in path',
    input: 'spiffe://example.org/~user',
    valid: false,
    reason: "path contains a character that is not allowed: '~'",
  },
  { name: 'colon in path', input: 'spiffe://example.org/a:b', valid: false, reason: "path contains a character that is not allowed: ':'" },
  {
    name: 'newline in path',
    input: 'spiffe://example.org/a\nb',
    valid: false,
    reason: 'path contains a character that is not allowed: U+000A',
  },
  { name: 'query', input: 'spiffe://example.org/x?admin=1', valid: false, reason: 'query is not allowed' },
  { name: 'query right after trust domain', input: 'spiffe://example.org?x', valid: false, reason: 'query is not allowed' },
  { name: 'fragment', input: 'spiffe://example.org/x#frag', valid: false, reason: 'fragment is not allowed' },
  { name: 'fragment before query', input: 'spiffe://example.org/x#a?b', valid: false, reason: 'fragment is not allowed' },
  // Length
  { name: 'over 2048 bytes', input: `spiffe://td/${longSegment}a`, valid: false, reason: 'SPIFFE ID is longer than 2048 bytes' },
  {
    name: 'over 2048 bytes counting UTF-8',
    input: `spiffe://td/${'é'.repeat(1100)}`,
    valid: false,
    reason: 'SPIFFE ID is longer than 2048 bytes',
  },
];

for (const row of rows) {
  test(`parseSpiffeId: ${row.name}`, (t) => {
    const result = parseSpiffeId(row.input);
    if (!row.valid) {
      t.deepEqual(result, { ok: false, reason: row.reason });
      return;
    }
    if (!result.ok) return t.fail(`expected valid, got: ${result.reason}`);
    t.is(result.id.uri, row.input);
    if (row.path !== undefined) t.is(result.id.path, row.path);
    t.is(result.id.namespace, row.namespace);
    t.is(result.id.serviceAccount, row.serviceAccount);
  });
}

test('parseSpiffeId: splits an Istio ID into its parts', (t) => {
  const result = parseSpiffeId('spiffe://cluster.local/ns/default/sa/reminder');
  t.deepEqual(result, {
    ok: true,
    id: {
      uri: 'spiffe://cluster.local/ns/default/sa/reminder',
      trustDomain: 'cluster.local',
      path: '/ns/default/sa/reminder',
      segments: ['ns', 'default', 'sa', 'reminder'],
      namespace: 'default',
      serviceAccount: 'reminder',
    },
  });
  if (result.ok) t.is(spiffePrincipal(result.id), 'cluster.local/ns/default/sa/reminder');
});

test('parseSpiffeId: a trust-domain ID has no segments', (t) => {
  const result = parseSpiffeId('spiffe://example.org');
  t.true(result.ok);
  if (result.ok) t.deepEqual(result.id.segments, []);
});

const trustDomainChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789.-_'.split(''));
const pathChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_'.split(''));
const trustDomain = fc.string({ unit: trustDomainChar, minLength: 1, maxLength: 64 });
const segment = fc.string({ unit: pathChar, minLength: 1, maxLength: 24 }).filter((text) => text !== '.' && text !== '..');

test('property: parseSpiffeId never throws on arbitrary strings', (t) => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.string({ unit: 'grapheme' }),
        fc.webUrl(),
        fc.string().map((s) => `spiffe://${s}`),
      ),
      (text) => {
        const result = parseSpiffeId(text);
        return result.ok ? result.id.uri === text : result.reason.length > 0;
      },
    ),
    { numRuns: 2000 },
  );
  t.pass();
});

test('property: valid generated IDs round-trip', (t) => {
  fc.assert(
    fc.property(trustDomain, fc.array(segment, { maxLength: 8 }), (domain, segments) => {
      const uri = `spiffe://${domain}${segments.map((s) => `/${s}`).join('')}`;
      const result = parseSpiffeId(uri);
      if (!result.ok) return false;
      return (
        result.id.uri === uri &&
        result.id.trustDomain === domain &&
        result.id.path === segments.map((s) => `/${s}`).join('') &&
        JSON.stringify(result.id.segments) === JSON.stringify(segments)
      );
    }),
    { numRuns: 1000 },
  );
  t.pass();
});

test('property: an upper-case letter anywhere in the trust domain is refused', (t) => {
  fc.assert(
    fc.property(trustDomain, fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ'.split('')), fc.nat(), (domain, upper, at) => {
      const position = at % (domain.length + 1);
      const mixed = domain.slice(0, position) + upper + domain.slice(position);
      const result = parseSpiffeId(`spiffe://${mixed}/x`);
      return !result.ok && result.reason === 'trust domain contains an upper-case letter';
    }),
  );
  t.pass();
});
