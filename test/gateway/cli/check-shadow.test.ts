/**
 * `gatehouse check` with shadow policies: the live decision is the answer
 * (and the exit code); the candidate outcome is printed under it.
 */
import test from 'ava';
import { writeFixture } from '../../helpers/gatehouse.js';
import { runCli } from '../../helpers/cli.js';

const policies = {
  'live.yaml': `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: readers, namespace: default }
spec: { action: ALLOW, rules: [{ to: [{ operation: { methods: [GET] } }] }] }
`,
  'shadow.yaml': `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: no-admin
  namespace: default
  annotations: { gatehouse.dev/shadow: "true" }
spec: { action: DENY, rules: [{ to: [{ operation: { paths: ["/admin/*"] } }] }] }
`,
};
const request =
  'source_principal: spiffe://cluster.local/ns/default/sa/reminder\ndestination_principal: spiffe://cluster.local/ns/default/sa/todos\n';

test('check prints a diverging shadow outcome and still answers with the live decision', async (t) => {
  const { configFile } = await writeFixture({ policies });
  const result = await runCli(['check', '--config', configFile, '-'], `${request}path: /admin/users\n`);
  t.is(result.code, 0, result.stderr);
  t.is(result.stdout.split('\n')[0], 'ALLOW (200 ALLOWED)');
  t.regex(result.stdout, /shadow: {3}DENY \(POLICY_DENIED\) by default\/no-admin rule 0, DIVERGES from the live decision/);
  t.regex(result.stdout, /shadow policies applying: default\/no-admin/);
});

test('check --json carries the shadow outcome', async (t) => {
  const { configFile } = await writeFixture({ policies });
  const same = await runCli(['check', '--json', '--config', configFile, '-'], `${request}path: /todos\n`);
  t.is(same.code, 0, same.stderr);
  const explained = JSON.parse(same.stdout) as { allowed: boolean; shadow: Record<string, unknown> };
  t.true(explained.allowed);
  t.like(explained.shadow, {
    allowed: true,
    code: 'ALLOWED',
    policy: 'default/readers',
    diverged: false,
    shadow_policies: ['default/no-admin'],
  });
});
