/**
 * The data of a token exchange (RFC 8693), independent of the transport:
 * the request's parameters, the response, and the OAuth errors (RFC 6749
 * §5.2, RFC 8693 §2.2.2) both listeners answer with.
 */
import type { X509Certificate } from 'node:crypto';

/** RFC 8693 §2.1: the only grant this service serves. */
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';

/** RFC 8693 §3: the token type identifiers this service reads and issues. */
export const TokenType = {
  Jwt: 'urn:ietf:params:oauth:token-type:jwt',
  AccessToken: 'urn:ietf:params:oauth:token-type:access_token',
} as const;

export type TokenType = (typeof TokenType)[keyof typeof TokenType];

/** RFC 8693 §2.1's parameters, as received: nothing here is checked yet. Empty values count as absent (RFC 6749 §3.1). */
export interface ExchangeRequest {
  readonly grantType?: string;
  readonly subjectToken?: string;
  readonly subjectTokenType?: string;
  readonly actorToken?: string;
  readonly actorTokenType?: string;
  /** `audience` values (may repeat). */
  readonly audiences: readonly string[];
  /** `resource` values (may repeat; RFC 8707 absolute URIs). */
  readonly resources: readonly string[];
  readonly scope?: string;
  readonly requestedTokenType?: string;
}

/** What the connection says about the caller. */
export interface ClientConnection {
  /** The client certificate, only when TLS verified it against the configured CA. */
  readonly certificate?: X509Certificate;
}

/** RFC 8693 §2.2.1. */
export interface ExchangeResponse {
  readonly accessToken: string;
  readonly issuedTokenType: TokenType;
  /** The minted token is an access token usable as a bearer token (RFC 8693 §2.2.1: `N_A` only for other tokens). */
  readonly tokenType: 'Bearer';
  readonly expiresIn: number;
  /** Space-separated; absent when the token has no scope. */
  readonly scope?: string;
}

/** RFC 6749 §5.2 and RFC 8693 §2.2.2 error codes, plus the two server-side ones of RFC 6749 §4.1.2.1. */
export const OAuthErrorCode = {
  InvalidRequest: 'invalid_request',
  InvalidClient: 'invalid_client',
  InvalidGrant: 'invalid_grant',
  UnauthorizedClient: 'unauthorized_client',
  UnsupportedGrantType: 'unsupported_grant_type',
  InvalidScope: 'invalid_scope',
  InvalidTarget: 'invalid_target',
  TemporarilyUnavailable: 'temporarily_unavailable',
  ServerError: 'server_error',
} as const;

export type OAuthErrorCode = (typeof OAuthErrorCode)[keyof typeof OAuthErrorCode];

/** An exchange refused: the code, and a description that never quotes a token. */
export interface OAuthError {
  readonly error: OAuthErrorCode;
  readonly description: string;
}

export type ExchangeOutcome =
  | {
      readonly ok: true;
      readonly response: ExchangeResponse;
      /** Served from the minted-token cache. */
      readonly cached: boolean;
    }
  | { readonly ok: false; readonly error: OAuthError };

/**
 * The HTTP status of an OAuth error: 401 for a client that could not
 * authenticate (RFC 6749 §5.2), 503 and 500 for the server's own failures,
 * 400 for everything else.
 */
export function httpStatusOf(code: OAuthErrorCode): number {
  switch (code) {
    case OAuthErrorCode.InvalidClient:
      return 401;
    case OAuthErrorCode.TemporarilyUnavailable:
      return 503;
    case OAuthErrorCode.ServerError:
      return 500;
    default:
      return 400;
  }
}
