/**
 * Request authentication end to end: two real `gatehouse serve` replicas
 * sharing a real Redis, a real JWKS server, tokens signed by real keys, and
 * Checks over gRPC as Envoy sends them.
 */
import { execFile } from 'node:child_process';
import test from 'ava';
import { setTimeout as delay } from 'node:timers/promises';
import { connect, fromStruct, type TestClient } from '../helpers/grpc-client.js';
import { CLI, startGatehouse, writeFixture, type RunningGatehouse } from '../helpers/gatehouse.js';
import { startJwksServer, type JwksServer } from '../helpers/jwks-server.js';
import { freePort, redisUrlForTests, uniquePrefix, type TestRedis } from '../helpers/redis.js';
import { epochSeconds, generateTestKey, jwksOf, signToken, type TestKey } from '../helpers/tokens.js';

const AUTHZ = 'envoy.service.auth.v3.Authorization';
const TODOS = 'spiffe://cluster.local/ns/default/sa/todos';
const FRONTEND = 'spiffe://cluster.local/ns/default/sa/frontend';

interface CheckResponse {
  status: { code?: number };
  ok_response?: { headers: { header: { key: string; value: string } }[]; headers_to_remove?: string[] };
  denied_response?: { status: { code: string }; body: string; headers: { header: { key: string; value: string } }[] };
  dynamic_metadata?: unknown;
}

let redis: TestRedis;
let idp: JwksServer;
let es256: TestKey;
let rsa: TestKey;
let replicas: RunningGatehouse[];
let clients: TestClient[];
let adminPort: number;

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
      outputClaimToHeaders: [{ header: x-user, claim: sub }]
`,
  'authz.yaml': `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: todos-users, namespace: default }
spec:
  selector: { matchLabels: { app: todos } }
  action: ALLOW
  rules:
    - from: [{ source: { requestPrincipals: ["${issuer}/*"] } }]
      when: [{ key: "request.auth.claims[roles]", values: [todo-user] }]
`,
});

test.before(async () => {
  [es256, rsa] = await Promise.all([generateTestKey('ES256'), generateTestKey('RS256')]);
  idp = await startJwksServer(jwksOf(es256, rsa));
  redis = await redisUrlForTests();
  adminPort = await freePort();
  const prefix = uniquePrefix('authn');
  const config = (admin: boolean) => `
