/**
 * The token exchange's telemetry with OTEL_* variables set: a span and a
 * count per exchange reach a collector through the real OTLP exporters,
 * without the subject, the actor or any token.
 */
import test from 'ava';
import { meshIds } from '../../helpers/certs.js';
import { otlpEnvironment, startOtlpCollector } from '../../helpers/otlp-collector.js';
import {
  ACCESS_TOKEN_TYPE,
  createEnvironment,
  delegationPolicy,
  GRANT,
  postForm,
  startService,
  userToken,
} from '../../helpers/token-exchange.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN_ID = '00f067aa0ba902b7';

test('exchanges become spans and counters over OTLP, by result and OAuth error, with nothing of the subject or the tokens', async (t) => {
  const collector = await startOtlpCollector();
  t.teardown(() => collector.close());
  // The exporters read the process environment (this file runs in its own process).
  Object.assign(process.env, otlpEnvironment(collector.endpoint));
  const env = await createEnvironment();
  t.teardown(() => env.close());
  const te = await startService(env, {
    policies: { 'delegation.yaml': delegationPolicy('share-for-users', [meshIds.share], [`${env.idp.url}/*`], ['todos']) },
  });
  t.teardown(() => te.service.close());

  const subject = await userToken(env);
  const form = (subjectToken: string) => ({
    grant_type: GRANT,
    subject_token: subjectToken,
    subject_token_type: ACCESS_TOKEN_TYPE,
    audience: 'todos',
  });
  // A caller that traces sends its context: the exchange's span continues that trace.
  const issued = await postForm(env, te.tokenUrl, form(subject), {
    client: env.pki.share,
    headers: { traceparent: `00-${TRACE_ID}-${PARENT_SPAN_ID}-01` },
  });
  t.is(issued.status, 200);
  const again = await postForm(env, te.tokenUrl, form(subject), { client: env.pki.share });
  t.is(again.status, 200);
  const refused = await postForm(env, te.tokenUrl, form('not-a-token'), { client: env.pki.share });
  t.is(refused.status, 400);

  const spans = await collector.waitForSpans((received) => received.length >= 3);
  t.true(spans.every((span) => span.name === 'gatehouse.tokenexchange.v1.TokenExchangeService/Exchange' && span.kind === 2));
  t.deepEqual(
    spans.map((span) => [
      span.attributes['gatehouse.exchange.result'],
      span.attributes['gatehouse.exchange.cached'] ?? span.attributes['gatehouse.exchange.error'],
    ]),
    [
      ['issued', false],
      ['issued', true],
      ['refused', 'invalid_grant'],
    ],
  );
  t.is(spans[0]?.resource['service.name'], 'gatehouse-token-exchange');
  t.like(spans[0], { traceId: TRACE_ID, parentSpanId: PARENT_SPAN_ID });
  t.not(spans[1]?.traceId, TRACE_ID, 'an exchange without a traceparent starts its own trace');

  for (let deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 50))) {
    if (collector.points().filter((point) => point.metric === 'gatehouse.token_exchange.exchanges').length >= 2) break;
  }
  const counted = collector.points().filter((point) => point.metric === 'gatehouse.token_exchange.exchanges');
  t.true(counted.some((point) => point.attributes.result === 'issued' && point.attributes.error === ''));
  t.true(counted.some((point) => point.attributes.result === 'refused' && point.attributes.error === 'invalid_grant'));

  const exported = collector.received.map((entry) => entry.body.toString('utf8')).join('\n');
  const minted = String((issued.body as { access_token?: unknown }).access_token);
  for (const personal of [subject, minted, 'not-a-token', 'bob', meshIds.share, 'todos:read']) {
    t.false(exported.includes(personal), `${personal.slice(0, 20)} is never exported`);
  }
});
