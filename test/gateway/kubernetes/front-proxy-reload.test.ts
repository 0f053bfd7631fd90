/**
 * The front proxy's KubernetesAccessPolicies reload with the gateway's
 * policies: a real `gatehouse serve` whose policy folder changes while it runs.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { connect } from '../../helpers/grpc-client.js';
import { startGatehouse, writeFixture } from '../../helpers/gatehouse.js';
import { startJwksServer } from '../../helpers/jwks-server.js';
import { epochSeconds, generateTestKey, jwksOf, signToken } from '../../helpers/tokens.js';

const policy = (user: string): string => `apiVersion: gatehouse.dev/v1alpha1
kind: KubernetesAccessPolicy
metadata: { name: impersonation, namespace: istio-system }
spec:
  action: ALLOW
  rules:
    - subjects: [{ users: ["oidc:alice"] }]
      resources: [{ verbs: [impersonate], apiGroups: [""], resources: [users], names: [${user}] }]
`;

test('a changed KubernetesAccessPolicy takes effect without a restart; a broken one keeps the previous set', async (t) => {
  const key = await generateTestKey('ES256');
  const idp = await startJwksServer(jwksOf(key));
  t.teardown(() => idp.close());
  const fixture = await writeFixture({
    config: `policies: { paths: [./policies] }
kubernetesFrontProxy:
  selector: { hosts: [kubernetes.example.com] }
  jwt:
    - issuer: { url: "${idp.url}", audiences: [kubernetes], jwksUri: "${idp.jwksUri}" }
      claimMappings: { username: { claim: sub, prefix: "oidc:" } }
`,
    policies: { 'impersonation.yaml': policy('bob') },
  });
  const gatehouse = await startGatehouse({ configFile: fixture.configFile });
  t.teardown(() => gatehouse.stop());
  const client = connect('envoy.service.auth.v3.Authorization', gatehouse.address);
  t.teardown(() => client.close());

  const now = epochSeconds();
  const token = await signToken({ iss: idp.url, sub: 'alice', aud: 'kubernetes', iat: now, exp: now + 300 }, key);
  const impersonating = async (user: string): Promise<number> => {
    const response = await client.call<{ status: { code?: number } }>('Check', {
      attributes: {
        request: {
          http: {
            method: 'GET',
            path: '/api/v1/namespaces/default/pods',
            host: 'kubernetes.example.com',
            headers: { authorization: `Bearer ${token}`, 'impersonate-user': user },
          },
        },
      },
    });
    return response.status.code ?? 0;
  };
  const eventually = async (user: string, code: number): Promise<boolean> => {
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      if ((await impersonating(user)) === code) return true;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return false;
  };

  t.is(await impersonating('bob'), 0);
  t.is(await impersonating('carol'), 7);

  const file = path.join(path.dirname(fixture.configFile), 'policies', 'impersonation.yaml');
  await writeFile(file, policy('carol'));
  t.true(await eventually('carol', 0), 'the new policy allows carol');
  t.is(await impersonating('bob'), 7, 'and no longer bob');

  await writeFile(file, `${policy('bob')}      names: [oops]\n`);
  const rejected = (): boolean => gatehouse.logs.some((line) => String(line.msg).includes('access policies rejected'));
  const deadline = Date.now() + 5000;
  while (!rejected() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  t.true(rejected(), 'the broken policy is reported');
  t.is(await impersonating('carol'), 0, 'a broken policy file keeps the previous set');
});
