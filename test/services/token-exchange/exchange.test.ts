/**
 * The token exchange as its callers see it: real HTTPS and gRPC listeners on
 * loopback with mTLS certificates (SPIFFE URI SANs), a real JWKS server for
 * the subject tokens' issuer and another for actor tokens, DelegationPolicy
 * files, and minted tokens verified with the JWKS the service publishes.
 */
import { createServer, type AddressInfo } from 'node:net';
import test from 'ava';
import type * as grpc from '@grpc/grpc-js';
import { decodeProtectedHeader } from 'jose';
import { meshIds } from '../../helpers/certs.js';
import {
  ACCESS_TOKEN_TYPE,
  actorToken,
  createEnvironment,
  delegationPolicy,
  getJson,
  GRANT,
  grpcClient,
  JWT_TYPE,
  postForm,
  startService,
  userToken,
  verifyMinted,
  type Environment,
  type TestService,
} from '../../helpers/token-exchange.js';
import { freePort } from '../../helpers/redis.js';
import { epochSeconds, generateTestKey, signToken } from '../../helpers/tokens.js';

let env: Environment;
let te: TestService;

const shareActors = [meshIds.share, meshIds.reminder, 'system:serviceaccount:default:share'];

test.before(async () => {
  env = await createEnvironment();
  te = await startService(env, {
    policies: {
      'delegation.yaml': delegationPolicy('share-for-users', shareActors, [`${env.idp.url}/*`], ['todos', 'https://todos.example/api']),
    },
  });
});

test.after.always(async () => {
  await te?.service.close();
  await env?.close();
});

const exchangeForm = (subjectToken: string, extra: Record<string, string | string[]> = {}): Record<string, string | string[]> => ({
  grant_type: GRANT,
  subject_token: subjectToken,
  subject_token_type: ACCESS_TOKEN_TYPE,
  audience: 'todos',
  ...extra,
});

test("mTLS: the share service exchanges Bob's token for a down-scoped token to the todo service", async (t) => {
  const subject = await userToken(env);
  const before = epochSeconds();
  const answer = await postForm(env, te.tokenUrl, exchangeForm(subject, { scope: 'todos:read' }), { client: env.pki.share });
  t.is(answer.status, 200, JSON.stringify(answer.body));
  t.is(answer.headers['cache-control'], 'no-store');
  t.like(answer.body, { issued_token_type: ACCESS_TOKEN_TYPE, token_type: 'Bearer', scope: 'todos:read' });
  const expiresIn = answer.body['expires_in'] as number;
  t.true(expiresIn > 290 && expiresIn <= 300);

  const token = answer.body['access_token'] as string;
  const { payload, protectedHeader } = await verifyMinted(env, te.issuer, token, 'todos');
  t.deepEqual(protectedHeader, { alg: 'ES256', kid: 'k1', typ: 'at+jwt' });
  t.like(payload, { iss: te.issuer, sub: 'bob', sub_iss: env.idp.url, aud: 'todos', scope: 'todos:read', client_id: meshIds.share });
  t.deepEqual(payload['act'], { sub: meshIds.share });
  t.is(payload['may_act'], undefined);
  t.true(payload.exp! - payload.iat! === 300 && payload.iat! >= before);
  t.is(typeof payload.jti, 'string');
});

test("without a scope parameter the new token keeps the subject token's scopes", async (t) => {
  const answer = await postForm(env, te.tokenUrl, exchangeForm(await userToken(env, { jti: 'no-scope' })), { client: env.pki.share });
  t.is(answer.status, 200);
  t.is(answer.body['scope'], 'todos:read todos:write');
});

test('the new token never outlives the subject token', async (t) => {
  const exp = epochSeconds() + 45;
  const answer = await postForm(env, te.tokenUrl, exchangeForm(await userToken(env, { exp })), { client: env.pki.share });
  t.is(answer.status, 200);
  const { payload } = await verifyMinted(env, te.issuer, answer.body['access_token'] as string, 'todos');
  t.is(payload.exp, exp);
  t.true((answer.body['expires_in'] as number) <= 45);
});

test('requested_token_type jwt is issued as a jwt; resource and audience together make the audience list', async (t) => {
  const answer = await postForm(
    env,
    te.tokenUrl,
    exchangeForm(await userToken(env), {
      requested_token_type: JWT_TYPE,
      resource: 'https://todos.example/api',
      subject_token_type: JWT_TYPE,
    }),
    { client: env.pki.share },
  );
  t.is(answer.status, 200, JSON.stringify(answer.body));
  t.is(answer.body['issued_token_type'], JWT_TYPE);
  const { payload } = await verifyMinted(env, te.issuer, answer.body['access_token'] as string, 'https://todos.example/api');
  t.deepEqual(payload.aud, ['todos', 'https://todos.example/api']);
});

