/**
 * Properties of peer certificate parsing (gateway/identity/certificate.ts and
 * the DER reader behind it) on real certificates and mutations of them: the
 * SANs issued come back as issued, and a mutated or random input is either
 * read or refused with a reason, never an exception.
 */
import test from 'ava';
import fc from 'fast-check';
import { parsePeerCertificate } from '../../gateway/identity/index.js';
import { createCa, issueCert } from '../helpers/certs.js';
import { numRuns } from './runs.js';

const ca = await createCa('property-ca');
const spiffeId = 'spiffe://cluster.local/ns/default/sa/reminder';
const leaf = await issueCert(ca, { uris: [spiffeId], dns: ['reminder.default.svc'], ips: ['10.0.0.7'], commonName: 'reminder' });
const base64 = leaf.certPem.replace(/-----[^-]+-----/g, '').replace(/\s/g, '');

/** A PEM of `der`, 64 characters a line, as OpenSSL writes it. */
function pemOf(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

test('a real certificate reads back as issued, whether sent as PEM or URL-encoded PEM', (t) => {
  for (const sent of [leaf.certPem, encodeURIComponent(leaf.certPem)]) {
    const parsed = parsePeerCertificate(sent);
    if (!parsed.ok) return t.fail(parsed.reason);
    t.deepEqual(parsed.cert.uriSans, [spiffeId]);
    t.deepEqual(parsed.cert.dnsSans, ['reminder.default.svc']);
    t.deepEqual(parsed.cert.ipSans, ['10.0.0.7']);
    t.is(parsed.spiffe?.uri, spiffeId);
  }
});

test('mutated DER (flipped, overwritten, cut or extended bytes) is refused with a reason or read into printable SANs, never thrown', (t) => {
  const mutation = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('flip', 'set', 'cut', 'insert')), {
    minLength: 1,
    maxLength: 4,
  });
  fc.assert(
    fc.property(mutation, (steps) => {
      let der = Buffer.from(leaf.der);
      for (const [position, byte, kind] of steps) {
        const at = position % der.length;
        if (kind === 'flip') der[at] = (der[at] as number) ^ (1 << (byte % 8));
        else if (kind === 'set') der[at] = byte;
        else if (kind === 'cut') der = der.subarray(0, at);
        else der = Buffer.concat([der.subarray(0, at), Buffer.from([byte]), der.subarray(at)]);
      }
      const parsed = parsePeerCertificate(pemOf(der));
      if (!parsed.ok) return parsed.reason.length > 0;
      // What is read is safe to match on: SANs of printable ASCII only (a NUL in a SAN is a spoofing trick), a SPIFFE ID only from the single URI SAN.
      const { uriSans, dnsSans, emailSans } = parsed.cert;
      const printable = [...uriSans, ...dnsSans, ...emailSans].every((name) => /^[\x21-\x7e]+$/.test(name));
      return printable && (parsed.spiffe === undefined || (uriSans.length === 1 && parsed.spiffe.uri === uriSans[0]));
    }),
    { numRuns: numRuns(3000) },
  );
  t.pass();
});

test('random text, a non-base64 character in the body, and a cut-off PEM are refused with a reason, never thrown', (t) => {
  const encoded = encodeURIComponent(leaf.certPem);
  const bodyStart = '-----BEGIN CERTIFICATE-----\n'.length;
  const text = fc.oneof(
    fc.string(),
    fc.string({ unit: fc.constantFrom(...'-BEGIN CERTIFICATE-END\n%20A/+='.split('')) }),
    fc.tuple(fc.nat(), fc.constantFrom(...'!#$&*()[]{}<>?~@'.split(''))).map(([at, junk]) => {
      const cut = bodyStart + (at % base64.length);
      return leaf.certPem.slice(0, cut) + junk + leaf.certPem.slice(cut);
    }),
    fc.nat().map((at) => encoded.slice(0, at % (encoded.length - '%0A'.length))),
  );
  fc.assert(
    fc.property(text, (sent) => {
      const parsed = parsePeerCertificate(sent);
      return !parsed.ok && parsed.reason.length > 0;
    }),
    { numRuns: numRuns(3000) },
  );
  t.pass();
});
