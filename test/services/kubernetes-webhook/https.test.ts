/**
 * The webhook over HTTPS as kube-apiserver calls it: the documented
 * SubjectAccessReview and TokenReview bodies in both versions, posted with
 * kube-apiserver's client certificate; real KubernetesAccessPolicy files;
 * real JWTs verified against a real JWKS server. Then every refusal: no
 * certificate, an untrusted one, a name not allowed, malformed bodies,
 * wrong content type, oversized bodies, wrong methods and paths. None of
 * them is ever a 200.
 */
import { Agent } from 'node:https';
import test from 'ava';
import {
  accessPolicy,
  APISERVER_NAME,
  BREAK_GLASS_TOKEN,
  BREAK_GLASS_YAML,
  callWebhook,
  createWebhookEnvironment,
  documentedSubjectAccessReviews,
  documentedTokenReview,
  sarBody,
  startWebhook,
  tokenReviewBody,
  userToken,
  type TestWebhook,
  type WebhookEnvironment,
} from '../../helpers/kubernetes-webhook.js';
import { epochSeconds } from '../../helpers/tokens.js';

let env: WebhookEnvironment;
let webhook: TestWebhook;
let authorize: string;
let authenticate: string;

/** The documentation's jane (groups group1, group2) may get pods in kittensandponies and /debug; nobody outside sre touches secrets in default. */
const policies = {
  'documented.yaml': accessPolicy(
    'jane-reads',
    [
      '  rules:',
      '    - subjects: [{ groups: [group1] }]',
      '      resources: [{ verbs: [get, list], apiGroups: [unicorn.example.org, ""], resources: [pods], namespaces: [kittensandponies, ""] }]',
      '    - subjects: [{ groups: [group2] }]',
      '      nonResources: [{ verbs: [get], paths: [/debug] }]',
    ].join('\n'),
  ),
  'secrets.yaml': accessPolicy(
    'secrets-sre-only',
    [
      '  action: DENY',
      '  rules:',
      '    - subjects: [{ notGroups: [sre] }]',
      '      resources: [{ verbs: ["*"], apiGroups: [""], resources: [secrets], namespaces: [default] }]',
    ].join('\n'),
  ),
};

test.before(async () => {
  env = await createWebhookEnvironment();
  webhook = await startWebhook(env, { policies, extra: BREAK_GLASS_YAML });
  authorize = `${webhook.baseUrl}/authorize`;
  authenticate = `${webhook.baseUrl}/authenticate`;
});

test.after.always(async () => {
  await webhook?.service.close();
  await env?.close();
});

for (const version of ['v1', 'v1beta1'] as const) {
  const docs = documentedSubjectAccessReviews(version);

  test(`${version}: the documented resource request is allowed, answered as the same object with its status`, async (t) => {
    const body = { ...docs.resource, metadata: { creationTimestamp: null }, status: { allowed: false } };
    const answer = await callWebhook(env, authorize, JSON.stringify(body));
    t.is(answer.status, 200);
    t.is(answer.headers['content-type'], 'application/json');
    t.like(answer.body, {
      apiVersion: `authorization.k8s.io/${version}`,
      kind: 'SubjectAccessReview',
      metadata: { creationTimestamp: null },
      spec: docs.resource.spec,
      status: { allowed: true },
    });
    t.is((answer.body.status as Record<string, unknown>).denied, undefined, 'denied is sent only when true');
  });

  test(`${version}: the documented non-resource request (/debug) is allowed`, async (t) => {
    const answer = await callWebhook(env, authorize, JSON.stringify(docs.nonResource));
    t.is(answer.status, 200);
    t.like(answer.body, { apiVersion: `authorization.k8s.io/${version}`, status: { allowed: true } });
  });

  test(`${version}: the documented selector request is decided`, async (t) => {
    const answer = await callWebhook(env, authorize, JSON.stringify(docs.selectors));
    t.is(answer.status, 200);
    t.like(answer.body, { status: { allowed: true } });
  });

  test(`${version}: a TokenReview with a real token of the identity provider authenticates its user`, async (t) => {
    const token = await userToken(env, { sub: 'alice', groups: ['todo-devs', 'sre'] });
    const answer = await callWebhook(env, authenticate, JSON.stringify({ ...documentedTokenReview(version, token), spec: { token } }));
    t.is(answer.status, 200);
    t.deepEqual(answer.body, {
      apiVersion: `authentication.k8s.io/${version}`,
      kind: 'TokenReview',
      status: { authenticated: true, user: { username: 'oidc:alice', groups: ['todo-devs', 'sre'] }, audiences: ['kubernetes'] },
    });
  });

  test(`${version}: the documented TokenReview asks for audiences the token is not for: not authenticated`, async (t) => {
    const token = await userToken(env);
    const answer = await callWebhook(env, authenticate, JSON.stringify(documentedTokenReview(version, token)));
    t.is(answer.status, 200);
    t.like(answer.body, { apiVersion: `authentication.k8s.io/${version}`, kind: 'TokenReview', status: { authenticated: false } });
    t.regex((answer.body.status as { error: string }).error, /audiences/);
  });
}

