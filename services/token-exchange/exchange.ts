/**
 * The token exchange itself (RFC 8693), transport-free: parameters and the
 * caller's verified certificate in, a minted token or an OAuth error out.
 * Both listeners (HTTPS and gRPC) call `TokenExchanger.exchange`.
 *
 * Order: grant and parameters → client authentication (certificate SPIFFE
 * ID, or actor token) → subject token → actor chain, targets and scopes →
 * delegation rules → cache → mint. Every check runs on every request; the
 * cache only saves the signature.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { identityFromX509, TokenErrorCode, type VerifiedToken } from '../../gateway/identity/index.js';
import type { TraceContext } from '../shared/trace-context.js';
import type { Logger } from '../../gateway/log.js';
import { nest, readActorChain } from './actor-chain.js';
import { delegationError, type DelegationRules } from './delegation.js';
import type { MintedTokenCache, MintedToken } from './minted-token-cache.js';
import { downScope, scopesOfClaims } from './scope.js';
import type { SigningKeys } from './signing-keys.js';
import type { TokenValidator } from './token-validator.js';
import {
  OAuthErrorCode,
  TOKEN_EXCHANGE_GRANT,
  TokenType,
  type ClientConnection,
  type ExchangeOutcome,
  type ExchangeRequest,
  type OAuthError,
} from './types.js';

/** Upper bound on `audience` + `resource` values in one request. */
export const maxTargets = 10;
const MAX_TARGET_LENGTH = 2048;

export interface TokenExchangerOptions {
  /** `iss` of minted tokens. */
  readonly issuer: string;
  readonly subjectTokens: TokenValidator;
  readonly actorTokens: TokenValidator;
  readonly delegation: DelegationRules;
  /** Read on every exchange, so a key reload takes effect at once. */
  readonly keys: () => SigningKeys;
  readonly cache: MintedTokenCache;
  readonly ttlSeconds: number;
  readonly log: Logger;
  /** Milliseconds since the epoch; tests pass a fixed clock. */
  readonly now?: () => number;
}

/** The claims of a minted token; `sub_iss` keeps the subject's original issuer (see docs/token-exchange.md). */
export interface MintedClaims {
  readonly iss: string;
  readonly sub: string;
  readonly sub_iss: string;
  readonly aud: string | string[];
  readonly act: { readonly sub: string; readonly act?: unknown };
  readonly client_id: string;
  readonly scope?: string;
  readonly iat: number;
  readonly exp: number;
  readonly jti: string;
}

type Step<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: OAuthError };

const supportedTokenTypes: readonly string[] = [TokenType.Jwt, TokenType.AccessToken];

/**
 * @example
 * const exchanger = new TokenExchanger({ issuer, subjectTokens, actorTokens, delegation, keys: () => keys, cache, ttlSeconds: 300, log });
 * const outcome = await exchanger.exchange(request, { certificate: socket.getPeerX509Certificate() });
 */
export class TokenExchanger {
  private readonly now: () => number;

  constructor(private readonly options: TokenExchangerOptions) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Never rejects: an unexpected failure is a `server_error`. `trace` is the
   * caller's W3C trace context, for the telemetry that observes exchanges.
   */
  async exchange(request: ExchangeRequest, connection: ClientConnection, _trace: TraceContext = {}): Promise<ExchangeOutcome> {
    try {
      return await this.run(request, connection);
    } catch (error) {
      this.options.log.error({ err: error instanceof Error ? error.message : String(error) }, 'token exchange failed unexpectedly');
      return refuse(OAuthErrorCode.ServerError, 'the exchange failed inside the service');
    }
  }

