/**
 * Decides who the peer of a request is, from everything Gatehouse was told
 * about the connection: Envoy's `source.certificate` and `source.principal`,
 * the certificate of a client on Gatehouse's own mTLS port, and an
 * `x-forwarded-client-cert` header when the hop that sent it is trusted.
 */
import type { X509Certificate } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import { DecisionCode } from '../errors.js';
import type { CertificateIdentity, IdentitySource, PeerIdentity, SpiffeId } from '../request/model.js';
import { identityFromX509, parsePeerCertificate, type CertificateResult } from './certificate.js';
import { looksLikeSpiffeId, maxSpiffeIdBytes, parseSpiffeId, spiffePrincipal } from './spiffe-id.js';
import { parseXfcc } from './xfcc.js';

/** What is known about the connection a request arrived on. Every field is optional. */
export interface PeerEvidence {
  /** The client certificate of a connection to Gatehouse's own mTLS port. */
  readonly connectionCertificate?: X509Certificate;
  /** Envoy's `source.certificate`: the URL-encoded PEM of the downstream leaf. */
  readonly sourceCertificate?: string;
  /** Envoy's `source.principal`: URI SAN, else DNS SAN, else subject of the downstream certificate. */
  readonly sourcePrincipal?: string;
  /** The direct peer's IP address, without port. */
  readonly sourceIp?: string;
  /** The raw `x-forwarded-client-cert` header value. */
  readonly xfcc?: string;
}

export interface PeerConfig {
  readonly xfcc: {
    /** SPIFFE IDs (with `spiffe://`) or opaque principals of hops whose XFCC header is believed. */
    readonly trustedPeers: readonly string[];
    /** CIDRs (`10.0.0.0/8`, `fd00::/8`) or single addresses of hops whose XFCC header is believed. */
    readonly trustedCidrs: readonly string[];
  };
  /** When set, SPIFFE IDs from any other trust domain are rejected. */
  readonly trustDomains?: readonly string[];
}

/** The peer (absent when the connection carried no identity), or why the evidence is refused. */
export type PeerResult =
  { readonly ok: true; readonly peer?: PeerIdentity } | { readonly ok: false; readonly code: DecisionCode; readonly reason: string };

/** Longest principal accepted, the same bound as a SPIFFE ID. */
export const maxPrincipalBytes = maxSpiffeIdBytes;

/**
 * Resolves the peer identity. Precedence: Envoy's `sourceCertificate`
 * (whose SPIFFE ID must agree with `sourcePrincipal` when both are sent),
 * else `sourcePrincipal`, else `connectionCertificate`. Then, only when that
 * direct hop is trusted (its SPIFFE ID or principal in `trustedPeers`, or
 * its IP in `trustedCidrs`), the URI of the rightmost XFCC element (the one
 * the trusted hop appended for the client it saw) replaces it, with source
 * `xfcc`. From an untrusted hop the XFCC header is ignored. Never throws.
 *
 * Failures carry `INVALID_PEER_IDENTITY`, or `INTERNAL_ERROR` when `config`
 * itself is invalid (see {@link validatePeerConfig}).
 *
 * @example
 * const resolved = resolvePeer(
 *   { sourcePrincipal: 'spiffe://cluster.local/ns/default/sa/reminder', sourceIp: '10.1.2.3' },
 *   { xfcc: { trustedPeers: [], trustedCidrs: [] } },
 * );
 * // { ok: true, peer: { principal: 'cluster.local/ns/default/sa/reminder', spiffe: {…}, source: 'principal' } }
 */
export function resolvePeer(evidence: PeerEvidence, config: PeerConfig): PeerResult {
  const trust = compileTrust(config);
  if (typeof trust === 'string') return { ok: false, code: DecisionCode.Internal, reason: `invalid peer configuration: ${trust}` };

  const direct = resolveDirectPeer(evidence);
  if (typeof direct === 'string') return reject(direct);
  if (direct) {
    const problem = checkTrustDomain(direct, config);
    if (problem) return reject(problem);
  }

  if (evidence.xfcc === undefined || !isTrustedHop(direct, evidence.sourceIp, trust)) {
    return direct ? { ok: true, peer: direct } : { ok: true };
  }
  const forwarded = resolveForwardedPeer(evidence.xfcc);
  if (typeof forwarded === 'string') return reject(`x-forwarded-client-cert from a trusted hop: ${forwarded}`);
  const problem = checkTrustDomain(forwarded, config);
  if (problem) return reject(`x-forwarded-client-cert from a trusted hop: ${problem}`);
  return { ok: true, peer: forwarded };
}

