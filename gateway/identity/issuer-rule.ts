/**
 * Request authentication's data: what an issuer rule says (from an Istio
 * RequestAuthentication `jwtRules` entry plus Gatehouse's per-issuer
 * extensions in gatehouse.yaml), and what verifying a token yields.
 */
import type { JSONWebKeySet } from 'jose';

/** Where a token may be found, per Istio's `fromHeaders` / `fromParams` / `fromCookies`. */
export type TokenLocation =
  | { readonly kind: 'header'; readonly name: string; readonly prefix: string }
  | { readonly kind: 'param'; readonly name: string }
  | { readonly kind: 'cookie'; readonly name: string };

/** Gatehouse's extensions for one issuer (gatehouse.yaml `jwt.issuers.<issuer>`, over `jwt.defaults`). */
export interface IssuerExtensions {
  /** Find `jwks_uri` with OIDC discovery (`<issuer>/.well-known/openid-configuration`) when the rule has neither jwksUri nor jwks. */
  readonly discovery: boolean;
  /** JWS `alg` values accepted. Never includes `none`; HMAC only if explicitly listed. */
  readonly algorithms: readonly string[];
  readonly clockSkewSeconds: number;
  /** Reject tokens whose `iat` is older than this. */
  readonly maxTokenAgeSeconds?: number;
  /** Claims that must be present. */
  readonly requiredClaims: readonly string[];
  /** Required JOSE `typ` header, e.g. `at+jwt`. */
  readonly requiredType?: string;
}

/** One compiled `jwtRules` entry. */
export interface IssuerRule {
  /** `namespace/name#index` of the RequestAuthentication it came from. */
  readonly id: string;
  readonly issuer: string;
  /** Accepted audiences; empty means the token's `aud` is not checked (Istio's default). */
  readonly audiences: readonly string[];
  readonly jwksUri?: string;
  /** Inline JWKS (Istio `jwks`, a JSON string in the document). */
  readonly jwks?: JSONWebKeySet;
  /** Istio `timeout`: how long one JWKS (or discovery) fetch may take; the JWKS manager's default when absent. */
  readonly jwksFetchTimeoutMs?: number;
  /** Where to look; Istio's default is `Authorization: Bearer <token>` and the `access_token` query parameter. */
  readonly locations: readonly TokenLocation[];
  readonly outputPayloadToHeader?: string;
  readonly outputClaimToHeaders: readonly { readonly header: string; readonly claim: string }[];
  /** Keep the token in the request sent upstream (Istio default: false, the token is removed). */
  readonly forwardOriginalToken: boolean;
  readonly extensions: IssuerExtensions;
  /**
   * Hash of everything that decides whether a token is valid under this rule
   * (issuer, audiences, key source, extensions). Part of every cache key, so
   * a configuration change can never serve an old verdict.
   */
  readonly fingerprint: string;
}

/** Reason codes of request authentication; a denial with one of these is a 401, but for `TOKEN_KEYS_PENDING` (503). */
export const TokenErrorCode = {
  Malformed: 'TOKEN_MALFORMED',
  TooLarge: 'TOKEN_TOO_LARGE',
  UnknownIssuer: 'TOKEN_UNKNOWN_ISSUER',
  AlgorithmNotAllowed: 'TOKEN_ALGORITHM_NOT_ALLOWED',
  BadSignature: 'TOKEN_BAD_SIGNATURE',
  NoMatchingKey: 'TOKEN_NO_MATCHING_KEY',
  KeysUnavailable: 'TOKEN_KEYS_UNAVAILABLE',
  /** The key set the token needs is still being fetched (a 503: retry), not a verdict on the token. */
  KeysPending: 'TOKEN_KEYS_PENDING',
  UnknownCritical: 'TOKEN_UNKNOWN_CRITICAL_HEADER',
  WrongType: 'TOKEN_WRONG_TYPE',
  WrongAudience: 'TOKEN_WRONG_AUDIENCE',
  Expired: 'TOKEN_EXPIRED',
  NotYetValid: 'TOKEN_NOT_YET_VALID',
  IssuedInFuture: 'TOKEN_ISSUED_IN_FUTURE',
  TooOld: 'TOKEN_TOO_OLD',
  MissingClaim: 'TOKEN_MISSING_CLAIM',
  CertificateBindingMismatch: 'TOKEN_CERTIFICATE_BINDING_MISMATCH',
  Revoked: 'TOKEN_REVOKED',
  MultipleTokens: 'TOKEN_AMBIGUOUS',
} as const;

export type TokenErrorCode = (typeof TokenErrorCode)[keyof typeof TokenErrorCode];

/** A token that passed verification: the claims policies and caches use. */
export interface VerifiedToken {
  /** `iss/sub`: Istio's request principal. */
  readonly principal: string;
  readonly issuer: string;
  readonly subject: string;
  readonly audiences: readonly string[];
  /** `azp`. */
  readonly presenter?: string;
  readonly claims: Readonly<Record<string, unknown>>;
  /** `exp` in seconds since the epoch (tokens without `exp` are cached for the configured maximum only). */
  readonly expiresAt?: number;
  readonly issuedAt?: number;
  readonly jti?: string;
  readonly algorithm: string;
}

export type TokenVerdict =
  { readonly ok: true; readonly token: VerifiedToken } | { readonly ok: false; readonly code: TokenErrorCode; readonly reason: string };