test('actor_token: a client without a certificate authenticates with a service account token; its sub is the actor', async (t) => {
  const answer = await postForm(
    env,
    te.tokenUrl,
    exchangeForm(await userToken(env), { actor_token: await actorToken(env), actor_token_type: JWT_TYPE }),
  );
  t.is(answer.status, 200, JSON.stringify(answer.body));
  const { payload } = await verifyMinted(env, te.issuer, answer.body['access_token'] as string, 'todos');
  t.deepEqual(payload['act'], { sub: 'system:serviceaccount:default:share' });
});

test('nested chain: a token already delegated to the reminder service gains the share service on top', async (t) => {
  const subject = await userToken(env, { act: { sub: meshIds.reminder } });
  const answer = await postForm(env, te.tokenUrl, exchangeForm(subject), { client: env.pki.share });
  t.is(answer.status, 200, JSON.stringify(answer.body));
  const { payload } = await verifyMinted(env, te.issuer, answer.body['access_token'] as string, 'todos');
  t.deepEqual(payload['act'], { sub: meshIds.share, act: { sub: meshIds.reminder } });
});

test('may_act naming another actor is unauthorized_client', async (t) => {
  const subject = await userToken(env, { may_act: { sub: meshIds.reminder } });
  const answer = await postForm(env, te.tokenUrl, exchangeForm(subject), { client: env.pki.share });
  t.is(answer.status, 400);
  t.is(answer.body['error'], 'unauthorized_client');
  t.regex(answer.body['error_description'] as string, /DELEGATION_MAY_ACT_MISMATCH/);
});

test('a second identical exchange returns the cached token', async (t) => {
  const subject = await userToken(env, { jti: 'cache-me' });
  const first = await postForm(env, te.tokenUrl, exchangeForm(subject, { scope: 'todos:read' }), { client: env.pki.share });
  const second = await postForm(env, te.tokenUrl, exchangeForm(subject, { scope: 'todos:read' }), { client: env.pki.share });
  t.is(first.status, 200);
  t.is(second.body['access_token'], first.body['access_token']);
  const otherScope = await postForm(env, te.tokenUrl, exchangeForm(subject, { scope: 'todos:write' }), { client: env.pki.share });
  t.not(otherScope.body['access_token'], first.body['access_token']);
  const otherActor = await postForm(env, te.tokenUrl, exchangeForm(subject, { scope: 'todos:read' }), { client: env.pki.reminder });
  t.not(otherActor.body['access_token'], first.body['access_token']);
});

interface ErrorRow {
  readonly name: string;
  readonly status: number;
  readonly error: string;
  readonly request: () => Promise<Parameters<typeof postForm>>;
}

