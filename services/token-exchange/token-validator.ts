/**
 * Verifies the tokens presented to the service (subject tokens, actor tokens)
 * with the gateway's JWT machinery: the configured issuers become issuer
 * rules, keys come from the shared JwksRegistry, `verifyToken` decides.
 */
import {
  defaultIssuerExtensions,
  defaultTokenLocations,
  issuerRuleFingerprint,
  JwksRegistry,
  peekIssuer,
  validateIssuerExtensions,
  verifyToken,
} from '../../gateway/identity/index.js';
import type { IssuerExtensions, IssuerRule, TokenVerdict } from '../../gateway/identity/index.js';
import type { TrustedIssuer } from './config.js';

/**
 * The issuer rule of a configured issuer: the same shape the gateway compiles
 * from a RequestAuthentication `jwtRules` entry, so verification is identical.
 *
 * @example
 * const rule = issuerRuleOf({ issuer: 'https://login.example.com', audiences: ['share'], jwksUri, settings: {} }, 'subjectIssuers[0]');
 */
export function issuerRuleOf(trusted: TrustedIssuer, id: string, configFile = 'token-exchange config'): IssuerRule {
  const { settings } = trusted;
  const extensions: IssuerExtensions = {
    discovery: settings.discovery ?? defaultIssuerExtensions.discovery,
    algorithms: settings.algorithms ?? defaultIssuerExtensions.algorithms,
    clockSkewSeconds: settings.clockSkewSeconds ?? defaultIssuerExtensions.clockSkewSeconds,
    maxTokenAgeSeconds: settings.maxTokenAgeSeconds,
    requiredClaims: settings.requiredClaims ?? defaultIssuerExtensions.requiredClaims,
    requiredType: settings.requiredType,
  };
  validateIssuerExtensions(extensions, configFile, id);
  const rule = {
    issuer: trusted.issuer,
    audiences: trusted.audiences,
    ...(trusted.jwksUri === undefined ? {} : { jwksUri: trusted.jwksUri }),
    ...(trusted.jwks === undefined ? {} : { jwks: trusted.jwks }),
  };
  return {
    id,
    ...rule,
    locations: defaultTokenLocations,
    outputClaimToHeaders: [],
    forwardOriginalToken: false,
    extensions,
    fingerprint: issuerRuleFingerprint(rule, extensions),
  };
}

/** Verifies tokens of a fixed set of issuers. */
export class TokenValidator {
  private readonly byIssuer: ReadonlyMap<string, IssuerRule>;

  constructor(
    readonly rules: readonly IssuerRule[],
    private readonly keys: JwksRegistry,
    private readonly maxTokenBytes: number,
  ) {
    this.byIssuer = new Map(rules.map((rule) => [rule.issuer, rule]));
  }

  /** Whether any issuer is configured. */
  get empty(): boolean {
    return this.rules.length === 0;
  }

  /**
   * Verifies `token` under the rule of its (unverified) `iss`. Never rejects.
   * `peerCertificateSha256Hex` enforces RFC 8705 binding: a subject token
   * bound to a certificate is only exchanged by that certificate's holder.
   */
  async verify(token: string, peerCertificateSha256Hex?: string): Promise<TokenVerdict> {
    const peeked = peekIssuer(token, this.maxTokenBytes);
    if (!peeked.ok) return peeked;
    const rule = this.byIssuer.get(peeked.issuer);
    if (rule === undefined) {
      return { ok: false, code: 'TOKEN_UNKNOWN_ISSUER', reason: "the token's issuer is not one this service accepts" };
    }
    return verifyToken(token, rule, this.keys.forRule(rule), {
      maxTokenBytes: this.maxTokenBytes,
      ...(peerCertificateSha256Hex === undefined ? {} : { peerCertificateSha256Hex }),
    });
  }
}
