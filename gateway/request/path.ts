/**
 * Request path normalization, as Envoy does it with Istio's default (BASE)
 * setting: RFC 3986 §6 normalization plus backslash-to-slash. Policies match
 * the normalized path, so this decides what `paths: ["/admin*"]` really covers.
 *
 * Deliberately NOT done (those are non-default Istio modes): decoding `%2F` /
 * `%5C`, and merging repeated slashes.
 */

/** The result of normalizing a path: the normalized path, or why it was refused. */
export type NormalizedPath = { readonly ok: true; readonly path: string } | { readonly ok: false; readonly reason: string };

/** A request target split into its path and query, neither decoded. */
export interface PathAndQuery {
  /** Everything before the first `?` (and before any `#`). */
  readonly path: string;
  /** Everything after the first `?` up to any `#`, without the `?`; `` when absent. */
  readonly query: string;
}

/**
 * Splits a request target at the first `?`; a fragment (`#...`) is dropped
 * wherever it starts. Nothing is decoded, so nothing can be decoded twice.
 *
 * @example
 * splitPathAndQuery('/a/b?x=1#top') // { path: '/a/b', query: 'x=1' }
 */
export function splitPathAndQuery(rawPathWithQuery: string): PathAndQuery {
  const hash = rawPathWithQuery.indexOf('#');
  const target = hash === -1 ? rawPathWithQuery : rawPathWithQuery.slice(0, hash);
  const question = target.indexOf('?');
  if (question === -1) return { path: target, query: '' };
  return { path: target.slice(0, question), query: target.slice(question + 1) };
}

/**
 * Normalizes a path (no query, no fragment) the way Envoy's default
 * `normalize_path` does:
 * - percent-encoded unreserved characters (ALPHA / DIGIT / `-` `.` `_` `~`) are decoded (RFC 3986 §6.2.2.2);
 * - the hex digits of every other percent-encoding are upper-cased (§6.2.2.1);
 * - `\` becomes `/`;
 * - dot segments are removed (§5.2.4), also those written as `%2e`; `..` never climbs above `/`.
 *
 * Refused: not starting with `/`, a `%` not followed by two hex digits, control
 * characters (including NUL), space, `?`/`#` (split first), and raw non-ASCII.
 *
 * @example
 * normalizePath('/a/%2E%2e/b%2fc/%7e') // { ok: true, path: '/b%2Fc/~' }
 */
/** A path of only unreserved characters, sub-delims, ':' '@' and '/': no percent-encoding, no backslash. */
const PLAIN_PATH = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*$/;
/** A `.` or `..` segment anywhere in the path. */
const DOT_SEGMENT = /\/\.\.?(?:\/|$)/;

export function normalizePath(rawPath: string): NormalizedPath {
  // Most paths are plain: nothing to decode, no dot segments. They normalize to themselves.
  if (PLAIN_PATH.test(rawPath) && !DOT_SEGMENT.test(rawPath)) return { ok: true, path: rawPath };
  if (!rawPath.startsWith('/') && !rawPath.startsWith('\\')) {
    return { ok: false, reason: 'path must start with "/"' };
  }
  let decoded = '';
  for (let i = 0; i < rawPath.length; i++) {
    const code = rawPath.charCodeAt(i);
    if (code <= 0x20 || code === 0x7f) return { ok: false, reason: `path contains a control character or space at offset ${i}` };
    if (code > 0x7e) return { ok: false, reason: `path contains a raw non-ASCII character at offset ${i}` };
    const char = rawPath[i] as string;
    if (char === '?' || char === '#') return { ok: false, reason: 'path contains a query or fragment; split it first' };
    if (char === '\\') {
      decoded += '/';
      continue;
    }
    if (char !== '%') {
      decoded += char;
      continue;
    }
    const hex = rawPath.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return { ok: false, reason: `invalid percent-encoding at offset ${i}` };
    const byte = Number.parseInt(hex, 16);
    decoded += isUnreserved(byte) ? String.fromCharCode(byte) : `%${hex.toUpperCase()}`;
    i += 2;
  }
  return { ok: true, path: removeDotSegments(decoded) };
}

/** RFC 3986 §2.3: ALPHA / DIGIT / "-" / "." / "_" / "~". */
function isUnreserved(byte: number): boolean {
  return (
    (byte >= 0x41 && byte <= 0x5a) ||
    (byte >= 0x61 && byte <= 0x7a) ||
    (byte >= 0x30 && byte <= 0x39) ||
    byte === 0x2d ||
    byte === 0x2e ||
    byte === 0x5f ||
    byte === 0x7e
  );
}

/**
 * RFC 3986 §5.2.4 for an absolute path, segment-wise: `.` is dropped, `..`
 * drops the previous segment (never the root). A trailing `.` or `..` leaves
 * a trailing slash, as the RFC's algorithm does. Empty segments (`//`) stay.
 */
function removeDotSegments(path: string): string {
  const input = path.split('/').slice(1);
  const output: string[] = [];
  for (let i = 0; i < input.length; i++) {
    const segment = input[i] as string;
    const last = i === input.length - 1;
    if (segment === '.' || segment === '..') {
      if (segment === '..') output.pop();
      if (last) output.push('');
      continue;
    }
    output.push(segment);
  }
  return `/${output.join('/')}`;
}
