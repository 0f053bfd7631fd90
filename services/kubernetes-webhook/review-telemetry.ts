/**
 * The webhook's telemetry, loaded only when OTEL_* variables turn it on: a
 * SERVER span per review, and the review counters (Reviews.stats()) with
 * the token cache, key sets and Redis as metrics (docs/telemetry.md). A span
 * carries the review's kind, listener and outcome, the deciding policy and
 * the break-glass entry's name, never the user, groups, token or resource
 * names of the review.
 */
import {
  defaultTextMapGetter,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  ValueType,
  type Attributes,
  type Meter,
  type Tracer,
} from '@opentelemetry/api';
import { hrTime, W3CTraceContextPropagator } from '@opentelemetry/core';
import type { AccessReview, AccessVerdict } from '../../gateway/kubernetes/index.js';
import { registerSharedStateMetrics, shouldStartSpan, type SharedStateMetricSources } from '../../gateway/telemetry/lazy.js';
import type { ReviewChannel, ReviewObserver, ReviewStats } from './reviews.js';
import type { TokenReviewVerdict } from './types.js';
import type { TraceContext } from '../shared/trace-context.js';

const propagator = new W3CTraceContextPropagator();

export const SUBJECT_ACCESS_REVIEW_SPAN = 'authorization.k8s.io/v1 SubjectAccessReview';
export const TOKEN_REVIEW_SPAN = 'authentication.k8s.io/v1 TokenReview';

/**
 * @example
 * const reviews = new Reviews({ authorizer, tokens, log, observer: new ReviewTelemetry(sdk.tracer, sdk.rootSampling) });
 */
export class ReviewTelemetry implements ReviewObserver {
  constructor(
    private readonly tracer: Tracer | undefined,
    private readonly rootSampling: number,
  ) {}

  accessReviewed(
    _review: AccessReview,
    verdict: AccessVerdict,
    via: ReviewChannel,
    startedAt: number,
    latencyMs: number,
    trace: TraceContext,
  ): void {
    const attributes: Attributes = {
      'gatehouse.review.kind': 'SubjectAccessReview',
      'gatehouse.review.via': via,
      'gatehouse.review.result': accessResult(verdict),
    };
    if (verdict.policy !== undefined) attributes['gatehouse.decision.policy'] = verdict.policy;
    if (verdict.rule !== undefined) attributes['gatehouse.decision.rule'] = verdict.rule;
    if (verdict.breakGlass !== undefined) attributes['gatehouse.review.break_glass'] = verdict.breakGlass;
    this.span(SUBJECT_ACCESS_REVIEW_SPAN, attributes, startedAt, latencyMs, verdict.evaluationError !== undefined, trace);
  }

  tokenReviewed(verdict: TokenReviewVerdict, via: ReviewChannel, startedAt: number, latencyMs: number, trace: TraceContext): void {
    const attributes: Attributes = {
      'gatehouse.review.kind': 'TokenReview',
      'gatehouse.review.via': via,
      'gatehouse.review.result': verdict.authenticated ? 'authenticated' : 'refused',
    };
    if (!verdict.authenticated) attributes['gatehouse.review.code'] = verdict.code;
    if (verdict.authenticated && verdict.breakGlass !== undefined) attributes['gatehouse.review.break_glass'] = verdict.breakGlass;
    this.span(TOKEN_REVIEW_SPAN, attributes, startedAt, latencyMs, false, trace);
  }

  private span(name: string, attributes: Attributes, startedAt: number, latencyMs: number, failed: boolean, trace: TraceContext): void {
    if (this.tracer === undefined) return;
    // A child of the caller's trace when it sent one (kube-apiserver does with its tracing on).
    const parent = trace.traceparent === undefined ? ROOT_CONTEXT : propagator.extract(ROOT_CONTEXT, trace, defaultTextMapGetter);
    if (!shouldStartSpan(parent, this.rootSampling)) return;
    const span = this.tracer.startSpan(name, { kind: SpanKind.SERVER, startTime: hrTime(startedAt), attributes }, parent);
    if (failed) span.setStatus({ code: SpanStatusCode.ERROR, message: 'a policy could not be evaluated' });
    span.end(hrTime(startedAt + latencyMs));
  }
}

function accessResult(verdict: AccessVerdict): 'allowed' | 'denied' | 'no_opinion' {
  if (verdict.allowed) return 'allowed';
  return verdict.denied ? 'denied' : 'no_opinion';
}

/**
 * Reviews by kind and result, evaluation errors and break-glass allows, read
 * from `Reviews.stats()`, beside the token cache, key sets and Redis.
 */
export function registerReviewMetrics(meter: Meter, sources: SharedStateMetricSources & { readonly reviews: () => ReviewStats }): void {
  const reviews = meter.createObservableCounter('gatehouse.kubernetes_webhook.reviews', {
    description:
      'Reviews answered, by kind (SubjectAccessReview, TokenReview) and result (allowed, denied, no_opinion; authenticated, refused)',
    valueType: ValueType.INT,
  });
  const evaluationErrors = meter.createObservableCounter('gatehouse.kubernetes_webhook.evaluation_errors', {
    description: 'SubjectAccessReviews whose policies could not be evaluated (answered with no opinion)',
    valueType: ValueType.INT,
  });
  const breakGlass = meter.createObservableCounter('gatehouse.kubernetes_webhook.break_glass', {
    description: 'SubjectAccessReviews allowed by a break-glass entry, by entry name',
    valueType: ValueType.INT,
  });
  meter.addBatchObservableCallback(
    (result) => {
      const { subjectAccessReviews: access, tokenReviews: tokens } = sources.reviews();
      const kinds = [
        ['SubjectAccessReview', 'allowed', access.allowed],
        ['SubjectAccessReview', 'denied', access.denied],
        ['SubjectAccessReview', 'no_opinion', access.noOpinion],
        ['TokenReview', 'authenticated', tokens.authenticated],
        ['TokenReview', 'refused', tokens.refused],
      ] as const;
      for (const [kind, outcome, count] of kinds) result.observe(reviews, count, { kind, result: outcome });
      result.observe(evaluationErrors, access.evaluationErrors);
      for (const [entry, count] of Object.entries(access.breakGlass)) result.observe(breakGlass, count, { entry });
    },
    [reviews, evaluationErrors, breakGlass],
  );
  registerSharedStateMetrics(meter, sources);
}
