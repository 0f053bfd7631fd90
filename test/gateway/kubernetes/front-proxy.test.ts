/**
 * The Kubernetes front proxy end to end: real `gatehouse serve` processes,
 * a real JWKS server, tokens signed by real keys, and Checks over gRPC
 * shaped as Envoy sends them for kubectl's traffic to kube-apiserver.
 */
import test from 'ava';
import { connect, type TestClient } from '../../helpers/grpc-client.js';
import { startGatehouse, type RunningGatehouse } from '../../helpers/gatehouse.js';
import { startJwksServer, type JwksServer } from '../../helpers/jwks-server.js';
import { epochSeconds, generateTestKey, jwksOf, signToken, type TestKey } from '../../helpers/tokens.js';

const AUTHZ = 'envoy.service.auth.v3.Authorization';
const PROXY = 'spiffe://cluster.local/ns/kube-system/sa/kube-apiserver-proxy';
const FRONT_PROXY_EXTENSION = { 'gatehouse.dev/front-proxy': 'kubernetes' };

interface HeaderOption {
  header: { key: string; value: string };
  append?: { value?: boolean } | null;
}

interface CheckResponse {
  status: { code?: number };
  ok_response?: { headers: HeaderOption[]; headers_to_remove?: string[] };
  denied_response?: { status: { code: string }; body: string; headers: HeaderOption[] };
}

let idp: JwksServer;
let key: TestKey;
let strict: RunningGatehouse;
let passThrough: RunningGatehouse;
let strictClient: TestClient;
let passThroughClient: TestClient;

const accessPolicies = `apiVersion: gatehouse.dev/v1alpha1
kind: KubernetesAccessPolicy
metadata: { name: impersonation, namespace: istio-system }
spec:
  action: ALLOW
  rules:
    - subjects: [{ users: ["oidc:alice"] }]
      resources:
        - { verbs: [impersonate], apiGroups: [""], resources: [users], names: [bob] }
        - { verbs: [impersonate], apiGroups: [""], resources: [serviceaccounts], namespaces: [ci], names: [deployer] }
        - { verbs: [impersonate], apiGroups: [""], resources: [groups], names: [qa, dev] }
        - { verbs: [impersonate], apiGroups: [authentication.k8s.io], resources: [uids], names: ["1234"] }
        - { verbs: [impersonate], apiGroups: [authentication.k8s.io], resources: [userextras/scopes], names: [view] }
`;

const frontProxyConfig = (extra: string) => `
policies: { paths: [./policies] }
workloads: [{ namespace: kube-system, serviceAccount: kube-apiserver-proxy }]
jwt: { jwks: { refreshIntervalSeconds: 3600 } }
kubernetesFrontProxy:
  selector: { contextExtensions: { "gatehouse.dev/front-proxy": kubernetes } }
  jwt:
    - issuer: { url: "${idp.url}", audiences: [kubernetes], jwksUri: "${idp.jwksUri}" }
      claimMappings:
        username: { claim: sub, prefix: "oidc:" }
        groups: { claim: groups, prefix: "oidc:" }
        extra: [{ key: example.com/team, valueExpression: "claims.?team.orValue('')" }]
${extra}`;

test.before(async () => {
  key = await generateTestKey('ES256');
  idp = await startJwksServer(jwksOf(key));
  const policies = { 'kubernetes-access.yaml': accessPolicies };
  [strict, passThrough] = await Promise.all([
    startGatehouse({ config: frontProxyConfig(''), policies }),
    startGatehouse({
      config: frontProxyConfig(`  passThroughWithoutToken: true
  removeAuthorization: false
  headers: { user: [X-Forwarded-User, X-Remote-User], group: X-Forwarded-Groups, extraPrefix: [X-Forwarded-Extra-, X-Remote-Extra-] }
`),
      policies,
    }),
  ]);
  strictClient = connect(AUTHZ, strict.address);
  passThroughClient = connect(AUTHZ, passThrough.address);
});

test.after.always(async () => {
  strictClient?.close();
  passThroughClient?.close();
  await Promise.all([strict?.stop(), passThrough?.stop()]);
  await idp?.close();
});

