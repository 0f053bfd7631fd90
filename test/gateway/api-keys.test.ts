/**
 * API keys end to end, as operators and callers use them: the real
 * `gatehouse api-key` command, two real `gatehouse serve` replicas sharing
 * a real Redis (keys in Redis), a third with keys in a watched key file, and
 * Checks over gRPC as Envoy sends them.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { hashApiKey } from '../../gateway/identity/api-key.js';
import { connect, fromStruct, type TestClient } from '../helpers/grpc-client.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { startGatehouse, writeFixture, type RunningGatehouse } from '../helpers/gatehouse.js';
import { startJwksServer, type JwksServer } from '../helpers/jwks-server.js';
import { redisUrlForTests, uniquePrefix, type TestRedis } from '../helpers/redis.js';
import { epochSeconds, generateTestKey, jwksOf, signToken, type TestKey } from '../helpers/tokens.js';

const AUTHZ = 'envoy.service.auth.v3.Authorization';
const TODOS = 'spiffe://cluster.local/ns/default/sa/todos';

interface CheckResponse {
  status: { code?: number };
  ok_response?: { headers: { header: { key: string; value: string } }[]; headers_to_remove?: string[] };
  denied_response?: { status: { code: string }; body: string; headers: { header: { key: string; value: string } }[] };
  dynamic_metadata?: unknown;
}

let redis: TestRedis;
let idp: JwksServer;
let signer: TestKey;
let redisConfig: string;
let keyFile: string;
let replicas: RunningGatehouse[];
let fileReplica: RunningGatehouse;
let clients: TestClient[];
let fileClient: TestClient;
/** Everything the command printed, to look for secrets in. */
const cliOutput: string[] = [];

const policies = (issuer: string, jwksUri: string) => ({
  'authn.yaml': `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: todos-jwt, namespace: default }
spec:
  selector: { matchLabels: { app: todos } }
  jwtRules: [{ issuer: ${issuer}, jwksUri: ${jwksUri}, audiences: [todos] }]
`,
  // As in docs/api-keys.md: the reminder by certificate, or by its API key with the read scope.
  'authz.yaml': `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: todos-reminder, namespace: default }
spec:
  selector: { matchLabels: { app: todos } }
  action: ALLOW
  rules:
    - from: [{ source: { principals: ["cluster.local/ns/default/sa/reminder"] } }]
      to: [{ operation: { methods: ["GET"] } }]
    - from: [{ source: { requestPrincipals: ["gatehouse.dev/api-key/reminder"] } }]
      to: [{ operation: { methods: ["GET"] } }]
      when:
        - { key: "request.auth.claims[scope]", values: ["todos:read"] }
        - { key: request.auth.credential, values: [api-key] }
`,
});

test.before(async () => {
  signer = await generateTestKey('ES256');
  idp = await startJwksServer(jwksOf(signer));
  redis = await redisUrlForTests();
  const files = policies(idp.url, idp.jwksUri);
  const common = `policies: { paths: [./policies] }
workloads: [{ namespace: default, serviceAccount: todos, labels: { app: todos } }]
jwt: { jwks: { refreshIntervalSeconds: 3600 } }
log: { level: debug }
decisionLog: { enabled: true }
`;
  const withRedis = await writeFixture({
    config: `${common}redis: { url: "${redis.url}", keyPrefix: "${uniquePrefix('api-keys')}", commandTimeoutMs: 500 }
apiKeys:
  headers: [{ name: x-api-key }, { name: authorization, prefix: "ApiKey " }]
`,
    policies: files,
  });
  redisConfig = withRedis.configFile;
  const withFile = await writeFixture({
    config: `${common}apiKeys: { file: ./api-keys/keys.yaml, queryParameter: api_key }\n`,
    policies: files,
    files: { 'api-keys/keys.yaml': 'keys: []\n' },
  });
  keyFile = path.join(withFile.dir, 'api-keys/keys.yaml');
  replicas = await Promise.all([startGatehouse({ configFile: redisConfig }), startGatehouse({ configFile: redisConfig })]);
  fileReplica = await startGatehouse({ configFile: withFile.configFile });
  clients = replicas.map((replica) => connect(AUTHZ, replica.address));
  fileClient = connect(AUTHZ, fileReplica.address);
});

