/**
 * The Check span with the real SDK (an in-memory exporter): its parent,
 * timing and attributes, what it never carries, that a Check answered
 * before the SDK was loaded still gets its span, and sampling: a root span
 * decided before anything is made, a child by the configured sampler.
 */
import test from 'ava';
import type { Tracer } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { CheckOutcome } from '../../../gateway/authorizer.js';
import { DecisionCode } from '../../../gateway/errors.js';
import { CHECK_SPAN_NAME, CheckSpans, checkSpanAttributes } from '../../../gateway/telemetry/check-spans.js';
import { CheckTelemetry, MAX_PENDING_SPANS, type TraceSampling } from '../../../gateway/telemetry/index.js';
import { rootSamplingProbability, tracerProviderSampler } from '../../../gateway/telemetry/sampling.js';
import { checkInput } from '../../helpers/check-input.js';

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl';

function outcome(headers: Record<string, string> = {}): CheckOutcome {
  const input = checkInput({
    principal: 'spiffe://cluster.local/ns/default/sa/share',
    path: '/people/alice/todos',
    headers: { ...headers, authorization: `Bearer ${TOKEN}`, 'x-user-email': 'alice@example.com' },
    workload: { namespace: 'default', serviceAccount: 'todos', labels: { app: 'todos' } },
    auth: {
      principal: 'https://idp.example/alice',
      claims: { sub: 'alice', email: 'alice@example.com', groups: ['readers'] },
      delegation: { actor: 'spiffe://cluster.local/ns/default/sa/share', actors: ['spiffe://cluster.local/ns/default/sa/share'], depth: 1 },
    },
  });
  return {
    decisionId: 'decision-1',
    decision: {
      allowed: true,
      code: DecisionCode.Allowed,
      reason: 'alice may read',
      policy: 'default/users-read',
      rule: 0,
      audited: [],
      trace: [],
    },
    input,
    httpStatus: 200,
    tokenCacheTier: 'l1',
  };
}

/** A tracer of the SDK's own default sampler, or of Gatehouse's for `sampling`. */
function inMemoryTracer(sampling?: TraceSampling) {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    ...(sampling ? { sampler: tracerProviderSampler(sampling) } : {}),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  return { exporter, tracer: provider.getTracer('test') };
}

/** `tracer`, counting the spans asked of it. */
function countingStartSpan(tracer: Tracer): { tracer: Tracer; calls: () => number } {
  let calls = 0;
  return {
    tracer: {
      startSpan: (...args) => {
        calls++;
        return tracer.startSpan(...args);
      },
      startActiveSpan: () => {
        throw new Error('Check spans are never active');
      },
    },
    calls: () => calls,
  };
}

test('a Check span: child of the request traceparent, server kind, timed from receipt to answer, with the decision', (t) => {
  const { exporter, tracer } = inMemoryTracer();
  const startedAt = performance.now() - 5;
  new CheckSpans(tracer).record(outcome({ traceparent: TRACEPARENT }), startedAt, 2);
  const [span] = exporter.getFinishedSpans();
  t.is(span?.name, CHECK_SPAN_NAME);
  t.is(span?.kind, 1); // SpanKind.SERVER
  t.is(span?.spanContext().traceId, '0af7651916cd43dd8448eb211c80319c');
  t.is(span?.parentSpanContext?.spanId, 'b7ad6b7169203331');
  t.is(Math.round((span!.duration[0] * 1e9 + span!.duration[1]) / 1e6), 2);
  t.deepEqual(span?.attributes, {
    'gatehouse.decision.id': 'decision-1',
    'gatehouse.decision.allowed': true,
    'gatehouse.decision.code': 'ALLOWED',
    'http.response.status_code': 200,
    'gatehouse.decision.policy': 'default/users-read',
    'gatehouse.decision.rule': 0,
    'gatehouse.workload.namespace': 'default',
    'gatehouse.peer.trust_domain': 'cluster.local',
    'gatehouse.delegation.depth': 1,
    'gatehouse.token.cache_tier': 'l1',
  });
});

test('a Check span never carries a token, a claim, a user principal, a header value or the path', (t) => {
  const text = JSON.stringify(checkSpanAttributes(outcome({ traceparent: TRACEPARENT, 'x-request-id': 'req-42' })));
  for (const personal of [TOKEN, 'alice', 'example.com', 'readers', 'req-42', '/people', TRACEPARENT])
    t.false(text.includes(personal), personal);
});