/** The headers kubectl 1.31 sends for `kubectl get pods`, as Envoy's ext_authz filter forwards them. */
function kubectlHeaders(extra: Record<string, string> = {}): Record<string, string> {
  return {
    ':authority': 'kubernetes.example.com',
    ':method': 'GET',
    ':path': '/api/v1/namespaces/default/pods?limit=500',
    ':scheme': 'https',
    accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json',
    'accept-encoding': 'gzip',
    'user-agent': 'kubectl/v1.31.0 (linux/amd64) kubernetes/9edcffc',
    'kubectl-command': 'kubectl get',
    'kubectl-session': '6e1a3c4b-8a0e-4f0c-9f44-3d1d8b1c2a77',
    'x-forwarded-proto': 'https',
    'x-request-id': 'b5d1c1f0-2c5e-4a43-a3b7-2a0d6f3c9e11',
    ...extra,
  };
}

function check(client: TestClient, headers: Record<string, string>, contextExtensions = FRONT_PROXY_EXTENSION): Promise<CheckResponse> {
  return client.call<CheckResponse>('Check', {
    attributes: {
      source: { address: { socket_address: { address: '203.0.113.7', port_value: 51234 } } },
      destination: { principal: PROXY },
      context_extensions: contextExtensions,
      request: {
        http: {
          method: 'GET',
          path: '/api/v1/namespaces/default/pods?limit=500',
          host: 'kubernetes.example.com',
          scheme: 'https',
          protocol: 'HTTP/2',
          headers,
        },
      },
    },
  });
}

async function token(claims: Record<string, unknown> = {}): Promise<string> {
  const now = epochSeconds();
  return signToken(
    { iss: idp.url, sub: 'alice', aud: 'kubernetes', iat: now, exp: now + 300, groups: ['devs', 'ops'], team: 'payments', ...claims },
    key,
  );
}

/** Upstream headers as `name: value (+)`, `+` marking append; the decision id's value is left out. */
function upstream(response: CheckResponse): string[] {
  return (response.ok_response?.headers ?? []).map(({ header, append }) =>
    header.key === 'x-gatehouse-decision-id' ? header.key : `${header.key}: ${header.value}${append?.value === true ? ' (+)' : ''}`,
  );
}

function removed(response: CheckResponse): string[] {
  return [...(response.ok_response?.headers_to_remove ?? [])].sort();
}

function denial(response: CheckResponse): { status: string; code: string; reason: string } {
  if (!response.denied_response) throw new Error(`expected a denial, got ${JSON.stringify(response)}`);
  const { code, reason } = JSON.parse(response.denied_response.body) as { code: string; reason: string };
  return { status: response.denied_response.status.code, code, reason };
}

const STRIPPED_IMPERSONATION = ['impersonate-group', 'impersonate-uid', 'impersonate-user'];

test('an allowed kubectl request: identity headers set from the token, spoofed ones and the token removed', async (t) => {
  const response = await check(
    strictClient,
    kubectlHeaders({
      authorization: `Bearer ${await token()}`,
      'x-remote-user': 'system:admin',
      'x-remote-group': 'system:masters',
      'x-remote-extra-scopes': 'everything',
      'x-remote-extra-example.com%2fteam': 'platform',
    }),
  );
  t.is(response.status.code ?? 0, 0, JSON.stringify(response.denied_response));
  t.deepEqual(upstream(response), [
    'x-gatehouse-decision-id',
    `x-gatehouse-subject: ${idp.url}/alice`,
    'x-remote-user: oidc:alice',
    'x-remote-group: oidc:devs',
    'x-remote-group: oidc:ops (+)',
    'x-remote-extra-example.com%2fteam: payments',
  ]);
  // The set headers overwrite (append false) what the client sent under the same names; the rest is removed.
  t.deepEqual(removed(response), [
    'authorization',
    ...STRIPPED_IMPERSONATION,
    'x-gatehouse-actors',
    'x-gatehouse-peer',
    'x-remote-extra-scopes',
  ]);
});

test('a user without groups or extras: the group header the client sent is removed, not left standing', async (t) => {
  const response = await check(
    strictClient,
    kubectlHeaders({ authorization: `Bearer ${await token({ groups: [], team: '' })}`, 'x-remote-group': 'system:masters' }),
  );
  t.deepEqual(upstream(response), ['x-gatehouse-decision-id', `x-gatehouse-subject: ${idp.url}/alice`, 'x-remote-user: oidc:alice']);
  t.deepEqual(removed(response), ['authorization', ...STRIPPED_IMPERSONATION, 'x-gatehouse-actors', 'x-gatehouse-peer', 'x-remote-group']);
});