test.after.always(async () => {
  for (const client of [...(clients ?? []), fileClient]) client?.close();
  await Promise.all([...(replicas ?? []), fileReplica].map((replica) => replica?.stop()));
  await idp?.close();
  await redis?.stop();
});

async function apiKey(args: string[]): Promise<CliResult> {
  const result = await runCli(['api-key', ...args]);
  cliOutput.push(result.stdout, result.stderr);
  return result;
}

/** Runs `api-key create` and reads the key and id it printed. */
async function create(args: string[]): Promise<{ key: string; id: string; stdout: string }> {
  const result = await apiKey(['create', ...args]);
  if (result.code !== 0) throw new Error(`api-key create failed (${result.code}): ${result.stderr}`);
  const key = /^key: (ghk_\S+)$/m.exec(result.stdout)?.[1];
  const id = /^id: ([0-9a-f]{16})$/m.exec(result.stdout)?.[1];
  if (!key || !id) throw new Error(`no key in: ${result.stdout}`);
  return { key, id, stdout: result.stdout };
}

function check(
  client: TestClient,
  headers: Record<string, string>,
  options: { method?: string; path?: string } = {},
): Promise<CheckResponse> {
  return client.call<CheckResponse>('Check', {
    attributes: {
      destination: { principal: TODOS },
      request: { http: { method: options.method ?? 'GET', path: options.path ?? '/todos', host: 'todos', headers } },
    },
  });
}

function outcome(response: CheckResponse): string {
  if (!response.denied_response) return 'ALLOWED';
  return (JSON.parse(response.denied_response.body) as { code: string }).code;
}

async function eventuallyEvery(clientsToAsk: TestClient[], headers: Record<string, string>, expected: string, withinMs: number) {
  const deadline = Date.now() + withinMs;
  const seen: string[] = [];
  for (const client of clientsToAsk) {
    let last: string;
    do {
      last = outcome(await check(client, headers));
      if (last === expected) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    } while (Date.now() < deadline);
    seen.push(last);
  }
  return seen;
}

test.serial('create prints the key once; every replica accepts it; the upstream gets the subject, never the key', async (t) => {
  const { key, id, stdout } = await create(['-c', redisConfig, '--principal', 'reminder', '--scope', 'todos:read', '--ttl', '90d']);
  t.is(stdout.split(key).length - 1, 1, 'the key appears exactly once');
  t.regex(stdout, /request principal: gatehouse\.dev\/api-key\/reminder/);
  t.true(key.includes(id));
  for (const client of clients) {
    const response = await check(client, { 'x-api-key': key });
    t.is(outcome(response), 'ALLOWED');
    const upstream = Object.fromEntries(response.ok_response!.headers.map((h) => [h.header.key, h.header.value]));
    t.is(upstream['x-gatehouse-subject'], 'gatehouse.dev/api-key/reminder');
    t.true(response.ok_response!.headers_to_remove?.includes('x-api-key'));
    t.is(fromStruct(response.dynamic_metadata).request_principal, 'gatehouse.dev/api-key/reminder');
  }
  t.is(outcome(await check(clients[0]!, { authorization: `ApiKey ${key}` })), 'ALLOWED');
  t.is(outcome(await check(clients[0]!, { 'x-api-key': key }, { method: 'POST' })), 'NO_ALLOW_MATCH');
});

test.serial('a key without the scope the policy asks for is denied by the policy, not by authentication', async (t) => {
  const { key } = await create(['-c', redisConfig, '--principal', 'reminder', '--ttl', '1h']);
  t.is(outcome(await check(clients[1]!, { 'x-api-key': key })), 'NO_ALLOW_MATCH');
});

test.serial('list shows the keys without secrets or hashes', async (t) => {
  const { key, id } = await create(['-c', redisConfig, '--principal', 'share', '--description', 'share, listing test', '--ttl', '1h']);
  const listed = await apiKey(['list', '-c', redisConfig]);
  t.is(listed.code, 0, listed.stderr);
  t.regex(listed.stdout, new RegExp(`^${id}\\s+share\\s+valid\\s+`, 'm'));
  t.false(listed.stdout.includes(key.slice(21)));
  t.false(listed.stdout.includes('sha256'));
  const json = await apiKey(['list', '--json', '-c', redisConfig]);
  const rows = JSON.parse(json.stdout) as Record<string, unknown>[];
  const row = rows.find((entry) => entry.id === id);
  t.like(row, { principal: 'share', state: 'valid', description: 'share, listing test' });
  t.false(Object.keys(row ?? {}).some((name) => /hash|sha|secret|key$/.test(name)));
});

