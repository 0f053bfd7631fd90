/**
 * RFC 8693 delegation end to end: the real `gatehouse serve` over mTLS, a
 * real JWKS server, tokens with `act` chains signed by a real key, and
 * Checks over gRPC from callers identified by their connection certificate
 * or, behind Envoy, by Envoy's `source.principal`. The todo/share example of
 * docs/delegation.md.
 */
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { createMeshPki, meshIds, type IssuedCert, type MeshPki } from '../helpers/certs.js';
import { startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { connect, fromStruct, type TestClient } from '../helpers/grpc-client.js';
import { startJwksServer, type JwksServer } from '../helpers/jwks-server.js';
import { epochSeconds, generateTestKey, jwksOf, signToken, type TestKey } from '../helpers/tokens.js';

const AUTHZ = 'envoy.service.auth.v3.Authorization';
const WEB = 'spiffe://cluster.local/ns/default/sa/web';

interface Header {
  header: { key: string; value: string };
}
interface CheckResponse {
  status: { code?: number };
  ok_response?: { headers: Header[]; headers_to_remove?: string[] };
  denied_response?: { status: { code: string }; body: string };
  dynamic_metadata?: unknown;
}

const policies = (issuer: string, jwksUri: string) => ({
  'authn.yaml': `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: todos-jwt, namespace: default }
spec:
  selector: { matchLabels: { app: todos } }
  jwtRules:
    - issuer: ${issuer}
      jwksUri: ${jwksUri}
      audiences: [todos]
`,
  'authz.yaml': `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: todos-users, namespace: default }
spec:
  selector: { matchLabels: { app: todos } }
  action: ALLOW
  rules:
    - from: [{ source: { requestPrincipals: ["${issuer}/*"] } }]
`,
  'delegation.yaml': `apiVersion: gatehouse.dev/v1alpha1
kind: DelegationPolicy
metadata: { name: share-for-users, namespace: default }
spec:
  selector: { matchLabels: { app: todos } }
  rules:
    # The share service reads todos for the users who shared them, possibly on behalf of the web frontend.
    - actors: ["${meshIds.share}"]
      subjects: ["${issuer}/bob", "${issuer}/alice"]
      audiences: [todos]
      to: [{ operation: { methods: [GET], paths: ["/todos*"] } }]
    - actors: ["${WEB}"]
      subjects: ["${issuer}/*"]
      audiences: [todos]
`,
});

let pki: MeshPki;
let idp: JwksServer;
let key: TestKey;
let gatehouse: RunningGatehouse;
const clients: TestClient[] = [];

test.before(async () => {
  [pki, key] = await Promise.all([createMeshPki(), generateTestKey('ES256')]);
  idp = await startJwksServer(jwksOf(key));
  gatehouse = await startGatehouse({
    config: `
policies: { paths: [./policies] }
tls: { certFile: tls/server.crt, keyFile: tls/server.key, clientCaFile: tls/ca.crt, requireClientCert: true }
identity: { trustDomains: [cluster.local] }
workloads: [{ namespace: default, serviceAccount: todos, labels: { app: todos } }]
delegation: { maxDepth: 2 }
`,
    policies: policies(idp.url, idp.jwksUri),
    files: { 'tls/server.crt': pki.server.certPem, 'tls/server.key': pki.server.keyPem, 'tls/ca.crt': pki.ca.certPem },
  });
});

test.after.always(async () => {
  for (const client of clients) client.close();
  await gatehouse?.stop();
  await idp?.close();
});

/** A gRPC client on Gatehouse's mTLS port with a workload's certificate. */
function clientWith(cert: IssuedCert): TestClient {
  const credentials = grpc.credentials.createSsl(Buffer.from(pki.ca.certPem), Buffer.from(cert.keyPem), Buffer.from(cert.certPem));
  const client = connect(AUTHZ, `localhost:${gatehouse.port}`, credentials);
  clients.push(client);
  return client;
}

/** Bob's token (or another subject's), with an `act` chain built from `actors`, current first. */
async function tokenFor(actors: readonly string[], extra: Record<string, unknown> = {}, subject = 'bob'): Promise<string> {
  const now = epochSeconds();
  let act: Record<string, unknown> | undefined;
  for (const actor of [...actors].reverse()) act = act === undefined ? { sub: actor } : { sub: actor, act };
  return signToken({ iss: idp.url, sub: subject, aud: 'todos', iat: now, exp: now + 300, ...(act ? { act } : {}), ...extra }, key);
}

function check(
  client: TestClient,
  token: string,
  options: { method?: string; source?: Record<string, unknown>; headers?: Record<string, string> } = {},
) {
  return client.call<CheckResponse>('Check', {
    attributes: {
      source: { address: { socket_address: { address: '10.0.0.7', port_value: 43210 } }, ...options.source },
      destination: { principal: meshIds.todos },
      request: {
        http: {
          method: options.method ?? 'GET',
          path: '/todos/7',
          host: 'todos',
          headers: { authorization: `Bearer ${token}`, ...options.headers },
        },
      },
    },
  });
}

function upstream(response: CheckResponse): Record<string, string> {
  return Object.fromEntries((response.ok_response?.headers ?? []).map((h) => [h.header.key, h.header.value]));
}

function denial(response: CheckResponse): { status: string; code: string; reason: string } {
  const body = JSON.parse(response.denied_response?.body ?? '{}') as { code: string; reason: string };
  return { status: response.denied_response?.status.code ?? 'allowed', ...body };
}

test('the share service acting for Bob is allowed; the upstream and the metadata see the subject and the chain', async (t) => {
  const response = await check(clientWith(pki.share), await tokenFor([meshIds.share]));
  t.is(response.status.code ?? 0, 0, response.denied_response?.body);
  const headers = upstream(response);
  t.is(headers['x-gatehouse-subject'], `${idp.url}/bob`);
  t.is(headers['x-gatehouse-actors'], meshIds.share);
  t.deepEqual(fromStruct(response.dynamic_metadata).delegation, { actor: meshIds.share, actors: [meshIds.share], depth: 1 });
});

test('a chain share ← web within the depth is allowed, and its own chain reaches the upstream', async (t) => {
  const response = await check(clientWith(pki.share), await tokenFor([meshIds.share, WEB]));
  t.is(response.status.code ?? 0, 0, response.denied_response?.body);
  t.is(upstream(response)['x-gatehouse-actors'], `${meshIds.share},${WEB}`);
  t.deepEqual(fromStruct(response.dynamic_metadata).delegation, { actor: meshIds.share, actors: [meshIds.share, WEB], depth: 2 });
});

test('the same token presented by the reminder service is refused: the actor is not the caller', async (t) => {
  const token = await tokenFor([meshIds.share]);
  const response = await check(clientWith(pki.reminder), token);
  t.is(response.status.code, 7);
  t.like(denial(response), { status: 'Forbidden', code: 'DELEGATION_ACTOR_NOT_CALLER' });
  t.regex(denial(response).reason, /not the caller spiffe:\/\/cluster\.local\/ns\/default\/sa\/reminder/);
});

test("behind Envoy, the caller is Envoy's source principal, not the connection", async (t) => {
  // The connection is Envoy's (the todos sidecar's certificate); Envoy reports the downstream caller.
  const envoy = clientWith(pki.todos);
  const token = await tokenFor([meshIds.share]);
  const fromShare = await check(envoy, token, { source: { principal: meshIds.share } });
  t.is(fromShare.status.code ?? 0, 0, fromShare.denied_response?.body);
  const fromReminder = await check(envoy, token, { source: { principal: meshIds.reminder } });
  t.is(denial(fromReminder).code, 'DELEGATION_ACTOR_NOT_CALLER');
});

test('a chain deeper than delegation.maxDepth is refused', async (t) => {
  const response = await check(clientWith(pki.share), await tokenFor([meshIds.share, WEB, meshIds.reminder]));
  t.like(denial(response), { status: 'Forbidden', code: 'DELEGATION_TOO_DEEP' });
});

test('an actor no rule permits for the subject is refused', async (t) => {
  const mallory = await check(clientWith(pki.share), await tokenFor([meshIds.share], {}, 'mallory'));
  t.like(denial(mallory), { status: 'Forbidden', code: 'DELEGATION_NOT_PERMITTED' });
  const reminderForBob = await check(clientWith(pki.reminder), await tokenFor([meshIds.reminder]));
  t.is(denial(reminderForBob).code, 'DELEGATION_NOT_PERMITTED');
  const write = await check(clientWith(pki.share), await tokenFor([meshIds.share]), { method: 'DELETE' });
  t.is(denial(write).code, 'DELEGATION_NOT_PERMITTED');
});

test('a may_act claim naming someone else than the actor is refused', async (t) => {
  const response = await check(clientWith(pki.share), await tokenFor([meshIds.share], { may_act: { sub: WEB } }));
  t.like(denial(response), { status: 'Forbidden', code: 'DELEGATION_MAY_ACT_MISMATCH' });
  const named = await check(clientWith(pki.share), await tokenFor([meshIds.share], { may_act: { sub: meshIds.share } }));
  t.is(named.status.code ?? 0, 0, named.denied_response?.body);
});

test('a malformed act or a cycle is refused', async (t) => {
  const malformed = await check(clientWith(pki.share), await tokenFor([], { act: meshIds.share }));
  t.is(denial(malformed).code, 'DELEGATION_MALFORMED');
  const cycle = await check(clientWith(pki.share), await tokenFor([meshIds.share, meshIds.share]));
  t.is(denial(cycle).code, 'DELEGATION_CYCLE');
});

test('a token without act is unaffected, and subject and actor headers sent by the client never reach the upstream', async (t) => {
  const response = await check(clientWith(pki.reminder), await tokenFor([]), {
    headers: { 'x-gatehouse-actors': meshIds.share, 'x-gatehouse-subject': 'spoofed' },
  });
  t.is(response.status.code ?? 0, 0, response.denied_response?.body);
  t.is(upstream(response)['x-gatehouse-subject'], `${idp.url}/bob`);
  t.true(response.ok_response?.headers_to_remove?.includes('x-gatehouse-actors'));
  t.is(fromStruct(response.dynamic_metadata).delegation, undefined);
});

test('responses that differ only in the chain never share an encoded template', async (t) => {
  // Same decision, policy, peer and subject: only the chain differs, and the encoder reuses templates per response shape.
  const share = clientWith(pki.share);
  const [direct, viaWeb] = await Promise.all([tokenFor([meshIds.share]), tokenFor([meshIds.share, WEB])]);
  for (const [token, actors] of [
    [direct, meshIds.share],
    [viaWeb, `${meshIds.share},${WEB}`],
    [direct, meshIds.share],
    [viaWeb, `${meshIds.share},${WEB}`],
  ] as const) {
    const response = await check(share, token);
    t.is(upstream(response)['x-gatehouse-actors'], actors);
    t.is((fromStruct(response.dynamic_metadata).delegation as { actors: string[] }).actors.join(','), actors);
  }
});
