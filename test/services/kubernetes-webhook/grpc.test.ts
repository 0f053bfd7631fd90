/**
 * The same reviews over gRPC with mTLS: KubernetesReviewService decides as
 * the HTTPS webhook does; bad input is INVALID_ARGUMENT naming the proto
 * field, never an allow; a client without a certificate does not get past
 * the handshake; health and reflection.
 */
import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { connect } from '../../helpers/grpc-client.js';
import {
  accessPolicy,
  APISERVER_NAME,
  BREAK_GLASS_TOKEN,
  BREAK_GLASS_YAML,
  createWebhookEnvironment,
  reflectedServices,
  reviewClient,
  startWebhook,
  userToken,
  type TestWebhook,
  type WebhookEnvironment,
} from '../../helpers/kubernetes-webhook.js';

let env: WebhookEnvironment;
let webhook: TestWebhook;

const policies = {
  'pods.yaml': accessPolicy(
    'todo-devs-read-pods',
    [
      '  rules:',
      '    - subjects: [{ groups: [todo-devs] }]',
      '      resources:',
      '        - verbs: [get, list]',
      '          apiGroups: [""]',
      '          resources: [pods]',
      '          namespaces: [default]',
      '          labelSelector: [{ key: app, operator: In, values: [todos] }]',
      '        - verbs: [get]',
      '          apiGroups: [""]',
      '          resources: [pods]',
      '          namespaces: [default]',
    ].join('\n'),
  ),
  'deny.yaml': accessPolicy(
    'no-exec',
    [
      '  action: DENY',
      '  rules:',
      '    - resources: [{ verbs: [create], apiGroups: [""], resources: [pods/exec], namespaces: ["*"] }]',
    ].join('\n'),
  ),
};

test.before(async () => {
  env = await createWebhookEnvironment();
  webhook = await startWebhook(env, { policies, extra: BREAK_GLASS_YAML });
});

test.after.always(async () => {
  await webhook?.service.close();
  await env?.close();
});

interface SarResponse {
  allowed?: boolean;
  denied?: boolean;
  reason?: string;
  evaluation_error?: string;
}

interface TokenReviewResponse {
  authenticated?: boolean;
  user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, { values?: string[] }> };
  audiences?: string[];
  error?: string;
}

const alice = { user: 'oidc:alice', groups: ['todo-devs'], extra: { 'example.org/team': { values: ['todo'] } }, uid: 'u-1' };

test('SubjectAccessReview: allowed, with a label selector that narrows a list to what the policy allows', async (t) => {
  const client = reviewClient(env, webhook.service.grpcPort);
  t.teardown(() => client.close());
  const get = await client.call<SarResponse>('SubjectAccessReview', {
    ...alice,
    resource_attributes: { verb: 'get', resource: 'pods', namespace: 'default', name: 'todos-1' },
  });
  t.true(get.allowed);
  t.falsy(get.denied);
  const list = await client.call<SarResponse>('SubjectAccessReview', {
    ...alice,
    resource_attributes: {
      verb: 'list',
      resource: 'pods',
      namespace: 'default',
      label_selector: { raw_selector: 'app=todos', requirements: [{ key: 'app', operator: 'In', values: ['todos'] }] },
    },
  });
  t.true(list.allowed);
  const unnarrowed = await client.call<SarResponse>('SubjectAccessReview', {
    ...alice,
    resource_attributes: { verb: 'list', resource: 'pods', namespace: 'default' },
  });
  t.falsy(unnarrowed.allowed, 'a list of every pod is more than the policy allows');
  t.falsy(unnarrowed.denied);
});

test('SubjectAccessReview: an explicit DENY, and a non-resource request nobody allows', async (t) => {
  const client = reviewClient(env, webhook.service.grpcPort);
  t.teardown(() => client.close());
  const exec = await client.call<SarResponse>('SubjectAccessReview', {
    ...alice,
    resource_attributes: { verb: 'create', resource: 'pods', subresource: 'exec', namespace: 'default', name: 'todos-1' },
  });
  t.falsy(exec.allowed);
  t.true(exec.denied);
  t.truthy(exec.reason);
  const metrics = await client.call<SarResponse>('SubjectAccessReview', {
    ...alice,
    non_resource_attributes: { verb: 'get', path: '/metrics' },
  });
  t.falsy(metrics.allowed);
  t.falsy(metrics.denied);
});

test('TokenReview: a real token is authenticated and mapped to its user; the break-glass token too', async (t) => {
  const client = reviewClient(env, webhook.service.grpcPort);
  t.teardown(() => client.close());
  const token = await userToken(env, { sub: 'bob', groups: ['todo-devs'] });
  const answer = await client.call<TokenReviewResponse>('TokenReview', { token });
  t.true(answer.authenticated);
  t.is(answer.user?.username, 'oidc:bob');
  t.deepEqual(answer.user?.groups, ['todo-devs']);
  t.deepEqual(answer.audiences, ['kubernetes']);
  t.falsy(answer.error);
  const breakGlass = await client.call<TokenReviewResponse>('TokenReview', { token: BREAK_GLASS_TOKEN, audiences: ['kubernetes'] });
  t.true(breakGlass.authenticated);
  t.is(breakGlass.user?.username, 'oncall-admin');
});

test('TokenReview: a token for other audiences is not authenticated, with the reason', async (t) => {
  const client = reviewClient(env, webhook.service.grpcPort);
  t.teardown(() => client.close());
  const answer = await client.call<TokenReviewResponse>('TokenReview', { token: await userToken(env), audiences: ['https://elsewhere'] });
  t.falsy(answer.authenticated);
  t.falsy(answer.user);
  t.truthy(answer.error);
});

