import test from 'ava';
import fc from 'fast-check';
import { parseXfcc, type XfccElement } from '../../../gateway/identity/index.js';

const hash = '468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688';

function element(fields: Partial<XfccElement>): XfccElement {
  return { by: [], uris: [], dns: [], ...fields };
}

const accepted: readonly { name: string; header: string; elements: readonly XfccElement[] }[] = [
  {
    name: 'Envoy doc: By, Hash, quoted Subject, URI',
    header: `By=http://frontend.lyft.com;Hash=${hash};Subject="/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client";URI=http://testclient.lyft.com`,
    elements: [
      element({
        by: ['http://frontend.lyft.com'],
        hash,
        subject: '/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client',
        uris: ['http://testclient.lyft.com'],
      }),
    ],
  },
  {
    name: 'Envoy doc: two elements, one per hop',
    header: `By=http://frontend.lyft.com;Hash=${hash};URI=http://testclient.lyft.com,By=http://backend.lyft.com;Hash=9ba61d6425303443c0748a02dd8de688468ed33be74eee6556d90c0149c1309e;URI=http://frontend.lyft.com`,
    elements: [
      element({ by: ['http://frontend.lyft.com'], hash, uris: ['http://testclient.lyft.com'] }),
      element({
        by: ['http://backend.lyft.com'],
        hash: '9ba61d6425303443c0748a02dd8de688468ed33be74eee6556d90c0149c1309e',
        uris: ['http://frontend.lyft.com'],
      }),
    ],
  },
  {
    name: 'Envoy doc: repeated DNS',
    header: `By=http://frontend.lyft.com;Hash=${hash};Subject="/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client";URI=http://testclient.lyft.com;DNS=lyft.com;DNS=www.lyft.com`,
    elements: [
      element({
        by: ['http://frontend.lyft.com'],
        hash,
        subject: '/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client',
        uris: ['http://testclient.lyft.com'],
        dns: ['lyft.com', 'www.lyft.com'],
      }),
    ],
  },
  {
    name: 'RFC 2253 Subject with commas, semicolons and equals inside quotes',
    header: `Hash=${hash};Subject="CN=Test Client,OU=Lyft;x=y,L=San Francisco,ST=CA,C=US";URI=spiffe://cluster.local/ns/default/sa/reminder`,
    elements: [
      element({
        hash,
        subject: 'CN=Test Client,OU=Lyft;x=y,L=San Francisco,ST=CA,C=US',
        uris: ['spiffe://cluster.local/ns/default/sa/reminder'],
      }),
    ],
  },
  {
    name: 'escaped quote and backslash inside a quoted value',
    header: 'Subject="CN=\\"quoted\\" \\\\ name";URI=spiffe://td/x',
    elements: [element({ subject: 'CN="quoted" \\ name', uris: ['spiffe://td/x'] })],
  },
  {
    name: 'Istio sidecar: By and URI are SPIFFE IDs',
    // Envoy writes Subject="" when the client certificate's subject is empty, as SVIDs' often is.
    header: `By=spiffe://cluster.local/ns/default/sa/todos;Hash=${hash};Subject="";URI=spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account`,
    elements: [
      element({
        by: ['spiffe://cluster.local/ns/default/sa/todos'],
        hash,
        subject: '',
        uris: ['spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account'],
      }),
    ],
  },
  {
    name: 'Cert and Chain stay URL-encoded',
    header:
      'Hash=ab;Cert="-----BEGIN%20CERTIFICATE-----%0AMIIB%0A-----END%20CERTIFICATE-----%0A";Chain="-----BEGIN%20CERTIFICATE-----%0AMIIC%0A-----END%20CERTIFICATE-----%0A"',
    elements: [
      element({
        hash: 'ab',
        cert: '-----BEGIN%20CERTIFICATE-----%0AMIIB%0A-----END%20CERTIFICATE-----%0A',
        chain: '-----BEGIN%20CERTIFICATE-----%0AMIIC%0A-----END%20CERTIFICATE-----%0A',
      }),
    ],
  },
  {
    name: 'keys are case-insensitive, spaces around elements are tolerated',
    header: 'uri=spiffe://td/a ,  BY=spiffe://td/gw; dns=a.example',
    elements: [element({ uris: ['spiffe://td/a'] }), element({ by: ['spiffe://td/gw'], dns: ['a.example'] })],
  },
  {
    name: "an empty unquoted value is kept (judging it is peer.ts's job)",
    header: 'By=spiffe://td/gw;URI=',
    elements: [element({ by: ['spiffe://td/gw'], uris: [''] })],
  },
  {
    name: 'unknown keys are skipped',
    header: 'URI=spiffe://td/a;Future="x,y";X-Custom=1',
    elements: [element({ uris: ['spiffe://td/a'] })],
  },
];

for (const row of accepted) {
  test(`parseXfcc: ${row.name}`, (t) => {
    t.deepEqual(parseXfcc(row.header), { ok: true, elements: row.elements });
  });
}