policies: { paths: [./policies] }
workloads: [{ namespace: default, serviceAccount: todos, labels: { app: todos } }]
redis: { url: "${redis.url}", keyPrefix: "${prefix}", commandTimeoutMs: 500 }
jwt: { jwks: { fetchTimeoutMs: 5000, refreshIntervalSeconds: 3600, unknownKidCooldownSeconds: 0 } }
admin: { enabled: ${admin}, port: ${adminPort} }
`;
  const files = policies(idp.url, idp.jwksUri);
  replicas = await Promise.all([
    startGatehouse({ config: config(true), policies: files }),
    startGatehouse({ config: config(false), policies: files }),
  ]);
  clients = replicas.map((replica) => connect(AUTHZ, replica.address));
});

test.after.always(async () => {
  for (const client of clients ?? []) client.close();
  await Promise.all((replicas ?? []).map((replica) => replica.stop()));
  await idp?.close();
  await redis?.stop();
});

function check(client: TestClient, headers: Record<string, string>, source = FRONTEND): Promise<CheckResponse> {
  return client.call<CheckResponse>('Check', {
    attributes: {
      source: { principal: source },
      destination: { principal: TODOS },
      request: { http: { method: 'GET', path: '/todos', host: 'todos', headers } },
    },
  });
}

function claims(extra: Record<string, unknown> = {}) {
  const now = epochSeconds();
  return { iss: idp.url, sub: 'alice', aud: 'todos', iat: now, exp: now + 300, roles: ['todo-user'], jti: uniquePrefix('jti'), ...extra };
}

function denial(response: CheckResponse): { code: string; reason: string } {
  return JSON.parse(response.denied_response!.body) as { code: string; reason: string };
}

test('a valid token is accepted: claims reach the policy and the upstream, the token header does not', async (t) => {
  const token = await signToken(claims(), es256);
  const response = await check(clients[0]!, { authorization: `Bearer ${token}` });
  t.is(response.status.code ?? 0, 0, JSON.stringify(response.denied_response));
  const headers = Object.fromEntries(response.ok_response!.headers.map((h) => [h.header.key, h.header.value]));
  t.is(headers['x-user'], 'alice');
  t.deepEqual(response.ok_response!.headers_to_remove?.includes('authorization'), true);
  t.is(fromStruct(response.dynamic_metadata).request_principal, `${idp.url}/alice`);
});

test('an invalid token is a 401 with a Bearer challenge and a reason code; no token leaves the policy to decide (403)', async (t) => {
  const expired = await signToken(claims({ exp: epochSeconds() - 3600, iat: epochSeconds() - 7200 }), es256);
  const rejected = await check(clients[0]!, { authorization: `Bearer ${expired}` });
  t.is(rejected.status.code, 16);
  t.is(rejected.denied_response!.status.code, 'Unauthorized');
  t.is(denial(rejected).code, 'TOKEN_EXPIRED');
  const challenge = rejected.denied_response!.headers.find((h) => h.header.key === 'www-authenticate')?.header.value;
  t.regex(challenge ?? '', /^Bearer realm="gatehouse", error="invalid_token"/);
  t.false(JSON.stringify(rejected).includes(expired), 'the token never appears in the response');

  const anonymous = await check(clients[0]!, {});
  t.is(anonymous.denied_response!.status.code, 'Forbidden');
  t.is(denial(anonymous).code, 'NO_ALLOW_MATCH');

  const wrongRole = await check(clients[0]!, { authorization: `Bearer ${await signToken(claims({ roles: ['guest'] }), es256)}` });
  t.is(denial(wrongRole).code, 'NO_ALLOW_MATCH');
});

test.serial('with the IdP down, every replica keeps accepting tokens signed by keys it knows', async (t) => {
  const token = await signToken(claims({ sub: 'carol' }), es256);
  t.is((await check(clients[0]!, { authorization: `Bearer ${token}` })).status.code ?? 0, 0);
  idp.mode = 'fail';
  t.teardown(() => {
    idp.mode = 'serve';
  });
  const second = await check(clients[1]!, { authorization: `Bearer ${token}` });
  t.is(second.status.code ?? 0, 0, JSON.stringify(second.denied_response));
});

test.serial(
  'a token of a key still being fetched is a 503 TOKEN_KEYS_PENDING within checkWaitMs (before the proxy gives up), then accepted once the fetch lands',
  async (t) => {
    const rotated = await generateTestKey('ES256');
    const published = idp.jwks;
    idp.jwks = jwksOf(es256, rsa, rotated);
    idp.delayMs = 2000; // far past checkWaitMs (200 ms by default) and the proxy's 0.25 s, within fetchTimeoutMs
    t.teardown(() => {
      idp.delayMs = 0;
      idp.jwks = published;
    });
    const token = await signToken(claims({ sub: 'dave' }), rotated);

    const started = performance.now();
    const pending = await check(clients[0]!, { authorization: `Bearer ${token}` });
    const waitedMs = performance.now() - started;
    t.is(pending.status.code, 14, 'gRPC UNAVAILABLE');
    t.is(pending.denied_response!.status.code, 'ServiceUnavailable');
    t.is(denial(pending).code, 'TOKEN_KEYS_PENDING');
    t.false(
      pending.denied_response!.headers.some((h) => h.header.key === 'www-authenticate'),
      'no invalid_token challenge: nothing is wrong with the token',
    );
    t.is(pending.denied_response!.headers.find((h) => h.header.key === 'retry-after')?.header.value, '1');
    t.regex(denial(pending).reason, /still being fetched after 200 ms; retry/);
    t.true(waitedMs < 1500, `answered after ${waitedMs.toFixed(0)} ms, without waiting for the 2 s fetch`);

    let response = pending;
    const deadline = Date.now() + 10_000;
    while ((response.status.code ?? 0) !== 0 && Date.now() < deadline) {
      await delay(100);
      response = await check(clients[0]!, { authorization: `Bearer ${token}` });
    }
    t.is(response.status.code ?? 0, 0, 'the fetch went on and its key verifies the same token (the 503 was not remembered)');
  },
);

test('revoking through the admin service stops every replica from accepting the token within a second', async (t) => {
  const jti = uniquePrefix('revoked');
  const token = await signToken(claims({ jti, sub: 'dave' }), rsa);
  for (const client of clients) t.is((await check(client, { authorization: `Bearer ${token}` })).status.code ?? 0, 0);

  const revoke = await new Promise<{ code: number; stdout: string }>((resolve) => {
    execFile(process.execPath, [CLI, 'revoke', '--jti', jti, '--admin', `127.0.0.1:${adminPort}`], (error, stdout) =>
      resolve({ code: typeof error?.code === 'number' ? error.code : 0, stdout }),
    );
  });
  t.is(revoke.code, 0, revoke.stdout);
  t.regex(revoke.stdout, /revoked on every replica/);

  const deadline = Date.now() + 1000;
  for (const client of clients) {
    let code = '';
    while (Date.now() < deadline) {
      const response = await check(client, { authorization: `Bearer ${token}` });
      code = response.denied_response ? denial(response).code : '';
      if (code === 'TOKEN_REVOKED') break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    t.is(code, 'TOKEN_REVOKED');
  }
});

test('a token bound to a client certificate is refused from a peer without that certificate, cached or not', async (t) => {
  const token = await signToken(claims({ cnf: { 'x5t#S256': 'q3E5bV0X6m1bZb3mJ0hYl8Zr3vJt9u5x3VxkzQ0Bj4g' } }), es256);
  const response = await check(clients[0]!, { authorization: `Bearer ${token}` });
  t.is(denial(response).code, 'TOKEN_CERTIFICATE_BINDING_MISMATCH');
});

test('the token never appears in any log line, whatever the outcome', async (t) => {
  const token = await signToken(claims({ sub: 'erin' }), es256);
  await check(clients[1]!, { authorization: `Bearer ${token}` });
  await check(clients[1]!, { authorization: `Bearer ${token}x` });
  const signature = token.split('.')[2]!;
  for (const replica of replicas) t.false(replica.output().includes(signature));
});

test('validate reports request authentications and rejects HMAC for an issuer', async (t) => {
  const fixture = await writeFixture({
    config: 'policies: { paths: [./policies] }\njwt: { issuers: { "https://idp.example": { algorithms: [HS256] } } }\n',
  });
  const result = await new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(process.execPath, [CLI, 'validate', '--config', fixture.configFile], (error, _stdout, stderr) =>
      resolve({ code: typeof error?.code === 'number' ? error.code : 0, stderr }),
    );
  });
  t.is(result.code, 1);
  t.regex(result.stderr, /jwt\.issuers\.https:\/\/idp\.example\.algorithms\[0\].*HMAC/);
});
