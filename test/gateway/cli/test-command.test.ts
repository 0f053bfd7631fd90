/**
 * `gatehouse test` as CI runs it: the real command in a child process, its
 * report, and its exit codes (0 all pass, 1 a case failed, 2 invalid cases).
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { runCli } from '../../helpers/cli.js';
import { writeFixture } from '../../helpers/gatehouse.js';

const DEMO_TESTS = fileURLToPath(new URL('../../../../deploy/examples/todo/tests/', import.meta.url));
const DEMO_CONFIG = fileURLToPath(new URL('../../../../deploy/examples/todo/gatehouse.yaml', import.meta.url));
const SHARE = 'spiffe://cluster.local/ns/default/sa/share';
const TODOS = 'spiffe://cluster.local/ns/default/sa/todos';

test("the demo's case file passes through the real command", async (t) => {
  const result = await runCli(['test', '-c', DEMO_CONFIG, DEMO_TESTS]);
  t.is(result.code, 0, result.stdout + result.stderr);
  t.true(result.stdout.startsWith(`${path.join(DEMO_TESTS, 'todo.yaml')}\n`), result.stdout);
  t.regex(result.stdout, /^ {2}✓ the reminder service reads due todos$/m);
  t.regex(result.stdout, /^ {2}✓ the todo service may not call the reminder service$/m);
  t.regex(result.stdout, /\n7 cases: 7 passed, 0 failed \(1 file\)\n$/);
});

/** Policies for the tests below: users with a token may read todos; share may act for them; a shadow DENY on /admin. */
const policies = {
  'authz.yaml': `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: users-read, namespace: default }
spec:
  selector: { matchLabels: { app: todos } }
  rules:
    - from: [{ source: { requestPrincipals: ["https://idp.example.com/*"] } }]
      to: [{ operation: { methods: [GET] } }]
      when: [{ key: "request.auth.claims[groups]", values: [readers] }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: no-admin
  namespace: default
  annotations: { istio.io/dry-run: "true" }
spec:
  selector: { matchLabels: { app: todos } }
  action: DENY
  rules: [{ to: [{ operation: { paths: ["/admin/*"] } }] }]
`,
  'delegation.yaml': `apiVersion: gatehouse.dev/v1alpha1
kind: DelegationPolicy
metadata: { name: share-for-users, namespace: default }
spec:
  selector: { matchLabels: { app: todos } }
  rules:
    - actors: ["${SHARE}"]
      subjects: ["https://idp.example.com/*"]
`,
};
const config = `policies: { paths: [./policies] }
workloads: [{ namespace: default, serviceAccount: todos, labels: { app: todos } }]
`;
const request = (extra: string) => `{ source_principal: ${SHARE}, destination_principal: ${TODOS}, method: GET, path: /todos${extra} }`;

const passing = `cases:
  - name: a reader's token reads todos
    request: ${request('')}
    auth: { principal: https://idp.example.com/alice, claims: { groups: [readers] } }
    expect: { allowed: true, code: ALLOWED, policy: default/users-read, rule: 0 }
  - name: without a token the request is denied
    request: ${request('')}
    expect: { allowed: false, code: NO_ALLOW_MATCH, httpStatus: 403 }
  - name: share may act for alice
    request: ${request('')}
    auth: { principal: https://idp.example.com/alice, claims: { groups: [readers] }, actors: ["${SHARE}"] }
    expect: { allowed: true }
  - name: another actor may not
    request: ${request('')}
    auth: { principal: https://idp.example.com/alice, claims: { groups: [readers] }, actors: [spiffe://cluster.local/ns/default/sa/web] }
    expect: { allowed: false, code: DELEGATION_ACTOR_NOT_CALLER }
  - name: the shadow DENY would refuse /admin
    request: { source_principal: ${SHARE}, destination_principal: ${TODOS}, method: GET, path: /admin/users }
    auth: { principal: https://idp.example.com/alice, claims: { groups: [readers] } }
    expect: { allowed: true, shadow: { allowed: false, code: POLICY_DENIED, policy: default/no-admin, diverged: true } }
`;

