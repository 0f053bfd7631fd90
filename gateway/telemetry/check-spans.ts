/**
 * The span of a Check, made after the response is sent from what the
 * Check's outcome holds: a SERVER span named like the RPC, a child of the
 * caller's W3C `traceparent` when the request carries one (Envoy forwards
 * the request's headers in the CheckRequest), with the decision as
 * attributes. Loaded with the SDK.
 *
 * What a span never carries (docs/telemetry.md): tokens, claims, header
 * values, the path or query, request principals (a user) and the reason
 * text. Workload identities (SPIFFE IDs, trust domains, namespaces) are not
 * personal data and are recorded.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, type Attributes, type TextMapGetter, type Tracer } from '@opentelemetry/api';
import { hrTime, W3CTraceContextPropagator } from '@opentelemetry/core';
import { ATTR_HTTP_RESPONSE_STATUS_CODE } from '@opentelemetry/semantic-conventions';
import type { CheckOutcome } from '../authorizer.js';
import { DecisionCode } from '../errors.js';
import type { CheckSpanRecorder } from './check-telemetry.js';
import { shouldStartSpan } from './sampling.js';

export const CHECK_SPAN_NAME = 'envoy.service.auth.v3.Authorization/Check';

const propagator = new W3CTraceContextPropagator();
const requestHeaders: TextMapGetter<ReadonlyMap<string, string>> = {
  get: (headers, key) => headers.get(key),
  keys: (headers) => [...headers.keys()],
};

/**
 * The attributes of a Check's span: the decision and the workload identities, nothing personal.
 *
 * @example
 * checkSpanAttributes(outcome)['gatehouse.decision.code']; // 'NO_ALLOW_MATCH'
 */
export function checkSpanAttributes(outcome: CheckOutcome): Attributes {
  const { decision, input, shadow } = outcome;
  // Few and short: every attribute is copied and encoded once per span, on every Check that is sampled.
  const attributes: Attributes = {
    'gatehouse.decision.id': outcome.decisionId,
    'gatehouse.decision.allowed': decision.allowed,
    'gatehouse.decision.code': decision.code,
    [ATTR_HTTP_RESPONSE_STATUS_CODE]: outcome.httpStatus,
  };
  if (decision.policy !== undefined) attributes['gatehouse.decision.policy'] = decision.policy;
  if (decision.rule !== undefined) attributes['gatehouse.decision.rule'] = decision.rule;
  if (shadow !== undefined) attributes['gatehouse.shadow.diverged'] = shadow.diverged;
  if (input?.workload.namespace !== undefined) attributes['gatehouse.workload.namespace'] = input.workload.namespace;
  // Only a SPIFFE ID names a workload; any other principal could name a person.
  if (input?.peer?.spiffe !== undefined) attributes['gatehouse.peer.trust_domain'] = input.peer.spiffe.trustDomain;
  const delegation = input?.auth?.delegation;
  if (delegation !== undefined) attributes['gatehouse.delegation.depth'] = delegation.depth;
  if (outcome.tokenCacheTier !== undefined) attributes['gatehouse.token.cache_tier'] = outcome.tokenCacheTier;
  return attributes;
}

/**
 * Without a traceparent (or with a malformed one) a Check's span is a root
 * span, sampled with probability `rootSampling` before anything is made;
 * with one, the tracer's sampler decides.
 *
 * @example
 * checkTelemetry.attachSpans(new CheckSpans(sdk.tracer, sdk.rootSampling));
 */
export class CheckSpans implements CheckSpanRecorder {
  constructor(
    private readonly tracer: Tracer,
    private readonly rootSampling = 1,
  ) {}

  record(outcome: CheckOutcome, startedAt: number, latencyMs: number): void {
    const headers = outcome.input?.request.headers;
    const parent = headers?.has('traceparent') ? propagator.extract(ROOT_CONTEXT, headers, requestHeaders) : ROOT_CONTEXT;
    // A root span not sampled: no span at all, not even a non-recording one.
    if (!shouldStartSpan(parent, this.rootSampling)) return;
    // Times as HrTime: a bare number is read as a performance or an epoch timestamp depending on the moment it is read.
    const span = this.tracer.startSpan(CHECK_SPAN_NAME, { kind: SpanKind.SERVER, startTime: hrTime(startedAt) }, parent);
    // Not sampled: nothing more to build.
    if (!span.isRecording()) return;
    span.setAttributes(checkSpanAttributes(outcome));
    if (outcome.decision.code === DecisionCode.Internal)
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'internal error while deciding' });
    span.end(hrTime(startedAt + latencyMs));
  }
}
