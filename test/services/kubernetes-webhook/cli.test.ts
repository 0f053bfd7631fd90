/**
 * `gatehouse kubernetes-webhook serve` as it ships (the bundled CLI, its own
 * process): it answers kube-apiserver's reviews over HTTPS and gRPC, logs
 * without tokens, and SIGTERM stops it cleanly; configuration mistakes stop
 * it before it serves.
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import test from 'ava';
import { CLI } from '../../helpers/gatehouse.js';
import { freePort } from '../../helpers/redis.js';
import {
  accessPolicy,
  BREAK_GLASS_YAML,
  callWebhook,
  createWebhookEnvironment,
  documentedSubjectAccessReviews,
  documentedTokenReview,
  reviewClient,
  spawnWebhook,
  userToken,
  webhookYaml,
} from '../../helpers/kubernetes-webhook.js';

const janeReadsPods = accessPolicy(
  'jane-reads-pods',
  [
    '  rules:',
    '    - subjects: [{ users: [jane] }]',
    '      resources: [{ verbs: [get], apiGroups: [unicorn.example.org], resources: [pods], namespaces: [kittensandponies] }]',
  ].join('\n'),
);

test('serve: SubjectAccessReview and TokenReview over HTTPS and gRPC, health, no token in the logs, exit 0 on SIGTERM', async (t) => {
  const env = await createWebhookEnvironment();
  t.teardown(() => env.close());
  const webhook = await spawnWebhook(env, { policies: { 'jane.yaml': janeReadsPods }, extra: BREAK_GLASS_YAML });
  t.teardown(() => void webhook.process.kill('SIGKILL'));
  // later lines may arrive in the same read as the serving line, before this runs
  const serving = webhook.logs.find((line) => line.msg === 'kubernetes webhook serving');
  t.like(serving, { httpsPort: webhook.httpsPort, grpcPort: webhook.grpcPort, policies: 1, authenticators: 1, redis: false });

  const sar = await callWebhook(env, `${webhook.baseUrl}/authorize`, JSON.stringify(documentedSubjectAccessReviews('v1beta1').resource));
  t.like(sar.body, { apiVersion: 'authorization.k8s.io/v1beta1', kind: 'SubjectAccessReview', status: { allowed: true } });

  const token = await userToken(env);
  const documented = documentedTokenReview('v1', token);
  const asked = { ...documented, spec: { token, audiences: ['https://myserver.example.com', 'kubernetes'] } };
  const review = await callWebhook(env, `${webhook.baseUrl}/authenticate`, JSON.stringify(asked));
  t.deepEqual(review.body, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenReview',
    status: { authenticated: true, user: { username: 'oidc:alice', groups: ['todo-devs'] }, audiences: ['kubernetes'] },
  });

  const client = reviewClient(env, webhook.grpcPort);
  t.teardown(() => client.close());
  const grpcReview = await client.call<{ authenticated?: boolean; user?: { username?: string } }>('TokenReview', { token });
  t.true(grpcReview.authenticated);
  t.is(grpcReview.user?.username, 'oidc:alice');

  t.is((await callWebhook(env, `${webhook.baseUrl}/readyz`, undefined, {})).status, 200);
  t.is(await webhook.stop(), 0);
  t.true(webhook.logs.some((line) => line.msg === 'kubernetes webhook stopped'));
  t.true(webhook.logs.some((line) => line.msg === 'subject access review: allowed'));
  t.false(webhook.output().includes(token), 'a token was logged');
});

test('serve without --config is a usage error; a broken configuration stops it before it serves', async (t) => {
  const run = async (args: string[]): Promise<{ code: number | null; stderr: string }> => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    return { code, stderr };
  };
  const usage = await run(['kubernetes-webhook', 'serve']);
  t.is(usage.code, 2);
  t.regex(usage.stderr, /needs --config/);
  t.is((await run(['kubernetes-webhook'])).code, 2);

  const env = await createWebhookEnvironment();
  t.teardown(() => env.close());
  const file = path.join(env.dir, 'broken.yaml');
  await writeFile(file, `${webhookYaml(env, { httpsPort: 0, grpcPort: 0, policiesDir: env.dir })}\nlimits: { maxBodyBytes: 10 }\n`);
  const broken = await run(['kubernetes-webhook', 'serve', '--config', file]);
  t.is(broken.code, 1);
  t.regex(broken.stderr, /limits\.maxBodyBytes: must be a whole number from 1024/);
});

test('a gRPC port already taken: the HTTPS listener and everything else are let go, and the process exits 1', async (t) => {
  const env = await createWebhookEnvironment();
  t.teardown(() => env.close());
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => void taken.close());
  const file = path.join(env.dir, 'taken.yaml');
  const grpcPort = (taken.address() as AddressInfo).port;
  const policiesDir = path.join(env.dir, 'no-policies');
  await mkdir(policiesDir);
  await writeFile(file, webhookYaml(env, { httpsPort: await freePort(), grpcPort, policiesDir }));
  const child = spawn(process.execPath, [CLI, 'kubernetes-webhook', 'serve', '--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => void child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.is(code, 1);
  t.regex(stderr, /address already in use|EADDRINUSE|No address added/i);
});