/**
 * Problems with a peer configuration, empty when it is valid. Call it when
 * loading configuration; {@link resolvePeer} refuses to decide with an
 * invalid one.
 */
export function validatePeerConfig(config: PeerConfig): readonly string[] {
  const problems: string[] = [];
  for (const [index, peer] of config.xfcc.trustedPeers.entries()) {
    if (looksLikeSpiffeId(peer)) {
      const parsed = parseSpiffeId(peer);
      if (!parsed.ok) problems.push(`xfcc.trustedPeers[${index}]: ${parsed.reason}`);
    } else if (peer === '') {
      problems.push(`xfcc.trustedPeers[${index}] is empty`);
    }
  }
  for (const [index, cidr] of config.xfcc.trustedCidrs.entries()) {
    if (!parseCidr(cidr)) problems.push(`xfcc.trustedCidrs[${index}]: ${JSON.stringify(cidr)} is not an IP address or CIDR block`);
  }
  for (const [index, domain] of (config.trustDomains ?? []).entries()) {
    const parsed = parseSpiffeId(`spiffe://${domain}`);
    if (!parsed.ok || parsed.id.trustDomain !== domain) {
      problems.push(`trustDomains[${index}]: ${JSON.stringify(domain)} is not a trust domain name`);
    }
  }
  return problems;
}

/** Identities of connection certificates: one certificate object per TLS connection (connection-certificate.ts), read once. */
const connectionIdentities = new WeakMap<X509Certificate, CertificateResult>();

function connectionIdentity(certificate: X509Certificate): CertificateResult {
  let identity = connectionIdentities.get(certificate);
  if (identity === undefined) {
    identity = identityFromX509(certificate);
    connectionIdentities.set(certificate, identity);
  }
  return identity;
}

/** The peer Envoy or our own TLS stack saw directly; a string is a reason to reject. */
function resolveDirectPeer(evidence: PeerEvidence): PeerIdentity | string | undefined {
  // Envoy sends protobuf defaults: an empty string means "absent".
  const sourcePrincipal = evidence.sourcePrincipal || undefined;
  if (sourcePrincipal !== undefined && Buffer.byteLength(sourcePrincipal, 'utf8') > maxPrincipalBytes) {
    return `source principal is longer than ${maxPrincipalBytes} bytes`;
  }

  if (evidence.sourceCertificate) {
    const parsed = parsePeerCertificate(evidence.sourceCertificate);
    if (!parsed.ok) return `source certificate: ${parsed.reason}`;
    return fromCertificate(parsed, 'certificate', sourcePrincipal);
  }
  if (sourcePrincipal !== undefined) return fromPrincipal(sourcePrincipal);
  if (evidence.connectionCertificate) {
    const parsed = connectionIdentity(evidence.connectionCertificate);
    if (!parsed.ok) return `connection certificate: ${parsed.reason}`;
    return fromCertificate(parsed, 'connection', undefined);
  }
  return undefined;
}

function fromCertificate(
  parsed: Extract<CertificateResult, { ok: true }>,
  source: IdentitySource,
  reportedPrincipal: string | undefined,
): PeerIdentity | string {
  const { cert, spiffe } = parsed;
  if (spiffe) {
    if (reportedPrincipal !== undefined && reportedPrincipal !== spiffe.uri) {
      return `source principal ${JSON.stringify(reportedPrincipal)} does not match the certificate's SPIFFE ID ${spiffe.uri}`;
    }
    return { principal: spiffePrincipal(spiffe), spiffe, certificate: cert, source };
  }
  if (reportedPrincipal !== undefined) {
    if (looksLikeSpiffeId(reportedPrincipal)) {
      return `source principal ${JSON.stringify(reportedPrincipal)} is a SPIFFE ID but the certificate has no URI SAN`;
    }
    return { principal: reportedPrincipal, certificate: cert, source };
  }
  const principal = certificatePrincipal(cert);
  if (principal === '') return `${source} certificate has neither a SAN nor a subject to identify it by`;
  return { principal, certificate: cert, source };
}

/** Envoy's rule for `source.principal` without a URI SAN: the first DNS SAN, else the subject. */
function certificatePrincipal(cert: CertificateIdentity): string {
  return cert.dnsSans[0] ?? cert.subject;
}

