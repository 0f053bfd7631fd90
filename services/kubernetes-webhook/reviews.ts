/**
 * The reviews both listeners hand over, whatever the wire: each
 * SubjectAccessReview goes to the live authorizer and each TokenReview to
 * the token reviewer, and comes back safe to send (never an allow or an
 * authentication out of an error), logged and counted. One log line per
 * review: allows and authentications at debug, denials, no-opinions and
 * refusals at info with the reason, break-glass allows at warn. No token
 * is ever logged.
 */
import type { TraceContext } from '../shared/trace-context.js';
import type { AccessReview, AccessVerdict } from '../../gateway/kubernetes/index.js';
import type { Logger } from '../../gateway/log.js';
import type { TokenReviewRequest, TokenReviewVerdict } from './types.js';

/** What answers SubjectAccessReviews (gateway/kubernetes' KubernetesAuthorizer). */
export interface AccessReviewer {
  /** Synchronous; should never throw (a throw is answered as an evaluation error). */
  review(review: AccessReview): AccessVerdict;
}

/** What answers TokenReviews (this folder's TokenReviewer). */
export interface TokenReviewing {
  /** Should never reject (a rejection is answered as not authenticated). */
  review(request: TokenReviewRequest): Promise<TokenReviewVerdict>;
}

/** The listener a review came in on, for the logs. */
export type ReviewChannel = 'https' | 'grpc';

export interface ReviewsOptions {
  /** The authorizer of the live policy set, read per review (policy reloads swap it). */
  readonly authorizer: () => AccessReviewer;
  readonly tokens: TokenReviewing;
  readonly log: Logger;
  /** Told about every answered review (telemetry: review-telemetry.ts); absent when telemetry is off. */
  readonly observer?: ReviewObserver;
}

/** What telemetry learns of a review once it is answered; `startedAt` is a `performance.now()` timestamp. */
export interface ReviewObserver {
  accessReviewed(
    review: AccessReview,
    verdict: AccessVerdict,
    via: ReviewChannel,
    startedAt: number,
    latencyMs: number,
    trace: TraceContext,
  ): void;
  tokenReviewed(verdict: TokenReviewVerdict, via: ReviewChannel, startedAt: number, latencyMs: number, trace: TraceContext): void;
}

export interface ReviewStats {
  readonly subjectAccessReviews: {
    readonly allowed: number;
    readonly denied: number;
    readonly noOpinion: number;
    readonly evaluationErrors: number;
    /** Allows by break-glass entry name. */
    readonly breakGlass: Readonly<Record<string, number>>;
  };
  readonly tokenReviews: { readonly authenticated: number; readonly refused: number };
}

/** The code of a TokenReview refused because reviewing failed unexpectedly. */
export const TOKEN_REVIEW_FAILED = 'TOKEN_REVIEW_FAILED';

/**
 * @example
 * const reviews = new Reviews({ authorizer: () => policies.current(), tokens: tokenReviewer, log });
 * const verdict = reviews.subjectAccessReview(review, 'https');
 */
export class Reviews {
  private readonly access = { allowed: 0, denied: 0, noOpinion: 0, evaluationErrors: 0 };
  private readonly breakGlass = new Map<string, number>();
  private readonly tokens = { authenticated: 0, refused: 0 };

  constructor(private readonly options: ReviewsOptions) {}

  /** Decides a SubjectAccessReview; never throws, never allows out of an error. */
  subjectAccessReview(review: AccessReview, via: ReviewChannel, trace: TraceContext = {}): AccessVerdict {
    const startedAt = this.options.observer === undefined ? 0 : performance.now();
    let verdict: AccessVerdict;
    try {
      verdict = safeAccessVerdict(this.options.authorizer().review(review));
    } catch (error) {
      verdict = {
        allowed: false,
        denied: false,
        reason: 'Gatehouse could not evaluate the request',
        evaluationError: `internal error: ${error instanceof Error ? error.message : String(error)}`,
      };
    }
    this.count(verdict);
    this.logAccess(review, verdict, via);
    this.options.observer?.accessReviewed(review, verdict, via, startedAt, performance.now() - startedAt, trace);
    return verdict;
  }

