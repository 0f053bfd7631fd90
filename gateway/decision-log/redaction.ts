/**
 * What a decision record may never contain, whatever the configuration says:
 * credentials (authorization headers, cookies, tokens, API keys, passwords,
 * session ids) and certificates. Names are refused by rule; values that look
 * like tokens are replaced wherever they turn up (paths, queries, header,
 * context and claim values).
 */

/** What a redacted value is replaced with. */
export const REDACTED = '[redacted]';

/** Headers that carry credentials or certificates by definition. */
const NEVER_LOGGED_HEADERS = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-forwarded-client-cert',
  'x-client-cert',
  'ssl-client-cert',
]);

/** Names that announce a secret: `x-api-key`, `x-auth-token`, `access_token`, `client_secret`, `password`, `sessionid`, … */
const SECRET_NAME = /token|secret|passw(?:or)?d|api[-_]?key|credential|session|cookie|auth|signature|^sig$|^code$/i;

/**
 * Why a header or query parameter name is never logged, or undefined when it
 * may be. Compared case-insensitively.
 *
 * @example
 * neverLoggedReason('Authorization'); // 'carries credentials'
 * neverLoggedReason('x-request-id');  // undefined
 */
export function neverLoggedReason(name: string): string | undefined {
  const lower = name.toLowerCase();
  if (NEVER_LOGGED_HEADERS.has(lower)) return lower.includes('cert') ? 'carries a client certificate' : 'carries credentials';
  if (SECRET_NAME.test(lower)) return 'looks like it carries a secret';
  return undefined;
}

/**
 * Compact JWS/JWE (`eyJ…` in three or five parts), Gatehouse API keys
 * (`ghk_<id>_<secret>`, docs/api-keys.md) and HTTP authorization schemes with
 * their credentials.
 */
const TOKEN_SHAPED = /eyJ[\w-]*(?:\.[\w-]*){2,4}|ghk_[0-9a-f]{16}_[\w-]+|\b(?:bearer|basic|digest|negotiate|dpop|apikey)\s+[^\s,;]+/gi;

/**
 * Replaces everything token-shaped in a text by `[redacted]`: the last line of
 * defence for a token in a path, a query, or an allow-listed header.
 *
 * @example
 * scrubTokens('/callback/eyJhbGciOi.eyJzdWIi.c2ln'); // '/callback/[redacted]'
 */
export function scrubTokens(text: string): string {
  TOKEN_SHAPED.lastIndex = 0;
  return TOKEN_SHAPED.test(text) ? text.replace(TOKEN_SHAPED, REDACTED) : text;
}

/**
 * A query string with the values of secret-looking or redacted parameters
 * replaced, and token-shaped text scrubbed; parameter order and encoding are
 * kept so a replayed request sees the same query.
 *
 * @example
 * redactQuery('due=24h&access_token=abc', new Set()); // 'due=24h&access_token=[redacted]'
 */
export function redactQuery(query: string, redact: ReadonlySet<string>): string {
  return query
    .split('&')
    .map((part) => {
      const equals = part.indexOf('=');
      const rawName = equals === -1 ? part : part.slice(0, equals);
      const name = decodeName(rawName).toLowerCase();
      if (equals !== -1 && (neverLoggedReason(name) !== undefined || redact.has(name))) return `${rawName}=${REDACTED}`;
      return scrubTokens(part);
    })
    .join('&');
}

function decodeName(name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' '));
  } catch {
    return name;
  }
}

/**
 * A copy of a claim value safe to log: strings scrubbed, nested values
 * copied to a bounded depth, secret-looking or redacted keys replaced.
 */
export function scrubValue(value: unknown, redact: ReadonlySet<string>, depth = 0): unknown {
  if (typeof value === 'string') return scrubTokens(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return value;
  if (depth >= 4) return REDACTED;
  if (Array.isArray(value)) return value.map((item) => scrubValue(item, redact, depth + 1));
  if (typeof value === 'object') {
    const copy: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
      const lower = key.toLowerCase();
      copy[key] = redact.has(lower) || neverLoggedReason(lower) !== undefined ? REDACTED : scrubValue(item, redact, depth + 1);
    }
    return copy;
  }
  return undefined;
}