const errorRows: ErrorRow[] = [
  {
    name: 'missing grant_type',
    status: 400,
    error: 'invalid_request',
    request: async () => [env, te.tokenUrl, { ...exchangeForm(await userToken(env)), grant_type: '' }, { client: env.pki.share }],
  },
  {
    name: 'wrong grant_type',
    status: 400,
    error: 'unsupported_grant_type',
    request: async () => [
      env,
      te.tokenUrl,
      { ...exchangeForm(await userToken(env)), grant_type: 'client_credentials' },
      { client: env.pki.share },
    ],
  },
  {
    name: 'missing subject_token',
    status: 400,
    error: 'invalid_request',
    request: () => Promise.resolve([env, te.tokenUrl, exchangeForm(''), { client: env.pki.share }]),
  },
  {
    name: 'unsupported subject_token_type',
    status: 400,
    error: 'invalid_request',
    request: async () => [
      env,
      te.tokenUrl,
      exchangeForm(await userToken(env), { subject_token_type: 'urn:ietf:params:oauth:token-type:saml2' }),
      { client: env.pki.share },
    ],
  },
  {
    name: 'grant_type sent twice',
    status: 400,
    error: 'invalid_request',
    request: async () => [env, te.tokenUrl, exchangeForm(await userToken(env), { grant_type: [GRANT, GRANT] }), { client: env.pki.share }],
  },
  {
    name: 'no audience or resource',
    status: 400,
    error: 'invalid_request',
    request: async () => [env, te.tokenUrl, { ...exchangeForm(await userToken(env)), audience: '' }, { client: env.pki.share }],
  },
  {
    name: 'invalid subject token (expired)',
    status: 400,
    error: 'invalid_grant',
    request: async () => [env, te.tokenUrl, exchangeForm(await userToken(env, { exp: epochSeconds() - 3600 })), { client: env.pki.share }],
  },
  {
    name: 'invalid subject token (signed by an unknown key)',
    status: 400,
    error: 'invalid_grant',
    request: async () => {
      const stranger = await generateTestKey('ES256', env.idpKey.kid);
      const forged = await signToken({ iss: env.idp.url, sub: 'bob', aud: 'share', exp: epochSeconds() + 60 }, stranger);
      return [env, te.tokenUrl, exchangeForm(forged), { client: env.pki.share }];
    },
  },
  {
    name: 'subject token of an issuer the service does not accept',
    status: 400,
    error: 'invalid_grant',
    request: async () => [env, te.tokenUrl, exchangeForm(await actorToken(env)), { client: env.pki.share }],
  },
  {
    name: 'no client authentication',
    status: 401,
    error: 'invalid_client',
    request: async () => [env, te.tokenUrl, exchangeForm(await userToken(env)), {}],
  },
  {
    name: 'an invalid actor token',
    status: 401,
    error: 'invalid_client',
    request: async () => [
      env,
      te.tokenUrl,
      exchangeForm(await userToken(env), { actor_token: await actorToken(env, 'x', { aud: 'elsewhere' }), actor_token_type: JWT_TYPE }),
      {},
    ],
  },
  {
    name: 'a client certificate without a SPIFFE ID',
    status: 401,
    error: 'invalid_client',
    request: async () => [env, te.tokenUrl, exchangeForm(await userToken(env)), { client: env.pki.noSan }],
  },
  {
    name: 'actor_token without actor_token_type',
    status: 400,
    error: 'invalid_request',
    request: async () => [env, te.tokenUrl, exchangeForm(await userToken(env), { actor_token: await actorToken(env) }), {}],
  },
  {
    name: 'audience not permitted by the delegation rules',
    status: 400,
    error: 'invalid_target',
    request: async () => [env, te.tokenUrl, exchangeForm(await userToken(env), { audience: 'payments' }), { client: env.pki.share }],
  },
  {
    name: 'one permitted and one forbidden audience',
    status: 400,
    error: 'invalid_target',
    request: async () => [
      env,
      te.tokenUrl,
      exchangeForm(await userToken(env), { audience: ['todos', 'payments'] }),
      { client: env.pki.share },
    ],
  },
  {
    name: 'an actor no rule names',
    status: 400,
    error: 'invalid_target',
    request: async () => [env, te.tokenUrl, exchangeForm(await userToken(env)), { client: env.pki.todos }],
  },
  {
    name: 'scope escalation',
    status: 400,
    error: 'invalid_scope',
    request: async () => [
      env,
      te.tokenUrl,
      exchangeForm(await userToken(env), { scope: 'todos:read todos:admin' }),
      { client: env.pki.share },
    ],
  },
  {
    name: 'wrong content type',
    status: 400,
    error: 'invalid_request',
    request: async () => [
      env,
      te.tokenUrl,
      {},
      { client: env.pki.share, contentType: 'application/json', body: JSON.stringify(exchangeForm(await userToken(env))) },
    ],
  },
  {
    name: 'oversized body',
    status: 400,
    error: 'invalid_request',
    request: async () => [
      env,
      te.tokenUrl,
      exchangeForm(await userToken(env), { padding: 'x'.repeat(70 * 1024) }),
      { client: env.pki.share },
    ],
  },
];

for (const row of errorRows) {
  test(`error: ${row.name} → ${row.status} ${row.error}`, async (t) => {
    const answer = await postForm(...(await row.request()));
    t.is(answer.status, row.status, JSON.stringify(answer.body));
    t.is(answer.body['error'], row.error);
    t.is(typeof answer.body['error_description'], 'string');
    t.is(answer.body['access_token'], undefined);
  });
}

test('error descriptions never quote the tokens', async (t) => {
  const subject = await userToken(env, { exp: epochSeconds() - 3600 });
  const answer = await postForm(env, te.tokenUrl, exchangeForm(subject), { client: env.pki.share });
  t.false(JSON.stringify(answer.body).includes(subject.split('.')[1]!));
});

test('the token endpoint is POST only', async (t) => {
  const answer = await getJson(env, te.tokenUrl);
  t.is(answer.status, 405);
  t.is(answer.body['error'], 'invalid_request');
});

