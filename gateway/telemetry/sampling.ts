/**
 * Which spans are made, from `OTEL_TRACES_SAMPLER` and its ratio as
 * otel-environment.ts read them, decided in two places. A root span (no
 * valid parent span context) is decided by the code about to make it, with
 * `rootSamplingProbability` and `shouldStartSpan`, before anything is
 * created: a Check starting a trace that is not sampled makes no span at all
 * (a non-recording span costs ids, a sampler call and an object, about 3 µs
 * per Check). The tracer provider's sampler therefore records every root
 * span it is asked for and leaves a span with a parent to the configured
 * sampler.
 */
import { trace, type Attributes, type Context, type Link, type SpanKind } from '@opentelemetry/api';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  SamplingDecision,
  TraceIdRatioBasedSampler,
  type Sampler,
  type SamplingResult,
} from '@opentelemetry/sdk-trace-base';
import type { TraceSampling } from './otel-environment.js';

/**
 * The probability that a root span is sampled: 1 for `always_on` and
 * `parentbased_always_on`, 0 for the `always_off` ones, the ratio for the
 * ratio ones.
 *
 * @example
 * rootSamplingProbability({ name: 'parentbased_traceidratio', ratio: 0.01 }); // 0.01
 */
export function rootSamplingProbability(sampling: TraceSampling): number {
  switch (sampling.name) {
    case 'always_on':
    case 'parentbased_always_on':
      return 1;
    case 'always_off':
    case 'parentbased_always_off':
      return 0;
    case 'traceidratio':
    case 'parentbased_traceidratio':
      return sampling.ratio;
  }
}

/**
 * Whether to start a span in `parent`: a root span with probability
 * `rootSampling`, a child always (the provider's sampler decides it). A root
 * span's trace id would be fresh and random, so a random draw is the same
 * distribution as the ratio sampler's rule on the trace id.
 *
 * @example
 * if (!shouldStartSpan(parent, sdk.rootSampling)) return;
 * const span = sdk.tracer.startSpan(name, options, parent);
 */
export function shouldStartSpan(parent: Context, rootSampling: number): boolean {
  return !isRoot(parent) || Math.random() < rootSampling;
}

/**
 * The tracer provider's sampler: every root span (decided by `shouldStartSpan`
 * already), and the configured sampler for a span with a parent.
 *
 * @example
 * new BasicTracerProvider({ sampler: tracerProviderSampler(environment.traces.sampling), … });
 */
export function tracerProviderSampler(sampling: TraceSampling): Sampler {
  return new RootsDecidedBeforehand(configuredSampler(sampling));
}

function configuredSampler(sampling: TraceSampling): Sampler {
  switch (sampling.name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(sampling.ratio);
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(sampling.ratio) });
  }
}

/** The SDK's own rule: without a valid parent span context a span starts a new trace. */
function isRoot(context: Context): boolean {
  const parent = trace.getSpanContext(context);
  return parent === undefined || !trace.isSpanContextValid(parent);
}

const RECORD_AND_SAMPLED: SamplingResult = { decision: SamplingDecision.RECORD_AND_SAMPLED };

class RootsDecidedBeforehand implements Sampler {
  constructor(private readonly forChildren: Sampler) {}

  shouldSample(context: Context, traceId: string, name: string, kind: SpanKind, attributes: Attributes, links: Link[]): SamplingResult {
    if (isRoot(context)) return RECORD_AND_SAMPLED;
    return this.forChildren.shouldSample(context, traceId, name, kind, attributes, links);
  }

  toString(): string {
    return `RootsDecidedBeforehand{${this.forChildren.toString()}}`;
  }
}
