import { X509Certificate } from 'node:crypto';
import test from 'ava';
import { identityFromX509, parsePeerCertificate } from '../../../gateway/identity/index.js';
import { createMeshPki, issueCert, meshIds, type MeshPki } from '../../helpers/certs.js';

let pki: MeshPki;
test.before(async () => {
  pki = await createMeshPki();
});

/** Envoy's `source.certificate`: the PEM, URL-encoded. */
function envoyEncoded(pem: string): string {
  return encodeURIComponent(pem);
}

test('an SVID sent URL-encoded as Envoy does yields its SPIFFE ID and SANs', (t) => {
  const result = parsePeerCertificate(envoyEncoded(pki.reminder.certPem));
  if (!result.ok) return t.fail(result.reason);
  t.is(result.spiffe?.uri, meshIds.reminder);
  t.is(result.spiffe?.namespace, 'default');
  t.is(result.spiffe?.serviceAccount, 'reminder');
  t.deepEqual(result.cert.uriSans, [meshIds.reminder]);
  t.deepEqual(result.cert.dnsSans, []);
  t.is(result.cert.subject, '');
});

test('a plain PEM is accepted too', (t) => {
  const result = parsePeerCertificate(pki.todos.certPem);
  t.true(result.ok);
  if (result.ok) t.is(result.spiffe?.uri, meshIds.todos);
});

test('CRLF line endings are accepted', (t) => {
  const result = parsePeerCertificate(envoyEncoded(pki.share.certPem.replace(/\n/g, '\r\n')));
  t.true(result.ok);
});

test('the server certificate carries URI, DNS and IP SANs', (t) => {
  const result = parsePeerCertificate(envoyEncoded(pki.server.certPem));
  if (!result.ok) return t.fail(result.reason);
  t.deepEqual(result.cert.uriSans, [meshIds.gatehouse]);
  t.deepEqual(result.cert.dnsSans, ['localhost']);
  t.deepEqual(result.cert.ipSans, ['127.0.0.1']);
  t.deepEqual(result.cert.emailSans, []);
});

test('the fingerprint is SHA-256 of the DER, lower-case hex without colons', (t) => {
  const result = parsePeerCertificate(envoyEncoded(pki.reminder.certPem));
  if (!result.ok) return t.fail(result.reason);
  const expected = new X509Certificate(pki.reminder.certPem).fingerprint256.replace(/:/g, '').toLowerCase();
  t.is(result.cert.sha256, expected);
  t.regex(result.cert.sha256, /^[0-9a-f]{64}$/);
});

test('validity is read exactly, including GeneralizedTime after 2049', async (t) => {
  const notBefore = new Date('2024-01-02T03:04:05Z');
  const notAfter = new Date('2051-06-07T08:09:10Z');
  const issued = await issueCert(pki.ca, { uris: [meshIds.share], notBefore, notAfter });
  const result = parsePeerCertificate(issued.certPem);
  if (!result.ok) return t.fail(result.reason);
  t.deepEqual(result.cert.notBefore, notBefore);
  t.deepEqual(result.cert.notAfter, notAfter);
});

test('email and IPv6 SANs are extracted, IPv6 in RFC 5952 form', async (t) => {
  const issued = await issueCert(pki.ca, {
    dns: ['api.example.com', '*.example.com'],
    emails: ['ops@example.com'],
    ips: ['::1', '2001:db8:0:0:1:0:0:1', '10.0.0.7'],
  });
  const result = parsePeerCertificate(issued.certPem);
  if (!result.ok) return t.fail(result.reason);
  t.deepEqual(result.cert.dnsSans, ['api.example.com', '*.example.com']);
  t.deepEqual(result.cert.emailSans, ['ops@example.com']);
  t.deepEqual(result.cert.ipSans, ['::1', '2001:db8::1:0:0:1', '10.0.0.7']);
  t.is(result.spiffe, undefined);
});

test('a SAN value with a comma is one SAN, not two', async (t) => {
  // Node's subjectAltName string has to be unquoted with care; reading the DER has no such trap.
  const issued = await issueCert(pki.ca, { dns: ['a.example,DNS:evil.example'] });
  const result = parsePeerCertificate(issued.certPem);
  if (!result.ok) return t.fail(result.reason);
  t.deepEqual(result.cert.dnsSans, ['a.example,DNS:evil.example']);
});

test('a SAN with a NUL byte is refused', async (t) => {
  const issued = await issueCert(pki.ca, { dns: ['good.example\u0000.evil.example'] });
  t.deepEqual(parsePeerCertificate(issued.certPem), {
    ok: false,
    reason: 'certificate could not be read (DNS SAN contains a byte that is not printable ASCII (0x00))',
  });
});

test('the subject is RFC 4514, escaped', async (t) => {
  const issued = await issueCert(pki.ca, { commonName: 'Test, "Client"+1' });
  const result = parsePeerCertificate(issued.certPem);
  if (!result.ok) return t.fail(result.reason);
  t.is(result.cert.subject, 'CN=Test\\, \\"Client\\"\\+1');
});

