import test from 'ava';
import { parseConfig } from '../../../gateway/config/load.js';
import { createDecodeContext, decodeCheckRequest, type DecodeResult } from '../../../gateway/envoy/decode.js';
import type { RawCheckRequest, RawHttpRequest } from '../../../gateway/envoy/check-request.js';
import type { CheckInput } from '../../../gateway/request/model.js';
import type { DecisionCode } from '../../../gateway/errors.js';

const config = parseConfig(
  `
identity: { numTrustedProxies: 1 }
workloads:
  - { namespace: default, serviceAccount: todos, labels: { app: todos, tier: api }, service: todos }
`,
  'test.yaml',
);
const context = createDecodeContext(config);

const REMINDER = 'spiffe://cluster.local/ns/default/sa/reminder';
const TODOS = 'spiffe://cluster.local/ns/default/sa/todos';

function request(http: RawHttpRequest, extra: Partial<NonNullable<RawCheckRequest['attributes']>> = {}): RawCheckRequest {
  return {
    attributes: {
      source: { principal: REMINDER, address: { socket_address: { address: '10.1.2.3', port_value: 51000 } } },
      destination: { principal: TODOS, address: { socket_address: { address: '10.9.9.9', port_value: 8080 } } },
      request: { http },
      ...extra,
    },
  };
}

function decoded(result: DecodeResult): CheckInput {
  if (!result.ok) throw new Error(`expected a decoded request, got ${result.code}: ${result.reason}`);
  return result.input;
}

test('an Envoy HTTP CheckRequest becomes the normalized model', (t) => {
  const input = decoded(
    decodeCheckRequest(
      request(
        {
          method: 'GET',
          host: 'Todos.Default.svc',
          path: '/todos/%7Ealice/../bob?due=1',
          headers: { 'x-forwarded-for': '203.0.113.7, 10.0.0.5', 'x-request-id': 'r-1' },
          scheme: 'https',
          protocol: 'HTTP/2',
        },
        {
          tls_session: { sni: 'todos.default.svc' },
          context_extensions: { 'label.version': 'v2' },
        },
      ),
      context,
    ),
  );
  t.is(input.peer?.principal, 'cluster.local/ns/default/sa/reminder');
  t.is(input.peer?.spiffe?.serviceAccount, 'reminder');
  t.is(input.source.ip, '10.1.2.3');
  t.is(input.destination.port, 8080);
  t.is(input.request.host, 'todos.default.svc');
  t.is(input.request.rawPath, '/todos/%7Ealice/../bob');
  t.is(input.request.path, '/todos/bob');
  t.is(input.request.query, 'due=1');
  t.is(input.request.id, 'r-1');
  t.is(input.remoteIp, '203.0.113.7', 'one trusted proxy: the entry left of the last one');
  t.is(input.sni, 'todos.default.svc');
  t.deepEqual(input.workload, {
    namespace: 'default',
    serviceAccount: 'todos',
    labels: { app: 'todos', tier: 'api', version: 'v2' },
    service: 'todos',
    gateway: undefined,
  });
  t.regex(input.decisionId, /^[0-9a-f-]{36}$/);
});

test('a proxyless gRPC client sends only header_map and :authority', (t) => {
  const input = decoded(
    decodeCheckRequest(
      request({
        header_map: {
          headers: [
            { key: ':method', value: 'POST' },
            { key: ':path', value: '/todo.v1.Todos/List' },
            { key: ':authority', value: 'todos:8080' },
            { key: 'content-type', raw_value: Buffer.from('application/grpc') },
          ],
        },
      }),
      context,
    ),
  );
  t.is(input.request.method, 'POST');
  t.is(input.request.path, '/todo.v1.Todos/List');
  t.is(input.request.host, 'todos:8080');
  t.is(input.request.headers.get('content-type'), 'application/grpc');
});

