/**
 * Redis dies under a running Gatehouse: Checks keep being decided (from L1
 * and local verification), the shared-state health entry says so, and
 * everything comes back by itself when Redis does.
 */
import test from 'ava';
import { connect, type TestClient } from '../helpers/grpc-client.js';
import { startGatehouse } from '../helpers/gatehouse.js';
import { startJwksServer } from '../helpers/jwks-server.js';
import { spawnRedis, uniquePrefix } from '../helpers/redis.js';
import { epochSeconds, generateTestKey, jwksOf, signToken } from '../helpers/tokens.js';

interface CheckResponse {
  status: { code?: number };
  denied_response?: { body: string };
}

test('with Redis killed, Checks are still decided correctly; health reports it; Redis returns by itself', async (t) => {
  const key = await generateTestKey('ES256');
  const idp = await startJwksServer(jwksOf(key));
  t.teardown(() => idp.close());
  const redis = await spawnRedis();
  t.teardown(() => redis.stop());

  const gatehouse = await startGatehouse({
    config: `
policies: { paths: [./policies] }
redis: { url: "${redis.url}", keyPrefix: "${uniquePrefix('fault')}", commandTimeoutMs: 200 }
`,
    policies: {
      'authn.yaml': `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: jwt, namespace: istio-system }
spec:
  jwtRules: [{ issuer: "${idp.url}", jwksUri: "${idp.jwksUri}" }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: users-only, namespace: istio-system }
spec:
  rules: [{ from: [{ source: { requestPrincipals: ["*"] } }] }]
`,
    },
  });
  t.teardown(() => gatehouse.stop());
  const authz = connect('envoy.service.auth.v3.Authorization', gatehouse.address);
  const health = connect('grpc.health.v1.Health', gatehouse.address);
  t.teardown(() => {
    authz.close();
    health.close();
  });

  const now = epochSeconds();
  const sign = (sub: string) => signToken({ iss: idp.url, sub, iat: now, exp: now + 600 }, key);
  const [known, fresh] = await Promise.all([sign('known'), sign('fresh')]);
  const check = (client: TestClient, token?: string) =>
    client.call<CheckResponse>('Check', {
      attributes: {
        destination: { principal: 'spiffe://cluster.local/ns/default/sa/todos' },
        request: { http: { method: 'GET', path: '/', headers: token ? { authorization: `Bearer ${token}` } : {} } },
      },
    });
  const code = (response: CheckResponse) =>
    response.denied_response ? (JSON.parse(response.denied_response.body) as { code: string }).code : 'ALLOWED';

  t.is(code(await check(authz, known)), 'ALLOWED');
  await waitFor(async () => (await health.call<{ status: string }>('Check', { service: 'gatehouse.shared-state' })).status === 'SERVING');

  await redis.kill();
  // Decisions do not change: a cached token, a token verified locally, an invalid one, none.
  t.is(code(await check(authz, known)), 'ALLOWED');
  t.is(code(await check(authz, fresh)), 'ALLOWED');
  t.is(code(await check(authz, `${fresh}x`)), 'TOKEN_BAD_SIGNATURE');
  t.is(code(await check(authz)), 'NO_ALLOW_MATCH');
  await waitFor(
    async () => (await health.call<{ status: string }>('Check', { service: 'gatehouse.shared-state' })).status === 'NOT_SERVING',
  );
  t.deepEqual(await health.call('Check', {}), { status: 'SERVING' }, 'the server keeps deciding');

  await redis.restart();
  await waitFor(async () => (await health.call<{ status: string }>('Check', { service: 'gatehouse.shared-state' })).status === 'SERVING');
  t.is(code(await check(authz, await sign('after'))), 'ALLOWED');
  t.true(gatehouse.logs.some((line) => line.msg === 'redis connection restored'));
});

async function waitFor(probe: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('condition not reached in time');
}