test('a certificate without SANs has no SPIFFE ID but is accepted', (t) => {
  const result = parsePeerCertificate(envoyEncoded(pki.noSan.certPem));
  if (!result.ok) return t.fail(result.reason);
  t.is(result.spiffe, undefined);
  t.is(result.cert.subject, 'CN=no-san');
  t.deepEqual(result.cert.uriSans, []);
});

test('two URI SANs are not an X.509-SVID', (t) => {
  t.deepEqual(parsePeerCertificate(envoyEncoded(pki.twoUris.certPem)), {
    ok: false,
    reason: 'certificate has 2 URI SANs; an X.509-SVID must have exactly one',
  });
});

test('a URI SAN that is not a valid SPIFFE ID is refused', async (t) => {
  const upper = await issueCert(pki.ca, { uris: ['spiffe://Cluster.local/ns/a/sa/b'] });
  t.deepEqual(parsePeerCertificate(upper.certPem), {
    ok: false,
    reason: 'certificate URI SAN is not a valid SPIFFE ID: trust domain contains an upper-case letter',
  });
  const https = await issueCert(pki.ca, { uris: ['https://example.com/client'] });
  t.deepEqual(parsePeerCertificate(https.certPem), {
    ok: false,
    reason: "certificate URI SAN is not a valid SPIFFE ID: SPIFFE ID must start with 'spiffe://'",
  });
});

test('identityFromX509 gives the same answer as parsing the PEM', (t) => {
  for (const issued of [pki.server, pki.reminder, pki.noSan, pki.twoUris]) {
    t.deepEqual(identityFromX509(new X509Certificate(issued.der)), parsePeerCertificate(issued.certPem));
  }
});

const pemOf = (base64: string): string => `-----BEGIN CERTIFICATE-----\n${base64}\n-----END CERTIFICATE-----\n`;

const refusals: readonly { name: string; input: () => string; reason: string | RegExp }[] = [
  { name: 'empty', input: () => '', reason: 'certificate is empty' },
  { name: 'not PEM', input: () => 'hello world', reason: 'certificate is not PEM (no BEGIN line)' },
  { name: 'bare base64 DER', input: () => pki.reminder.der.toString('base64'), reason: 'certificate is not PEM (no BEGIN line)' },
  {
    name: 'malformed percent-escape',
    input: () => `${envoyEncoded(pki.reminder.certPem)}%E0%A4%A`,
    reason: 'certificate is not valid URL encoding (malformed percent-escape)',
  },
  {
    name: 'two certificates',
    input: () => envoyEncoded(pki.reminder.certPem + pki.ca.certPem),
    reason: 'expected exactly one PEM certificate, found 2 PEM blocks',
  },
  {
    name: 'a private key',
    input: () => envoyEncoded(pki.reminder.keyPem),
    reason: 'PEM block is -----BEGIN PRIVATE KEY-----, not a CERTIFICATE',
  },
  {
    name: 'certificate followed by its key',
    input: () => envoyEncoded(pki.reminder.certPem + pki.reminder.keyPem),
    reason: 'expected exactly one PEM certificate, found 2 PEM blocks',
  },
  { name: 'garbage base64', input: () => pemOf('!!!not*base64!!!'), reason: /^certificate PEM is malformed/ },
  { name: 'base64 with a bad length', input: () => pemOf('QUJD\nRA'), reason: 'certificate PEM body is not valid base64' },
  {
    name: 'valid base64 that is not a certificate',
    input: () => pemOf('aGVsbG8gd29ybGQh'),
    reason: /^certificate is not a valid X\.509 certificate/,
  },
  {
    name: 'text before the block',
    input: () => `subject=CN=x\n${pki.reminder.certPem}`,
    reason: /^certificate PEM is malformed/,
  },
  {
    name: 'missing END line',
    input: () => pki.reminder.certPem.replace('-----END CERTIFICATE-----', ''),
    reason: /^certificate PEM is malformed/,
  },
  {
    name: 'trailing bytes after the DER',
    input: () => pemOf(Buffer.concat([pki.reminder.der, Buffer.from([0, 0])]).toString('base64')),
    reason: /^certificate (DER has trailing bytes|is not a valid X\.509 certificate)/,
  },
  {
    name: 'oversized',
    input: () => envoyEncoded(pki.reminder.certPem) + '%0A'.repeat(22 * 1024),
    reason: 'certificate is larger than 65536 bytes',
  },
];

for (const row of refusals) {
  test(`refused: ${row.name}`, (t) => {
    const result = parsePeerCertificate(row.input());
    if (result.ok) return t.fail('expected a refusal');
    if (typeof row.reason === 'string') t.is(result.reason, row.reason);
    else t.regex(result.reason, row.reason);
  });
}

test('the size limit can be lowered', (t) => {
  const result = parsePeerCertificate(envoyEncoded(pki.reminder.certPem), { maxBytes: 100 });
  t.deepEqual(result, { ok: false, reason: 'certificate is larger than 100 bytes' });
});