test('without a token: 401 with a bare Bearer challenge', async (t) => {
  const response = await check(strictClient, kubectlHeaders({ 'x-remote-user': 'system:admin' }));
  t.is(response.status.code, 16);
  t.deepEqual(denial(response), {
    status: 'Unauthorized',
    code: 'KUBERNETES_TOKEN_REQUIRED',
    reason: 'kube-apiserver requests need a bearer token',
  });
  const challenge = response.denied_response!.headers.find((h) => h.header.key === 'www-authenticate')?.header.value;
  t.is(challenge, 'Bearer realm="gatehouse"');
});

test('an invalid token, a token of another audience and a token that does not map are 401s', async (t) => {
  const expired = await token({ exp: epochSeconds() - 3600, iat: epochSeconds() - 7200 });
  t.is(denial(await check(strictClient, kubectlHeaders({ authorization: `Bearer ${expired}` }))).code, 'TOKEN_EXPIRED');
  const wrongAudience = await token({ aud: 'todos' });
  t.is(denial(await check(strictClient, kubectlHeaders({ authorization: `Bearer ${wrongAudience}` }))).code, 'TOKEN_WRONG_AUDIENCE');
  const numericGroups = await token({ groups: [1, 2] });
  const unmapped = denial(await check(strictClient, kubectlHeaders({ authorization: `Bearer ${numericGroups}` })));
  t.is(unmapped.status, 'Unauthorized');
  t.is(unmapped.code, 'KUBERNETES_USER_UNMAPPED');
  t.false(strict.output().includes(expired.split('.')[2]!), 'tokens are never logged');
});

const impersonationCases: { name: string; headers: Record<string, string>; expect: 'allowed' | { status: string; code: string } }[] = [
  { name: 'a user the policy names', headers: { 'impersonate-user': 'bob' }, expect: 'allowed' },
  { name: 'a service account the policy names', headers: { 'impersonate-user': 'system:serviceaccount:ci:deployer' }, expect: 'allowed' },
  {
    name: 'a user and groups, sent as two Impersonate-Group headers (joined by Envoy)',
    headers: { 'impersonate-user': 'bob', 'impersonate-group': 'qa,dev' },
    expect: 'allowed',
  },
  { name: 'a user and a uid', headers: { 'impersonate-user': 'bob', 'impersonate-uid': '1234' }, expect: 'allowed' },
  { name: 'a user and an extra', headers: { 'impersonate-user': 'bob', 'impersonate-extra-scopes': 'view' }, expect: 'allowed' },
  {
    name: 'a user the policy does not name',
    headers: { 'impersonate-user': 'carol' },
    expect: { status: 'Forbidden', code: 'IMPERSONATION_NOT_ALLOWED' },
  },
  {
    name: 'a service account in another namespace',
    headers: { 'impersonate-user': 'system:serviceaccount:default:deployer' },
    expect: { status: 'Forbidden', code: 'IMPERSONATION_NOT_ALLOWED' },
  },
  {
    name: 'an allowed user with a group that is not',
    headers: { 'impersonate-user': 'bob', 'impersonate-group': 'qa,system:masters' },
    expect: { status: 'Forbidden', code: 'IMPERSONATION_NOT_ALLOWED' },
  },
  {
    name: 'an allowed user with another uid',
    headers: { 'impersonate-user': 'bob', 'impersonate-uid': '0' },
    expect: { status: 'Forbidden', code: 'IMPERSONATION_NOT_ALLOWED' },
  },
  {
    name: 'an allowed user with an extra value that is not',
    headers: { 'impersonate-user': 'bob', 'impersonate-extra-scopes': 'view,admin' },
    expect: { status: 'Forbidden', code: 'IMPERSONATION_NOT_ALLOWED' },
  },
  {
    name: 'a group without a user',
    headers: { 'impersonate-group': 'qa' },
    expect: { status: 'BadRequest', code: 'IMPERSONATION_INVALID' },
  },
  { name: 'a uid without a user', headers: { 'impersonate-uid': '1234' }, expect: { status: 'BadRequest', code: 'IMPERSONATION_INVALID' } },
  {
    name: 'an extra without a user',
    headers: { 'impersonate-extra-scopes': 'view' },
    expect: { status: 'BadRequest', code: 'IMPERSONATION_INVALID' },
  },
  {
    name: 'two Impersonate-User headers',
    headers: { 'impersonate-user': 'bob,carol' },
    expect: { status: 'BadRequest', code: 'IMPERSONATION_INVALID' },
  },
];

