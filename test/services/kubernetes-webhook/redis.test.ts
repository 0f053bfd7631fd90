/**
 * Replicas sharing a real Redis: what one verified, and the key set it
 * fetched, let another authenticate while the identity provider is down;
 * a subject revoked through the same Redis (`gatehouse revoke`) is not
 * authenticated any more.
 */
import test from 'ava';
import { createRedisConnections } from '../../../gateway/cache/redis.js';
import { RevocationService } from '../../../gateway/cache/revocation.js';
import { createLogger } from '../../../gateway/log.js';
import {
  callWebhook,
  createWebhookEnvironment,
  startWebhook,
  tokenReviewBody,
  userToken,
  type TestWebhook,
  type WebhookEnvironment,
} from '../../helpers/kubernetes-webhook.js';
import { redisUrlForTests, uniquePrefix, type TestRedis } from '../../helpers/redis.js';

let env: WebhookEnvironment;
let redis: TestRedis;

test.before(async () => {
  [env, redis] = await Promise.all([createWebhookEnvironment(), redisUrlForTests()]);
});

test.after.always(async () => {
  await env?.close();
  await redis?.stop();
});

async function review(webhook: TestWebhook, token: string): Promise<{ authenticated: boolean; error?: string }> {
  const answer = await callWebhook(env, `${webhook.baseUrl}/authenticate`, tokenReviewBody('v1', { token }));
  return answer.body.status as { authenticated: boolean };
}

async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for: ${what}`);
}

test.serial(
  'with the identity provider down, a second replica authenticates with what the first verified and the key set it fetched',
  async (t) => {
    const extra = `redis: { url: "${redis.url}", keyPrefix: "${uniquePrefix('kubernetes-webhook')}", commandTimeoutMs: 500 }`;
    const first = await startWebhook(env, { extra });
    t.teardown(() => first.service.close());
    const token = await userToken(env, { sub: 'carol' });
    t.true((await review(first, token)).authenticated);

    env.idp.mode = 'fail';
    t.teardown(() => void (env.idp.mode = 'serve'));
    const second = await startWebhook(env, { extra });
    t.teardown(() => second.service.close());
    await eventually(async () => (await review(second, token)).authenticated, 'the shared verdict or key set');
    const fresh = await userToken(env, { sub: 'dave' });
    t.true((await review(second, fresh)).authenticated, 'a token never seen is verified with the key set from Redis');
  },
);

test.serial('a subject revoked through the same Redis is not authenticated any more', async (t) => {
  const keyPrefix = uniquePrefix('kubernetes-webhook');
  const webhook = await startWebhook(env, { extra: `redis: { url: "${redis.url}", keyPrefix: "${keyPrefix}", commandTimeoutMs: 500 }` });
  t.teardown(() => webhook.service.close());
  const token = await userToken(env, { sub: 'mallory' });
  t.true((await review(webhook, token)).authenticated);

  const log = createLogger('silent');
  const connections = createRedisConnections({ url: redis.url, keyPrefix, commandTimeoutMs: 500 }, log);
  const revocation = new RevocationService({ redis: connections, log });
  t.teardown(async () => {
    await revocation.stop();
    await connections.close();
  });
  await revocation.start();
  const outcome = await revocation.revokeSubject(`${env.idp.url}/mallory`);
  t.true(outcome.shared);

  await eventually(async () => /revoked/.test((await review(webhook, token)).error ?? ''), 'the revocation');
  t.false((await review(webhook, token)).authenticated);
  t.true((await review(webhook, await userToken(env, { sub: 'someone-else' }))).authenticated, 'other subjects are not affected');
});