const refused: readonly { name: string; header: string; reason: string }[] = [
  { name: 'empty header', header: '', reason: 'header is empty' },
  { name: 'whitespace only', header: '   ', reason: 'header is empty' },
  { name: 'unterminated quote', header: 'Subject="CN=a,URI=spiffe://td/x', reason: 'element 1: unterminated quoted value of Subject' },
  {
    name: 'text after closing quote',
    header: 'Subject="CN=a"x;URI=spiffe://td/x',
    reason: 'element 1: unexpected "x" after the value of Subject',
  },
  {
    name: 'quote inside an unquoted value',
    header: 'URI=spiffe://td/"x"',
    reason: `element 1: unexpected '"' inside the unquoted value of URI`,
  },
  { name: 'pair without =', header: 'URI=spiffe://td/x;garbage', reason: `element 1: pair "garbage" has no '='` },
  { name: 'empty key', header: '=value', reason: 'element 1 has a pair with an empty key' },
  { name: 'malformed key', header: 'U RI=x', reason: 'element 1 has a malformed key "U RI"' },
  { name: 'empty element between commas', header: 'URI=spiffe://td/a,,URI=spiffe://td/b', reason: 'element 2 is empty' },
  { name: 'trailing comma', header: 'URI=spiffe://td/a,', reason: 'element 2 is empty' },
  { name: 'trailing semicolon', header: 'URI=spiffe://td/a;', reason: 'element 1 has an empty pair' },
  { name: 'duplicate Hash', header: 'Hash=aa;Hash=bb', reason: 'element 1: Hash appears more than once' },
  { name: 'duplicate Subject', header: 'Subject="a";Subject="b"', reason: 'element 1: Subject appears more than once' },
  { name: 'oversized', header: `URI=spiffe://td/${'a'.repeat(16 * 1024)}`, reason: 'header is larger than 16384 bytes' },
  {
    name: 'too many elements',
    header: Array.from({ length: 17 }, (_, i) => `URI=spiffe://td/${i}`).join(','),
    reason: 'header has more than 16 elements',
  },
];

for (const row of refused) {
  test(`parseXfcc refuses: ${row.name}`, (t) => {
    t.deepEqual(parseXfcc(row.header), { ok: false, reason: row.reason });
  });
}

test('parseXfcc: limits can be set', (t) => {
  t.deepEqual(parseXfcc('URI=a,URI=b', { maxElements: 1 }), { ok: false, reason: 'header has more than 1 elements' });
  t.deepEqual(parseXfcc('URI=abcdef', { maxBytes: 5 }), { ok: false, reason: 'header is larger than 5 bytes' });
});

test('parseXfcc: reasons never echo control characters', (t) => {
  const result = parseXfcc('URI=a;\u001b[31mevil');
  t.false(result.ok);
  // eslint-disable-next-line no-control-regex -- the point is that no control character reaches the reason
  if (!result.ok) t.notRegex(result.reason, /[\u0000-\u001f]/);
});

/** Quotes a value the way Envoy does when it has to. */
function quote(value: string): string {
  return /[,;="\\]/.test(value) ? `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` : value;
}

/** Unquoted values are trimmed, so generated values carry no surrounding whitespace. */
const value = fc.string({ maxLength: 40 }).filter((s) => s.trim() === s);

test('property: parseXfcc never throws on arbitrary strings', (t) => {
  const alphabet = fc.constantFrom(...'=;,"\\ aURIByHashSubjectDNS:/'.split(''));
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.string({ unit: alphabet, maxLength: 200 })), (header) => {
      const result = parseXfcc(header);
      return result.ok ? Array.isArray(result.elements) : typeof result.reason === 'string';
    }),
    { numRuns: 3000 },
  );
  t.pass();
});

test('property: elements written as Envoy writes them parse back', (t) => {
  const generated = fc.record({
    hash: fc.option(fc.stringMatching(/^[0-9a-f]{64}$/), { nil: undefined }),
    subject: fc.option(value, { nil: undefined }),
    uris: fc.array(value, { maxLength: 2 }),
    dns: fc.array(value, { maxLength: 2 }),
  });
  fc.assert(
    fc.property(fc.array(generated, { minLength: 1, maxLength: 5 }), (elements) => {
      const header = elements
        .map((e) => {
          const pairs: string[] = [];
          if (e.hash !== undefined) pairs.push(`Hash=${e.hash}`);
          if (e.subject !== undefined) pairs.push(`Subject=${quote(e.subject)}`);
          for (const uri of e.uris) pairs.push(`URI=${quote(uri)}`);
          for (const dns of e.dns) pairs.push(`DNS=${quote(dns)}`);
          if (pairs.length === 0) pairs.push('By=spiffe://td/gw');
          return pairs.join(';');
        })
        .join(',');
      const result = parseXfcc(header, { maxBytes: 1 << 20 });
      if (!result.ok) return false;
      return elements.every((e, i) => {
        const parsed = result.elements[i];
        return (
          parsed !== undefined &&
          parsed.hash === e.hash &&
          parsed.subject === e.subject &&
          JSON.stringify(parsed.uris) === JSON.stringify(e.uris) &&
          JSON.stringify(parsed.dns) === JSON.stringify(e.dns)
        );
      });
    }),
    { numRuns: 1000 },
  );
  t.pass();
});