test('a SubjectAccessReview no policy speaks to is answered with no opinion: not allowed, not denied, with a reason', async (t) => {
  const answer = await callWebhook(
    env,
    authorize,
    sarBody('v1', {
      resourceAttributes: { verb: 'delete', resource: 'pods', namespace: 'kittensandponies' },
      user: 'jane',
      groups: ['group1'],
    }),
  );
  t.is(answer.status, 200);
  const status = answer.body.status as Record<string, unknown>;
  t.is(status.allowed, false);
  t.is(status.denied, undefined);
  t.is(typeof status.reason, 'string');
});

test('a DENY policy answers denied: true, which short-circuits the other authorizers', async (t) => {
  const answer = await callWebhook(
    env,
    authorize,
    sarBody('v1', {
      resourceAttributes: { verb: 'get', resource: 'secrets', namespace: 'default', name: 'db' },
      user: 'jane',
      groups: ['group1'],
    }),
  );
  t.is(answer.status, 200);
  t.like(answer.body, { status: { allowed: false, denied: true } });
});

test('a break-glass group is allowed past every policy, and the allow is counted', async (t) => {
  const before = webhook.service.reviews.stats().subjectAccessReviews.breakGlass;
  const answer = await callWebhook(
    env,
    authorize,
    sarBody('v1', {
      resourceAttributes: { verb: 'get', resource: 'secrets', namespace: 'default' },
      user: 'oncall',
      groups: ['emergency'],
    }),
  );
  t.like(answer.body, { status: { allowed: true } });
  const after = webhook.service.reviews.stats().subjectAccessReviews.breakGlass;
  const total = (counts: Readonly<Record<string, number>>): number => Object.values(counts).reduce((sum, n) => sum + n, 0);
  t.is(total(after), total(before) + 1);
});

test('the break-glass token authenticates as its configured user', async (t) => {
  const answer = await callWebhook(env, authenticate, tokenReviewBody('v1', { token: BREAK_GLASS_TOKEN }));
  t.like(answer.body, { status: { authenticated: true, user: { username: 'oncall-admin', groups: ['sre'] } } });
});

test('an expired token, a forged token and garbage are not authenticated, each with an error that does not quote it', async (t) => {
  const now = epochSeconds();
  const expired = await userToken(env, { iat: now - 1200, exp: now - 600 });
  const forged = `${(await userToken(env)).slice(0, -8)}AAAAAAAA`;
  for (const token of [expired, forged, 'not-a-jwt']) {
    const answer = await callWebhook(env, authenticate, tokenReviewBody('v1', { token }));
    t.is(answer.status, 200);
    const status = answer.body.status as { authenticated: boolean; error: string };
    t.false(status.authenticated);
    t.true(status.error.length > 0);
    t.false(JSON.stringify(answer.body).includes(token));
  }
});

test('keep-alive: kube-apiserver reuses one connection for many reviews', async (t) => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const sockets = new Set<unknown>();
  agent.on('free', (socket) => sockets.add(socket));
  for (let i = 0; i < 3; i++) {
    const answer = await callWebhook(env, authorize, JSON.stringify(documentedSubjectAccessReviews('v1').nonResource), {
      client: env.apiserver,
      agent,
    });
    t.is(answer.status, 200);
    t.is(answer.headers.connection, 'keep-alive');
  }
  t.is(sockets.size, 1);
});

test('probes answer without a client certificate: /healthz and /readyz', async (t) => {
  for (const path of ['/healthz', '/readyz']) {
    const answer = await callWebhook(env, `${webhook.baseUrl}${path}`, undefined, {});
    t.is(answer.status, 200);
    t.deepEqual(answer.body, { text: 'ok' });
  }
});

test('no client certificate: 401, never a review', async (t) => {
  const token = await userToken(env);
  for (const [url, body] of [
    [authorize, JSON.stringify(documentedSubjectAccessReviews('v1').resource)],
    [authenticate, tokenReviewBody('v1', { token })],
  ] as const) {
    const answer = await callWebhook(env, url, body, {});
    t.is(answer.status, 401);
    t.like(answer.body, { kind: 'Status', status: 'Failure', reason: 'Unauthorized', code: 401 });
    t.false('spec' in answer.body);
  }
});

test('a client certificate of another CA: 401', async (t) => {
  const answer = await callWebhook(env, authorize, JSON.stringify(documentedSubjectAccessReviews('v1').resource), { client: env.foreign });
  t.is(answer.status, 401);
  t.regex(answer.body.message as string, /not trusted/);
});

