/**
 * The edge: turns an Envoy CheckRequest (as proto-loader decodes it) into the
 * normalized CheckInput that every later stage reads. This is the only
 * module, with encode.ts, that knows Envoy's message shapes. Untrusted input
 * is parsed once, here; anything that does not parse becomes a denial reason.
 */
import type { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import type { GatehouseConfig } from '../config/config.js';
import { newDecisionId } from '../decision-id.js';
import { DecisionCode } from '../errors.js';
import { parseSpiffeId, resolvePeer, type PeerConfig } from '../identity/index.js';
import { collectHeaders, printable } from '../request/headers.js';
import type { CheckInput, Endpoint, PeerIdentity } from '../request/model.js';
import { normalizePath, splitPathAndQuery } from '../request/path.js';
import { WorkloadDirectory } from '../request/workload.js';
import type { RawAddress, RawCheckRequest, RawPeer } from './check-request.js';

/** Why a CheckRequest could not be turned into a CheckInput. */
export interface DecodeFailure {
  readonly ok: false;
  readonly decisionId: string;
  readonly code: DecisionCode;
  readonly reason: string;
}

export type DecodeResult = { readonly ok: true; readonly input: CheckInput } | DecodeFailure;

/** What decoding needs besides the request itself. */
export interface DecodeContext {
  readonly config: GatehouseConfig;
  readonly workloads: WorkloadDirectory;
  /** Built once from the config (see {@link peerConfigOf}): identity compiles its trust rules per object. */
  readonly peerConfig: PeerConfig;
  /** The client certificate of the connection to Gatehouse, for gRPC clients on its own mTLS port. */
  readonly connectionCertificate?: X509Certificate;
}

const MAX_PRINCIPAL_BYTES = 2048;
const MAX_CONTEXT_EXTENSIONS = 64;

/**
 * Decodes and normalizes a CheckRequest.
 *
 * @example
 * const result = decodeCheckRequest(call.request, { config, workloads });
 * if (!result.ok) return deny(result.code, result.reason);
 */
export function decodeCheckRequest(raw: RawCheckRequest | undefined, context: DecodeContext): DecodeResult {
  const decisionId = newDecisionId();
  const fail = (code: DecodeFailure['code'], reason: string): DecodeFailure => ({ ok: false, decisionId, code, reason });

  const attributes = raw?.attributes;
  if (!attributes) return fail(DecisionCode.BadRequest, 'CheckRequest has no attributes');
  const http = attributes.request?.http;
  if (!http) return fail(DecisionCode.BadRequest, 'CheckRequest has no attributes.request.http');

  const { limits } = context.config;
  const collected = collectHeaders(http.headers, http.header_map?.headers, limits);
  if (!collected.ok) return fail(DecisionCode.BadRequest, collected.reason);
  const headers = collected.headers;

  const method = http.method || headers.get(':method') || '';
  if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,32}$/.test(method)) {
    return fail(DecisionCode.BadRequest, method ? `method '${printable(method)}' is not an HTTP token` : 'request has no method');
  }

  const target = http.path || headers.get(':path') || '';
  if (exceedsBytes(target, limits.maxPathBytes)) return fail(DecisionCode.BadRequest, `path longer than ${limits.maxPathBytes} bytes`);
  if (target.includes('\uFFFD')) return fail(DecisionCode.BadRequest, 'path is not valid UTF-8');
  const { path: rawPath, query: splitQuery } = splitPathAndQuery(target);
  const normalized = normalizePath(rawPath);
  if (!normalized.ok) return fail(DecisionCode.BadRequest, `path: ${normalized.reason}`);

  const host = (http.host || headers.get(':authority') || headers.get('host') || '').toLowerCase();
  if (!/^[\x21-\x7e]{0,1024}$/.test(host)) return fail(DecisionCode.BadRequest, 'host is not printable ASCII or is too long');

  const contextExtensions = attributes.context_extensions ?? {};
  if (countKeys(contextExtensions) > MAX_CONTEXT_EXTENSIONS) {
    return fail(DecisionCode.BadRequest, `more than ${MAX_CONTEXT_EXTENSIONS} context_extensions`);
  }

  const source = endpoint(attributes.source);
  const destination = endpoint(attributes.destination);

  for (const [field, value] of [
    ['source.principal', attributes.source?.principal],
    ['destination.principal', attributes.destination?.principal],
  ] as const) {
    if (value && exceedsBytes(value, MAX_PRINCIPAL_BYTES)) {
      return fail(DecisionCode.InvalidPeerIdentity, `${field} is longer than ${MAX_PRINCIPAL_BYTES} bytes`);
    }
  }

  const peer = resolvePeer(
    {
      connectionCertificate: context.connectionCertificate,
      sourceCertificate: attributes.source?.certificate || undefined,
      sourcePrincipal: attributes.source?.principal || undefined,
      sourceIp: source.ip,
      xfcc: headers.get('x-forwarded-client-cert'),
    },
    context.peerConfig,
  );
  if (!peer.ok) return fail(peer.code, peer.reason);

  let destinationPeer: PeerIdentity | undefined;
  const destinationPrincipal = attributes.destination?.principal;
  if (destinationPrincipal) {
    if (destinationPrincipal.startsWith('spiffe://')) {
      const parsed = parseSpiffeId(destinationPrincipal);
      if (!parsed.ok) return fail(DecisionCode.InvalidPeerIdentity, `destination.principal: ${parsed.reason}`);
      destinationPeer = { principal: parsed.id.uri.slice('spiffe://'.length), spiffe: parsed.id, source: 'principal' };
    } else {
      destinationPeer = { principal: destinationPrincipal, source: 'principal' };
    }
  }

  const input: CheckInput = {
    decisionId,
    source,
    destination,
    peer: peer.peer,
    destinationPeer,
    remoteIp: remoteIp(headers.get('x-forwarded-for'), source.ip, context.config.identity.numTrustedProxies),
    request: {
      method,
      host,
      rawPath,
      path: normalized.path,
      query: http.query || splitQuery,
      scheme: http.scheme || headers.get(':scheme') || '',
      protocol: http.protocol || '',
      headers,
      id: http.id || headers.get('x-request-id') || undefined,
    },
    workload: context.workloads.resolve(
      destinationPeer?.spiffe,
      attributes.destination?.labels ?? {},
      contextExtensions,
      attributes.destination?.service || undefined,
    ),
    contextExtensions,
    sni: attributes.tls_session?.sni || undefined,
  };
  return { ok: true, input };
}

