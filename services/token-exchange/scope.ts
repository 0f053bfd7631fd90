/**
 * Down-scoping (RFC 8693 §2.1 `scope`, RFC 6749 §3.3 syntax): the new token
 * gets the requested scopes, which must all be held by the subject token.
 */

/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
const MAX_SCOPES = 100;

export type ScopeOutcome = { readonly ok: true; readonly scopes: readonly string[] } | { readonly ok: false; readonly reason: string };

/**
 * The scopes a token holds: its `scope` claim (space-separated, RFC 8693
 * §4.2) or, failing that, an `scp` list as some issuers write it.
 */
export function scopesOfClaims(claims: Readonly<Record<string, unknown>>): readonly string[] {
  const scope = claims['scope'];
  if (typeof scope === 'string') return splitScope(scope);
  const scp = claims['scp'];
  if (Array.isArray(scp)) return scp.filter((item): item is string => typeof item === 'string' && SCOPE_TOKEN.test(item));
  if (typeof scp === 'string') return splitScope(scp);
  return [];
}

/**
 * The scopes of the new token: the requested ones, each held by the subject
 * token; or, with no `scope` parameter, all of the subject token's.
 *
 * @example
 * downScope('todos:read', ['todos:read', 'todos:write']); // { ok: true, scopes: ['todos:read'] }
 * downScope('admin', ['todos:read']);                      // { ok: false, reason: 'the subject token does not hold scope "admin"' }
 */
export function downScope(requested: string | undefined, held: readonly string[]): ScopeOutcome {
  if (requested === undefined) return { ok: true, scopes: [...new Set(held)] };
  const wanted = splitScope(requested);
  if (wanted.length > MAX_SCOPES) return { ok: false, reason: `more than ${MAX_SCOPES} scopes requested` };
  for (const scope of wanted) {
    if (!SCOPE_TOKEN.test(scope)) return { ok: false, reason: 'a requested scope has characters RFC 6749 §3.3 does not allow' };
    if (!held.includes(scope)) return { ok: false, reason: `the subject token does not hold scope ${JSON.stringify(scope.slice(0, 100))}` };
  }
  return { ok: true, scopes: [...new Set(wanted)] };
}

function splitScope(text: string): string[] {
  return text.split(' ').filter((part) => part !== '');
}
