/**
 * Answers TokenReviews (authentication.k8s.io/v1): is this bearer token a
 * Kubernetes user, and which? Break-glass tokens first (no identity provider
 * needed), then the JWT authenticator of the token's issuer: the signature and
 * registered claims through the gateway's verified-token cache, the audiences
 * the apiserver asked for, and the claim mappings.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
// The token cache module itself, not the cache folder's index: that would load ioredis into Redis-less replicas.
import { tokenCacheKey, type TokenCache } from '../../gateway/cache/token-cache.js';
import {
  peekIssuer,
  TokenErrorCode,
  tokenAlgorithm,
  verifyToken,
  type JwksRegistry,
  type IssuerRule,
  type TokenVerdict,
  type VerifiedToken,
} from '../../gateway/identity/index.js';
import { issuerRuleOfAuthenticator, mapTokenToUser, type JwtAuthenticator, type UserMapping } from '../../gateway/kubernetes/index.js';
import type { Logger } from '../../gateway/log.js';
import type { BreakGlassToken } from './break-glass-tokens.js';
import type { TokenReviewRequest, TokenReviewVerdict } from './types.js';

/** This reviewer's own refusal codes (besides the gateway's TOKEN_… and the user mapping's codes). */
export const TokenReviewCode = {
  /** `spec.token` is empty. */
  Missing: 'TOKEN_MISSING',
  /** The token's audiences, the requested audiences and the authenticator's audiences have nothing in common. */
  AudienceMismatch: 'AUDIENCE_MISMATCH',
  /** Reviewing failed unexpectedly; never an authentication. */
  Internal: 'TOKEN_REVIEW_FAILED',
} as const;

export interface TokenReviewerOptions {
  readonly authenticators: readonly JwtAuthenticator[];
  readonly breakGlassTokens: readonly BreakGlassToken[];
  readonly keys: JwksRegistry;
  readonly cache: TokenCache;
  readonly maxTokenBytes: number;
  readonly log: Logger;
  /** Clock in milliseconds for token verification (tests). Default `Date.now`. */
  readonly now?: () => number;
}

export interface TokenReviewerStats {
  readonly reviews: number;
  readonly authenticated: number;
  /** Refusals by code. */
  readonly refused: Readonly<Record<string, number>>;
  /** Authentications by break-glass token name. */
  readonly breakGlassUses: Readonly<Record<string, number>>;
}

interface CompiledAuthenticator {
  readonly authenticator: JwtAuthenticator;
  readonly rule: IssuerRule;
  /** The user of each verified token object the cache holds: an L1 hit returns the same object, so the mapping runs once per token. */
  readonly users: WeakMap<VerifiedToken, UserMapping>;
}

type Refusal = Extract<TokenReviewVerdict, { authenticated: false }>;

/**
 * @example
 * const reviewer = new TokenReviewer({ authenticators, breakGlassTokens, keys, cache, maxTokenBytes: 16_384, log });
 * const status = await reviewer.review({ token, audiences: ['https://kubernetes.default.svc'] });
 */
export class TokenReviewer {
  private readonly byIssuer: ReadonlyMap<string, CompiledAuthenticator>;
  /** The only authenticator, when there is one: its L1 is asked before the token is decoded. */
  private readonly only: CompiledAuthenticator | undefined;
  private readonly now: () => number;
  private readonly counts = { reviews: 0, authenticated: 0 };
  private readonly refused = new Map<string, number>();
  private readonly breakGlassUses = new Map<string, number>();

  constructor(private readonly options: TokenReviewerOptions) {
    const compiled = options.authenticators.map((authenticator, i) => ({
      authenticator,
      rule: issuerRuleOfAuthenticator(authenticator, `jwt[${i}]`),
      users: new WeakMap<VerifiedToken, UserMapping>(),
    }));
    this.byIssuer = new Map(compiled.map((entry) => [entry.authenticator.issuer.url, entry]));
    this.only = compiled.length === 1 ? compiled[0] : undefined;
    this.now = options.now ?? Date.now;
  }

  /** The TokenReview's status for `request`. Never rejects; every failure is "not authenticated" with a reason. */
  async review(request: TokenReviewRequest): Promise<TokenReviewVerdict> {
    this.counts.reviews++;
    let verdict: TokenReviewVerdict;
    try {
      verdict = await this.decide(request);
    } catch (error) {
      // Only Gatehouse's own errors reach here (verification never throws); their messages never hold the token.
      this.options.log.error({ error: error instanceof Error ? error.message : String(error) }, 'token review failed');
      verdict = refusal(TokenReviewCode.Internal, 'the token could not be reviewed');
    }
    if (verdict.authenticated) {
      this.counts.authenticated++;
    } else {
      this.refused.set(verdict.code, (this.refused.get(verdict.code) ?? 0) + 1);
      this.options.log.debug({ code: verdict.code }, 'token review refused');
    }
    return verdict;
  }