const invalid: [name: string, method: string, request: Record<string, unknown>, field: string][] = [
  [
    'both attribute kinds',
    'SubjectAccessReview',
    { user: 'a', resource_attributes: { verb: 'get' }, non_resource_attributes: { verb: 'get', path: '/' } },
    'non_resource_attributes',
  ],
  ['neither attribute kind', 'SubjectAccessReview', { user: 'a' }, 'resource_attributes'],
  ['no verb', 'SubjectAccessReview', { user: 'a', resource_attributes: { resource: 'pods' } }, 'resource_attributes.verb'],
  ['no user', 'SubjectAccessReview', { groups: ['system:masters'], non_resource_attributes: { verb: 'get', path: '/' } }, 'user'],
  [
    'In without values',
    'SubjectAccessReview',
    { user: 'a', resource_attributes: { verb: 'list', field_selector: { requirements: [{ key: 'spec.nodeName', operator: 'In' }] } } },
    'resource_attributes.field_selector.requirements[0].values',
  ],
  ['no token', 'TokenReview', { audiences: ['kubernetes'] }, 'token'],
  ['an oversized token', 'TokenReview', { token: 'x'.repeat(16 * 1024 + 1) }, 'token'],
  ['an empty audience', 'TokenReview', { token: 'abc', audiences: [''] }, 'audiences[0]'],
];

for (const [name, method, request, field] of invalid) {
  test(`${method} with ${name}: INVALID_ARGUMENT naming ${field}`, async (t) => {
    const client = reviewClient(env, webhook.service.grpcPort);
    t.teardown(() => client.close());
    const error = await t.throwsAsync<grpc.ServiceError>(client.call(method, request));
    t.is(error?.code, grpc.status.INVALID_ARGUMENT);
    t.true(error?.details.startsWith(`${field}: `), error?.details);
  });
}

test('a message over limits.maxBodyBytes is refused by gRPC itself', async (t) => {
  const client = reviewClient(env, webhook.service.grpcPort);
  t.teardown(() => client.close());
  const groups = Array.from({ length: 20_000 }, (_, i) => `group-${i}`);
  const error = await t.throwsAsync<grpc.ServiceError>(
    client.call('SubjectAccessReview', { user: 'a', groups, non_resource_attributes: { verb: 'get', path: '/' } }),
  );
  t.is(error?.code, grpc.status.RESOURCE_EXHAUSTED);
});

test('no client certificate: the handshake fails, no review is answered', async (t) => {
  const client = reviewClient(env, webhook.service.grpcPort, null);
  t.teardown(() => client.close());
  const error = await t.throwsAsync<grpc.ServiceError>(
    client.call('SubjectAccessReview', { user: 'a', non_resource_attributes: { verb: 'get', path: '/' } }, 2000),
  );
  t.true(error?.code === grpc.status.UNAVAILABLE || error?.code === grpc.status.DEADLINE_EXCEEDED, String(error?.code));
});

test('a certificate of another CA: the handshake fails', async (t) => {
  const client = reviewClient(env, webhook.service.grpcPort, env.foreign);
  t.teardown(() => client.close());
  const error = await t.throwsAsync<grpc.ServiceError>(client.call('TokenReview', { token: BREAK_GLASS_TOKEN }, 2000));
  t.true(error?.code === grpc.status.UNAVAILABLE || error?.code === grpc.status.DEADLINE_EXCEEDED, String(error?.code));
});

test('allowedClientNames: another client of the CA gets PERMISSION_DENIED; the apiserver is answered', async (t) => {
  const narrowed = await startWebhook(env, { policies, allowedClientNames: [APISERVER_NAME] });
  t.teardown(() => narrowed.service.close());
  const stranger = reviewClient(env, narrowed.service.grpcPort, env.stranger);
  t.teardown(() => stranger.close());
  const error = await t.throwsAsync<grpc.ServiceError>(stranger.call('TokenReview', { token: BREAK_GLASS_TOKEN }));
  t.is(error?.code, grpc.status.PERMISSION_DENIED);
  const apiserver = reviewClient(env, narrowed.service.grpcPort);
  t.teardown(() => apiserver.close());
  const answer = await apiserver.call<SarResponse>('SubjectAccessReview', {
    ...alice,
    resource_attributes: { verb: 'get', resource: 'pods', namespace: 'default' },
  });
  t.true(answer.allowed);
});

test('health reports SERVING for the server and the review service; reflection lists it', async (t) => {
  const credentials = grpc.credentials.createSsl(
    Buffer.from(env.ca.certPem),
    Buffer.from(env.apiserver.keyPem),
    Buffer.from(env.apiserver.certPem),
  );
  const health = connect('grpc.health.v1.Health', `127.0.0.1:${webhook.service.grpcPort}`, credentials);
  t.teardown(() => health.close());
  t.deepEqual(await health.call('Check', { service: '' }), { status: 'SERVING' });
  t.deepEqual(await health.call('Check', { service: 'gatehouse.kubernetes.v1.KubernetesReviewService' }), { status: 'SERVING' });
  const services = await reflectedServices(env, webhook.service.grpcPort);
  t.true(services.includes('gatehouse.kubernetes.v1.KubernetesReviewService'), services.join(', '));
  t.true(services.includes('grpc.health.v1.Health'));
});
