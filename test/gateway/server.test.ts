/**
 * The real `gatehouse serve` process, called over loopback h2c by a grpc-js
 * client built from the same official protos, as Envoy would call it.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createRequire } from 'node:module';
import { DEMO_CONFIG_PATH } from '../../gateway/config/load.js';
import { connect, fromStruct } from '../helpers/grpc-client.js';
import { startGatehouse, writeFixture } from '../helpers/gatehouse.js';

const AUTHZ = 'envoy.service.auth.v3.Authorization';
const HEALTH = 'grpc.health.v1.Health';
const REMINDER = 'spiffe://cluster.local/ns/default/sa/reminder';
const TODOS = 'spiffe://cluster.local/ns/default/sa/todos';

interface CheckResponse {
  status: { code?: number };
  ok_response?: { headers: { header: { key: string; value: string }; append?: { value: boolean } }[]; headers_to_remove?: string[] };
  denied_response?: { status: { code: string }; body: string; headers: { header: { key: string; value: string } }[] };
  dynamic_metadata?: unknown;
}

function checkRequest(
  source: string | undefined,
  destination: string,
  method: string,
  requestPath: string,
  headers: Record<string, string> = {},
) {
  return {
    attributes: {
      source: { principal: source, address: { socket_address: { address: '10.0.0.7', port_value: 43210 } } },
      destination: { principal: destination, address: { socket_address: { address: '10.0.0.8', port_value: 8080 } } },
      request: { http: { id: 'req-1', method, path: requestPath, host: 'todos.default.svc', headers, protocol: 'HTTP/1.1' } },
    },
  };
}

test("the demo policies decide over h2c, with headers, body and metadata per Envoy's contract", async (t) => {
  const gatehouse = await startGatehouse({ configFile: DEMO_CONFIG_PATH });
  t.teardown(() => gatehouse.stop());
  const authz = connect(AUTHZ, gatehouse.address);
  t.teardown(() => authz.close());

  const allowed = await authz.call<CheckResponse>(
    'Check',
    checkRequest(REMINDER, TODOS, 'GET', '/todos?due=24h', { 'x-gatehouse-peer': 'spoofed' }),
  );
  t.is(allowed.status.code ?? 0, 0);
  const upstream = Object.fromEntries(allowed.ok_response!.headers.map((h) => [h.header.key, h.header.value]));
  t.is(upstream['x-gatehouse-peer'], REMINDER);
  t.regex(upstream['x-gatehouse-decision-id']!, /^[0-9a-f-]{36}$/);
  t.true(allowed.ok_response!.headers.every((h) => h.append?.value === false));
  const metadata = fromStruct(allowed.dynamic_metadata);
  t.is(metadata.decision_id, upstream['x-gatehouse-decision-id']);
  t.is(metadata.policy, 'default/todos-viewer-allow');
  t.deepEqual(metadata.peer, { principal: 'cluster.local/ns/default/sa/reminder', source: 'principal' });

  // The same decision again: its own decision id everywhere (responses are encoded from cached templates).
  const again = await authz.call<CheckResponse>('Check', checkRequest(REMINDER, TODOS, 'GET', '/todos?due=24h'));
  const againId = again.ok_response!.headers.find((h) => h.header.key === 'x-gatehouse-decision-id')!.header.value;
  t.not(againId, upstream['x-gatehouse-decision-id']);
  t.is(fromStruct(again.dynamic_metadata).decision_id, againId);

  const write = await authz.call<CheckResponse>('Check', checkRequest(REMINDER, TODOS, 'POST', '/todos'));
  t.is(write.status.code, 7);
  t.is(write.denied_response!.status.code, 'Forbidden');
  const body = deniedBody(write);
  t.is(body.code, 'NO_ALLOW_MATCH');
  t.is(body.decision_id, String(fromStruct(write.dynamic_metadata).decision_id));

  const reverse = await authz.call<CheckResponse>('Check', checkRequest(TODOS, REMINDER, 'GET', '/reminders'));
  t.is(deniedBody(reverse).code, 'POLICY_DENIED');
  t.is(fromStruct(reverse.dynamic_metadata).policy, 'default/reminder-deny-todos');

  const malformed = await authz.call<CheckResponse>('Check', {});
  t.is(malformed.denied_response!.status.code, 'BadRequest');
  t.regex(deniedBody(malformed).reason, /no attributes/);
});

test('health reports SERVING per service, and reflection lists the services once the first Check is answered', async (t) => {
  const gatehouse = await startGatehouse({ configFile: DEMO_CONFIG_PATH });
  t.teardown(() => gatehouse.stop());
  const health = connect(HEALTH, gatehouse.address);
  t.teardown(() => health.close());
  t.deepEqual(await health.call('Check', {}), { status: 'SERVING' });
  t.deepEqual(await health.call('Check', { service: AUTHZ }), { status: 'SERVING' });
  const unknown = await t.throwsAsync(health.call('Check', { service: 'nope.Service' }));
  t.is((unknown as grpc.ServiceError).code, grpc.status.NOT_FOUND);

  const authz = connect(AUTHZ, gatehouse.address);
  t.teardown(() => authz.close());
  await authz.call('Check', checkRequest(REMINDER, TODOS, 'GET', '/todos'));
  let services: string[] = [];
  await eventually(
    t,
    async () => {
      services = await listServicesByReflection(gatehouse.address).catch(() => []);
      return services.length > 0;
    },
    'reflection registered',
  );
  for (const name of [AUTHZ, HEALTH, 'gatehouse.policy.v1.PolicyService'])
    t.true(services.includes(name), `${name} in ${services.join(', ')}`);
});

/**
 * A gateway on `configFile`, and a function that asks its PolicyService to
 * explain a request from `source` to the todos service.
 */