  stats(): TokenReviewerStats {
    return {
      ...this.counts,
      refused: Object.fromEntries(this.refused),
      breakGlassUses: Object.fromEntries(this.breakGlassUses),
    };
  }

  private async decide(request: TokenReviewRequest): Promise<TokenReviewVerdict> {
    const { token } = request;
    const maxTokenBytes = this.options.maxTokenBytes;
    if (token === '') return refusal(TokenReviewCode.Missing, 'the TokenReview carries no token');
    if (token.length > maxTokenBytes || Buffer.byteLength(token, 'utf8') > maxTokenBytes) {
      return refusal(TokenErrorCode.TooLarge, `the token is larger than ${maxTokenBytes} bytes`);
    }

    const breakGlass = this.breakGlass(token);
    if (breakGlass !== undefined) {
      this.breakGlassUses.set(breakGlass.name, (this.breakGlassUses.get(breakGlass.name) ?? 0) + 1);
      this.options.log.warn({ breakGlass: breakGlass.name, username: breakGlass.user.username }, 'break-glass token used');
      // Like a static token, a break-glass token is good for whatever audiences the apiserver asks about.
      return { authenticated: true, user: breakGlass.user, audiences: request.audiences, breakGlass: breakGlass.name };
    }

    const verified = await this.verify(token);
    if (!verified.ok) return verified.refusal;
    const { entry, token: claims } = verified;

    const audiences = acceptedAudiences(request.audiences, claims.audiences, entry.authenticator.issuer.audiences);
    if (audiences.length === 0) {
      return refusal(
        TokenReviewCode.AudienceMismatch,
        request.audiences.length > 0
          ? `the token is not valid for any of the requested audiences (${request.audiences.join(', ')})`
          : "the token's audiences are not the authenticator's",
      );
    }

    let mapped = entry.users.get(claims);
    if (mapped === undefined) {
      mapped = mapTokenToUser(entry.authenticator, claims);
      entry.users.set(claims, mapped);
    }
    if (!mapped.ok) return refusal(mapped.code, mapped.reason);
    return { authenticated: true, user: mapped.user, audiences };
  }

  /**
   * The break-glass entry whose digest is the token's. Every entry is compared
   * in constant time, without stopping at a match, so the time taken says
   * nothing about which entry (or how much of a digest) matched.
   */
  private breakGlass(token: string): BreakGlassToken | undefined {
    const entries = this.options.breakGlassTokens;
    if (entries.length === 0) return undefined;
    const digest = createHash('sha256').update(token, 'utf8').digest();
    let match: BreakGlassToken | undefined;
    for (const entry of entries) {
      const equal = timingSafeEqual(digest, entry.sha256);
      match = equal && match === undefined ? entry : match;
    }
    return match;
  }

  /**
   * The authenticator of the token's issuer and the verified token, through
   * the cache. With a single authenticator, an L1 hit answers before the
   * token is decoded at all.
   */
  private async verify(token: string): Promise<Verification> {
    const only = this.only;
    const hit = only && this.options.cache.cached(tokenCacheKey(token, only.rule.fingerprint));
    if (only && hit) return verification(only, hit.verdict);

    const maxTokenBytes = this.options.maxTokenBytes;
    const peeked = peekIssuer(token, maxTokenBytes);
    if (!peeked.ok) return { ok: false, refusal: refusal(peeked.code, peeked.reason) };
    const entry = this.byIssuer.get(peeked.issuer);
    if (entry === undefined) {
      return { ok: false, refusal: refusal(TokenErrorCode.UnknownIssuer, "the token's issuer is not one this webhook accepts") };
    }
    const { rule } = entry;
    const { verdict } = await this.options.cache.lookup(
      tokenCacheKey(token, rule.fingerprint),
      () => tokenAlgorithm(token),
      () => verifyToken(token, rule, this.options.keys.forRule(rule), { maxTokenBytes, now: new Date(this.now()) }),
    );
    return verification(entry, verdict);
  }
}

type Verification =
  | { readonly ok: true; readonly entry: CompiledAuthenticator; readonly token: VerifiedToken }
  | { readonly ok: false; readonly refusal: Refusal };

function verification(entry: CompiledAuthenticator, verdict: TokenVerdict): Verification {
  return verdict.ok ? { ok: true, entry, token: verdict.token } : { ok: false, refusal: refusal(verdict.code, verdict.reason) };
}

/**
 * Kubernetes' TokenReview contract: the token is good for the audiences it
 * carries that the authenticator accepts and, when the apiserver asks about
 * some (`spec.audiences`), that are among them. In the order asked.
 */
function acceptedAudiences(requested: readonly string[], carried: readonly string[], accepted: readonly string[]): string[] {
  const candidates = requested.length > 0 ? requested : accepted;
  return candidates.filter(
    (audience, i) => candidates.indexOf(audience) === i && carried.includes(audience) && accepted.includes(audience),
  );
}

function refusal(code: string, error: string): Refusal {
  return { authenticated: false, code, error };
}
