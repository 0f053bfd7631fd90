/**
 * The `gatehouse` command as an operator runs it: exit codes and output.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { CLI, writeFixture } from '../../helpers/gatehouse.js';

const requests = fileURLToPath(new URL('../../../../deploy/examples/todo/requests/', import.meta.url));

function run(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, ...args], (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

const demo: [file: string, code: number, first: string, decided?: string][] = [
  ['reminder-get-todos.yaml', 0, 'ALLOW (200 ALLOWED)', 'default/todos-viewer-allow rule 0'],
  ['share-get-todos.yaml', 0, 'ALLOW (200 ALLOWED)', 'default/todos-share-allow rule 0'],
  ['reminder-post-todos.yaml', 1, 'DENY (403 NO_ALLOW_MATCH)'],
  ['todos-calls-reminder.yaml', 1, 'DENY (403 POLICY_DENIED)', 'default/reminder-deny-todos rule 0'],
];

for (const [file, code, first, decided] of demo) {
  test(`check explains the demo request ${file}`, async (t) => {
    const result = await run(['check', `${requests}${file}`]);
    t.is(result.code, code);
    t.is(result.stdout.split('\n')[0], first);
    if (decided) t.true(result.stdout.includes(`decided:  ${decided}`), result.stdout);
  });
}

test('check reads a full CheckRequest as JSON from stdin and answers --json', async (t) => {
  const request = {
    attributes: {
      source: { principal: 'spiffe://cluster.local/ns/default/sa/reminder' },
      destination: { principal: 'spiffe://cluster.local/ns/default/sa/todos' },
      request: { http: { method: 'GET', path: '/todos', host: 'todos' } },
    },
  };
  const result = await run(['check', '--json', '-'], JSON.stringify(request));
  t.is(result.code, 0);
  const explained = JSON.parse(result.stdout) as Record<string, unknown>;
  t.is(explained.policy, 'default/todos-viewer-allow');
  t.is(explained.peer, 'cluster.local/ns/default/sa/reminder');
});

test('check names an unknown short-form field', async (t) => {
  const result = await run(['check', '-'], 'sourc_principal: x\n');
  t.is(result.code, 1);
  t.regex(result.stderr, /unknown field 'sourc_principal'/);
});

test('validate accepts the demo set and rejects a broken one naming file, document and field', async (t) => {
  const ok = await run(['validate']);
  t.is(ok.code, 0);
  t.regex(ok.stdout, /^ok: 3 policies, 3 rules; 0 request authentications/);

  const fixture = await writeFixture({
    policies: {
      'good.yaml': 'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: a }\nspec: {}\n',
      'bad.yaml':
        '---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: b }\nspec:\n  rules:\n    - from:\n        - source: { ipBlocks: ["10.0.0.0/99"] }\n',
    },
  });
  const bad = await run(['validate', '--config', fixture.configFile]);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /bad\.yaml#\d spec\.rules\[0\]\.from\[0\]\.source\.ipBlocks\[0\]/);
});

test('validate checks the Kubernetes webhook documents in the same folders', async (t) => {
  const ok = await run(['validate']);
  t.regex(ok.stdout, /4 kubernetes access policies, 4 kubernetes access rules/);

  const fixture = await writeFixture({
    policies: {
      'kube.yaml':
        'apiVersion: gatehouse.dev/v1alpha1\nkind: KubernetesAccessPolicy\nmetadata: { name: k, namespace: default }\nspec:\n  rules:\n    - resources: [{ verbs: [GET], apiGroups: [""], resources: [pods] }]\n',
    },
  });
  const bad = await run(['validate', '--config', fixture.configFile]);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /kube\.yaml#0 spec\.rules\[0\]\.resources\[0\]\.verbs\[0\]/);
});

test('an unknown command prints usage and exits 2', async (t) => {
  const result = await run(['frobnicate']);
  t.is(result.code, 2);
  t.regex(result.stderr, /Usage: gatehouse/);
});