test('auth, delegation and shadow expectations pass', async (t) => {
  const { dir, configFile } = await writeFixture({ config, policies, files: { 'tests/users.yaml': passing } });
  const result = await runCli(['test', '-c', configFile, path.join(dir, 'tests')]);
  t.is(result.code, 0, result.stdout + result.stderr);
  t.regex(result.stdout, /5 cases: 5 passed, 0 failed \(1 file\)/);
});

test('a failing case exits 1 and shows expected against actual, with the reason', async (t) => {
  const failing = `cases:
  - name: passes
    request: ${request('')}
    expect: { allowed: false }
  - name: a writer may post
    request: { source_principal: ${SHARE}, destination_principal: ${TODOS}, method: POST, path: /todos }
    auth: { principal: https://idp.example.com/alice, claims: { groups: [readers] } }
    expect: { allowed: true, code: ALLOWED, policy: default/users-read }
  - name: no divergence here
    request: ${request('')}
    expect: { allowed: false, shadow: { diverged: true } }
`;
  const { dir, configFile } = await writeFixture({ config, policies, files: { 'failing.yaml': failing } });
  const file = path.join(dir, 'failing.yaml');
  const result = await runCli(['test', '-c', configFile, file]);
  t.is(result.code, 1, result.stderr);
  t.is(
    result.stdout,
    `${file}
  ✓ passes
  ✗ a writer may post
      expected: ALLOW, code ALLOWED, policy default/users-read
      actual:   DENY (403 NO_ALLOW_MATCH)
      reason:   1 ALLOW policy applies to workload default {app=todos} and none matched
      differs:  allowed, code, policy
  ✗ no divergence here
      expected: DENY, shadow diverged
      actual:   DENY (403 NO_ALLOW_MATCH)
      reason:   1 ALLOW policy applies to workload default {app=todos} and none matched
      shadow:   DENY (NO_ALLOW_MATCH), not diverged
      differs:  shadow.diverged

3 cases: 1 passed, 2 failed (1 file)
`,
  );

  const json = await runCli(['test', '--json', '-c', configFile, file]);
  t.is(json.code, 1);
  const report = JSON.parse(json.stdout) as {
    files: { cases: { name: string; passed: boolean; differs: string[]; actual: { code: string } }[] }[];
    summary: Record<string, number>;
  };
  t.deepEqual(report.summary, { files: 1, cases: 3, passed: 1, failed: 2 });
  t.like(report.files[0]?.cases[1], {
    name: 'a writer may post',
    passed: false,
    differs: ['allowed', 'code', 'policy'],
    actual: { code: 'NO_ALLOW_MATCH' },
  });
});

test('an invalid case file exits 2, naming the file, the case and the field, and runs nothing', async (t) => {
  const { dir, configFile } = await writeFixture({
    config,
    policies,
    files: {
      'tests/a-good.yaml': passing,
      'tests/b-bad.yaml': `cases:\n  - name: fine\n    request: ${request('')}\n    expect: { allowed: false }\n  - name: broken\n    request: ${request('')}\n    expect: { allowd: true }\n`,
    },
  });
  const result = await runCli(['test', '-c', configFile, path.join(dir, 'tests')]);
  t.is(result.code, 2);
  t.is(result.stdout, '');
  t.is(
    result.stderr,
    `invalid case file: ${path.join(dir, 'tests', 'b-bad.yaml')} cases[1].expect.allowd: unknown field (expected one of: allowed, code, httpStatus, policy, rule, audited, shadow)\n`,
  );
});

test('no case files, a missing path and --out without --from-log are usage errors (exit 2)', async (t) => {
  const none = await runCli(['test']);
  t.is(none.code, 2);
  t.regex(none.stderr, /name case files or folders/);
  const missing = await runCli(['test', '/nonexistent/gatehouse-cases.yaml']);
  t.is(missing.code, 2);
  t.regex(missing.stderr, /nonexistent\/gatehouse-cases\.yaml: cannot be read \(ENOENT\)/);
  const { dir } = await writeFixture({});
  await writeFile(path.join(dir, 'cases.yaml'), passing);
  const out = await runCli(['test', '--out', path.join(dir, 'x.yaml'), path.join(dir, 'cases.yaml')]);
  t.is(out.code, 2);
  t.regex(out.stderr, /--out goes with --from-log/);
});
