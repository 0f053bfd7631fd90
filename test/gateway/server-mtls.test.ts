/**
 * The real server over mTLS with generated certificates carrying SPIFFE URI
 * SANs: plain gRPC clients identified by their own connection certificate,
 * and Envoy forwarding the downstream certificate (include_peer_certificate).
 */
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { connect } from '../helpers/grpc-client.js';
import { createMeshPki, meshIds, type IssuedCert, type MeshPki } from '../helpers/certs.js';
import { startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';

const AUTHZ = 'envoy.service.auth.v3.Authorization';

const policies = {
  'todos.yaml': `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: todos-viewer-allow, namespace: default }
spec:
  action: ALLOW
  rules:
    - from: [{ source: { principals: [cluster.local/ns/default/sa/reminder] } }]
      to: [{ operation: { methods: [GET] } }]
`,
};

interface CheckResponse {
  status: { code?: number };
  ok_response?: { headers: { header: { key: string; value: string } }[] };
  denied_response?: { body: string };
}

/** A CheckRequest for GET /todos on the todo workload; the caller is whatever the evidence says. */
function checkRequest(source: Record<string, unknown> = {}) {
  return {
    attributes: {
      source: { address: { socket_address: { address: '10.0.0.7', port_value: 43210 } }, ...source },
      destination: { principal: meshIds.todos },
      request: { http: { method: 'GET', path: '/todos', host: 'todos' } },
    },
  };
}

let pki: MeshPki;
let gatehouse: RunningGatehouse;

test.before(async () => {
  pki = await createMeshPki();
  gatehouse = await startGatehouse({
    config: `
policies: { paths: [./policies] }
tls: { certFile: tls/server.crt, keyFile: tls/server.key, clientCaFile: tls/ca.crt, requireClientCert: true }
identity: { trustDomains: [cluster.local] }
`,
    policies,
    files: { 'tls/server.crt': pki.server.certPem, 'tls/server.key': pki.server.keyPem, 'tls/ca.crt': pki.ca.certPem },
  });
});

test.after.always(async () => {
  await gatehouse?.stop();
});

function clientWith(cert: IssuedCert | undefined) {
  const credentials = grpc.credentials.createSsl(
    Buffer.from(pki.ca.certPem),
    cert ? Buffer.from(cert.keyPem) : null,
    cert ? Buffer.from(cert.certPem) : null,
  );
  return connect(AUTHZ, `localhost:${gatehouse.port}`, credentials);
}

function upstreamPeer(response: CheckResponse): string | undefined {
  return response.ok_response?.headers.find((h) => h.header.key === 'x-gatehouse-peer')?.header.value;
}

test('a plain gRPC client is identified by its own connection certificate', async (t) => {
  const reminder = clientWith(pki.reminder);
  t.teardown(() => reminder.close());
  const response = await reminder.call<CheckResponse>('Check', checkRequest());
  t.is(response.status.code ?? 0, 0);
  t.is(upstreamPeer(response), meshIds.reminder);

  const todos = clientWith(pki.todos);
  t.teardown(() => todos.close());
  const denied = await todos.call<CheckResponse>('Check', checkRequest());
  t.is(deniedBody(denied).code, 'NO_ALLOW_MATCH');
});

test('a client without a certificate cannot connect when mTLS is required', async (t) => {
  const anonymous = clientWith(undefined);
  t.teardown(() => anonymous.close());
  const error = await t.throwsAsync(anonymous.call('Check', checkRequest(), 2000));
  t.is((error as grpc.ServiceError).code, grpc.status.UNAVAILABLE);
});

test("Envoy's forwarded peer certificate decides over the connection's", async (t) => {
  // The connection is Envoy's (here: the todos certificate); the downstream caller is the reminder service.
  const envoy = clientWith(pki.todos);
  t.teardown(() => envoy.close());
  const forwarded = await envoy.call<CheckResponse>(
    'Check',
    checkRequest({ certificate: encodeURIComponent(pki.reminder.certPem), principal: meshIds.reminder }),
  );
  t.is(upstreamPeer(forwarded), meshIds.reminder);

  const inconsistent = await envoy.call<CheckResponse>(
    'Check',
    checkRequest({ certificate: encodeURIComponent(pki.reminder.certPem), principal: meshIds.share }),
  );
  t.is(deniedBody(inconsistent).code, 'INVALID_PEER_IDENTITY');

  const twoUris = await envoy.call<CheckResponse>('Check', checkRequest({ certificate: encodeURIComponent(pki.twoUris.certPem) }));
  const body = deniedBody(twoUris);
  t.is(body.code, 'INVALID_PEER_IDENTITY');
  t.regex(body.reason, /URI/);

  const notPem = await envoy.call<CheckResponse>('Check', checkRequest({ certificate: 'MIIB%%%garbage' }));
  t.is(deniedBody(notPem).code, 'INVALID_PEER_IDENTITY');
});

test('x-forwarded-client-cert is never an identity unless its hop is trusted', async (t) => {
  const envoy = clientWith(pki.todos);
  t.teardown(() => envoy.close());
  const request = checkRequest();
  (request.attributes.request.http as Record<string, unknown>).headers = {
    'x-forwarded-client-cert': `By=spiffe://cluster.local/ns/default/sa/todos;URI=${meshIds.reminder}`,
  };
  // No trusted hops configured: the header is ignored and the connection (todos) is the peer.
  const response = await envoy.call<CheckResponse>('Check', request);
  t.is(deniedBody(response).code, 'NO_ALLOW_MATCH');
});

/** The JSON body of a denial. */
function deniedBody(response: CheckResponse): { code: string; reason: string; decision_id: string } {
  return JSON.parse(response.denied_response!.body) as { code: string; reason: string; decision_id: string };
}