test('allowedClientNames: the apiserver (by its CN) may ask; another client of the same CA is refused with 403', async (t) => {
  const narrowed = await startWebhook(env, { policies, allowedClientNames: [APISERVER_NAME] });
  t.teardown(() => narrowed.service.close());
  const body = JSON.stringify(documentedSubjectAccessReviews('v1').resource);
  const allowed = await callWebhook(env, `${narrowed.baseUrl}/authorize`, body, { client: env.apiserver });
  t.like(allowed.body, { status: { allowed: true } });
  const refused = await callWebhook(env, `${narrowed.baseUrl}/authorize`, body, { client: env.stranger });
  t.is(refused.status, 403);
  t.like(refused.body, { kind: 'Status', reason: 'Forbidden' });
  const bySan = await startWebhook(env, { policies, allowedClientNames: ['workload.example'] });
  t.teardown(() => bySan.service.close());
  t.is((await callWebhook(env, `${bySan.baseUrl}/authorize`, body, { client: env.stranger })).status, 200, 'a DNS SAN names a client too');
});

test('malformed bodies: 400 with a Status whose message and cause name the field', async (t) => {
  const rows: [url: string, body: string, field: string][] = [
    [authorize, '{', ''],
    [authorize, sarBody('v1', { user: 'jane' }), 'spec.resourceAttributes'],
    [
      authorize,
      sarBody('v1', { resourceAttributes: { verb: 'get' }, nonResourceAttributes: { verb: 'get', path: '/' }, user: 'jane' }),
      'spec.nonResourceAttributes',
    ],
    [authorize, sarBody('v1', { resourceAttributes: { resource: 'pods' }, user: 'jane' }), 'spec.resourceAttributes.verb'],
    [authorize, sarBody('v1', { resourceAttributes: { verb: 'get' } }), 'spec.user'],
    [authorize, sarBody('v1beta1', { resourceAttributes: { verb: 'get' }, user: 'jane', groups: ['a'] }), 'spec.groups'],
    [authorize, tokenReviewBody('v1', { token: 'x' }), 'apiVersion'],
    [authenticate, tokenReviewBody('v1', {}), 'spec.token'],
    [authenticate, tokenReviewBody('v1', { token: 7 }), 'spec.token'],
    [authenticate, tokenReviewBody('v1', { token: 'x'.repeat(16 * 1024 + 1) }), 'spec.token'],
    [authenticate, sarBody('v1', { resourceAttributes: { verb: 'get' }, user: 'jane' }), 'apiVersion'],
  ];
  for (const [url, body, field] of rows) {
    const answer = await callWebhook(env, url, body);
    t.is(answer.status, 400, `${field}: ${JSON.stringify(answer.body)}`);
    t.like(answer.body, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'BadRequest', code: 400 });
    t.false('status' in answer.body && typeof answer.body.status === 'object', 'never a review status');
    if (field === '') continue;
    t.true((answer.body.message as string).startsWith(`${field}: `), answer.body.message as string);
    t.like(answer.body, { details: { causes: [{ field }] } });
  }
});

test('a body that is not UTF-8: 400', async (t) => {
  const answer = await callWebhook(env, authorize, Buffer.from([0x7b, 0xff, 0x7d]), {
    client: env.apiserver,
    contentType: 'application/json',
  });
  t.is(answer.status, 400);
  t.like(answer.body, { message: 'the body is not UTF-8' });
});

test('content type other than application/json: 415; application/json with a charset is fine', async (t) => {
  const body = JSON.stringify(documentedSubjectAccessReviews('v1').resource);
  const refused = await callWebhook(env, authorize, body, { client: env.apiserver, contentType: 'application/x-www-form-urlencoded' });
  t.is(refused.status, 415);
  t.like(refused.body, { reason: 'UnsupportedMediaType' });
  const accepted = await callWebhook(env, authorize, body, { client: env.apiserver, contentType: 'application/json; charset=utf-8' });
  t.is(accepted.status, 200);
});

test('a body over limits.maxBodyBytes: 413, the connection closed', async (t) => {
  const spec = {
    resourceAttributes: { verb: 'get', resource: 'pods' },
    user: 'jane',
    groups: Array.from({ length: 20_000 }, (_, i) => `group-${i}`),
  };
  const answer = await callWebhook(env, authorize, sarBody('v1', spec));
  t.is(answer.status, 413);
  t.like(answer.body, { kind: 'Status', reason: 'RequestEntityTooLarge' });
  t.is(answer.headers.connection, 'close');
});

test('wrong methods and paths: 405 and 404', async (t) => {
  const get = await callWebhook(env, authorize, undefined, { client: env.apiserver });
  t.is(get.status, 405);
  t.is(get.headers.allow, 'POST');
  const other = await callWebhook(env, `${webhook.baseUrl}/apis/authorization.k8s.io/v1/subjectaccessreviews`, '{}');
  t.is(other.status, 404);
  const postProbe = await callWebhook(env, `${webhook.baseUrl}/healthz`, '{}');
  t.is(postProbe.status, 405);
});