test('context extensions name the workload when there is no destination principal', (t) => {
  const raw = request({ method: 'GET', path: '/' }, { context_extensions: { namespace: 'payments', service: 'ledger', gateway: 'edge' } });
  delete raw.attributes!.destination!.principal;
  const input = decoded(decodeCheckRequest(raw, context));
  t.is(input.workload.namespace, 'payments');
  t.is(input.workload.service, 'ledger');
  t.is(input.workload.gateway, 'edge');
});

test('no peer when Envoy reports none', (t) => {
  const raw = request({ method: 'GET', path: '/' });
  delete raw.attributes!.source!.principal;
  t.is(decoded(decodeCheckRequest(raw, context)).peer, undefined);
});

const failures: [name: string, raw: RawCheckRequest | undefined, code: DecisionCode, reason: RegExp][] = [
  ['no request at all', undefined, 'BAD_REQUEST', /no attributes/],
  ['no attributes', {}, 'BAD_REQUEST', /no attributes/],
  ['no http request', { attributes: { source: {} } }, 'BAD_REQUEST', /no attributes\.request\.http/],
  ['no method', request({ path: '/' }), 'BAD_REQUEST', /no method/],
  ['method with a space', request({ method: 'GE T', path: '/' }), 'BAD_REQUEST', /not an HTTP token/],
  ['path without leading slash', request({ method: 'GET', path: 'todos' }), 'BAD_REQUEST', /^path: /],
  ['bad percent-encoding', request({ method: 'GET', path: '/a%zz' }), 'BAD_REQUEST', /^path: /],
  ['oversized path', request({ method: 'GET', path: `/${'a'.repeat(9000)}` }), 'BAD_REQUEST', /path longer than 8192 bytes/],
  ['invalid UTF-8 path', request({ method: 'GET', path: '/\uFFFD' }), 'BAD_REQUEST', /not valid UTF-8/],
  [
    'huge header map',
    request({ method: 'GET', path: '/', headers: Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`x-h${i}`, 'v'])) }),
    'BAD_REQUEST',
    /more than 256 headers/,
  ],
  [
    'malformed SPIFFE source principal',
    { attributes: { source: { principal: 'spiffe://Cluster.Local/ns/a' }, request: { http: { method: 'GET', path: '/' } } } },
    'INVALID_PEER_IDENTITY',
    /./,
  ],
  [
    'oversized source principal',
    {
      attributes: { source: { principal: `spiffe://cluster.local/${'a'.repeat(3000)}` }, request: { http: { method: 'GET', path: '/' } } },
    },
    'INVALID_PEER_IDENTITY',
    /longer than 2048 bytes/,
  ],
  [
    'malformed destination principal',
    { attributes: { destination: { principal: 'spiffe://cluster.local/ns/../sa/x' }, request: { http: { method: 'GET', path: '/' } } } },
    'INVALID_PEER_IDENTITY',
    /^destination\.principal: /,
  ],
  [
    'source certificate that is not PEM',
    { attributes: { source: { certificate: 'not-a-certificate' }, request: { http: { method: 'GET', path: '/' } } } },
    'INVALID_PEER_IDENTITY',
    /./,
  ],
];

for (const [name, raw, code, reason] of failures) {
  test(`denies: ${name}`, (t) => {
    const result = decodeCheckRequest(raw, context);
    t.false(result.ok);
    if (result.ok) return;
    t.is(result.code, code);
    t.regex(result.reason, reason);
    t.regex(result.decisionId, /^[0-9a-f-]{36}$/);
  });
}

test('requests for the same destination share one workload object; route labels make their own', (t) => {
  const plain = () => decoded(decodeCheckRequest(request({ method: 'GET', path: '/' }), context)).workload;
  t.is(plain(), plain());
  const labelled = decoded(
    decodeCheckRequest(request({ method: 'GET', path: '/' }, { context_extensions: { 'label.version': 'v2' } }), context),
  ).workload;
  t.not(labelled, plain());
  t.is(labelled.labels.version, 'v2');
  t.is(plain().labels.version, undefined);
});