async function explainer(
  t: ExecutionContext,
  configFile: string,
): Promise<(source: string, method: string, path: string) => Promise<Record<string, unknown>>> {
  const gatehouse = await startGatehouse({ configFile });
  t.teardown(() => gatehouse.stop());
  const policy = connect('gatehouse.policy.v1.PolicyService', gatehouse.address);
  t.teardown(() => policy.close());
  return (source, method, requestPath) =>
    policy.call<Record<string, unknown>>('Explain', { source_principal: source, destination_principal: TODOS, method, path: requestPath });
}

test('Explain returns the decision and the policies considered', async (t) => {
  const explain = await explainer(t, DEMO_CONFIG_PATH);
  const explained = await explain(REMINDER, 'DELETE', '/todos/1');
  t.is(explained.outcome, 'OUTCOME_DENY');
  t.is(explained.http_status, 403);
  t.is(explained.code, 'NO_ALLOW_MATCH');
  t.true((explained.policies as { policy: string }[]).some((p) => p.policy === 'default/todos-viewer-allow'));
});

test('Explain also says what the shadow policies would decide, without changing the decision', async (t) => {
  const policies = {
    'allow-get.yaml': `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: todos-read, namespace: default }
spec:
  action: ALLOW
  rules: [{ to: [{ operation: { methods: [GET] } }] }]
`,
    // A DENY being rolled out: evaluated and reported, not enforced.
    'deny-candidate.yaml': `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: no-reminder, namespace: default, annotations: { istio.io/dry-run: "true" } }
spec:
  action: DENY
  rules: [{ from: [{ source: { principals: [cluster.local/ns/default/sa/reminder] } }] }]
`,
  };
  const explain = await explainer(t, (await writeFixture({ policies })).configFile);
  const explained = await explain(REMINDER, 'GET', '/todos/1');
  t.is(explained.outcome, 'OUTCOME_ALLOW', 'the shadow DENY does not decide');
  t.like(explained.shadow, { outcome: 'OUTCOME_DENY', code: 'POLICY_DENIED', policies: ['default/no-reminder'], diverged: true });
  const unaffected = await explain('spiffe://cluster.local/ns/default/sa/share', 'GET', '/todos/1');
  t.is(unaffected.outcome, 'OUTCOME_ALLOW');
  t.like(unaffected.shadow, { outcome: 'OUTCOME_ALLOW', diverged: false });
});