/** Envoy's principal alone: a SPIFFE ID when it claims to be one (and must then be valid), else opaque. */
function fromPrincipal(principal: string): PeerIdentity | string {
  if (!looksLikeSpiffeId(principal)) return { principal, source: 'principal' };
  const parsed = parseSpiffeId(principal);
  if (!parsed.ok) return `source principal is not a valid SPIFFE ID: ${parsed.reason}`;
  return { principal: spiffePrincipal(parsed.id), spiffe: parsed.id, source: 'principal' };
}

/** The client the trusted hop saw: the URI of the rightmost element. A string is a reason to reject. */
function resolveForwardedPeer(header: string): PeerIdentity | string {
  const parsed = parseXfcc(header);
  if (!parsed.ok) return parsed.reason;
  const element = parsed.elements[parsed.elements.length - 1];
  if (!element || element.uris.length === 0) return 'the rightmost element has no URI to identify the client by';
  if (element.uris.length > 1) return `the rightmost element has ${element.uris.length} URIs; expected exactly one`;
  const uri = element.uris[0] as string;
  if (Buffer.byteLength(uri, 'utf8') > maxPrincipalBytes) return `URI is longer than ${maxPrincipalBytes} bytes`;
  // Consistent with the X.509-SVID rule: a forwarded URI is an identity only as a SPIFFE ID.
  const parsedUri = parseSpiffeId(uri);
  if (!parsedUri.ok) return `URI is not a valid SPIFFE ID: ${parsedUri.reason}`;
  return { principal: spiffePrincipal(parsedUri.id), spiffe: parsedUri.id, source: 'xfcc' };
}

function checkTrustDomain(peer: PeerIdentity, config: PeerConfig): string | undefined {
  const spiffe: SpiffeId | undefined = peer.spiffe;
  if (!spiffe || config.trustDomains === undefined) return undefined;
  if (config.trustDomains.includes(spiffe.trustDomain)) return undefined;
  return `trust domain ${spiffe.trustDomain} of ${spiffe.uri} is not accepted`;
}

interface CompiledTrust {
  readonly peers: ReadonlySet<string>;
  readonly cidrs: BlockList;
}

/** Compiled once per configuration object, not per request. A string is the configuration problem. */
const compiled = new WeakMap<PeerConfig, CompiledTrust | string>();

function compileTrust(config: PeerConfig): CompiledTrust | string {
  const cached = compiled.get(config);
  if (cached !== undefined) return cached;
  const problems = validatePeerConfig(config);
  let result: CompiledTrust | string;
  if (problems.length > 0) {
    result = problems.join('; ');
  } else {
    const cidrs = new BlockList();
    for (const text of config.xfcc.trustedCidrs) {
      const cidr = parseCidr(text) as ParsedCidr;
      cidrs.addSubnet(cidr.network, cidr.prefix, cidr.family);
    }
    result = { peers: new Set(config.xfcc.trustedPeers), cidrs };
  }
  compiled.set(config, result);
  return result;
}

function isTrustedHop(direct: PeerIdentity | undefined, sourceIp: string | undefined, trust: CompiledTrust): boolean {
  if (direct) {
    const name = direct.spiffe ? direct.spiffe.uri : direct.principal;
    if (trust.peers.has(name)) return true;
  }
  if (sourceIp === undefined) return false;
  // An IPv4 peer on a dual-stack socket is reported as ::ffff:a.b.c.d.
  const ip = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(sourceIp)?.[1] ?? sourceIp;
  const family = isIP(ip);
  if (family === 0) return false;
  return trust.cidrs.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}

interface ParsedCidr {
  readonly network: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

/** A CIDR block, or a bare address meaning just that host. */
function parseCidr(text: string): ParsedCidr | undefined {
  const match = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(text);
  if (!match) return undefined;
  const network = match[1] as string;
  const family = isIP(network);
  if (family === 0) return undefined;
  const bits = family === 4 ? 32 : 128;
  const prefix = match[2] === undefined ? bits : Number(match[2]);
  if (prefix > bits) return undefined;
  return { network, prefix, family: family === 4 ? 'ipv4' : 'ipv6' };
}

function reject(reason: string): PeerResult {
  return { ok: false, code: DecisionCode.InvalidPeerIdentity, reason };
}