  private async run(request: ExchangeRequest, connection: ClientConnection): Promise<ExchangeOutcome> {
    const parameters = checkParameters(request);
    if (!parameters.ok) return parameters;
    const { subjectToken, issuedTokenType, targets } = parameters.value;

    const client = await this.authenticateClient(request, connection);
    if (!client.ok) return client;
    const { actor, certificateSha256 } = client.value;

    const verdict = await this.options.subjectTokens.verify(subjectToken, certificateSha256);
    if (!verdict.ok) return subjectTokenError(verdict.code, verdict.reason);
    const subject = verdict.token;

    const chain = readActorChain(subject.claims['act']);
    if (!chain.ok) return refuse(OAuthErrorCode.InvalidGrant, `subject_token: ${chain.reason}`);
    const scopes = downScope(request.scope, scopesOfClaims(subject.claims));
    if (!scopes.ok) return refuse(OAuthErrorCode.InvalidScope, scopes.reason);

    const user = userOf(subject, this.options.issuer);
    const actors = [actor, ...chain.actors];
    // One question per target: a rule's audiences need to match only one of a token's, and every target must be permitted.
    for (const target of targets) {
      const delegation = this.options.delegation.evaluate({
        subject: user.principal,
        actors,
        audiences: [target],
        ...(subject.claims['may_act'] === undefined ? {} : { mayAct: subject.claims['may_act'] }),
      });
      if (!delegation.ok) return { ok: false, error: delegationError(delegation) };
    }

    const nowSeconds = Math.floor(this.now() / 1000);
    const keys = this.options.keys();
    const cacheKey = {
      subjectToken,
      actor,
      audiences: targets,
      scopes: scopes.scopes,
      issuedTokenType,
      issuer: this.options.issuer,
      kid: keys.active.kid,
    };
    const cached = await this.options.cache.get(cacheKey, nowSeconds);
    if (cached !== undefined) {
      this.logIssued(user.principal, actors, targets, cached, true);
      return issued(cached, issuedTokenType, nowSeconds, true);
    }

    // Never past the subject token's own expiry: delegation cannot outlive the grant.
    const expiresAt = Math.min(nowSeconds + this.options.ttlSeconds, subject.expiresAt ?? Number.POSITIVE_INFINITY);
    if (expiresAt <= nowSeconds) return refuse(OAuthErrorCode.InvalidGrant, 'subject_token: the token expires now');
    const claims: MintedClaims = {
      iss: this.options.issuer,
      sub: subject.subject,
      sub_iss: user.issuer,
      aud: targets.length === 1 ? targets[0]! : [...targets],
      act: nest(actors) as MintedClaims['act'],
      client_id: actor,
      ...(scopes.scopes.length === 0 ? {} : { scope: scopes.scopes.join(' ') }),
      iat: nowSeconds,
      exp: expiresAt,
      jti: randomUUID(),
    };
    const token = await new SignJWT({ ...claims })
      // RFC 9068 §2.1: JWT access tokens are typed at+jwt, so they cannot pass for ID tokens.
      .setProtectedHeader({ alg: keys.active.alg, kid: keys.active.kid, typ: 'at+jwt' })
      .sign(keys.active.privateKey);
    const minted: MintedToken = { token, expiresAt, scopes: scopes.scopes };
    await this.options.cache.put(cacheKey, minted, nowSeconds);
    this.logIssued(user.principal, actors, targets, minted, false, claims.jti);
    return issued(minted, issuedTokenType, nowSeconds, false);
  }

  /**
   * The new actor: the SPIFFE ID of a verified client certificate, or the
   * `sub` of a valid actor token. With both, they must name the same actor.
   */
  private async authenticateClient(
    request: ExchangeRequest,
    connection: ClientConnection,
  ): Promise<Step<{ actor: string; certificateSha256?: string }>> {
    let certificateActor: string | undefined;
    let certificateSha256: string | undefined;
    if (connection.certificate !== undefined) {
      const identity = identityFromX509(connection.certificate);
      if (!identity.ok) return refuse(OAuthErrorCode.InvalidClient, `client certificate: ${identity.reason}`);
      if (identity.spiffe === undefined) return refuse(OAuthErrorCode.InvalidClient, 'the client certificate has no SPIFFE ID (URI SAN)');
      certificateActor = identity.spiffe.uri;
      certificateSha256 = identity.cert.sha256;
    }
    if (request.actorToken === undefined) {
      if (certificateActor === undefined) {
        return refuse(OAuthErrorCode.InvalidClient, 'no client authentication: present a client certificate or an actor_token');
      }
      return { ok: true, value: { actor: certificateActor, certificateSha256 } };
    }
    if (this.options.actorTokens.empty) return refuse(OAuthErrorCode.InvalidClient, 'actor_token: no actor issuers are configured');
    const verdict = await this.options.actorTokens.verify(request.actorToken, certificateSha256);
    if (!verdict.ok) {
      if (verdict.code === TokenErrorCode.KeysUnavailable)
        return refuse(OAuthErrorCode.TemporarilyUnavailable, `actor_token: ${verdict.reason}`);
      return refuse(OAuthErrorCode.InvalidClient, `actor_token: ${verdict.code}: ${verdict.reason}`);
    }
    const actor = verdict.token.subject;
    if (certificateActor !== undefined && certificateActor !== actor) {
      return refuse(OAuthErrorCode.InvalidRequest, 'the actor_token names another actor than the client certificate');
    }
    return { ok: true, value: { actor, certificateSha256 } };
  }

  private logIssued(
    subject: string,
    actors: readonly string[],
    audiences: readonly string[],
    minted: MintedToken,
    cached: boolean,
    jti?: string,
  ): void {
    this.options.log.info(
      { subject, actors, audiences, scope: minted.scopes.join(' '), exp: minted.expiresAt, cached, jti },
      'token exchanged',
    );
  }
}