for (const { name, headers, expect } of impersonationCases) {
  test(`impersonation: ${name}`, async (t) => {
    const response = await check(strictClient, kubectlHeaders({ authorization: `Bearer ${await token()}`, ...headers }));
    if (expect !== 'allowed') {
      const refused = denial(response);
      t.is(refused.status, expect.status);
      t.is(refused.code, expect.code);
      return;
    }
    t.is(response.status.code ?? 0, 0, JSON.stringify(response.denied_response));
    // The impersonation headers reach the apiserver exactly as authorized: set again, one entry per value, never removed.
    const expected = Object.entries(headers).flatMap(([header, value]) =>
      value.split(',').map((item, i) => `${header}: ${item}${i > 0 ? ' (+)' : ''}`),
    );
    t.deepEqual(upstream(response).slice(6), expected);
    t.deepEqual(
      removed(response).filter((header) => header.startsWith('impersonate-')),
      STRIPPED_IMPERSONATION.filter((header) => !(header in headers)),
    );
  });
}

test('pass-through: without a token nothing is claimed and every identity and impersonation header is stripped', async (t) => {
  const response = await check(
    passThroughClient,
    kubectlHeaders({
      'x-forwarded-user': 'system:admin',
      'x-forwarded-groups': 'system:masters',
      'x-forwarded-extra-scopes': 'everything',
      'x-remote-user': 'system:admin',
      'x-remote-extra-scopes': 'everything',
      'impersonate-user': 'system:admin',
      'impersonate-extra-scopes': 'everything',
    }),
  );
  t.is(response.status.code ?? 0, 0, JSON.stringify(response.denied_response));
  t.deepEqual(upstream(response), ['x-gatehouse-decision-id']);
  t.deepEqual(removed(response), [
    'impersonate-extra-scopes',
    ...STRIPPED_IMPERSONATION,
    'x-forwarded-extra-scopes',
    'x-forwarded-groups',
    'x-forwarded-user',
    'x-gatehouse-actors',
    'x-gatehouse-peer',
    'x-gatehouse-subject',
    'x-remote-extra-scopes',
    'x-remote-user',
  ]);
});

test('configured header names: the first of each list is set, every listed one a client sends is removed; the token is kept when asked', async (t) => {
  const response = await check(
    passThroughClient,
    kubectlHeaders({ authorization: `Bearer ${await token()}`, 'x-remote-user': 'system:admin', 'x-remote-extra-scopes': 'all' }),
  );
  t.deepEqual(upstream(response).slice(2), [
    'x-forwarded-user: oidc:alice',
    'x-forwarded-groups: oidc:devs',
    'x-forwarded-groups: oidc:ops (+)',
    'x-forwarded-extra-example.com%2fteam: payments',
  ]);
  t.false(removed(response).includes('authorization'));
  t.true(removed(response).includes('x-remote-user'));
  t.true(removed(response).includes('x-remote-extra-scopes'));
});

test('pass-through: a token Gatehouse cannot verify (e.g. a service-account token) goes on without identity, for the apiserver to judge', async (t) => {
  const foreign = await token({ iss: 'https://kubernetes.default.svc' });
  for (const authorization of [`Bearer ${foreign}`, 'Bearer not-a-jwt', 'Bearer a b']) {
    const response = await check(passThroughClient, kubectlHeaders({ authorization, 'x-forwarded-user': 'system:admin' }));
    t.is(response.status.code ?? 0, 0, JSON.stringify(response.denied_response));
    t.deepEqual(upstream(response), ['x-gatehouse-decision-id']);
    t.true(removed(response).includes('x-forwarded-user'));
    t.false(removed(response).includes('authorization'), 'the apiserver needs the credential');
  }
});

test('pass-through does not pass refused impersonation: a valid token asking for more is still 403 or 400', async (t) => {
  const refused = await check(passThroughClient, kubectlHeaders({ authorization: `Bearer ${await token()}`, 'impersonate-user': 'carol' }));
  t.is(denial(refused).code, 'IMPERSONATION_NOT_ALLOWED');
  const invalid = await check(passThroughClient, kubectlHeaders({ authorization: `Bearer ${await token()}`, 'impersonate-group': 'qa' }));
  t.is(denial(invalid).code, 'IMPERSONATION_INVALID');
});

test('other workloads keep the gateway path: no identity headers set or removed', async (t) => {
  const response = await check(strictClient, kubectlHeaders({ 'x-remote-user': 'someone' }), {} as typeof FRONT_PROXY_EXTENSION);
  t.is(response.status.code ?? 0, 0, JSON.stringify(response.denied_response));
  t.deepEqual(upstream(response), ['x-gatehouse-decision-id']);
  t.deepEqual(removed(response), ['x-gatehouse-actors', 'x-gatehouse-peer', 'x-gatehouse-subject']);
});
