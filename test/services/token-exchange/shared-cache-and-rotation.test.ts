/**
 * Two replicas sharing a real Redis serve one minted token for one exchange;
 * key rotation (a new active kid) mints with the new key at once while the
 * tokens of the old one still verify with the published JWKS.
 */
import test from 'ava';
import { decodeProtectedHeader } from 'jose';
import { meshIds } from '../../helpers/certs.js';
import { redisUrlForTests, uniquePrefix, type TestRedis } from '../../helpers/redis.js';
import {
  ACCESS_TOKEN_TYPE,
  createEnvironment,
  delegationPolicy,
  GRANT,
  postForm,
  publishedJwks,
  startService,
  userToken,
  verifyMinted,
  writeSigningKey,
  type Environment,
} from '../../helpers/token-exchange.js';

let env: Environment;
let redis: TestRedis;
const issuer = 'https://token-exchange.gatehouse.test';

test.before(async () => {
  [env, redis] = await Promise.all([createEnvironment(), redisUrlForTests()]);
});

test.after.always(async () => {
  await env?.close();
  await redis?.stop();
});

const policies = () => ({ 'd.yaml': delegationPolicy('share', [meshIds.share], [`${env.idp.url}/*`], ['todos']) });
const form = (subjectToken: string) => ({
  grant_type: GRANT,
  subject_token: subjectToken,
  subject_token_type: ACCESS_TOKEN_TYPE,
  audience: 'todos',
});

test('two replicas sharing Redis return the same token for the same exchange', async (t) => {
  const extra = `redis: { url: "${redis.url}", keyPrefix: "${uniquePrefix('token-exchange')}", commandTimeoutMs: 500 }`;
  const a = await startService(env, { issuer, policies: policies(), extra });
  const b = await startService(env, { issuer, policies: policies(), extra, keysDir: a.keysDir });
  t.teardown(async () => void (await Promise.all([a.service.close(), b.service.close()])));

  const subject = await userToken(env);
  const first = await postForm(env, a.tokenUrl, form(subject), { client: env.pki.share });
  t.is(first.status, 200, JSON.stringify(first.body));
  const second = await postForm(env, b.tokenUrl, form(subject), { client: env.pki.share });
  t.is(second.body['access_token'], first.body['access_token']);
  t.true((second.body['expires_in'] as number) <= (first.body['expires_in'] as number));
  await verifyMinted(env, issuer, second.body['access_token'] as string, 'todos', b.baseUrl);

  const otherUser = await postForm(env, b.tokenUrl, form(await userToken(env, { sub: 'alice' })), { client: env.pki.share });
  t.not(otherUser.body['access_token'], first.body['access_token']);
});

test('without Redis each replica caches on its own', async (t) => {
  const a = await startService(env, { issuer, policies: policies() });
  const b = await startService(env, { issuer, policies: policies(), keysDir: a.keysDir });
  t.teardown(async () => void (await Promise.all([a.service.close(), b.service.close()])));
  const subject = await userToken(env);
  const first = await postForm(env, a.tokenUrl, form(subject), { client: env.pki.share });
  const again = await postForm(env, a.tokenUrl, form(subject), { client: env.pki.share });
  const other = await postForm(env, b.tokenUrl, form(subject), { client: env.pki.share });
  t.is(again.body['access_token'], first.body['access_token']);
  t.not(other.body['access_token'], first.body['access_token']);
});

test('key rotation: the new active kid signs at once, tokens of the old kid still verify', async (t) => {
  const extra = `redis: { url: "${redis.url}", keyPrefix: "${uniquePrefix('rotation')}", commandTimeoutMs: 500 }`;
  const before = await startService(env, { issuer, policies: policies(), extra });
  const subject = await userToken(env);
  const old = await postForm(env, before.tokenUrl, form(subject), { client: env.pki.share });
  t.is(decodeProtectedHeader(old.body['access_token'] as string).kid, 'k1');
  await before.service.close();

  // The rollout: an Ed25519 key joins the Secret and becomes active; k1 stays published.
  await writeSigningKey(before.keysDir, 'k2', 'EdDSA');
  const after = await startService(env, { issuer, policies: policies(), extra, keysDir: before.keysDir, activeKid: 'k2' });
  t.teardown(() => after.service.close());
  const jwks = await publishedJwks(env, after.baseUrl);
  t.deepEqual(jwks.keys.map((key) => key.kid).sort(), ['k1', 'k2']);

  const fresh = await postForm(env, after.tokenUrl, form(subject), { client: env.pki.share });
  t.is(fresh.status, 200, JSON.stringify(fresh.body));
  t.not(fresh.body['access_token'], old.body['access_token'], 'the cached k1 token is not served after the rotation');
  t.like(decodeProtectedHeader(fresh.body['access_token'] as string), { kid: 'k2', alg: 'EdDSA' });
  await verifyMinted(env, issuer, fresh.body['access_token'] as string, 'todos', after.baseUrl);
  await verifyMinted(env, issuer, old.body['access_token'] as string, 'todos', after.baseUrl);
  t.pass();
});
