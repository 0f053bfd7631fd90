/**
 * The server's decision log and counters in process: a file destination
 * written out on drain, sampling, and the shadow divergence counts that
 * `stats()` hands the metrics layer.
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { parseConfig } from '../../../gateway/config/load.js';
import { createLogger } from '../../../gateway/log.js';
import { compilePolicySet, parsePolicyDocuments } from '../../../gateway/policy/index.js';
import { startServer } from '../../../gateway/server.js';
import { connect } from '../../helpers/grpc-client.js';

const policies = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: readers, namespace: default }
spec: { rules: [{ to: [{ operation: { methods: [GET] } }] }] }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: no-admin, namespace: default, annotations: { gatehouse.dev/shadow: "true" } }
spec: { action: DENY, rules: [{ to: [{ operation: { paths: ["/admin/*"] } }] }] }
`;

const check = (method: string, requestPath: string) => ({
  attributes: {
    destination: { principal: 'spiffe://cluster.local/ns/default/sa/todos' },
    request: { http: { method, path: requestPath, host: 'todos' } },
  },
});

test('a file destination gets the sampled decisions, written out on drain; stats() counts divergences and lines', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-decisions-'));
  const config = parseConfig(
    `listen: { host: 127.0.0.1, port: 0 }
decisionLog: { enabled: true, destination: decisions.jsonl, sample: { allow: 0, deny: 1, divergence: 1 } }
`,
    path.join(dir, 'gatehouse.yaml'),
  );
  const set = compilePolicySet(parsePolicyDocuments([{ file: 'policies.yaml', text: policies }]));
  const server = await startServer({ config, policies: { current: () => set }, log: createLogger('silent') });
  const authz = connect('envoy.service.auth.v3.Authorization', `127.0.0.1:${server.port}`);
  t.teardown(() => authz.close());

  await authz.call('Check', check('GET', '/todos')); // allowed, not sampled
  await authz.call('Check', check('POST', '/todos')); // denied: written
  await authz.call('Check', check('GET', '/admin/users')); // allowed, but the shadow DENY diverges: written
  await authz.call('Check', check('GET', '/admin/keys')); // again
  await server.drain();

  const lines = (await readFile(path.join(dir, 'decisions.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  t.deepEqual(
    lines.map((line) => [line.msg, line.code, (line.request as { path: string }).path, (line.shadow as { diverged: boolean }).diverged]),
    [
      ['decision', 'NO_ALLOW_MATCH', '/todos', false],
      ['decision', 'ALLOWED', '/admin/users', true],
      ['decision', 'ALLOWED', '/admin/keys', true],
    ],
  );
  t.deepEqual(server.stats(), {
    shadow: { evaluations: 4, divergences: 2, divergencesByPolicy: { 'default/no-admin': 2 } },
    decisionLog: { written: 3, sampledOut: 1 },
  });
});

test('an unwritable decision log file stops the server from starting', async (t) => {
  const config = parseConfig(
    'listen: { host: 127.0.0.1, port: 0 }\ndecisionLog: { enabled: true, destination: /nonexistent/gatehouse/decisions.jsonl }\n',
    '/tmp/gatehouse.yaml',
  );
  const set = compilePolicySet(parsePolicyDocuments([]));
  await t.throwsAsync(startServer({ config, policies: { current: () => set }, log: createLogger('silent') }), { message: /ENOENT/ });
});

test('without decision logs, stats() has the shadow counters only', async (t) => {
  const config = parseConfig('listen: { host: 127.0.0.1, port: 0 }\n', '/tmp/gatehouse.yaml');
  const set = compilePolicySet(parsePolicyDocuments([]));
  const server = await startServer({ config, policies: { current: () => set }, log: createLogger('silent') });
  t.teardown(() => server.drain());
  t.deepEqual(server.stats(), { shadow: { evaluations: 0, divergences: 0, divergencesByPolicy: {} } });
});
