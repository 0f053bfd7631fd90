/**
 * The `apiKeys` and `clientCredentials` sections of gatehouse.yaml:
 * service credentials beyond certificates (docs/api-keys.md,
 * docs/client-credentials.md).
 */
import path from 'node:path';
import { parseSpiffeId } from '../identity/spiffe-id.js';
import type { ApiKeySettings, ClientCredentialSettings } from './config.js';
import type { FieldReader } from './load.js';

/** The request principal of an API key is `<issuer>/<principal>`; the default issuer. */
export const DEFAULT_API_KEY_ISSUER = 'gatehouse.dev/api-key';

const ISSUER = /^[A-Za-z0-9._~:@/+-]+$/;
const PARAMETER = /^[A-Za-z0-9._~-]+$/;
const PREFIX = /^[\x20-\x7e]{0,64}$/;
/** Headers shared with other credentials: a key there needs its own scheme. */
const AUTHORIZATION_HEADERS = new Set(['authorization', 'proxy-authorization']);
const CLAIMS = ['client_id', 'azp', 'sub'] as const;

/**
 * Reads `apiKeys`. Keys live in Redis unless `file` names a key file, so
 * without `file` the configuration needs a `redis` section.
 */
export function readApiKeys(r: FieldReader, value: unknown, baseDir: string, hasRedis: boolean): ApiKeySettings {
  const field = 'apiKeys';
  const settings = r.object(value ?? {}, field, ['file', 'watch', 'issuer', 'headers', 'queryParameter', 'cache', 'revocationTtlSeconds']);
  const file = settings.file === undefined ? undefined : path.resolve(baseDir, r.string(settings.file, `${field}.file`));
  if (file === undefined && !hasRedis) {
    r.fail(field, 'keys are kept in Redis unless apiKeys.file names a key file: configure redis or set apiKeys.file');
  }
  const issuer = r.string(settings.issuer ?? DEFAULT_API_KEY_ISSUER, `${field}.issuer`);
  if (!ISSUER.test(issuer) || issuer.endsWith('/'))
    r.fail(`${field}.issuer`, `'${issuer}' must be letters, digits and ._~:@/+- not ending in /`);
  const headers = r.array(settings.headers ?? [{ name: 'x-api-key' }], `${field}.headers`).map((entry, i) => {
    const at = `${field}.headers[${i}]`;
    const header = r.object(entry, at, ['name', 'prefix']);
    const name = r.headerName(header.name, `${at}.name`);
    const prefix = header.prefix === undefined ? '' : r.string(header.prefix, `${at}.prefix`);
    if (!PREFIX.test(prefix)) r.fail(`${at}.prefix`, 'must be at most 64 printable ASCII characters');
    if (prefix === '' && AUTHORIZATION_HEADERS.has(name)) {
      r.fail(`${at}.prefix`, `${name} carries other credentials too: name the scheme, e.g. "ApiKey "`);
    }
    return { name, prefix };
  });
  if (headers.length === 0) r.fail(`${field}.headers`, 'must name at least one header');
  headers.forEach((header, i) => {
    if (headers.findIndex((other) => other.name === header.name && other.prefix.toLowerCase() === header.prefix.toLowerCase()) !== i) {
      r.fail(`${field}.headers[${i}]`, `header ${header.name} with prefix '${header.prefix}' is listed twice`);
    }
  });
  const queryParameter = settings.queryParameter === undefined ? undefined : r.string(settings.queryParameter, `${field}.queryParameter`);
  if (queryParameter !== undefined && !PARAMETER.test(queryParameter)) {
    r.fail(`${field}.queryParameter`, `'${queryParameter}' is not a plain parameter name`);
  }
  const cache = r.object(settings.cache ?? {}, `${field}.cache`, ['maxEntries', 'maxTtlSeconds']);
  return {
    ...(file === undefined ? {} : { file }),
    watch: r.boolean(settings.watch ?? true, `${field}.watch`),
    issuer,
    headers,
    ...(queryParameter === undefined ? {} : { queryParameter }),
    cache: {
      maxEntries: r.integer(cache.maxEntries ?? 10_000, `${field}.cache.maxEntries`, 1, 10_000_000),
      maxTtlSeconds: r.integer(cache.maxTtlSeconds ?? 60, `${field}.cache.maxTtlSeconds`, 1, 3600),
    },
    revocationTtlSeconds: r.integer(settings.revocationTtlSeconds ?? 7 * 86_400, `${field}.revocationTtlSeconds`, 60, 366 * 86_400),
  };
}

/**
 * Reads `clientCredentials`. The principal must be a valid SPIFFE ID path
 * in one of `identity.trustDomains` (when that list is set), and a mapping
 * by `client_id` or `azp` must name the token's `sub`.
 */
export function readClientCredentials(r: FieldReader, value: unknown, trustDomains: readonly string[]): ClientCredentialSettings[] {
  const field = 'clientCredentials';
  const seen = new Set<string>();
  return r.array(value, field).map((entry, i) => {
    const at = `${field}[${i}]`;
    const mapping = r.object(entry, at, ['issuer', 'clientId', 'claim', 'subject', 'principal']);
    const issuer = r.string(mapping.issuer, `${at}.issuer`);
    const clientId = r.string(mapping.clientId, `${at}.clientId`);
    const claim = r.string(mapping.claim ?? 'client_id', `${at}.claim`);
    if (!(CLAIMS as readonly string[]).includes(claim)) r.fail(`${at}.claim`, `must be one of ${CLAIMS.join(', ')}`);
    const subject = mapping.subject === undefined ? undefined : r.string(mapping.subject, `${at}.subject`);
    if (claim !== 'sub' && subject === undefined) {
      r.fail(
        `${at}.subject`,
        `is required with claim ${claim}: user tokens issued through the same client carry the same ${claim}; name the sub of the client's own tokens`,
      );
    }
    const written = r.string(mapping.principal, `${at}.principal`);
    const principal = written.startsWith('spiffe://') ? written.slice('spiffe://'.length) : written;
    const parsed = parseSpiffeId(`spiffe://${principal}`);
    if (!parsed.ok) r.fail(`${at}.principal`, `'${written}' is not a SPIFFE ID: ${parsed.reason}`);
    if (trustDomains.length > 0 && !trustDomains.includes(parsed.id.trustDomain)) {
      r.fail(`${at}.principal`, `trust domain ${parsed.id.trustDomain} is not in identity.trustDomains`);
    }
    const key = JSON.stringify([issuer, claim, clientId, subject]);
    if (seen.has(key)) r.fail(at, `maps the same ${claim} of ${issuer} as an earlier entry`);
    seen.add(key);
    return {
      issuer,
      clientId,
      claim: claim as ClientCredentialSettings['claim'],
      ...(subject === undefined ? {} : { subject }),
      principal,
    };
  });
}