test.serial(
  'rotation: old and new keys both work; revoking the old one stops every replica within a second, the new one goes on',
  async (t) => {
    const old = await create(['-c', redisConfig, '--principal', 'reminder', '--scope', 'todos:read', '--ttl', '30d']);
    const next = await create([
      '-c',
      redisConfig,
      '--principal',
      'reminder',
      '--scope',
      'todos:read',
      '--not-before',
      'now',
      '--ttl',
      '90d',
    ]);
    for (const client of clients) {
      t.is(outcome(await check(client, { 'x-api-key': old.key })), 'ALLOWED');
      t.is(outcome(await check(client, { 'x-api-key': next.key })), 'ALLOWED');
    }
    const revoked = await apiKey(['revoke', old.id, '-c', redisConfig]);
    t.is(revoked.code, 0, revoked.stderr);
    t.regex(revoked.stdout, /on every replica/);
    const started = Date.now();
    t.deepEqual(await eventuallyEvery(clients, { 'x-api-key': old.key }, 'APIKEY_REVOKED', 1000), ['APIKEY_REVOKED', 'APIKEY_REVOKED']);
    t.log(`every replica refused the revoked key after ${Date.now() - started} ms`);
    for (const client of clients) t.is(outcome(await check(client, { 'x-api-key': next.key })), 'ALLOWED');
    const listed = await apiKey(['list', '-c', redisConfig]);
    t.regex(listed.stdout, new RegExp(`^${old.id}\\s+reminder\\s+revoked`, 'm'));
  },
);

test.serial('a key is refused before its notBefore and after its notAfter', async (t) => {
  const later = await create([
    '-c',
    redisConfig,
    '--principal',
    'reminder',
    '--scope',
    'todos:read',
    '--not-before',
    new Date(Date.now() + 3_600_000).toISOString(),
    '--ttl',
    '1h',
  ]);
  t.is(outcome(await check(clients[0]!, { 'x-api-key': later.key })), 'APIKEY_NOT_YET_VALID');
  const brief = await create(['-c', redisConfig, '--principal', 'reminder', '--scope', 'todos:read', '--ttl', '2s']);
  t.is(outcome(await check(clients[0]!, { 'x-api-key': brief.key })), 'ALLOWED');
  await new Promise((resolve) => setTimeout(resolve, 2100));
  t.is(outcome(await check(clients[0]!, { 'x-api-key': brief.key })), 'APIKEY_EXPIRED');
  t.is(outcome(await check(clients[1]!, { 'x-api-key': brief.key })), 'APIKEY_EXPIRED');
});

test.serial('wrong, unknown and malformed keys are 401s with their own codes and an ApiKey challenge', async (t) => {
  const { key } = await create(['-c', redisConfig, '--principal', 'reminder', '--scope', 'todos:read', '--ttl', '1h']);
  const wrongSecret = `${key.slice(0, 21)}${'A'.repeat(43)}`;
  const cases: [string, string][] = [
    [wrongSecret, 'APIKEY_INVALID'],
    [`ghk_0123456789abcdef_${'B'.repeat(43)}`, 'APIKEY_INVALID'],
    ['hunter2', 'APIKEY_MALFORMED'],
    [`${key}x`, 'APIKEY_MALFORMED'],
  ];
  for (const [presented, code] of cases) {
    const response = await check(clients[0]!, { 'x-api-key': presented });
    t.is(outcome(response), code);
    t.is(response.status.code, 16);
    t.is(response.denied_response!.status.code, 'Unauthorized');
    const challenge = response.denied_response!.headers.find((h) => h.header.key === 'www-authenticate')?.header.value;
    t.is(challenge, `ApiKey realm="gatehouse", error="invalid_key", error_description="${code}"`);
    t.false(
      JSON.stringify(response).includes(presented.length > 21 ? presented.slice(21) : presented),
      'the response never quotes the key',
    );
  }
});