test('policy files are reloaded on change; an invalid set is rejected and the last good set keeps serving', async (t) => {
  const allowGet = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: todos, namespace: default }
spec:
  action: ALLOW
  rules: [{ to: [{ operation: { methods: [GET] } }] }]
`;
  const fixture = await writeFixture({ policies: { 'todos.yaml': allowGet } });
  const gatehouse = await startGatehouse({ configFile: fixture.configFile });
  t.teardown(() => gatehouse.stop());
  const authz = connect(AUTHZ, gatehouse.address);
  t.teardown(() => authz.close());
  const post = () => authz.call<CheckResponse>('Check', checkRequest(REMINDER, TODOS, 'POST', '/todos'));

  t.truthy((await post()).denied_response);
  const policyFile = path.join(fixture.dir, 'policies', 'todos.yaml');
  await writeFile(policyFile, allowGet.replace('[GET]', '[GET, POST]'));
  await eventually(t, async () => (await post()).ok_response !== undefined, 'POST allowed after the reload');

  await writeFile(policyFile, `${allowGet}  bogus: true\n`);
  await eventually(
    t,
    () => Promise.resolve(gatehouse.logs.some((l) => l.msg === 'policy set rejected; the last good set keeps serving')),
    'rejection logged',
  );
  const rejection = gatehouse.logs.find((l) => l.msg === 'policy set rejected; the last good set keeps serving')!;
  t.regex(String(rejection.err), /todos\.yaml#0 spec\.bogus/);
  t.truthy((await post()).ok_response, 'last good set still serving');
  t.is(await readFile(policyFile, 'utf8').then((text) => text.includes('bogus')), true);
});

test('an invalid policy set at start-up fails fast with the precise error', async (t) => {
  const fixture = await writeFixture({
    policies: {
      'bad.yaml': 'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: x }\nspec: { action: PERMIT }\n',
    },
  });
  const error = await t.throwsAsync(startGatehouse({ configFile: fixture.configFile }));
  t.regex(error.message, /exited with 1/);
  t.regex(error.message, /bad\.yaml#0 spec\.action/);
});

test('SIGTERM drains: in-flight Checks finish, the process exits 0', async (t) => {
  const gatehouse = await startGatehouse({ configFile: DEMO_CONFIG_PATH });
  const authz = connect(AUTHZ, gatehouse.address);
  t.teardown(() => authz.close());
  await authz.call('Check', checkRequest(REMINDER, TODOS, 'GET', '/todos'));

  const calls = Array.from({ length: 200 }, () =>
    authz.call<CheckResponse>('Check', checkRequest(REMINDER, TODOS, 'GET', '/todos')).then(
      (response) => ({ ok: true as const, response }),
      (error: grpc.ServiceError) => ({ ok: false as const, error }),
    ),
  );
  setImmediate(() => gatehouse.process.kill('SIGTERM'));
  const results = await Promise.all(calls);
  t.is(await gatehouse.exited, 0);
  const answered = results.filter((r) => r.ok);
  t.true(answered.length > 0, 'some Checks were in flight');
  for (const result of results) {
    if (result.ok) t.is(result.response.status.code ?? 0, 0, 'an answered Check is a real decision');
    else t.is(result.error.code, grpc.status.UNAVAILABLE, 'an unanswered Check was refused, not broken');
  }
  t.true(gatehouse.logs.some((l) => l.msg === 'drained'));
});

test('logs never contain credentials, even at debug level with decision logs on', async (t) => {
  const fixture = await writeFixture({
    config: 'policies: { paths: [./policies] }\nlog: { level: debug }\ndecisionLog: { enabled: true, headers: [x-request-id] }\n',
  });
  const gatehouse = await startGatehouse({ configFile: fixture.configFile });
  const authz = connect(AUTHZ, gatehouse.address);
  t.teardown(() => authz.close());
  await authz.call(
    'Check',
    checkRequest(REMINDER, TODOS, 'GET', '/todos', { authorization: 'Bearer very-secret-token', cookie: 'session=cookie-secret' }),
  );
  await gatehouse.stop();
  const output = gatehouse.output();
  t.true(output.includes('"decision_id"'), 'the decision was logged');
  t.false(output.includes('very-secret-token'));
  t.false(output.includes('cookie-secret'));
});

async function eventually(t: { fail(message: string): void }, probe: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (await probe()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  t.fail(`timed out waiting for: ${what}`);
}

/** Lists services with grpc.reflection.v1, using the reflection package's own proto as any tool would. */
async function listServicesByReflection(address: string): Promise<string[]> {
  const protoPath = createRequire(import.meta.url).resolve('@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto');
  const definition = grpc.loadPackageDefinition(protoLoader.loadSync(protoPath, { keepCase: true }));
  const reflectionPackage = (definition.grpc as grpc.GrpcObject).reflection as grpc.GrpcObject;
  const Reflection = (reflectionPackage.v1 as grpc.GrpcObject).ServerReflection as grpc.ServiceClientConstructor;
  const client = new Reflection(address, grpc.credentials.createInsecure());
  try {
    const call = (
      client as unknown as {
        ServerReflectionInfo(): grpc.ClientDuplexStream<unknown, { list_services_response?: { service: { name: string }[] } }>;
      }
    ).ServerReflectionInfo();
    const response = await new Promise<{ list_services_response?: { service: { name: string }[] } }>((resolve, reject) => {
      call.on('data', resolve);
      call.on('error', reject);
      call.write({ list_services: '' });
    });
    call.end();
    return (response.list_services_response?.service ?? []).map((service) => service.name);
  } finally {
    client.close();
  }
}

/** The JSON body of a denial. */
function deniedBody(response: CheckResponse): { code: string; reason: string; decision_id: string } {
  return JSON.parse(response.denied_response!.body) as { code: string; reason: string; decision_id: string };
}
