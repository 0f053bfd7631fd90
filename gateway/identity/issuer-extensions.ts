/**
 * Gatehouse's per-issuer settings that Istio's RequestAuthentication does not
 * have (gatehouse.yaml `jwt.defaults` and `jwt.issuers.<issuer>`): the
 * defaults, and the checks every configured value must pass.
 */
import { ValidationError } from '../errors.js';
import type { IssuerExtensions } from './issuer-rule.js';

/** Asymmetric JWS algorithms only. */
export const defaultIssuerExtensions: IssuerExtensions = Object.freeze({
  discovery: false,
  algorithms: Object.freeze(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']),
  clockSkewSeconds: 30,
  requiredClaims: Object.freeze([]),
});

/**
 * Every JWS `alg` Gatehouse can verify (RFC 7518 §3.1 plus EdDSA / Ed25519 of
 * RFC 8037 and RFC 9864). No HMAC: keys come from JSON Web Key Sets, which
 * publish public keys, so there is no secret to verify an `HS*` token with.
 */
export const supportedAlgorithms: ReadonlySet<string> = new Set([
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
]);

/** Upper bounds that keep a typo from disabling a check. */
export const issuerExtensionLimits = {
  maxClockSkewSeconds: 300,
  maxTokenAgeSeconds: 366 * 24 * 60 * 60,
} as const;

/**
 * Checks extensions built from configuration. `alg: none` is never accepted,
 * whatever the configuration says.
 *
 * @throws ValidationError naming `file` and `field` (e.g. `jwt.issuers["https://idp"].algorithms[2]`).
 * @example
 * validateIssuerExtensions({ ...defaultIssuerExtensions, algorithms: ['RS256'] }, 'gatehouse.yaml', 'jwt.defaults');
 */
export function validateIssuerExtensions(extensions: IssuerExtensions, file: string, field: string, documentIndex?: number): void {
  const fail = (path: string, problem: string): never => {
    throw new ValidationError(file, documentIndex, path ? `${field}.${path}` : field, problem);
  };
  if (extensions.algorithms.length === 0) fail('algorithms', 'must list at least one algorithm');
  extensions.algorithms.forEach((algorithm, i) => {
    if (algorithm.toLowerCase() === 'none') fail(`algorithms[${i}]`, '"none" (unsigned tokens) is never allowed');
    if (/^HS\d+$/.test(algorithm)) {
      fail(`algorithms[${i}]`, `"${algorithm}" (HMAC) needs a shared secret; key sets hold public keys only, so it is not supported`);
    }
    if (!supportedAlgorithms.has(algorithm)) {
      fail(`algorithms[${i}]`, `"${algorithm}" is not a supported JWS algorithm (one of ${[...supportedAlgorithms].join(', ')})`);
    }
  });
  if (!Number.isInteger(extensions.clockSkewSeconds) || extensions.clockSkewSeconds < 0) {
    fail('clockSkewSeconds', 'must be a whole number of seconds, 0 or more');
  }
  if (extensions.clockSkewSeconds > issuerExtensionLimits.maxClockSkewSeconds) {
    fail('clockSkewSeconds', `must be at most ${issuerExtensionLimits.maxClockSkewSeconds}`);
  }
  const maxAge = extensions.maxTokenAgeSeconds;
  if (maxAge !== undefined && (!Number.isInteger(maxAge) || maxAge <= 0 || maxAge > issuerExtensionLimits.maxTokenAgeSeconds)) {
    fail('maxTokenAgeSeconds', `must be a whole number of seconds between 1 and ${issuerExtensionLimits.maxTokenAgeSeconds}`);
  }
  extensions.requiredClaims.forEach((claim, i) => {
    if (claim === '') fail(`requiredClaims[${i}]`, 'must not be empty');
  });
  if (extensions.requiredType === '') fail('requiredType', 'must not be empty');
}