test.serial('a key in the URL query is refused; a key beside a bearer token is ambiguous', async (t) => {
  const { key } = await create(['-c', redisConfig, '--principal', 'reminder', '--scope', 'todos:read', '--ttl', '1h']);
  t.is(outcome(await check(clients[0]!, {}, { path: `/todos?api_key=${key}` })), 'APIKEY_IN_QUERY');
  const now = epochSeconds();
  const token = await signToken({ iss: idp.url, sub: 'alice', aud: 'todos', iat: now, exp: now + 300 }, signer);
  t.is(outcome(await check(clients[0]!, { 'x-api-key': key, authorization: `Bearer ${token}` })), 'APIKEY_AMBIGUOUS');
  const other = await create(['-c', redisConfig, '--principal', 'reminder', '--ttl', '1h']);
  t.is(outcome(await check(clients[0]!, { 'x-api-key': key, authorization: `ApiKey ${other.key}` })), 'APIKEY_AMBIGUOUS');
});

test.serial(
  'keys in a key file: create --file is picked up by the watching gateway, the allowed query parameter works, revoke --file stops it',
  async (t) => {
    const { key, id, stdout } = await create(['--file', keyFile, '--principal', 'reminder', '--scope', 'todos:read', '--ttl', '1h']);
    t.regex(stdout, /Added to .*keys\.yaml:/);
    t.regex(stdout, /kubectl create secret generic gatehouse-api-keys/);
    t.is(stdout.split(key).length - 1, 1, 'the key appears once; the printed record holds its hash');
    const text = await readFile(keyFile, 'utf8');
    t.true(text.includes(id));
    t.false(text.includes(key.slice(21)));
    t.deepEqual(await eventuallyEvery([fileClient], { 'x-api-key': key }, 'ALLOWED', 5000), ['ALLOWED']);
    t.is(outcome(await check(fileClient, {}, { path: `/todos?due=24h&api_key=${key}` })), 'ALLOWED');
    t.is(outcome(await check(fileClient, {}, { path: `/todos?token=${key}` })), 'APIKEY_IN_QUERY');

    const revoked = await apiKey(['revoke', id, '--file', keyFile]);
    t.is(revoked.code, 0, revoked.stderr);
    t.regex(revoked.stdout, /when the updated Secret reaches them/);
    t.deepEqual(await eventuallyEvery([fileClient], { 'x-api-key': key }, 'APIKEY_REVOKED', 5000), ['APIKEY_REVOKED']);
  },
);

test.serial('the command refuses to edit a configuration’s mounted key file and needs a store', async (t) => {
  const mounted = await apiKey([
    'create',
    '-c',
    path.join(path.dirname(path.dirname(keyFile)), 'gatehouse.yaml'),
    '--principal',
    'reminder',
  ]);
  t.is(mounted.code, 1);
  t.regex(mounted.stderr, /keeps API keys in .*keys\.yaml: pass --file/);
  const nowhere = await apiKey(['list']);
  t.is(nowhere.code, 1);
  t.regex(nowhere.stderr, /nowhere to list keys/);
  const bad = await apiKey(['create', '-c', redisConfig, '--principal', 'a b']);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /--principal: must be/);
  t.is((await apiKey(['revoke', 'nope', '-c', redisConfig])).code, 2);
});

test('an invalid key file fails start-up, and the process exits although Redis is connected', async (t) => {
  const fixture = await writeFixture({
    config: `policies: { paths: [./policies] }\nredis: { url: "${redis.url}", keyPrefix: "${uniquePrefix('bad-file')}" }\napiKeys: { file: ./keys.yaml }\n`,
    files: { 'keys.yaml': 'keys: 3\n' },
  });
  const result = await runCli(['serve', '-c', fixture.configFile]);
  t.is(result.code, 1);
  t.regex(result.stderr, /keys\.yaml keys: must be a list/);
});

test.serial('no key, secret or hash ever appears in a log line, a decision log, or the command’s output but create’s one line', (t) => {
  const logs = [...replicas, fileReplica].map((replica) => replica.output()).join('\n');
  t.true(logs.includes('"msg":"api keys enabled"'));
  t.true(logs.includes('"decision_id"'), 'decision logs were written');
  const printed = cliOutput.join('\n');
  const keys = new Set(printed.match(/ghk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}/g) ?? []);
  t.true(keys.size > 5);
  for (const key of keys) {
    const secret = key.slice(21);
    t.false(logs.includes(secret), 'a secret in the logs');
    t.false(logs.includes(hashApiKey(key).toString('base64url')), 'a hash in the logs');
    t.is(printed.split(secret).length - 1, 1, 'each key printed once, by its create');
  }
});
