/**
 * Finding the end user's token in a request, where the applicable issuer
 * rules say to look (Istio `fromHeaders`, `fromParams`, `fromCookies`).
 * Like Istio, two different tokens are ambiguous and rejected, never
 * resolved by picking one.
 */
import type { HttpRequestModel } from '../request/model.js';
import { TokenErrorCode, type IssuerRule, type TokenLocation } from './issuer-rule.js';

/** Istio's locations when a rule names none: `Authorization: Bearer <token>`, then `?access_token=<token>`. */
export const defaultTokenLocations: readonly TokenLocation[] = Object.freeze([
  Object.freeze({ kind: 'header', name: 'authorization', prefix: 'Bearer ' } as const),
  Object.freeze({ kind: 'param', name: 'access_token' } as const),
]);

/** Tokens longer than this are rejected before any parsing. */
export const defaultMaxTokenBytes = 16 * 1024;

export interface ExtractOptions {
  readonly maxTokenBytes: number;
}

export type TokenExtraction =
  | { readonly found: false; readonly error?: undefined }
  | {
      readonly found: true;
      readonly token: string;
      /** The first location (in rule order) the token was found at. */
      readonly location: TokenLocation;
      /** The rules that look at a location where the token was found, in rule order. */
      readonly rules: readonly IssuerRule[];
    }
  | { readonly found: false; readonly error: TokenErrorCode; readonly reason: string };

/** `header:authorization:Bearer `: header names compare case-insensitively, parameter and cookie names exactly. */
export function tokenLocationKey(location: TokenLocation): string {
  return location.kind === 'header' ? `header:${location.name.toLowerCase()}:${location.prefix}` : `${location.kind}:${location.name}`;
}

/** How a location reads in a reason: `header authorization`, `query parameter access_token`, `cookie session`. */
export function describeTokenLocation(location: TokenLocation): string {
  return location.kind === 'param' ? `query parameter ${location.name}` : `${location.kind} ${location.name}`;
}

/** One distinct location of a rule set, with the rules that look there (in rule order). */
interface PlannedLocation {
  readonly location: TokenLocation;
  /** For header locations: the header name, lower-cased once. */
  readonly headerName: string;
  readonly rules: readonly IssuerRule[];
}

/**
 * Where a rule set looks, worked out once per rule set: rule sets are
 * memoized per workload, so every Check of a workload reuses its plan.
 */
const plans = new WeakMap<readonly IssuerRule[], readonly PlannedLocation[]>();

function planOf(rules: readonly IssuerRule[]): readonly PlannedLocation[] {
  let plan = plans.get(rules);
  if (plan === undefined) {
    const byKey = new Map<string, { location: TokenLocation; rules: IssuerRule[] }>();
    for (const rule of rules) {
      for (const location of rule.locations) {
        const key = tokenLocationKey(location);
        const planned = byKey.get(key) ?? { location, rules: [] };
        if (!planned.rules.includes(rule)) planned.rules.push(rule);
        byKey.set(key, planned);
      }
    }
    plan = [...byKey.values()].map(({ location, rules: lookingHere }) => ({
      location,
      headerName: location.kind === 'header' ? location.name.toLowerCase() : '',
      rules: lookingHere,
    }));
    plans.set(rules, plan);
  }
  return plan;
}

const NOT_FOUND: TokenExtraction = Object.freeze({ found: false });

/**
 * Finds the token of a request in the locations of `rules`.
 *
 * @example
 * const found = extractToken(input.request, set.rulesFor(input.workload), { maxTokenBytes: defaultMaxTokenBytes });
 * if (found.found) peekIssuer(found.token);
 * else if (found.error !== undefined) deny401(found.error, found.reason);
 */
export function extractToken(request: HttpRequestModel, rules: readonly IssuerRule[], options: ExtractOptions): TokenExtraction {
  let token: string | undefined;
  let first: PlannedLocation | undefined;
  let others: PlannedLocation[] | undefined;
  for (const planned of planOf(rules)) {
    for (const value of valuesAt(request, planned)) {
      // UTF-8 takes at most 3 bytes per UTF-16 unit: most tokens are judged without measuring.
      if (
        value.length > options.maxTokenBytes ||
        (value.length * 3 > options.maxTokenBytes && Buffer.byteLength(value, 'utf8') > options.maxTokenBytes)
      ) {
        return {
          found: false,
          error: TokenErrorCode.TooLarge,
          reason: `the token in the ${describeTokenLocation(planned.location)} is larger than ${options.maxTokenBytes} bytes`,
        };
      }
      if (token !== undefined && value !== token) {
        return {
          found: false,
          error: TokenErrorCode.MultipleTokens,
          reason: `the request carries more than one token (${describeTokenLocation((first as PlannedLocation).location)}, ${describeTokenLocation(planned.location)})`,
        };
      }
      token = value;
      if (first === undefined) first = planned;
      else if (planned !== first && !others?.includes(planned)) (others ??= []).push(planned);
    }
  }
  if (token === undefined || first === undefined) return NOT_FOUND;
  if (others === undefined) return { found: true, token, location: first.location, rules: first.rules };
  // The same token in several locations: the rules looking at any of them, in rule order.
  const found = new Set([first, ...others].flatMap((planned) => planned.rules));
  return { found: true, token, location: first.location, rules: rules.filter((rule) => found.has(rule)) };
}

const NONE: readonly string[] = Object.freeze([]);

/** The non-empty candidate tokens at one location. */
function valuesAt(request: HttpRequestModel, { location, headerName }: PlannedLocation): readonly string[] {
  switch (location.kind) {
    case 'header': {
      const value = request.headers.get(headerName);
      if (value === undefined) return NONE;
      // The usual case: one header, one token.
      if (!value.includes(',')) {
        return value.startsWith(location.prefix) && value.length > location.prefix.length ? [value.slice(location.prefix.length)] : NONE;
      }
      // Repeated headers arrive joined with `,`, which never occurs in a compact JWS: each part is a candidate.
      const values: string[] = [];
      for (const [i, part] of value.split(',').entries()) {
        const candidate = i === 0 ? part : part.trimStart();
        if (!candidate.startsWith(location.prefix)) continue;
        const token = candidate.slice(location.prefix.length);
        if (token !== '') values.push(token);
      }
      return values;
    }
    case 'param': {
      if (request.query === '') return NONE;
      // URLSearchParams decodes `+` and percent-escapes as a form would.
      return new URLSearchParams(request.query).getAll(location.name).filter((value) => value !== '');
    }
    case 'cookie': {
      const header = request.headers.get('cookie');
      if (header === undefined) return NONE;
      const values: string[] = [];
      // RFC 6265 §4.2.1: `name=value` pairs separated by `;`; repeated cookie headers are joined with `,`.
      for (const pair of header.split(/[;,]/)) {
        const equals = pair.indexOf('=');
        if (equals === -1 || pair.slice(0, equals).trim() !== location.name) continue;
        let value = pair.slice(equals + 1).trim();
        if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
        if (value !== '') values.push(value);
      }
      return values;
    }
  }
}