test('discovery names the issuer, the JWKS and the token endpoint; the JWKS publishes public keys only', async (t) => {
  const discovery = await getJson(env, `${te.issuer}/.well-known/openid-configuration`);
  t.like(discovery.body, {
    issuer: te.issuer,
    jwks_uri: `${te.issuer}/.well-known/jwks.json`,
    token_endpoint: `${te.issuer}/token`,
    grant_types_supported: [GRANT],
  });
  const jwks = await getJson(env, `${te.issuer}/.well-known/jwks.json`);
  const keys = jwks.body['keys'] as Record<string, unknown>[];
  t.is(keys.length, 1);
  t.like(keys[0], { kid: 'k1', alg: 'ES256', use: 'sig', kty: 'EC', crv: 'P-256' });
  t.is(keys[0]!['d'], undefined);
  t.is((await getJson(env, `${te.issuer}/healthz`)).status, 200);
});

test('gRPC over mTLS: Exchange mints the same kind of token', async (t) => {
  const client = grpcClient(env, te.service.grpcPort, env.pki.share);
  t.teardown(() => client.close());
  const response = await client.call('Exchange', {
    subject_token: await userToken(env),
    subject_token_type: ACCESS_TOKEN_TYPE,
    audience: ['todos'],
    scope: 'todos:read',
  });
  t.like(response, { issued_token_type: ACCESS_TOKEN_TYPE, token_type: 'Bearer', scope: 'todos:read' });
  const token = response['access_token'] as string;
  t.is(decodeProtectedHeader(token).kid, 'k1');
  const { payload } = await verifyMinted(env, te.issuer, token, 'todos');
  t.deepEqual(payload['act'], { sub: meshIds.share });
});

test('gRPC with an actor token and no client certificate', async (t) => {
  const client = grpcClient(env, te.service.grpcPort);
  t.teardown(() => client.close());
  const response = await client.call('Exchange', {
    grant_type: GRANT,
    subject_token: await userToken(env),
    subject_token_type: JWT_TYPE,
    actor_token: await actorToken(env),
    actor_token_type: JWT_TYPE,
    audience: ['todos'],
  });
  const { payload } = await verifyMinted(env, te.issuer, response['access_token'] as string, 'todos');
  t.deepEqual(payload['act'], { sub: 'system:serviceaccount:default:share' });
});

test('gRPC errors: the status code and the OAuth error in trailing metadata', async (t) => {
  const anonymous = grpcClient(env, te.service.grpcPort);
  const share = grpcClient(env, te.service.grpcPort, env.pki.share);
  t.teardown(() => {
    anonymous.close();
    share.close();
  });
  const subject = await userToken(env);
  const rows: [typeof share, Record<string, unknown>, number, string][] = [
    [anonymous, { subject_token: subject, subject_token_type: JWT_TYPE, audience: ['todos'] }, 16, 'invalid_client'],
    [share, { subject_token: subject, subject_token_type: JWT_TYPE, audience: ['payments'] }, 7, 'invalid_target'],
    [share, { subject_token: subject, subject_token_type: JWT_TYPE, audience: ['todos'], scope: 'admin' }, 3, 'invalid_scope'],
    [share, { subject_token: 'not-a-jwt', subject_token_type: JWT_TYPE, audience: ['todos'] }, 3, 'invalid_grant'],
    [
      share,
      { grant_type: 'password', subject_token: subject, subject_token_type: JWT_TYPE, audience: ['todos'] },
      3,
      'unsupported_grant_type',
    ],
  ];
  for (const [client, request, code, oauthError] of rows) {
    const error = await t.throwsAsync<grpc.ServiceError>(client.call('Exchange', request));
    t.is(error?.code, code, oauthError);
    t.is(error?.metadata.get('oauth-error')[0], oauthError);
    t.true(error?.details.startsWith(`${oauthError}: `));
  }
});

test('gRPC health: the service reports SERVING', async (t) => {
  const { connect } = await import('../../helpers/grpc-client.js');
  const grpcJs = await import('@grpc/grpc-js');
  const health = connect(
    'grpc.health.v1.Health',
    `127.0.0.1:${te.service.grpcPort}`,
    grpcJs.credentials.createSsl(Buffer.from(env.pki.ca.certPem)),
  );
  t.teardown(() => health.close());
  t.deepEqual(await health.call('Check', { service: 'gatehouse.tokenexchange.v1.TokenExchangeService' }), { status: 'SERVING' });
});

test('a gRPC port already taken fails start-up and leaves nothing listening (the HTTPS port is free again)', async (t) => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => taken.close());
  const httpsPort = await freePort();
  await t.throwsAsync(startService(env, { httpsPort, grpcPort: (taken.address() as AddressInfo).port }), {
    message: /bind|EADDRINUSE|No address added/i,
  });
  const again = createServer();
  await new Promise<void>((resolve, reject) => again.once('error', reject).listen(httpsPort, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => again.close(() => resolve()));
  t.pass();
});
