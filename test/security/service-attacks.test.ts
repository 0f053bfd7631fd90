/**
 * The security table of the companion services: one test per attack on the
 * Kubernetes webhook (over HTTPS, as kube-apiserver calls it, with its client
 * certificate) and on the token exchange (HTTPS form posts), each asserting
 * the HTTP status and the reason the service answers with. Both services run
 * in process on loopback, started once for the table. The gateway's rows are
 * in attacks.test.ts; docs/security.md lists them all.
 */
import test from 'ava';
import {
  createWebhookEnvironment,
  callWebhook,
  documentedSubjectAccessReviews,
  documentedTokenReview,
  sarBody,
  startWebhook,
  type TestWebhook,
  type WebhookEnvironment,
} from '../helpers/kubernetes-webhook.js';
import {
  ACCESS_TOKEN_TYPE,
  createEnvironment,
  GRANT,
  postForm,
  startService,
  userToken,
  type Environment,
  type TestService,
} from '../helpers/token-exchange.js';

let webhookEnv: WebhookEnvironment;
let webhook: TestWebhook;
let exchangeEnv: Environment;
let exchange: TestService;

test.before(async () => {
  [webhookEnv, exchangeEnv] = await Promise.all([createWebhookEnvironment(), createEnvironment()]);
  [webhook, exchange] = await Promise.all([startWebhook(webhookEnv), startService(exchangeEnv)]);
});

test.after.always(async () => {
  await Promise.all([webhook?.service.close(), exchange?.service.close()]);
  await Promise.all([webhookEnv?.close(), exchangeEnv?.close()]);
});

// Kubernetes webhook

test('webhook SubjectAccessReview with a wrong apiVersion: 400 naming the field, never a review status', async (t) => {
  const review = { ...documentedSubjectAccessReviews('v1').resource, apiVersion: 'authorization.k8s.io/v2' };
  const answer = await callWebhook(webhookEnv, `${webhook.baseUrl}/authorize`, JSON.stringify(review));
  t.is(answer.status, 400);
  t.like(answer.body, { kind: 'Status', status: 'Failure', reason: 'BadRequest', details: { causes: [{ field: 'apiVersion' }] } });
  t.false('allowed' in answer.body, 'no decision');
});

test('webhook TokenReview with a wrong apiVersion (an authorization group on the authenticate path)', async (t) => {
  const review = { ...documentedTokenReview('v1', 'some-token'), apiVersion: 'authorization.k8s.io/v1' };
  const answer = await callWebhook(webhookEnv, `${webhook.baseUrl}/authenticate`, JSON.stringify(review));
  t.is(answer.status, 400);
  t.like(answer.body, { kind: 'Status', status: 'Failure', reason: 'BadRequest', details: { causes: [{ field: 'apiVersion' }] } });
});

test('webhook body over limits.maxBodyBytes: 413 and the connection closed, the body never parsed', async (t) => {
  const groups = Array.from({ length: 20_000 }, (_, i) => `group-${i}`);
  const body = sarBody('v1', { resourceAttributes: { verb: 'get', resource: 'pods' }, user: 'jane', groups });
  t.true(Buffer.byteLength(body) > webhook.config.limits.maxBodyBytes);
  const answer = await callWebhook(webhookEnv, `${webhook.baseUrl}/authorize`, body);
  t.is(answer.status, 413);
  t.like(answer.body, { kind: 'Status', reason: 'RequestEntityTooLarge' });
  t.is(answer.headers.connection, 'close');
});

// Token exchange

test('token exchange without client authentication (no certificate, no actor token): 401 invalid_client', async (t) => {
  const form = { grant_type: GRANT, subject_token: await userToken(exchangeEnv), subject_token_type: ACCESS_TOKEN_TYPE, audience: 'todos' };
  const answer = await postForm(exchangeEnv, exchange.tokenUrl, form);
  t.is(answer.status, 401);
  t.is(answer.body.error, 'invalid_client');
  t.false('access_token' in answer.body);
});
