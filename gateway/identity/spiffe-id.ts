/**
 * Parses and validates SPIFFE IDs
 * (https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md).
 */
import type { SpiffeId } from '../request/model.js';
import { BoundedMemo } from '../bounded-memo.js';

/** SPIFFE-ID.md §2.3: a SPIFFE ID is at most 2048 bytes. */
export const maxSpiffeIdBytes = 2048;

/** SPIFFE-ID.md §2.1: a trust domain name is at most 255 bytes. */
export const maxTrustDomainBytes = 255;

const scheme = 'spiffe://';

/** The outcome of {@link parseSpiffeId}: a validated ID, or why the text is not one. */
export type SpiffeIdResult = { readonly ok: true; readonly id: SpiffeId } | { readonly ok: false; readonly reason: string };

/**
 * Parses `text` as a SPIFFE ID, enforcing every rule of the spec: lower-case
 * `spiffe` scheme; a trust domain of `[a-z0-9._-]` only; no userinfo, port,
 * query or fragment; path segments of `[A-Za-z0-9._-]`, none empty, `.` or
 * `..`; no percent-encoding; at most 2048 bytes. Never throws.
 *
 * @example
 * const parsed = parseSpiffeId('spiffe://cluster.local/ns/default/sa/reminder');
 * if (parsed.ok) parsed.id.serviceAccount; // 'reminder'
 * parseSpiffeId('spiffe://Cluster.local/x'); // { ok: false, reason: 'trust domain contains an upper-case letter' }
 */
export function parseSpiffeId(text: string): SpiffeIdResult {
  if (typeof text !== 'string') return fail('SPIFFE ID is not a string');
  // A mesh has few distinct IDs and every Check parses two: remember recent results.
  const cached = recent.get(text);
  if (cached) return cached;
  const result = parseUncached(text);
  return text.length <= maxSpiffeIdBytes ? recent.remember(text, result) : result;
}

/** Recently parsed IDs and their (immutable) results. */
const recent = new BoundedMemo<string, SpiffeIdResult>(4096);

function parseUncached(text: string): SpiffeIdResult {
  if (typeof text !== 'string') return fail('SPIFFE ID is not a string');
  if (text === '') return fail('SPIFFE ID is empty');
  // Cheap bound before counting bytes: a string never has more UTF-16 units than UTF-8 bytes.
  if (text.length > maxSpiffeIdBytes || Buffer.byteLength(text, 'utf8') > maxSpiffeIdBytes) {
    return fail(`SPIFFE ID is longer than ${maxSpiffeIdBytes} bytes`);
  }
  if (!text.startsWith(scheme)) {
    if (text.slice(0, scheme.length).toLowerCase() === scheme) return fail("scheme must be lower-case 'spiffe'");
    return fail("SPIFFE ID must start with 'spiffe://'");
  }

  const rest = text.slice(scheme.length);
  const authorityEnd = firstIndexOf(rest, ['/', '?', '#']);
  const trustDomain = rest.slice(0, authorityEnd);
  const trustDomainProblem = checkTrustDomain(trustDomain);
  if (trustDomainProblem) return fail(trustDomainProblem);

  const path = rest.slice(authorityEnd);
  const queryAt = path.indexOf('?');
  const fragmentAt = path.indexOf('#');
  if (queryAt !== -1 && (fragmentAt === -1 || queryAt < fragmentAt)) return fail('query is not allowed');
  if (fragmentAt !== -1) return fail('fragment is not allowed');

  const segments = path === '' ? [] : path.slice(1).split('/');
  for (const [index, segment] of segments.entries()) {
    const problem = checkPathSegment(segment, index === segments.length - 1);
    if (problem) return fail(problem);
  }

  const id: SpiffeId = { uri: text, trustDomain, path, segments, ...istioReading(segments) };
  return { ok: true, id };
}

/**
 * The principal policies see for a SPIFFE ID: the URI without `spiffe://`
 * (Istio's `source.principal` form).
 *
 * @example
 * spiffePrincipal(id); // 'cluster.local/ns/default/sa/reminder'
 */
export function spiffePrincipal(id: SpiffeId): string {
  return id.uri.slice(scheme.length);
}

/** Whether `text` claims to be a SPIFFE ID (any-case `spiffe:` scheme), valid or not. */
export function looksLikeSpiffeId(text: string): boolean {
  return text.slice(0, 'spiffe:'.length).toLowerCase() === 'spiffe:';
}

function checkTrustDomain(trustDomain: string): string | undefined {
  if (trustDomain === '') return 'trust domain is empty';
  // SPIFFE-ID.md §2.1: the authority is the trust domain only.
  if (trustDomain.includes('@')) return 'userinfo is not allowed';
  if (/^[^[]*:\d*$/.test(trustDomain)) return 'port is not allowed';
  if (trustDomain.length > maxTrustDomainBytes) return `trust domain is longer than ${maxTrustDomainBytes} bytes`;
  for (const char of trustDomain) {
    if (isTrustDomainChar(char)) continue;
    if (char >= 'A' && char <= 'Z') return 'trust domain contains an upper-case letter';
    if (char === '%') return 'trust domain contains percent-encoding';
    return `trust domain contains a character that is not allowed: ${describeChar(char)}`;
  }
  return undefined;
}

function checkPathSegment(segment: string, isLast: boolean): string | undefined {
  // SPIFFE-ID.md §2.2: no empty segments, so neither `//` nor a trailing `/`.
  if (segment === '') return isLast ? "path ends with '/'" : "path contains an empty segment ('//')";
  if (segment === '.') return "path segment is '.'";
  if (segment === '..') return "path segment is '..'";
  for (const char of segment) {
    if (isPathChar(char)) continue;
    if (char === '%') return 'path contains percent-encoding';
    return `path contains a character that is not allowed: ${describeChar(char)}`;
  }
  return undefined;
}

function isTrustDomainChar(char: string): boolean {
  return (char >= 'a' && char <= 'z') || (char >= '0' && char <= '9') || char === '.' || char === '-' || char === '_';
}

function isPathChar(char: string): boolean {
  return isTrustDomainChar(char) || (char >= 'A' && char <= 'Z');
}

/** Istio's `/ns/<namespace>/sa/<serviceaccount>` reading of the path. */
function istioReading(segments: readonly string[]): { namespace?: string; serviceAccount?: string } {
  const [ns, namespace, sa, serviceAccount, ...more] = segments;
  if (ns !== 'ns' || sa !== 'sa' || namespace === undefined || serviceAccount === undefined || more.length > 0) {
    return {};
  }
  return { namespace, serviceAccount };
}

function firstIndexOf(text: string, needles: readonly string[]): number {
  let first = text.length;
  for (const needle of needles) {
    const at = text.indexOf(needle);
    if (at !== -1 && at < first) first = at;
  }
  return first;
}

/** Printable ASCII as `'c'`, anything else as `U+XXXX`, so reasons are safe to log. */
function describeChar(char: string): string {
  const code = char.codePointAt(0) ?? 0;
  if (code > 0x20 && code < 0x7f) return `'${char}'`;
  return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

function fail(reason: string): SpiffeIdResult {
  return { ok: false, reason };
}
