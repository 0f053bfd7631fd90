/**
 * Which verified client certificates may ask for reviews. kube-apiserver
 * authenticates to its webhooks with a client certificate; the CA
 * (`tls.clientCaFile`) says the certificate is genuine, and
 * `tls.allowedClientNames`, when set, narrows that to named holders, like
 * the apiserver's own `--requestheader-allowed-names`.
 */
import { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { identityFromX509 } from '../../gateway/identity/index.js';

/**
 * The names a certificate answers to: its subject common names, its whole
 * subject (RFC 4514, `CN=kube-apiserver,O=system:masters`), and its DNS and
 * URI SANs. A certificate whose SANs cannot be read has its subject names only.
 *
 * @example
 * clientNames(socket.getPeerCertificate()); // ['kube-apiserver-webhook-client', 'CN=kube-apiserver-webhook-client']
 */
export function clientNames(certificate: PeerCertificate): string[] {
  const commonNames = certificate.subject?.CN;
  const names = commonNames === undefined ? [] : Array.isArray(commonNames) ? [...commonNames] : [commonNames];
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(certificate.raw);
  } catch {
    return names;
  }
  const identity = identityFromX509(x509);
  if (identity.ok) names.push(identity.cert.subject, ...identity.cert.dnsSans, ...identity.cert.uriSans);
  return names;
}

/**
 * Whether a verified client certificate may ask: any, when no names are
 * configured; otherwise one whose names include a configured one (exact,
 * case-sensitive match).
 */
export function isAllowedClient(certificate: PeerCertificate, allowed: readonly string[]): boolean {
  if (allowed.length === 0) return true;
  return clientNames(certificate).some((name) => allowed.includes(name));
}
