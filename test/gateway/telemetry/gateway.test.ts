/**
 * Telemetry of the real gateway: Checks over gRPC as Envoy sends them (a
 * W3C traceparent among the request's headers, tokens signed by a real key
 * set, a delegated token), then `/metrics` over HTTP as Prometheus scrapes
 * it, and the spans and metrics the real OTLP exporters push to a collector
 * in this test. Neither ever carries a token, a user's principal or a
 * header value; `/config` never a password; `/readyz` says 503 while the
 * gateway drains; without OTEL_* trace variables no span leaves it, and a
 * sampler at ratio 0 exports only the children of sampled traces.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { startGatehouse, writeFixture, type RunningGatehouse } from '../../helpers/gatehouse.js';
import { connect, fromStruct } from '../../helpers/grpc-client.js';
import { startJwksServer } from '../../helpers/jwks-server.js';
import { otlpEnvironment, startOtlpCollector } from '../../helpers/otlp-collector.js';
import { epochSeconds, generateTestKey, jwksOf, signToken } from '../../helpers/tokens.js';

const AUTHZ = 'envoy.service.auth.v3.Authorization';
const spiffe = (account: string) => `spiffe://cluster.local/ns/default/sa/${account}`;
const [REMINDER, TODOS, SHARE, FRONTEND] = ['reminder', 'todos', 'share', 'frontend'].map(spiffe) as [string, string, string, string];
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN_ID = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_SPAN_ID}-01`;
const SECRET_HEADER_VALUE = 's3cr3t-header-value';

const policies = (issuer: string, jwksUri: string) => ({
  'authn.yaml': `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: todos-jwt, namespace: default }
spec:
  selector: { matchLabels: { app: todos } }
  jwtRules: [{ issuer: "${issuer}", jwksUri: "${jwksUri}", audiences: [todos] }]
`,
  'authz.yaml': `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: todos-viewer-allow, namespace: default }
spec:
  selector: { matchLabels: { app: todos } }
  rules: [{ from: [{ source: { principals: [cluster.local/ns/default/sa/reminder] } }], to: [{ operation: { methods: [GET] } }] }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: users-read, namespace: default }
spec:
  selector: { matchLabels: { app: todos } }
  rules: [{ from: [{ source: { requestPrincipals: ["${issuer}/*"] } }], to: [{ operation: { methods: [GET] } }] }]
`,
  'delegation.yaml': `apiVersion: gatehouse.dev/v1alpha1
kind: DelegationPolicy
metadata: { name: share-for-users, namespace: default }
spec:
  selector: { matchLabels: { app: todos } }
  rules: [{ actors: ["${SHARE}"], subjects: ["${issuer}/*"] }]
`,
});

const config = `policies: { paths: [./policies], watch: false }
workloads:
  - { namespace: default, serviceAccount: todos, labels: { app: todos } }
`;

interface CheckResponse {
  status: { code?: number };
  dynamic_metadata?: unknown;
}

test('Check spans are children of the request traceparent, /metrics counts decisions by code and policy, and nothing personal is exported', async (t) => {
  const key = await generateTestKey('ES256');
  const idp = await startJwksServer(jwksOf(key));
  t.teardown(() => idp.close());
  const collector = await startOtlpCollector();
  t.teardown(() => collector.close());
  const gatehouse = await startGatehouse({ config, policies: policies(idp.url, idp.jwksUri) }, otlpEnvironment(collector.endpoint));
  t.teardown(() => gatehouse.stop());
  const admin = `http://127.0.0.1:${await adminPort(gatehouse)}`;
  const authz = connect(AUTHZ, gatehouse.address);
  t.teardown(() => authz.close());

  const now = epochSeconds();
  const claims = { iss: idp.url, sub: 'alice', aud: 'todos', iat: now, exp: now + 300 };
  const reader = await signToken(claims, key);
  const delegated = await signToken({ ...claims, act: { sub: SHARE } }, key);
  const expired = await signToken({ ...claims, iat: now - 7200, exp: now - 3600 }, key);
  const check = (source: string, method: string, headers: Record<string, string> = {}) =>
    authz.call<CheckResponse>('Check', {
      attributes: {
        source: { principal: source },
        destination: { principal: TODOS },
        request: { http: { method, path: '/todos/alice?email=alice@example.com', host: 'todos.default.svc', headers } },
      },
    });
  const traced = { traceparent: TRACEPARENT, 'x-tenant-secret': SECRET_HEADER_VALUE };
  const responses = [
    await check(REMINDER, 'GET', traced),
    await check(REMINDER, 'POST', traced),
    await check(FRONTEND, 'GET', { authorization: `Bearer ${reader}` }),
    await check(FRONTEND, 'GET', { authorization: `Bearer ${reader}` }),
    await check(SHARE, 'GET', { authorization: `Bearer ${delegated}` }),
    await check(FRONTEND, 'GET', { authorization: `Bearer ${expired}` }),
  ];
  const outcomes = responses.map((response) => fromStruct(response.dynamic_metadata));
  t.deepEqual(
    outcomes.map((metadata) => metadata.code),
    ['ALLOWED', 'NO_ALLOW_MATCH', 'ALLOWED', 'ALLOWED', 'ALLOWED', 'TOKEN_EXPIRED'],
  );

  // Prometheus, over real HTTP.
  const metrics = await (await fetch(`${admin}/metrics`)).text();
  t.regex(metrics, /^gatehouse_decisions_total\{result="allow",code="ALLOWED",policy="default\/todos-viewer-allow"\} 1$/m);
  t.regex(metrics, /^gatehouse_decisions_total\{result="allow",code="ALLOWED",policy="default\/users-read"\} 3$/m);
  t.regex(metrics, /^gatehouse_decisions_total\{result="deny",code="NO_ALLOW_MATCH",policy=""\} 1$/m);
  t.regex(metrics, /^gatehouse_decisions_total\{result="deny",code="TOKEN_EXPIRED",policy=""\} 1$/m);
  t.regex(metrics, /^# TYPE gatehouse_check_duration_seconds histogram$/m);
  t.regex(metrics, /^gatehouse_check_duration_seconds_count 6$/m);
  t.regex(metrics, /^gatehouse_check_duration_seconds_bucket\{le="\+Inf"\} 6$/m);
  t.regex(metrics, /^gatehouse_delegation_depth_count 1$/m);
  t.regex(metrics, /^gatehouse_token_cache_hits_total\{tier="l1"\} [1-9]/m);
  t.regex(metrics, /^gatehouse_token_verifications_total\{result="valid"\} [1-9]/m);
  t.regex(metrics, new RegExp(`^gatehouse_jwks_fetches_total\\{issuer="${idp.url}"\\} [1-9]`, 'm'));
  t.regex(metrics, /^gatehouse_policy_reloads_total 0$/m);

  // Spans, as the OTLP exporter sends them.
  const spans = await collector.waitForSpans((received) => received.length >= responses.length);
  const [allowed, denied] = spans.filter((span) => span.traceId === TRACE_ID);
  t.like(allowed, {
    name: 'envoy.service.auth.v3.Authorization/Check',
    kind: 2, // SERVER
    parentSpanId: PARENT_SPAN_ID,
    attributes: {
      'gatehouse.decision.id': outcomes[0]?.decision_id,
      'gatehouse.decision.allowed': true,
      'gatehouse.decision.code': 'ALLOWED',
      'gatehouse.decision.policy': 'default/todos-viewer-allow',
      'gatehouse.decision.rule': 0,
      'http.response.status_code': 200,
      'gatehouse.workload.namespace': 'default',
      'gatehouse.peer.trust_domain': 'cluster.local',
    },
    resource: { 'service.name': 'gatehouse' },
  });
  t.like(denied, {
    parentSpanId: PARENT_SPAN_ID,
    attributes: { 'gatehouse.decision.code': 'NO_ALLOW_MATCH', 'http.response.status_code': 403 },
  });
  const byDecision = (index: number) => spans.find((span) => span.attributes['gatehouse.decision.id'] === outcomes[index]?.decision_id);
  t.is(byDecision(2)?.parentSpanId, undefined, 'without a traceparent the span is a root span');
  t.is(byDecision(2)?.attributes['gatehouse.token.cache_tier'], 'verified');
  t.is(byDecision(3)?.attributes['gatehouse.token.cache_tier'], 'l1');
  t.is(byDecision(4)?.attributes['gatehouse.delegation.depth'], 1);
  t.is(byDecision(5)?.attributes['gatehouse.decision.code'], 'TOKEN_EXPIRED');

  const points = await waitForPoints(collector, 'gatehouse.decisions');
  t.true(
    points.some((point) => point.attributes.code === 'ALLOWED'),
    'decisions are pushed over OTLP too',
  );

  // Nothing personal anywhere: not in a span, a metric label, an OTLP body or the Prometheus text.
  const exported = [metrics, ...collector.received.map((entry) => entry.body.toString('utf8'))].join('\n');
  for (const secret of [reader, delegated, expired, 'alice', SECRET_HEADER_VALUE, '/todos/alice', 'example.com']) {
    t.false(exported.includes(secret), `${secret.slice(0, 20)}… is never exported`);
  }
});

test('without OTEL_* trace variables no span is made; metrics alone go over OTLP', async (t) => {
  const collector = await startOtlpCollector();
  t.teardown(() => collector.close());
  const gatehouse = await startGatehouse(
    { config, policies: policies('https://idp.example', 'https://idp.example/jwks.json') },
    {
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${collector.endpoint}/v1/metrics`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_METRIC_EXPORT_INTERVAL: '200',
    },
  );
  t.teardown(() => gatehouse.stop());
  const authz = connect(AUTHZ, gatehouse.address);
  t.teardown(() => authz.close());
  await authz.call('Check', {
    attributes: {
      source: { principal: REMINDER },
      destination: { principal: TODOS },
      request: { http: { method: 'GET', path: '/', headers: { traceparent: TRACEPARENT } } },
    },
  });
  await waitForPoints(collector, 'gatehouse.decisions');
  t.deepEqual(
    collector.received.filter((entry) => entry.path !== '/v1/metrics'),
    [],
    'nothing but metrics was exported',
  );
  t.true(gatehouse.logs.some((entry) => entry.msg === 'telemetry started' && entry.otlpTraces === false && entry.otlpMetrics === true));
});

test('the default OTLP protocol is protobuf: the span of a traced Check arrives with its trace id', async (t) => {
  const collector = await startOtlpCollector();
  t.teardown(() => collector.close());
  const gatehouse = await startGatehouse(
    { config, policies: policies('https://idp.example', 'https://idp.example/jwks.json') },
    { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${collector.endpoint}/v1/traces`, OTEL_BSP_SCHEDULE_DELAY: '100' },
  );
  t.teardown(() => gatehouse.stop());
  const authz = connect(AUTHZ, gatehouse.address);
  t.teardown(() => authz.close());
  await authz.call('Check', {
    attributes: {
      source: { principal: REMINDER },
      destination: { principal: TODOS },
      request: { http: { method: 'GET', path: '/', headers: { traceparent: TRACEPARENT } } },
    },
  });
  const deadline = Date.now() + 10_000;
  while (!collector.received.some((entry) => entry.path === '/v1/traces') && Date.now() < deadline) await delay(50);
  const [body] = collector.received.filter((entry) => entry.path === '/v1/traces');
  t.is(body?.contentType, 'application/x-protobuf');
  t.true(body?.body.includes(Buffer.from(TRACE_ID, 'hex')), 'the binary trace id of the traceparent is in the export');
});

test('parentbased_traceidratio at 0: no root span is exported, the child of a sampled traceparent is', async (t) => {
  const collector = await startOtlpCollector();
  t.teardown(() => collector.close());
  const gatehouse = await startGatehouse(
    { config, policies: policies('https://idp.example', 'https://idp.example/jwks.json') },
    {
      ...otlpEnvironment(collector.endpoint),
      OTEL_METRICS_EXPORTER: 'none',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0',
    },
  );
  t.teardown(() => gatehouse.stop());
  const authz = connect(AUTHZ, gatehouse.address);
  t.teardown(() => authz.close());
  const check = (headers: Record<string, string>) =>
    authz.call('Check', {
      attributes: {
        source: { principal: REMINDER },
        destination: { principal: TODOS },
        request: { http: { method: 'GET', path: '/', headers } },
      },
    });
  for (let i = 0; i < 20; i++) await check({});
  await check({ traceparent: TRACEPARENT });
  // The root Checks came first: a span of theirs would be in the same export or an earlier one.
  const spans = await collector.waitForSpans((received) => received.length > 0);
  t.deepEqual(
    spans.map((span) => [span.traceId, span.parentSpanId]),
    [[TRACE_ID, PARENT_SPAN_ID]],
  );
});

test('/readyz is 200 while serving and 503 while draining; /healthz stays 200; other paths and methods are refused', async (t) => {
  // A key set that never answers keeps one Check in flight while the gateway drains.
  const key = await generateTestKey('ES256');
  const idp = await startJwksServer(jwksOf(key));
  t.teardown(() => idp.close());
  idp.mode = 'fail';
  const gatehouse = await startGatehouse({
    config: `${config}drainSeconds: 20\njwt: { jwks: { fetchTimeoutMs: 4000, checkWaitMs: 10000, unknownKidCooldownSeconds: 0 } }\n`,
    policies: policies(idp.url, idp.jwksUri),
  });
  t.teardown(() => gatehouse.stop());
  // The start-up prefetch has failed; the Check's own fetch will hang.
  while (idp.jwksRequestCount === 0) await delay(20);
  idp.mode = 'hang';
  const admin = `http://127.0.0.1:${await adminPort(gatehouse)}`;
  t.is((await fetch(`${admin}/readyz`)).status, 200);
  t.is((await fetch(`${admin}/healthz`)).status, 200);
  t.is((await fetch(`${admin}/nothing`)).status, 404);
  const post = await fetch(`${admin}/metrics`, { method: 'POST' });
  t.is(post.status, 405);
  t.is(post.headers.get('allow'), 'GET, HEAD');

  const authz = connect(AUTHZ, gatehouse.address);
  t.teardown(() => authz.close());
  const now = epochSeconds();
  const token = await signToken({ iss: idp.url, sub: 'alice', aud: 'todos', iat: now, exp: now + 300 }, key);
  const inFlight = authz
    .call<CheckResponse>(
      'Check',
      {
        attributes: {
          source: { principal: FRONTEND },
          destination: { principal: TODOS },
          request: { http: { method: 'GET', path: '/', headers: { authorization: `Bearer ${token}` } } },
        },
      },
      15_000,
    )
    .then(
      (response) => fromStruct(response.dynamic_metadata),
      (error: Error) => ({ error: error.message }),
    );
  while (idp.jwksRequestCount < 2) await delay(20);

  gatehouse.process.kill('SIGTERM');
  let ready = 200;
  for (const deadline = Date.now() + 3000; ready === 200 && Date.now() < deadline; await delay(20)) {
    ready = (await fetch(`${admin}/readyz`)).status;
  }
  t.is(ready, 503, '/readyz says 503 once draining starts');
  t.is((await fetch(`${admin}/healthz`)).status, 200, 'the process is alive all the same');
  t.like(await inFlight, { code: 'TOKEN_KEYS_UNAVAILABLE' }, 'the Check in flight was still answered');
  t.is(await gatehouse.exited, 0);
});

test('/config shows the loaded configuration and file paths, never a password from a file or the environment', async (t) => {
  const password = 'redis-pa55word-from-a-file';
  const envPassword = 'redis-pa55word-from-the-env';
  const { dir, configFile } = await writeFixture({
    config: `${config}redis: { url: "redis://127.0.0.1:1", passwordFile: secrets/redis-password, connectTimeoutMs: 100 }
jwt: { issuers: { "https://idp.example": { requiredType: at+jwt } } }
`,
    policies: policies('https://idp.example', 'https://idp.example/jwks.json'),
    files: { 'secrets/redis-password': `${password}\n` },
  });
  const gatehouse = await startGatehouse({ configFile }, { GATEHOUSE_REDIS_PASSWORD: envPassword });
  t.teardown(() => gatehouse.stop());
  const admin = `http://127.0.0.1:${await adminPort(gatehouse)}`;
  const response = await fetch(`${admin}/config`);
  t.is(response.status, 200);
  t.regex(response.headers.get('content-type') ?? '', /^application\/json/);
  const text = await response.text();
  const view = JSON.parse(text) as Record<string, Record<string, unknown>>;
  t.is(view.redis?.passwordFile, path.join(dir, 'secrets/redis-password'));
  t.is(view.redis?.url, 'redis://127.0.0.1:1');
  t.like(view.jwt, { issuers: { 'https://idp.example': { requiredType: 'at+jwt' } } });
  t.like(view.telemetry, { adminHttp: { enabled: true } });
  t.false(text.includes(password));

  // The same through passwordEnv: the variable's name is shown, never its value.
  await writeFile(
    configFile,
    `${config}redis: { url: "redis://127.0.0.1:1", passwordEnv: GATEHOUSE_REDIS_PASSWORD, connectTimeoutMs: 100 }\n`,
  );
  const second = await startGatehouse({ configFile }, { GATEHOUSE_REDIS_PASSWORD: envPassword });
  t.teardown(() => second.stop());
  const secondText = await (await fetch(`http://127.0.0.1:${await adminPort(second)}/config`)).text();
  t.regex(secondText, /"passwordEnv": "GATEHOUSE_REDIS_PASSWORD"/);
  t.false(secondText.includes(envPassword));
});

/** The admin HTTP port, from the gateway's log line (it listens right after the Check port). */
async function adminPort(gatehouse: RunningGatehouse): Promise<number> {
  for (const deadline = Date.now() + 5000; Date.now() < deadline; await delay(20)) {
    const line = gatehouse.logs.find((entry) => entry.msg === 'admin http serving');
    if (line) return line.port as number;
  }
  throw new Error(`no admin http port:\n${gatehouse.output()}`);
}

async function waitForPoints(collector: Awaited<ReturnType<typeof startOtlpCollector>>, metric: string) {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await delay(50)) {
    const points = collector.points().filter((point) => point.metric === metric);
    if (points.length > 0) return points;
  }
  throw new Error(`no ${metric} points arrived`);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
