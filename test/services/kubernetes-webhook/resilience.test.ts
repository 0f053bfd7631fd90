/**
 * What keeps the cluster reachable and the decisions current: policy files
 * reloaded on change (a broken file keeps the last good set), break-glass
 * tokens that authenticate while the identity provider is down, and logs
 * that tell operators every decision without ever holding a token.
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import test from 'ava';
import { createLogger } from '../../../gateway/log.js';
import {
  accessPolicy,
  BREAK_GLASS_TOKEN,
  BREAK_GLASS_YAML,
  callWebhook,
  createWebhookEnvironment,
  sarBody,
  startWebhook,
  tokenReviewBody,
  userToken,
  type TestWebhook,
  type WebhookEnvironment,
} from '../../helpers/kubernetes-webhook.js';

const readConfigMaps = accessPolicy(
  'alice-reads-configmaps',
  [
    '  rules:',
    '    - subjects: [{ users: ["oidc:alice"] }]',
    '      resources: [{ verbs: [get], apiGroups: [""], resources: [configmaps] }]',
  ].join('\n'),
);
const readSecrets = accessPolicy(
  'alice-reads-secrets',
  [
    '  rules:',
    '    - subjects: [{ users: ["oidc:alice"] }]',
    '      resources: [{ verbs: [get], apiGroups: [""], resources: [secrets] }]',
  ].join('\n'),
);

const getAs = (resource: string): string =>
  sarBody('v1', {
    resourceAttributes: { verb: 'get', resource, namespace: 'default' },
    user: 'oidc:alice',
    groups: ['system:authenticated'],
  });

async function allowed(env: WebhookEnvironment, webhook: TestWebhook, resource: string): Promise<boolean> {
  const answer = await callWebhook(env, `${webhook.baseUrl}/authorize`, getAs(resource));
  return (answer.body.status as { allowed: boolean }).allowed;
}

async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for: ${what}`);
}

test('a changed policy file changes the decisions; a broken one is rejected and the last good set keeps answering', async (t) => {
  const env = await createWebhookEnvironment();
  t.teardown(() => env.close());
  const webhook = await startWebhook(env, { policies: { 'alice.yaml': readConfigMaps } });
  t.teardown(() => webhook.service.close());
  const file = path.join(webhook.policiesDir, 'alice.yaml');
  t.true(await allowed(env, webhook, 'configmaps'));
  t.false(await allowed(env, webhook, 'secrets'));

  await writeFile(file, readSecrets);
  await eventually(async () => (await allowed(env, webhook, 'secrets')) && !(await allowed(env, webhook, 'configmaps')), 'the new policy');
  const reloads = webhook.service.policies.stats().reloads;
  t.true(reloads >= 1);

  await writeFile(file, `${readSecrets}  unknownField: true\n`);
  await eventually(() => Promise.resolve(webhook.service.policies.stats().rejections >= 1), 'the broken file to be rejected');
  t.regex(webhook.service.policies.stats().lastError ?? '', /alice\.yaml/);
  t.true(await allowed(env, webhook, 'secrets'), 'the last good set still answers');

  await writeFile(file, readConfigMaps);
  await eventually(async () => await allowed(env, webhook, 'configmaps'), 'the repaired policy');
  t.is(webhook.service.policies.stats().lastError, undefined);
});

test('break-glass: with the identity provider down, its tokens fail but the break-glass token authenticates', async (t) => {
  const env = await createWebhookEnvironment();
  t.teardown(() => env.close());
  const token = await userToken(env);
  await env.idp.close();
  const webhook = await startWebhook(env, { extra: BREAK_GLASS_YAML });
  t.teardown(() => webhook.service.close());
  const authenticate = `${webhook.baseUrl}/authenticate`;

  const refused = await callWebhook(env, authenticate, tokenReviewBody('v1', { token }));
  t.like(refused.body, { status: { authenticated: false } });
  const breakGlass = await callWebhook(env, authenticate, tokenReviewBody('v1', { token: BREAK_GLASS_TOKEN, audiences: ['kubernetes'] }));
  t.deepEqual(breakGlass.body.status, {
    authenticated: true,
    user: { username: 'oncall-admin', groups: ['sre'] },
    audiences: ['kubernetes'],
  });
  t.deepEqual(webhook.service.tokens.stats().breakGlassUses, { oncall: 1 });
});

test('break-glass tokens from breakGlass.tokensFile (a mounted Secret) authenticate too', async (t) => {
  const env = await createWebhookEnvironment();
  t.teardown(() => env.close());
  const fileToken = 'file-break-glass-5b1d0c';
  const file = path.join(env.dir, 'break-glass.yaml');
  await writeFile(
    file,
    `- { name: from-file, sha256: "${createHash('sha256').update(fileToken).digest('hex')}", user: { username: backup-admin, groups: [sre] } }\n`,
  );
  const webhook = await startWebhook(env, { extra: `${BREAK_GLASS_YAML}\n  tokensFile: ${file}` });
  t.teardown(() => webhook.service.close());
  const answer = await callWebhook(env, `${webhook.baseUrl}/authenticate`, tokenReviewBody('v1beta1', { token: fileToken }));
  t.like(answer.body, { apiVersion: 'authentication.k8s.io/v1beta1', status: { authenticated: true, user: { username: 'backup-admin' } } });
});

test('logs: allows at debug, no-opinions and denials at info with the reason, break-glass at warn; no token anywhere', async (t) => {
  const env = await createWebhookEnvironment();
  t.teardown(() => env.close());
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const webhook = await startWebhook(env, {
    policies: { 'alice.yaml': readConfigMaps },
    extra: BREAK_GLASS_YAML,
    log: createLogger('debug', sink),
  });
  t.teardown(() => webhook.service.close());
  const jwt = await userToken(env);
  const expired = await userToken(env, { exp: 1000, iat: 900 });

  await callWebhook(env, `${webhook.baseUrl}/authorize`, getAs('configmaps'));
  await callWebhook(env, `${webhook.baseUrl}/authorize`, getAs('secrets'));
  await callWebhook(
    env,
    `${webhook.baseUrl}/authorize`,
    sarBody('v1', { resourceAttributes: { verb: 'delete', resource: 'nodes' }, user: 'oncall', groups: ['emergency'] }),
  );
  for (const token of [jwt, expired, BREAK_GLASS_TOKEN]) {
    await callWebhook(env, `${webhook.baseUrl}/authenticate`, tokenReviewBody('v1', { token }));
  }
  await new Promise((resolve) => setImmediate(resolve));

  const find = (message: string): Record<string, unknown> | undefined => lines.find((line) => line.msg === message);
  t.like(find('subject access review: allowed'), { level: 'debug', user: 'oidc:alice', via: 'https' });
  t.like(find('subject access review: no opinion'), { level: 'info', allowed: false, denied: false });
  t.truthy(find('subject access review: no opinion')?.reason);
  t.like(find('subject access review: allowed by break-glass'), { level: 'warn', user: 'oncall' });
  t.like(find('token review: authenticated'), { level: 'debug', username: 'oidc:alice' });
  t.like(find('token review: not authenticated'), { level: 'info', code: 'TOKEN_EXPIRED' });
  t.like(find('break-glass token used'), { level: 'warn', breakGlass: 'oncall' });
  const all = JSON.stringify(lines);
  for (const token of [jwt, expired, BREAK_GLASS_TOKEN]) t.false(all.includes(token), 'a token was logged');
  t.false(all.includes(jwt.split('.')[2]!), 'a signature was logged');
});
