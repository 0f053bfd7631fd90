/**
 * The seed scenario end to end, every part real: Alice shared todos with Bob;
 * Bob's request reaches the share service, which exchanges Bob's token at
 * the token-exchange service (its own process, HTTPS and gRPC with the share
 * service's SVID) for an on-behalf-of token to the todo service, and calls
 * it. Envoy asks the real `gatehouse serve` (mTLS Check port) whether the
 * share service may `GET /todos/shared/bob`; the gateway fetches both
 * issuers' key sets, the exchange service's over HTTPS.
 *
 * Then the refusals, each with its reason: the same token from the reminder
 * service, a chain deeper than allowed, an actor not allowed for the subject,
 * a `may_act` naming someone else; and what the exchange service itself
 * refuses before any token reaches the gateway.
 */
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { decodeJwt } from 'jose';
import { meshIds, type IssuedCert } from '../helpers/certs.js';
import { startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { connect, fromStruct, type TestClient } from '../helpers/grpc-client.js';
import {
  ACCESS_TOKEN_TYPE,
  createEnvironment,
  delegationPolicy,
  GRANT,
  grpcClient,
  postForm,
  userToken,
  type Environment,
} from '../helpers/token-exchange.js';
import { spawnTokenExchange, type TokenExchangeProcess } from '../helpers/token-exchange-process.js';
import { epochSeconds, signToken } from '../helpers/tokens.js';

const AUTHZ = 'envoy.service.auth.v3.Authorization';
const WEB = 'spiffe://cluster.local/ns/default/sa/web';

interface Header {
  header: { key: string; value: string };
}
interface CheckResponse {
  status: { code?: number };
  ok_response?: { headers: Header[] };
  denied_response?: { status: { code: string }; body: string };
  dynamic_metadata?: unknown;
}

let env: Environment;
let te: TokenExchangeProcess;
let gatehouse: RunningGatehouse;
/** Envoy's connection to Gatehouse: the todos sidecar's certificate; the caller is what Envoy reports. */
let envoy: TestClient;
const grpcClients: TestClient[] = [];

/** The gateway's documents for the todo workload. */
const gatewayPolicies = (idpIssuer: string, idpJwksUri: string, teIssuer: string, teJwksUri: string) => ({
  'authn.yaml': `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: todos-tokens, namespace: default }
spec:
  selector: { matchLabels: { app: todos } }
  jwtRules:
    - { issuer: "${idpIssuer}", jwksUri: "${idpJwksUri}", audiences: [todos] }
    - { issuer: "${teIssuer}", jwksUri: "${teJwksUri}", audiences: [todos] }
`,
  // The gateway sees a minted token's principal as <exchange issuer>/<sub>; the IdP it came from is sub_iss.
  'delegation.yaml': `apiVersion: gatehouse.dev/v1alpha1
kind: DelegationPolicy
metadata: { name: share-for-users, namespace: default }
spec:
  selector: { matchLabels: { app: todos } }
  rules:
    - actors: ["${meshIds.share}"]
      subjects: ["${teIssuer}/alice", "${teIssuer}/bob"]
      audiences: [todos]
      to: [{ operation: { methods: [GET], paths: ["/todos/*"] } }]
      maxDepth: 1
`,
  'authz.yaml': `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: todos-shared, namespace: default }
spec:
  selector: { matchLabels: { app: todos } }
  action: ALLOW
  rules:
    - from: [{ source: { requestPrincipals: ["${teIssuer}/*"] } }]
      to: [{ operation: { methods: [GET], paths: ["/todos/shared/*"] } }]
      when:
        - { key: request.auth.actor, values: ["${meshIds.share}"] }
        - { key: "request.auth.claims[sub_iss]", values: ["${idpIssuer}"] }
        # The share service reads, for a user, the todos shared with that user only.
        - { key: gatehouse.cel, values: ["request.path.split('/')[3] == auth.claims.sub"] }
`,
});

test.before(async () => {
  env = await createEnvironment();
  te = await spawnTokenExchange(env, {
    policies: {
      'share.yaml': delegationPolicy('share-reads-todos', [meshIds.share], [`${env.idp.url}/*`], ['todos']),
      // The reminder service may get tokens to the todo service and to the share service (which may exchange them again).
      'reminder.yaml': delegationPolicy('reminder', [meshIds.reminder], [`${env.idp.url}/*`], ['todos', 'share']),
    },
    // Tokens it minted for the share service may be exchanged again (a chain share ← reminder).
    subjectIssuers: (self) => `  - { issuer: "${self.issuer}", jwksUri: "${self.jwksUri}", audiences: [share] }`,
  });
  gatehouse = await startGatehouse({
    config: `
policies: { paths: [./policies] }
tls: { certFile: tls/server.crt, keyFile: tls/server.key, clientCaFile: tls/ca.crt, requireClientCert: true }
identity: { trustDomains: [cluster.local] }
workloads: [{ namespace: default, serviceAccount: todos, labels: { app: todos } }]
`,
    policies: gatewayPolicies(env.idp.url, env.idp.jwksUri, te.issuer, te.jwksUri),
    files: { 'tls/server.crt': env.pki.server.certPem, 'tls/server.key': env.pki.server.keyPem, 'tls/ca.crt': env.pki.ca.certPem },
    // The exchange service's key set is fetched over HTTPS from a server certificate of the test mesh CA.
    env: { NODE_EXTRA_CA_CERTS: `${env.dir}/ca.crt` },
  });
  const credentials = grpc.credentials.createSsl(
    Buffer.from(env.pki.ca.certPem),
    Buffer.from(env.pki.todos.keyPem),
    Buffer.from(env.pki.todos.certPem),
  );
  envoy = connect(AUTHZ, `localhost:${gatehouse.port}`, credentials);
});

test.after.always(async () => {
  envoy?.close();
  for (const client of grpcClients) client.close();
  await gatehouse?.stop();
  await te?.stop();
  await env?.close();
});

/** A user's token from the identity provider, for the share service (`aud: share`). */
function idpToken(sub: string, claims: Record<string, unknown> = {}): Promise<string> {
  return userToken(env, { sub, ...claims });
}

/** An exchange over HTTPS with a workload's client certificate, for the todo service. */
async function exchangeHttps(client: IssuedCert, subjectToken: string, audience = 'todos') {
  const form = { grant_type: GRANT, subject_token: subjectToken, subject_token_type: ACCESS_TOKEN_TYPE, audience, scope: 'todos:read' };
  return postForm(env, te.tokenUrl, form, { client });
}

/** The minted token, or a failure that shows the service's answer. */
async function mintHttps(client: IssuedCert, subjectToken: string, audience = 'todos'): Promise<string> {
  const answer = await exchangeHttps(client, subjectToken, audience);
  if (answer.status !== 200) throw new Error(`exchange refused: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body['access_token'] as string;
}

/** An exchange over gRPC with a workload's client certificate. */
async function mintGrpc(client: IssuedCert, subjectToken: string, audience = 'todos'): Promise<string> {
  const exchange = grpcClient(env, te.grpcPort, client);
  grpcClients.push(exchange);
  const answer = await exchange.call<{ access_token: string }>('Exchange', {
    subject_token: subjectToken,
    subject_token_type: ACCESS_TOKEN_TYPE,
    audience: [audience],
    scope: 'todos:read',
  });
  return answer.access_token;
}

interface Caller {
  /** Envoy's `source.principal`. */
  readonly principal?: string;
  /** Envoy's `source.certificate` (`include_peer_certificate: true`): the URL-encoded PEM. */
  readonly certificate?: IssuedCert;
}

/** Envoy's CheckRequest for the todo service: the caller, `GET /todos/shared/bob` by default, the token. */
function check(caller: Caller, token: string, request: { method?: string; path?: string } = {}): Promise<CheckResponse> {
  return envoy.call<CheckResponse>('Check', {
    attributes: {
      source: {
        address: { socket_address: { address: '10.0.0.7', port_value: 43210 } },
        ...(caller.principal ? { principal: caller.principal } : {}),
        ...(caller.certificate ? { certificate: encodeURIComponent(caller.certificate.certPem) } : {}),
      },
      destination: { principal: meshIds.todos },
      request: {
        http: {
          method: request.method ?? 'GET',
          path: request.path ?? '/todos/shared/bob',
          host: 'todos.default.svc',
          headers: { authorization: `Bearer ${token}` },
        },
      },
    },
  });
}

const share: Caller = { principal: meshIds.share };
const reminder: Caller = { principal: meshIds.reminder };

function upstream(response: CheckResponse): Record<string, string> {
  return Object.fromEntries((response.ok_response?.headers ?? []).map((h) => [h.header.key, h.header.value]));
}

function denial(response: CheckResponse): { status: string; code: string; reason: string } {
  const body = JSON.parse(response.denied_response?.body ?? '{}') as { code: string; reason: string };
  return { status: response.denied_response?.status.code ?? 'allowed', ...body };
}

test("the share service exchanges Bob's token and GETs Bob's shared todos on his behalf", async (t) => {
  const token = await mintHttps(env.pki.share, await idpToken('bob'));
  t.like(decodeJwt(token), {
    iss: te.issuer,
    sub: 'bob',
    sub_iss: env.idp.url,
    aud: 'todos',
    scope: 'todos:read',
    act: { sub: meshIds.share },
  });

  for (const caller of [share, { certificate: env.pki.share }]) {
    const response = await check(caller, token);
    t.is(response.status.code ?? 0, 0, response.denied_response?.body);
    const headers = upstream(response);
    t.is(headers['x-gatehouse-subject'], `${te.issuer}/bob`);
    t.is(headers['x-gatehouse-actors'], meshIds.share);
    t.is(headers['x-gatehouse-peer'], meshIds.share);
    const metadata = fromStruct(response.dynamic_metadata);
    t.is(metadata['request_principal'], `${te.issuer}/bob`);
    t.deepEqual(metadata['delegation'], { actor: meshIds.share, actors: [meshIds.share], depth: 1 });
  }
});

test('the same token presented by the reminder service is refused: its actor is not the caller', async (t) => {
  const token = await mintHttps(env.pki.share, await idpToken('bob'));
  for (const caller of [reminder, { certificate: env.pki.reminder }]) {
    const response = await check(caller, token);
    t.is(response.status.code, 7);
    t.like(denial(response), { status: 'Forbidden', code: 'DELEGATION_ACTOR_NOT_CALLER' });
    t.regex(denial(response).reason, /not the caller spiffe:\/\/cluster\.local\/ns\/default\/sa\/reminder/);
  }
});

test('a chain deeper than allowed is refused: share acting for reminder acting for Bob', async (t) => {
  // The reminder service gets a token to the share service (over gRPC), which exchanges it again for the todo service.
  const forShare = await mintGrpc(env.pki.reminder, await idpToken('bob'), 'share');
  t.like(decodeJwt(forShare), { aud: 'share', act: { sub: meshIds.reminder } });
  const chained = await mintHttps(env.pki.share, forShare);
  t.like(decodeJwt(chained), { sub: 'bob', sub_iss: env.idp.url, act: { sub: meshIds.share, act: { sub: meshIds.reminder } } });

  const response = await check(share, chained);
  t.like(denial(response), { status: 'Forbidden', code: 'DELEGATION_TOO_DEEP' });
});

test('an actor not allowed to act for the subject is refused', async (t) => {
  // The exchange service lets the share service act for any of the IdP's users; the todo service only for Alice and Bob.
  const forCarol = await mintHttps(env.pki.share, await idpToken('carol'));
  t.like(denial(await check(share, forCarol, { path: '/todos/shared/carol' })), {
    status: 'Forbidden',
    code: 'DELEGATION_NOT_PERMITTED',
  });

  // The reminder service may exchange Bob's token for the todo service, but the todo service lets only share act for users.
  const byReminder = await mintGrpc(env.pki.reminder, await idpToken('bob'));
  t.like(denial(await check(reminder, byReminder)), { status: 'Forbidden', code: 'DELEGATION_NOT_PERMITTED' });

  // Share acting for Bob may only read.
  const forBob = await mintHttps(env.pki.share, await idpToken('bob'));
  t.like(denial(await check(share, forBob, { method: 'DELETE' })), { status: 'Forbidden', code: 'DELEGATION_NOT_PERMITTED' });
});

test('a may_act naming someone else: the exchange refuses it, and so does the gateway', async (t) => {
  const bobForWebOnly = await idpToken('bob', { may_act: { sub: WEB } });
  const https = await exchangeHttps(env.pki.share, bobForWebOnly);
  t.is(https.status, 400);
  t.is(https.body['error'], 'unauthorized_client');
  t.regex(https.body['error_description'] as string, /DELEGATION_MAY_ACT_MISMATCH/);
  const error = await t.throwsAsync<grpc.ServiceError>(mintGrpc(env.pki.share, bobForWebOnly));
  t.is(error?.code, grpc.status.PERMISSION_DENIED);
  t.is(error?.metadata.get('oauth-error')[0], 'unauthorized_client');

  // The exchange never mints such a token; one signed with its key anyway (a compromised or buggy issuer) meets the gateway.
  const now = epochSeconds();
  const forged = (mayAct: string) =>
    signToken(
      {
        iss: te.issuer,
        sub: 'bob',
        sub_iss: env.idp.url,
        aud: 'todos',
        act: { sub: meshIds.share },
        may_act: { sub: mayAct },
        iat: now,
        exp: now + 300,
      },
      te.signingKey,
      { typ: 'at+jwt' },
    );
  t.like(denial(await check(share, await forged(WEB))), { status: 'Forbidden', code: 'DELEGATION_MAY_ACT_MISMATCH' });
  const named = await check(share, await forged(meshIds.share));
  t.is(named.status.code ?? 0, 0, named.denied_response?.body);
});

test('after delegation is accepted, the AuthorizationPolicy still decides: Alice’s token reads only what is shared with Alice', async (t) => {
  const forAlice = await mintGrpc(env.pki.share, await idpToken('alice'));
  t.like(denial(await check(share, forAlice)), { status: 'Forbidden', code: 'NO_ALLOW_MATCH' });
  const own = await check(share, forAlice, { path: '/todos/shared/alice' });
  t.is(own.status.code ?? 0, 0, own.denied_response?.body);

  // A token of the IdP for the todo service without any actor is not a delegated token: no rule admits it.
  const direct = await signToken(
    { iss: env.idp.url, sub: 'bob', aud: 'todos', iat: epochSeconds(), exp: epochSeconds() + 300 },
    env.idpKey,
  );
  t.like(denial(await check(share, direct)), { status: 'Forbidden', code: 'NO_ALLOW_MATCH' });
});

test("the exchange service's own refusals, and Bob's token forwarded as it is", async (t) => {
  const bob = await idpToken('bob');
  const otherTarget = await exchangeHttps(env.pki.share, bob, 'reminders');
  t.like(otherTarget, { status: 400, body: { error: 'invalid_target' } });
  t.regex(otherTarget.body['error_description'] as string, /DELEGATION_NOT_PERMITTED/);

  const anonymous = await postForm(env, te.tokenUrl, {
    grant_type: GRANT,
    subject_token: bob,
    subject_token_type: ACCESS_TOKEN_TYPE,
    audience: 'todos',
  });
  t.like(anonymous, { status: 401, body: { error: 'invalid_client' } });

  // Bob's own token was issued for the share service, not the todo service: the gateway refuses it as a bad token.
  const forwarded = await check(share, bob);
  t.is(denial(forwarded).status, 'Unauthorized');
  t.regex(denial(forwarded).code, /^TOKEN_/);
});
