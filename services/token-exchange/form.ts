/**
 * The token endpoint's body: `application/x-www-form-urlencoded` (RFC 6749
 * §3.2), read into an ExchangeRequest. Parameters without a value count as
 * absent (§3.1); a parameter sent twice is an error (§3.2), except
 * `audience` and `resource`, which RFC 8693 §2.1 lets repeat.
 */
import type { ExchangeRequest } from './types.js';

const SINGLE = [
  'grant_type',
  'subject_token',
  'subject_token_type',
  'actor_token',
  'actor_token_type',
  'scope',
  'requested_token_type',
] as const;

export type FormResult = { readonly ok: true; readonly request: ExchangeRequest } | { readonly ok: false; readonly reason: string };

/**
 * Whether a Content-Type header is the form encoding (a `charset`, if any, must be UTF-8).
 *
 * @example
 * isFormContentType('application/x-www-form-urlencoded; charset=UTF-8'); // true
 */
export function isFormContentType(header: string | undefined): boolean {
  if (header === undefined) return false;
  const [type, ...parameters] = header.split(';').map((part) => part.trim().toLowerCase());
  if (type !== 'application/x-www-form-urlencoded') return false;
  return parameters.every((parameter) => !parameter.startsWith('charset=') || /^charset="?utf-8"?$/.test(parameter));
}

/**
 * Reads the form body into the exchange's parameters.
 *
 * @example
 * parseExchangeForm('grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&audience=todos&audience=calendar');
 */
export function parseExchangeForm(body: string): FormResult {
  const form = new URLSearchParams(body);
  const values = (name: string): string[] => form.getAll(name).filter((value) => value !== '');
  const single: Partial<Record<(typeof SINGLE)[number], string>> = {};
  for (const name of SINGLE) {
    const found = values(name);
    if (found.length > 1) return { ok: false, reason: `${name} is sent more than once` };
    if (found[0] !== undefined) single[name] = found[0];
  }
  return {
    ok: true,
    request: {
      grantType: single.grant_type,
      subjectToken: single.subject_token,
      subjectTokenType: single.subject_token_type,
      actorToken: single.actor_token,
      actorTokenType: single.actor_token_type,
      audiences: values('audience'),
      resources: values('resource'),
      scope: single.scope,
      requestedTokenType: single.requested_token_type,
    },
  };
}