/** RFC 8693 §2.1's required and optional parameters, checked in the RFC's order. */
function checkParameters(request: ExchangeRequest): Step<{ subjectToken: string; issuedTokenType: TokenType; targets: readonly string[] }> {
  if (request.grantType === undefined) return refuse(OAuthErrorCode.InvalidRequest, 'grant_type is required');
  if (request.grantType !== TOKEN_EXCHANGE_GRANT) {
    return refuse(OAuthErrorCode.UnsupportedGrantType, `only grant_type ${TOKEN_EXCHANGE_GRANT} is supported`);
  }
  if (request.subjectToken === undefined) return refuse(OAuthErrorCode.InvalidRequest, 'subject_token is required');
  if (request.subjectTokenType === undefined) return refuse(OAuthErrorCode.InvalidRequest, 'subject_token_type is required');
  if (!supportedTokenTypes.includes(request.subjectTokenType)) {
    return refuse(OAuthErrorCode.InvalidRequest, `subject_token_type must be ${supportedTokenTypes.join(' or ')}`);
  }
  if (request.actorToken !== undefined && request.actorTokenType === undefined) {
    return refuse(OAuthErrorCode.InvalidRequest, 'actor_token_type is required with actor_token');
  }
  if (request.actorToken === undefined && request.actorTokenType !== undefined) {
    return refuse(OAuthErrorCode.InvalidRequest, 'actor_token_type must not be sent without actor_token');
  }
  if (request.actorTokenType !== undefined && !supportedTokenTypes.includes(request.actorTokenType)) {
    return refuse(OAuthErrorCode.InvalidRequest, `actor_token_type must be ${supportedTokenTypes.join(' or ')}`);
  }
  const requested = request.requestedTokenType ?? TokenType.AccessToken;
  if (!supportedTokenTypes.includes(requested)) {
    return refuse(OAuthErrorCode.InvalidRequest, `requested_token_type must be ${supportedTokenTypes.join(' or ')}`);
  }
  const targets = [...new Set([...request.audiences, ...request.resources])];
  if (targets.length === 0)
    return refuse(OAuthErrorCode.InvalidRequest, 'audience or resource is required: tokens are minted for a target');
  if (targets.length > maxTargets) return refuse(OAuthErrorCode.InvalidTarget, `at most ${maxTargets} audience and resource values`);
  if (targets.some((target) => target.length > MAX_TARGET_LENGTH)) {
    return refuse(OAuthErrorCode.InvalidTarget, `an audience or resource is longer than ${MAX_TARGET_LENGTH} characters`);
  }
  for (const resource of request.resources) {
    // RFC 8707 §2: an absolute URI without a fragment.
    if (!URL.canParse(resource) || new URL(resource).hash !== '' || resource.includes('#')) {
      return refuse(OAuthErrorCode.InvalidTarget, 'resource must be an absolute URI without a fragment');
    }
  }
  return { ok: true, value: { subjectToken: request.subjectToken, issuedTokenType: requested as TokenType, targets } };
}

/**
 * The user a subject token speaks for: its own `iss/sub`, except for a token
 * this service minted, whose user is the one it was minted for (`sub_iss`),
 * so that exchanging a delegated token again keeps the original principal.
 */
function userOf(subject: VerifiedToken, ownIssuer: string): { issuer: string; principal: string } {
  const original = subject.claims['sub_iss'];
  const issuer = subject.issuer === ownIssuer && typeof original === 'string' && original !== '' ? original : subject.issuer;
  return { issuer, principal: `${issuer}/${subject.subject}` };
}

/**
 * A subject token that fails verification is an invalid grant, except when
 * its issuer's keys cannot be fetched: that is the service's trouble, and
 * worth a retry.
 */
function subjectTokenError(code: TokenErrorCode, reason: string): ExchangeOutcome {
  if (code === TokenErrorCode.KeysUnavailable) return refuse(OAuthErrorCode.TemporarilyUnavailable, `subject_token: ${reason}`);
  return refuse(OAuthErrorCode.InvalidGrant, `subject_token: ${code}: ${reason}`);
}

function issued(minted: MintedToken, issuedTokenType: TokenType, nowSeconds: number, cached: boolean): ExchangeOutcome {
  return {
    ok: true,
    cached,
    response: {
      accessToken: minted.token,
      issuedTokenType,
      tokenType: 'Bearer',
      expiresIn: minted.expiresAt - nowSeconds,
      ...(minted.scopes.length === 0 ? {} : { scope: minted.scopes.join(' ') }),
    },
  };
}

function refuse(error: OAuthErrorCode, description: string): { ok: false; error: OAuthError } {
  return { ok: false, error: { error, description } };
}