test('a parent that is not sampled makes no span; a malformed traceparent starts a new trace', (t) => {
  const { exporter, tracer } = inMemoryTracer();
  const spans = new CheckSpans(tracer);
  spans.record(outcome({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00' }), performance.now(), 1);
  t.is(exporter.getFinishedSpans().length, 0);
  spans.record(outcome({ traceparent: 'not-a-traceparent' }), performance.now(), 1);
  const [span] = exporter.getFinishedSpans();
  t.is(span?.parentSpanContext, undefined);
});

test('Checks answered before the SDK is loaded get their spans when it is; without tracing none are kept', (t) => {
  const { exporter, tracer } = inMemoryTracer();
  let first = 0;
  const telemetry = new CheckTelemetry({ tracing: true, onFirstCheck: () => first++ });
  for (let i = 0; i < MAX_PENDING_SPANS + 10; i++) telemetry.answered(outcome(), performance.now(), 1);
  t.is(first, 1, 'the first Check is reported once');
  t.is(exporter.getFinishedSpans().length, 0);
  telemetry.attachSpans(new CheckSpans(tracer));
  t.is(exporter.getFinishedSpans().length, MAX_PENDING_SPANS, 'a bounded number is kept');
  telemetry.answered(outcome(), performance.now(), 1);
  t.is(exporter.getFinishedSpans().length, MAX_PENDING_SPANS + 1);
  t.is(telemetry.counters.duration.snapshot().count, MAX_PENDING_SPANS + 11, 'every Check is counted');

  const untraced = new CheckTelemetry({ tracing: false });
  untraced.answered(outcome(), performance.now(), 1);
  untraced.attachSpans(new CheckSpans(tracer));
  t.is(exporter.getFinishedSpans().length, MAX_PENDING_SPANS + 1, 'nothing was held for spans');
});

test('root sampling 0: a Check without a traceparent asks the tracer for nothing; a sampled traceparent gets its span, an unsampled one none', (t) => {
  const sampling: TraceSampling = { name: 'parentbased_traceidratio', ratio: 0 };
  const { exporter, tracer } = inMemoryTracer(sampling);
  const counted = countingStartSpan(tracer);
  const spans = new CheckSpans(counted.tracer, rootSamplingProbability(sampling));
  for (let i = 0; i < 100; i++) spans.record(outcome(), performance.now(), 1);
  spans.record(outcome({ traceparent: 'not-a-traceparent' }), performance.now(), 1);
  spans.record(outcome({ traceparent: '00-00000000000000000000000000000000-0000000000000000-01' }), performance.now(), 1);
  t.is(counted.calls(), 0, 'no span made, not even a non-recording one');
  t.is(exporter.getFinishedSpans().length, 0);

  spans.record(outcome({ traceparent: TRACEPARENT }), performance.now(), 1);
  t.is(exporter.getFinishedSpans()[0]?.parentSpanContext?.spanId, 'b7ad6b7169203331', 'the parent sampled it');
  spans.record(outcome({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00' }), performance.now(), 1);
  t.is(exporter.getFinishedSpans().length, 1, 'the parent did not');
});

test('root sampling 0.5: about half of 4,000 root Checks get a span', (t) => {
  const sampling: TraceSampling = { name: 'parentbased_traceidratio', ratio: 0.5 };
  const { exporter, tracer } = inMemoryTracer(sampling);
  const spans = new CheckSpans(tracer, rootSamplingProbability(sampling));
  for (let i = 0; i < 4000; i++) spans.record(outcome(), performance.now(), 1);
  // 2,000 expected, standard deviation about 32: this range is ten of them either side.
  const made = exporter.getFinishedSpans().length;
  t.true(made >= 1700 && made <= 2300, `${made} spans`);
  t.true(
    exporter.getFinishedSpans().every((span) => span.parentSpanContext === undefined),
    'each a root span',
  );
});

test('traceidratio: a Check with a traceparent is sampled by its trace id, whatever the parent decided', (t) => {
  const sampling: TraceSampling = { name: 'traceidratio', ratio: 0.5 };
  const { exporter, tracer } = inMemoryTracer(sampling);
  const spans = new CheckSpans(tracer, rootSamplingProbability(sampling));
  // The ratio sampler keeps a trace id whose 32-bit words XOR below ratio × 2³²: 1 is, 0xffffffff is not.
  spans.record(outcome({ traceparent: '00-00000000000000000000000000000001-b7ad6b7169203331-00' }), performance.now(), 1);
  spans.record(outcome({ traceparent: '00-ffffffff000000000000000000000000-b7ad6b7169203331-01' }), performance.now(), 1);
  t.deepEqual(
    exporter.getFinishedSpans().map((span) => span.spanContext().traceId),
    ['00000000000000000000000000000001'],
  );
});

test('root sampling probability of each sampler', (t) => {
  const rows: [TraceSampling, number][] = [
    [{ name: 'always_on' }, 1],
    [{ name: 'parentbased_always_on' }, 1],
    [{ name: 'always_off' }, 0],
    [{ name: 'parentbased_always_off' }, 0],
    [{ name: 'traceidratio', ratio: 0.25 }, 0.25],
    [{ name: 'parentbased_traceidratio', ratio: 0.01 }, 0.01],
  ];
  for (const [sampling, probability] of rows) t.is(rootSamplingProbability(sampling), probability, sampling.name);
});
