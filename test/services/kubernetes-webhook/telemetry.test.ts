/**
 * The webhook's telemetry with OTEL_* variables set: a span per review and
 * the review counters reach a collector through the real OTLP exporters,
 * without the user, groups or token of any review.
 */
import test from 'ava';
import { otlpEnvironment, startOtlpCollector } from '../../helpers/otlp-collector.js';
import {
  accessPolicy,
  callWebhook,
  createWebhookEnvironment,
  documentedSubjectAccessReviews,
  documentedTokenReview,
  startWebhook,
  userToken,
} from '../../helpers/kubernetes-webhook.js';

const podReaders = accessPolicy(
  'pod-readers',
  [
    '  rules:',
    '    - subjects: [{ users: [jane] }]',
    '      resources: [{ verbs: [get], apiGroups: [unicorn.example.org], resources: [pods], namespaces: [kittensandponies] }]',
  ].join('\n'),
);

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN_ID = '00f067aa0ba902b7';

test('reviews become spans and counters over OTLP, with nothing of the user or the token', async (t) => {
  const collector = await startOtlpCollector();
  t.teardown(() => collector.close());
  // The exporters read the process environment (this file runs in its own process).
  Object.assign(process.env, otlpEnvironment(collector.endpoint));
  const env = await createWebhookEnvironment();
  t.teardown(() => env.close());
  const webhook = await startWebhook(env, { policies: { 'pod-readers.yaml': podReaders } });
  t.teardown(() => webhook.service.close());

  const sars = documentedSubjectAccessReviews('v1');
  // kube-apiserver with tracing on sends its trace context: the review's span continues that trace.
  const traced = { client: env.apiserver, headers: { traceparent: `00-${TRACE_ID}-${PARENT_SPAN_ID}-01` } };
  t.like((await callWebhook(env, `${webhook.baseUrl}/authorize`, JSON.stringify(sars.resource), traced)).body, {
    status: { allowed: true },
  });
  t.like((await callWebhook(env, `${webhook.baseUrl}/authorize`, JSON.stringify(sars.nonResource))).body, { status: { allowed: false } });
  const token = await userToken(env);
  const authenticated = { ...documentedTokenReview('v1', token), spec: { token, audiences: ['kubernetes'] } };
  t.like((await callWebhook(env, `${webhook.baseUrl}/authenticate`, JSON.stringify(authenticated))).body, {
    status: { authenticated: true },
  });
  const refused = { ...documentedTokenReview('v1', 'not-a-token'), spec: { token: 'not-a-token', audiences: ['kubernetes'] } };
  t.like((await callWebhook(env, `${webhook.baseUrl}/authenticate`, JSON.stringify(refused))).body, { status: { authenticated: false } });

  const spans = await collector.waitForSpans((received) => received.length >= 4);
  const attributes = spans.map((span) => span.attributes);
  t.deepEqual(
    spans.map((span) => span.name),
    [
      'authorization.k8s.io/v1 SubjectAccessReview',
      'authorization.k8s.io/v1 SubjectAccessReview',
      'authentication.k8s.io/v1 TokenReview',
      'authentication.k8s.io/v1 TokenReview',
    ],
  );
  t.like(attributes[0], {
    'gatehouse.review.kind': 'SubjectAccessReview',
    'gatehouse.review.via': 'https',
    'gatehouse.review.result': 'allowed',
    'gatehouse.decision.policy': 'default/pod-readers',
  });
  t.like(attributes[1], { 'gatehouse.review.result': 'no_opinion' });
  t.like(attributes[2], { 'gatehouse.review.result': 'authenticated' });
  t.like(attributes[3], { 'gatehouse.review.result': 'refused' });
  t.is(typeof attributes[3]?.['gatehouse.review.code'], 'string');
  t.is(spans[0]?.resource['service.name'], 'gatehouse-kubernetes-webhook');
  t.like(spans[0], { traceId: TRACE_ID, parentSpanId: PARENT_SPAN_ID });
  t.not(spans[1]?.traceId, TRACE_ID, 'a review without a traceparent starts its own trace');
  t.is(spans[1]?.parentSpanId, undefined);

  for (let deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 50))) {
    const counted = collector.points().filter((point) => point.metric === 'gatehouse.kubernetes_webhook.reviews');
    if (counted.length >= 5) break;
  }
  const results = collector
    .points()
    .filter((point) => point.metric === 'gatehouse.kubernetes_webhook.reviews')
    .map((point) => `${String(point.attributes.kind)}/${String(point.attributes.result)}`);
  for (const expected of [
    'SubjectAccessReview/allowed',
    'SubjectAccessReview/no_opinion',
    'TokenReview/authenticated',
    'TokenReview/refused',
  ]) {
    t.true(results.includes(expected), expected);
  }
  t.true(collector.points().some((point) => point.metric === 'gatehouse.jwks.fetches'));

  const exported = collector.received.map((entry) => entry.body.toString('utf8')).join('\n');
  for (const personal of [token, 'not-a-token', 'jane', 'alice', 'group1', 'todo-devs', 'kittensandponies']) {
    t.false(exported.includes(personal), `${personal.slice(0, 20)} is never exported`);
  }
});