  /** Reviews a token; never rejects, never authenticates out of an error. */
  async tokenReview(request: TokenReviewRequest, via: ReviewChannel, trace: TraceContext = {}): Promise<TokenReviewVerdict> {
    const startedAt = this.options.observer === undefined ? 0 : performance.now();
    let verdict: TokenReviewVerdict;
    try {
      verdict = safeTokenVerdict(await this.options.tokens.review(request));
    } catch {
      verdict = { authenticated: false, code: TOKEN_REVIEW_FAILED, error: 'the token could not be reviewed' };
    }
    const log = this.options.log;
    if (verdict.authenticated) {
      this.tokens.authenticated++;
      const { user } = verdict;
      log.debug(
        { via, username: user.username, groups: user.groups, audiences: verdict.audiences, breakGlass: verdict.breakGlass },
        'token review: authenticated',
      );
    } else {
      this.tokens.refused++;
      log.info({ via, code: verdict.code, reason: verdict.error, audiences: request.audiences }, 'token review: not authenticated');
    }
    this.options.observer?.tokenReviewed(verdict, via, startedAt, performance.now() - startedAt, trace);
    return verdict;
  }

  stats(): ReviewStats {
    return {
      subjectAccessReviews: { ...this.access, breakGlass: Object.fromEntries(this.breakGlass) },
      tokenReviews: { ...this.tokens },
    };
  }

  private count(verdict: AccessVerdict): void {
    if (verdict.evaluationError !== undefined) this.access.evaluationErrors++;
    if (verdict.allowed) this.access.allowed++;
    else if (verdict.denied) this.access.denied++;
    else this.access.noOpinion++;
    if (verdict.allowed && verdict.breakGlass !== undefined) {
      this.breakGlass.set(verdict.breakGlass, (this.breakGlass.get(verdict.breakGlass) ?? 0) + 1);
    }
  }

  private logAccess(review: AccessReview, verdict: AccessVerdict, via: ReviewChannel): void {
    const log = this.options.log;
    const breakGlass = verdict.allowed && verdict.breakGlass !== undefined;
    const level = breakGlass ? 'warn' : verdict.allowed ? 'debug' : 'info';
    if (!log.isLevelEnabled(level)) return;
    const entry = {
      via,
      user: review.user.username,
      groups: review.user.groups,
      ...(review.kind === 'resource' ? { resource: review.resource } : { nonResource: review.nonResource }),
      allowed: verdict.allowed,
      denied: verdict.denied,
      reason: verdict.reason,
      ...(verdict.evaluationError === undefined ? {} : { evaluationError: verdict.evaluationError }),
      ...(verdict.policy === undefined ? {} : { policy: verdict.policy, rule: verdict.rule }),
      ...(verdict.breakGlass === undefined ? {} : { breakGlass: verdict.breakGlass }),
    };
    const message = breakGlass
      ? 'subject access review: allowed by break-glass'
      : verdict.allowed
        ? 'subject access review: allowed'
        : verdict.denied
          ? 'subject access review: denied'
          : 'subject access review: no opinion';
    log[level](entry, message);
  }
}

/**
 * The Kubernetes contract's invariants, whatever the authorizer returned:
 * never both allowed and denied (the deny wins), never allowed with an
 * evaluation error.
 */
function safeAccessVerdict(verdict: AccessVerdict): AccessVerdict {
  if (verdict.allowed && (verdict.denied || verdict.evaluationError !== undefined)) return { ...verdict, allowed: false };
  return verdict;
}

/** Never authenticated without a username. */
function safeTokenVerdict(verdict: TokenReviewVerdict): TokenReviewVerdict {
  if (verdict.authenticated && (typeof verdict.user?.username !== 'string' || verdict.user.username === '')) {
    return { authenticated: false, code: TOKEN_REVIEW_FAILED, error: 'the token mapped to no username' };
  }
  return verdict;
}
