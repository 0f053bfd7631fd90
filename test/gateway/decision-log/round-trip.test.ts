/**
 * Decision logs end to end: the real gateway with decision logs on, Checks
 * over gRPC as Envoy sends them (tokens signed by a real key set, a
 * delegated token, a shadow policy), its stdout decision lines turned into
 * cases with `gatehouse test --from-log`, and those cases run with
 * `gatehouse test`: every one passes. No token or cookie ever reaches a line.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { runCli } from '../../helpers/cli.js';
import { startGatehouse, writeFixture } from '../../helpers/gatehouse.js';
import { connect, fromStruct } from '../../helpers/grpc-client.js';
import { startJwksServer } from '../../helpers/jwks-server.js';
import { epochSeconds, generateTestKey, jwksOf, signToken } from '../../helpers/tokens.js';

const AUTHZ = 'envoy.service.auth.v3.Authorization';
const spiffe = (account: string) => `spiffe://cluster.local/ns/default/sa/${account}`;
const [REMINDER, TODOS, SHARE, FRONTEND] = ['reminder', 'todos', 'share', 'frontend'].map(spiffe) as [string, string, string, string];

interface CheckResponse {
  status: { code?: number };
  denied_response?: { body: string };
  dynamic_metadata?: unknown;
}

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
  rules:
    - from: [{ source: { requestPrincipals: ["${issuer}/*"] } }]
      to: [{ operation: { methods: [GET] } }]
      when: [{ key: "request.auth.claims[groups]", values: [readers] }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: reminder-deny-todos, namespace: default }
spec:
  selector: { matchLabels: { app: reminder } }
  action: DENY
  rules: [{ from: [{ source: { principals: [cluster.local/ns/default/sa/todos] } }] }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: no-admin
  namespace: default
  annotations: { gatehouse.dev/shadow: "true" }
spec:
  selector: { matchLabels: { app: todos } }
  action: DENY
  rules: [{ to: [{ operation: { paths: ["/admin/*"] } }] }]
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
  - { namespace: default, serviceAccount: reminder, labels: { app: reminder } }
decisionLog:
  enabled: true
  headers: [x-request-id]
  claims: [groups]
`;

test('decision lines carry the metadata decision id, never a credential, and replay as passing cases', async (t) => {
  const key = await generateTestKey('ES256');
  const idp = await startJwksServer(jwksOf(key));
  t.teardown(() => idp.close());
  const { dir, configFile } = await writeFixture({ config, policies: policies(idp.url, idp.jwksUri) });
  const gatehouse = await startGatehouse({ configFile });
  t.teardown(() => gatehouse.stop());
  const authz = connect(AUTHZ, gatehouse.address);
  t.teardown(() => authz.close());

  const now = epochSeconds();
  const claims = (extra: Record<string, unknown> = {}) => ({
    iss: idp.url,
    sub: 'alice',
    aud: 'todos',
    iat: now,
    exp: now + 300,
    ...extra,
  });
  const reader = await signToken(claims({ groups: ['readers'] }), key);
  const guest = await signToken(claims({ groups: ['guests'] }), key);
  const delegated = await signToken(claims({ groups: ['readers'], act: { sub: SHARE } }), key);
  const expired = await signToken(claims({ groups: ['readers'], iat: now - 7200, exp: now - 3600 }), key);
  const secrets = [reader, guest, delegated, expired, 's3cr3t-cookie', 's3cr3t-api-key'];

  const check = (source: string, destination: string, method: string, requestPath: string, headers: Record<string, string> = {}) =>
    authz.call<CheckResponse>('Check', {
      attributes: {
        source: { principal: source, address: { socket_address: { address: '10.0.0.7', port_value: 43210 } } },
        destination: { principal: destination, address: { socket_address: { address: '10.0.0.8', port_value: 8080 } } },
        request: { http: { method, path: requestPath, host: 'todos.default.svc', headers, protocol: 'HTTP/1.1' } },
      },
    });
  const browser = { cookie: 'session=s3cr3t-cookie', 'x-api-key': 's3cr3t-api-key', 'x-request-id': 'req-42' };
  const responses = [
    await check(REMINDER, TODOS, 'GET', '/todos?due=24h', browser),
    await check(REMINDER, TODOS, 'POST', '/todos', browser),
    await check(TODOS, REMINDER, 'GET', '/reminders'),
    await check(FRONTEND, TODOS, 'GET', '/todos/1', { ...browser, authorization: `Bearer ${reader}` }),
    await check(FRONTEND, TODOS, 'GET', '/todos/1', { authorization: `Bearer ${guest}` }),
    await check(SHARE, TODOS, 'GET', '/todos/shared', { authorization: `Bearer ${delegated}` }),
    await check(REMINDER, TODOS, 'GET', '/admin/users'),
    await check(FRONTEND, TODOS, 'GET', '/todos/1', { authorization: `Bearer ${expired}` }),
    await authz.call<CheckResponse>('Check', {}),
  ];
  const outcomes = responses.map((response) => fromStruct(response.dynamic_metadata));
  t.deepEqual(
    outcomes.map((metadata) => metadata.code),
    ['ALLOWED', 'NO_ALLOW_MATCH', 'POLICY_DENIED', 'ALLOWED', 'NO_ALLOW_MATCH', 'ALLOWED', 'ALLOWED', 'TOKEN_EXPIRED', 'BAD_REQUEST'],
  );

  const decisions = await waitFor(() => gatehouse.logs.filter((entry) => entry.msg === 'decision'), responses.length);
  t.deepEqual(
    decisions.map((line) => line.decision_id),
    outcomes.map((metadata) => metadata.decision_id),
    'each line carries the decision id Envoy got in dynamic metadata',
  );
  t.like(decisions[0], {
    allowed: true,
    http_status: 200,
    code: 'ALLOWED',
    policy: 'default/todos-viewer-allow',
    rule: 0,
    workload: { namespace: 'default', service_account: 'todos' },
    peer: { principal: 'cluster.local/ns/default/sa/reminder', source: 'principal' },
    request: {
      method: 'GET',
      host: 'todos.default.svc',
      path: '/todos',
      source_principal: REMINDER,
      destination_principal: TODOS,
      destination_port: 8080,
      headers: { 'x-request-id': 'req-42' },
    },
  });
  t.is(typeof decisions[0]?.latency_ms, 'number');
  t.like(decisions[3], { request_principal: `${idp.url}/alice`, claims: { groups: ['readers'] } });
  t.like(decisions[5], { request_principal: `${idp.url}/alice`, actors: [SHARE] });
  t.like(decisions[6], {
    allowed: true,
    shadow: { allowed: false, code: 'POLICY_DENIED', policy: 'default/no-admin', rule: 0, diverged: true, policies: ['default/no-admin'] },
  });
  t.is(decisions[8]?.request, undefined);
  const output = gatehouse.output();
  for (const secret of secrets) t.false(output.includes(secret), 'no token, cookie or key value in any log line');
  t.false(/"(authorization|cookie|x-api-key)"/.test(output), 'no credential header name in any log line');

  // Every JSON line of stdout, decisions among the others, as an operator would collect them.
  const logFile = path.join(dir, 'decisions.jsonl');
  await writeFile(logFile, `${gatehouse.logs.map((entry) => JSON.stringify(entry)).join('\n')}\n`);
  const casesFile = path.join(dir, 'recorded.yaml');
  const converted = await runCli(['test', '--from-log', logFile, '--out', casesFile]);
  t.is(converted.code, 0, converted.stderr);
  t.regex(
    converted.stderr,
    new RegExp(`decision ${String(outcomes[7]?.decision_id)}: decided by request authentication \\(TOKEN_EXPIRED\\)`),
  );
  t.regex(converted.stderr, new RegExp(`decision ${String(outcomes[8]?.decision_id)}: the CheckRequest could not be read`));
  t.regex(converted.stderr, /wrote 7 cases to .*recorded\.yaml; skipped 2/);

  const replayed = await runCli(['test', '-c', configFile, casesFile]);
  t.is(replayed.code, 0, replayed.stdout + replayed.stderr);
  t.regex(replayed.stdout, /7 cases: 7 passed, 0 failed \(1 file\)/);
  for (const metadata of outcomes.slice(0, 7)) t.regex(replayed.stdout, new RegExp(`✓ ${String(metadata.decision_id)}`));
});

/** Polls until `read` returns at least `count` items (the gateway writes after answering). */
async function waitFor<T>(read: () => T[], count: number, timeoutMs = 5000): Promise<T[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const items = read();
    if (items.length >= count || Date.now() > deadline) return items;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
