/**
 * Gatehouse's per-issuer extensions: `jwt.defaults` overlaid by
 * `jwt.issuers.<issuer>`, over the built-in defaults.
 */
import { defaultIssuerExtensions } from '../identity/index.js';
import type { IssuerExtensions } from '../identity/issuer-rule.js';
import type { IssuerSettings, JwtSettings } from './config.js';

/**
 * The extensions for each issuer a RequestAuthentication names.
 *
 * @example
 * const extensionsFor = issuerExtensions(config.jwt);
 * extensionsFor('https://idp.example').algorithms; // ['RS256', …] unless configured
 */
export function issuerExtensions(jwt: JwtSettings): (issuer: string) => IssuerExtensions {
  const base = overlay(defaultIssuerExtensions, jwt.defaults);
  return (issuer) => overlay(base, jwt.issuers[issuer] ?? {});
}

function overlay(base: IssuerExtensions, settings: IssuerSettings): IssuerExtensions {
  return {
    discovery: settings.discovery ?? base.discovery,
    algorithms: settings.algorithms ?? base.algorithms,
    clockSkewSeconds: settings.clockSkewSeconds ?? base.clockSkewSeconds,
    maxTokenAgeSeconds: settings.maxTokenAgeSeconds ?? base.maxTokenAgeSeconds,
    requiredClaims: settings.requiredClaims ?? base.requiredClaims,
    requiredType: settings.requiredType ?? base.requiredType,
  };
}
