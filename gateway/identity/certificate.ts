/**
 * What a peer certificate says about its holder: SANs, subject, fingerprint,
 * validity, and its SPIFFE ID when it is an X.509-SVID. Chain validation is
 * not done here: Envoy (for `source.certificate`) or Node's TLS stack (for
 * our own mTLS port) already did it.
 */
import { createHash, X509Certificate } from 'node:crypto';
import type { CertificateIdentity, SpiffeId } from '../request/model.js';
import { readCertificateFields, type CertificateFields } from './certificate-fields.js';
import { parseSpiffeId } from './spiffe-id.js';

/** Envoy's URL-encoded leaf is ~1–3 KiB; anything near this is not a single certificate. */
export const defaultMaxCertificateBytes = 64 * 1024;

export interface CertificateParseOptions {
  /** Upper bound on the input, encoded. Default {@link defaultMaxCertificateBytes}. */
  readonly maxBytes?: number;
}

/** A certificate's identity, with its SPIFFE ID when it is an X.509-SVID; or why it cannot be used. */
export type CertificateResult =
  { readonly ok: true; readonly cert: CertificateIdentity; readonly spiffe?: SpiffeId } | { readonly ok: false; readonly reason: string };

const pemBlock = /^-----BEGIN CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n]+?)\r?\n?-----END CERTIFICATE-----$/;
const pemBegin = /-----BEGIN [^-\r\n]*-----/g;

/**
 * Parses the peer certificate Envoy sends as `source.certificate` (with
 * `include_peer_certificate`): the URL-encoded PEM of the leaf. A plain PEM
 * is accepted too, since decoding it is a no-op. Exactly one CERTIFICATE
 * block, nothing but whitespace around it. Never throws.
 *
 * @example
 * const parsed = parsePeerCertificate(checkRequest.attributes.source.certificate);
 * if (parsed.ok && parsed.spiffe) parsed.spiffe.uri; // 'spiffe://cluster.local/ns/default/sa/reminder'
 */
export function parsePeerCertificate(urlEncodedOrPem: string, opts: CertificateParseOptions = {}): CertificateResult {
  const maxBytes = opts.maxBytes ?? defaultMaxCertificateBytes;
  if (typeof urlEncodedOrPem !== 'string') return fail('certificate is not a string');
  if (urlEncodedOrPem.length > maxBytes || Buffer.byteLength(urlEncodedOrPem, 'utf8') > maxBytes) {
    return fail(`certificate is larger than ${maxBytes} bytes`);
  }

  let pem: string;
  try {
    pem = decodeURIComponent(urlEncodedOrPem).trim();
  } catch {
    return fail('certificate is not valid URL encoding (malformed percent-escape)');
  }
  if (pem === '') return fail('certificate is empty');

  const blocks = pem.match(pemBegin) ?? [];
  if (blocks.length === 0) return fail('certificate is not PEM (no BEGIN line)');
  if (blocks.length > 1) return fail(`expected exactly one PEM certificate, found ${blocks.length} PEM blocks`);
  if (blocks[0] !== '-----BEGIN CERTIFICATE-----') return fail(`PEM block is ${blocks[0]}, not a CERTIFICATE`);

  const match = pemBlock.exec(pem);
  if (!match) return fail('certificate PEM is malformed (text outside the block, a missing END line, or non-base64 content)');
  const base64 = (match[1] ?? '').replace(/[\r\n]/g, '');
  // Buffer.from(…, 'base64') silently skips junk; insist on canonical base64.
  if (base64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(base64)) {
    return fail('certificate PEM body is not valid base64');
  }
  const der = Buffer.from(base64, 'base64');

  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(der);
  } catch (error) {
    return fail(`certificate is not a valid X.509 certificate (${errorMessage(error)})`);
  }
  if (x509.raw.length !== der.length) return fail('certificate DER has trailing bytes');
  return identityFromX509(x509);
}

/**
 * The identity of a certificate Node already parsed, e.g. the peer of
 * Gatehouse's own mTLS port (`tlsSocket.getPeerX509Certificate()`). The same
 * rules as {@link parsePeerCertificate} apply, including the X.509-SVID rule:
 * a certificate with URI SANs must carry exactly one, and it must be a valid
 * SPIFFE ID. Never throws.
 *
 * @example
 * const peerCert = socket.getPeerX509Certificate();
 * const identity = peerCert ? identityFromX509(peerCert) : undefined;
 */
export function identityFromX509(x509: X509Certificate): CertificateResult {
  let fields: CertificateFields;
  try {
    fields = readCertificateFields(x509.raw);
  } catch (error) {
    return fail(`certificate could not be read (${errorMessage(error)})`);
  }
  const cert: CertificateIdentity = {
    ...fields,
    sha256: createHash('sha256').update(x509.raw).digest('hex'),
  };
  if (cert.uriSans.length === 0) return { ok: true, cert };

  // X509-SVID §2: an SVID has exactly one URI SAN, and it is the SPIFFE ID.
  if (cert.uriSans.length > 1) {
    return fail(`certificate has ${cert.uriSans.length} URI SANs; an X.509-SVID must have exactly one`);
  }
  const uri = cert.uriSans[0] as string;
  const parsed = parseSpiffeId(uri);
  if (!parsed.ok) {
    return fail(`certificate URI SAN is not a valid SPIFFE ID: ${parsed.reason}`);
  }
  return { ok: true, cert, spiffe: parsed.id };
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function fail(reason: string): CertificateResult {
  return { ok: false, reason };
}
