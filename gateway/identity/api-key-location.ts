/**
 * Finding an API key in a request: in the configured headers (`x-api-key`,
 * or `authorization` with a scheme such as `ApiKey `), and in one query
 * parameter only when configured. A key anywhere else in the query is
 * refused rather than ignored: it has leaked into access logs, and the
 * caller should hear so and rotate it.
 */
import type { HttpRequestModel } from '../request/model.js';
import { ApiKeyErrorCode, apiKeyPrefix } from './api-key.js';

/** Where a key may be presented. Header names are lower-case; `prefix` is compared case-insensitively (auth schemes are). */
export type ApiKeyLocation =
  { readonly kind: 'header'; readonly name: string; readonly prefix: string } | { readonly kind: 'param'; readonly name: string };

export interface ApiKeyLocations {
  readonly headers: readonly { readonly name: string; readonly prefix: string }[];
  /** The one query parameter a key may come in; absent: keys in the query are refused. */
  readonly queryParameter?: string;
}

export type ApiKeyPresentation =
  | { readonly found: false; readonly error?: undefined }
  | { readonly found: true; readonly key: string; readonly location: ApiKeyLocation }
  | { readonly found: false; readonly error: ApiKeyErrorCode; readonly reason: string };

/** Longer values are refused before anything else looks at them. */
export const maxPresentedKeyLength = 512;

const NOT_FOUND: ApiKeyPresentation = Object.freeze({ found: false });

/**
 * Finds the API key of a request. Two different keys are ambiguous; a
 * value under `authorization: Bearer` that is not a Gatehouse key is left
 * for the JWT stage.
 *
 * @example
 * const found = findApiKey(input.request, { headers: [{ name: 'x-api-key', prefix: '' }] });
 * if (found.found) verify(found.key);
 */
export function findApiKey(request: HttpRequestModel, where: ApiKeyLocations): ApiKeyPresentation {
  let key: string | undefined;
  let location: ApiKeyLocation | undefined;
  let problem: ApiKeyPresentation | undefined;
  const consider = (value: string, at: ApiKeyLocation): void => {
    if (value.length > maxPresentedKeyLength) {
      problem ??= { found: false, error: ApiKeyErrorCode.Malformed, reason: `the API key in ${describeApiKeyLocation(at)} is too long` };
    } else if (key !== undefined && key !== value) {
      problem ??= {
        found: false,
        error: ApiKeyErrorCode.Ambiguous,
        reason: `the request carries more than one API key (${describeApiKeyLocation(location as ApiKeyLocation)}, ${describeApiKeyLocation(at)})`,
      };
    } else {
      key = value;
      location ??= at;
    }
  };

  for (const header of where.headers) {
    const value = request.headers.get(header.name);
    if (value === undefined) continue;
    const at: ApiKeyLocation = { kind: 'header', name: header.name, prefix: header.prefix };
    const bearer = header.prefix.toLowerCase() === 'bearer ';
    // Repeated headers arrive joined with `,`, which never occurs in a key.
    for (const part of value.includes(',') ? value.split(',') : [value]) {
      const trimmed = part.trim();
      if (header.prefix !== '' && trimmed.slice(0, header.prefix.length).toLowerCase() !== header.prefix.toLowerCase()) continue;
      const candidate = trimmed.slice(header.prefix.length).trim();
      // `authorization: Bearer` is shared with JWTs: only Gatehouse keys are ours there.
      if (candidate === '' || (bearer && !candidate.startsWith(apiKeyPrefix))) continue;
      consider(candidate, at);
    }
  }

  const query = request.query;
  if (query !== '' && (query.includes(apiKeyPrefix) || (where.queryParameter !== undefined && query.includes(where.queryParameter)))) {
    for (const [name, value] of new URLSearchParams(query)) {
      if (name === where.queryParameter) {
        if (value !== '') consider(value, { kind: 'param', name });
      } else if (value.startsWith(apiKeyPrefix)) {
        return {
          found: false,
          error: ApiKeyErrorCode.InQuery,
          reason:
            where.queryParameter === undefined
              ? 'API keys are not accepted in the URL query: send it in a header, and rotate it (it is in access logs now)'
              : `API keys are accepted in the query parameter ${where.queryParameter} only`,
        };
      }
    }
  }
  if (problem !== undefined) return problem;
  return key === undefined || location === undefined ? NOT_FOUND : { found: true, key, location };
}

/** How a location reads in a reason: `header x-api-key`, `query parameter api_key`. */
export function describeApiKeyLocation(location: ApiKeyLocation): string {
  return location.kind === 'param' ? `query parameter ${location.name}` : `header ${location.name}`;
}
