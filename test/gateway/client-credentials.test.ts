/**
 * Client-credentials tokens mapped to a service principal, end to end: a
 * real JWKS server, real signed tokens, the real `gatehouse serve` with the
 * todo demo's `todos-viewer-allow`, Checks over gRPC as Envoy sends them
 * with and without an mTLS peer.
 */
import test from 'ava';
import { connect, type TestClient } from '../helpers/grpc-client.js';
import { startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { startJwksServer, type JwksServer } from '../helpers/jwks-server.js';
import { epochSeconds, generateTestKey, jwksOf, signToken, type TestKey } from '../helpers/tokens.js';

const AUTHZ = 'envoy.service.auth.v3.Authorization';
const TODOS = 'spiffe://cluster.local/ns/default/sa/todos';
const REMINDER = 'spiffe://cluster.local/ns/default/sa/reminder';
const SHARE = 'spiffe://cluster.local/ns/default/sa/share';

interface CheckResponse {
  status: { code?: number };
  ok_response?: { headers: { header: { key: string; value: string } }[] };
  denied_response?: { body: string };
}

let idp: JwksServer;
let signer: TestKey;
let gatehouse: RunningGatehouse;
let client: TestClient;

test.before(async () => {
  signer = await generateTestKey('RS256');
  idp = await startJwksServer(jwksOf(signer));
  gatehouse = await startGatehouse({
    config: `policies: { paths: [./policies] }
identity: { trustDomains: [cluster.local] }
workloads:
  - { namespace: default, serviceAccount: todos, labels: { app: todos } }
  - { namespace: default, serviceAccount: reminder, labels: { app: reminder } }
jwt: { jwks: { refreshIntervalSeconds: 3600 } }
clientCredentials:
  - { issuer: "${idp.url}", clientId: reminder-client, claim: sub, principal: cluster.local/ns/default/sa/reminder }
  - { issuer: "${idp.url}", clientId: share-client, claim: client_id, subject: svc-share, principal: cluster.local/ns/default/sa/share }
`,
    policies: {
      'authn.yaml': `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: todo-app-jwt, namespace: default }
spec:
  jwtRules: [{ issuer: "${idp.url}", jwksUri: "${idp.jwksUri}", audiences: [todos] }]
`,
      // The demo's policy, verbatim: written for the reminder's mesh identity.
      'todos-viewer-allow.yaml': `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: todos-viewer-allow, namespace: default }
spec:
  selector: { matchLabels: { app: todos } }
  action: ALLOW
  rules:
    - from: [{ source: { principals: ["cluster.local/ns/default/sa/reminder"] } }]
      to: [{ operation: { methods: ["GET"] } }]
`,
      // As in docs/client-credentials.md: the reminder's certificate and nothing else.
      'reminder-admin.yaml': `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: reminder-admin-mtls-only, namespace: default }
spec:
  selector: { matchLabels: { app: reminder } }
  action: ALLOW
  rules:
    - from: [{ source: { principals: ["cluster.local/ns/default/sa/reminder"] } }]
      when: [{ key: request.auth.credential, notValues: [client-credentials] }]
`,
    },
  });
  client = connect(AUTHZ, gatehouse.address);
});

test.after.always(async () => {
  client?.close();
  await gatehouse?.stop();
  await idp?.close();
});

async function token(claims: Record<string, unknown>): Promise<string> {
  const now = epochSeconds();
  return signToken({ iss: idp.url, aud: 'todos', iat: now, exp: now + 300, ...claims }, signer);
}

async function check(options: { peer?: string; token?: string; method?: string; destination?: string }): Promise<string> {
  const response = await client.call<CheckResponse>('Check', {
    attributes: {
      ...(options.peer === undefined ? {} : { source: { principal: options.peer } }),
      destination: { principal: options.destination ?? TODOS },
      request: {
        http: {
          method: options.method ?? 'GET',
          path: '/todos',
          host: 'todos',
          headers: options.token === undefined ? {} : { authorization: `Bearer ${options.token}` },
        },
      },
    },
  });
  return response.denied_response ? (JSON.parse(response.denied_response.body) as { code: string }).code : 'ALLOWED';
}

test('the reminder’s client-credentials token, without a peer, is admitted by the rule written for its mesh identity', async (t) => {
  t.is(await check({ token: await token({ sub: 'reminder-client' }) }), 'ALLOWED');
  t.is(await check({ token: await token({ sub: 'reminder-client' }), method: 'POST' }), 'NO_ALLOW_MATCH');
});

test('the reminder by its certificate is admitted as before', async (t) => {
  t.is(await check({ peer: REMINDER }), 'ALLOWED');
  t.is(await check({ peer: REMINDER, token: await token({ sub: 'reminder-client' }) }), 'ALLOWED');
});

test('an mTLS peer presenting the reminder’s token stays itself: the mapping never stands in for a peer', async (t) => {
  t.is(await check({ peer: SHARE, token: await token({ sub: 'reminder-client' }) }), 'NO_ALLOW_MATCH');
});

test('a user token issued through a mapped client is not the service', async (t) => {
  t.is(await check({ token: await token({ sub: 'alice', client_id: 'share-client', azp: 'share-client' }) }), 'NO_ALLOW_MATCH');
  t.is(await check({ token: await token({ sub: 'alice', azp: 'reminder-client' }) }), 'NO_ALLOW_MATCH');
});

test('a token of another issuer naming the same client is refused by request authentication', async (t) => {
  const other = await generateTestKey('RS256');
  const now = epochSeconds();
  const forged = await signToken({ iss: idp.url, sub: 'reminder-client', aud: 'todos', iat: now, exp: now + 300 }, other, {
    kid: signer.kid,
  });
  t.is(await check({ token: forged }), 'TOKEN_BAD_SIGNATURE');
});

test('request.auth.credential tells a mapped token from the certificate', async (t) => {
  t.is(await check({ destination: REMINDER, peer: REMINDER }), 'ALLOWED');
  t.is(await check({ destination: REMINDER, token: await token({ sub: 'reminder-client' }) }), 'NO_ALLOW_MATCH');
  t.is(await check({ destination: REMINDER, peer: REMINDER, token: await token({ sub: 'reminder-client' }) }), 'NO_ALLOW_MATCH');
});