/** The decoding context for a configuration, built once and reused for every Check. */
export function createDecodeContext(config: GatehouseConfig): DecodeContext {
  return { config, workloads: new WorkloadDirectory(config.workloads), peerConfig: peerConfigOf(config) };
}

/** The identity stage's view of the configuration. */
export function peerConfigOf(config: GatehouseConfig): PeerConfig {
  const { xfcc, trustDomains } = config.identity;
  return { xfcc, trustDomains: trustDomains.length > 0 ? trustDomains : undefined };
}

/** Whether `text` is longer than `max` UTF-8 bytes; counts bytes only when it could be. */
function exceedsBytes(text: string, max: number): boolean {
  return text.length > max / 3 && Buffer.byteLength(text) > max;
}

function countKeys(record: Readonly<Record<string, string>>): number {
  let count = 0;
  for (const key in record) if (Object.hasOwn(record, key)) count += 1;
  return count;
}

function endpoint(peer: RawPeer | undefined): Endpoint {
  const { ip, port } = socketAddress(peer?.address);
  return { ip, port, labels: peer?.labels ?? {}, service: peer?.service || undefined };
}

function socketAddress(address: RawAddress | undefined): { ip?: string; port?: number } {
  const socket = address?.socket_address;
  const ip = socket?.address && isIP(socket.address) !== 0 ? socket.address : undefined;
  const port = socket?.port_value && socket.port_value > 0 && socket.port_value <= 65535 ? socket.port_value : undefined;
  return { ip, port };
}

/**
 * Istio's `remote.ip` with `numTrustedProxies: N`: each trusted proxy appends
 * the address it saw to X-Forwarded-For, and Envoy appends its own downstream
 * before calling Gatehouse, so the client is the entry N places left of the
 * last one. Without trusted proxies, or with too few entries, it is the source IP.
 */
function remoteIp(forwardedFor: string | undefined, sourceIp: string | undefined, trustedProxies: number): string | undefined {
  if (trustedProxies === 0 || !forwardedFor) return sourceIp;
  const hops = forwardedFor.split(',').map((hop) => hop.trim());
  const candidate = hops[hops.length - 1 - trustedProxies];
  return candidate && isIP(candidate) !== 0 ? candidate : sourceIp;
}
