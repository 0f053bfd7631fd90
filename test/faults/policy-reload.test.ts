/**
 * Policy files replaced under load by invalid ones (broken YAML, then a
 * policy with an unknown field), then by a valid new version. Hot reload
 * must keep deciding with the last good set while the files are invalid,
 * and apply the next valid set within the reload debounce.
 */
import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { startGatehouse, writeFixture } from '../helpers/gatehouse.js';
import { ALLOW, describeRecords, startCheckLoad, type LoadCase } from './check-load.js';
import { delay, eventually } from './eventually.js';
import { metricTotal } from './metrics.js';

/** The watcher waits this long after the last change before it reloads (gateway/policy/watch.ts). */
const RELOAD_DEBOUNCE_MS = 150;
/** Time for the machine to schedule what follows a recovery; generous for a loaded 2-core CI runner. */
const SCHEDULING_ALLOWANCE_MS = 3000;
const DENIED = 'Forbidden NO_ALLOW_MATCH';
const REJECTED = 'policy set rejected; the last good set keeps serving';

/** Version `n` allows GET /v<n>/… and nothing else. */
function policyVersion(n: number): string {
  return `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: versioned, namespace: istio-system }
spec:
  rules: [{ to: [{ operation: { methods: [GET], paths: ["/v${n}/*"] } }] }]
`;
}

const INVALID_FILES = {
  'broken YAML': 'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nspec: { rules: [ { to: \n',
  'unknown field': policyVersion(2).replace('rules:', 'rulez:'),
};

function pathRequest(requestPath: string): unknown {
  return { attributes: { request: { http: { method: 'GET', path: requestPath, host: 'todos.default.svc' } } } };
}

test('policy files replaced by invalid ones under load: the last good set keeps deciding, the next valid set applies within the debounce', async (t) => {
  const { dir, configFile } = await writeFixture({
    config: 'policies: { paths: [./policies], watch: true }\n',
    policies: { 'versioned.yaml': policyVersion(1) },
  });
  const gatehouse = await startGatehouse({ configFile });
  t.teardown(() => gatehouse.stop());
  const policyFile = path.join(dir, 'policies', 'versioned.yaml');
  // As a ConfigMap update does: the new content appears at once (written beside the folder, then renamed into it).
  const replacePolicyFile = async (text: string): Promise<void> => {
    const staged = path.join(dir, 'versioned.yaml.next');
    await writeFile(staged, text);
    await rename(staged, policyFile);
  };

  const version = (phase: string): number[] => (phase === 'v2 written' ? [1, 2] : phase === 'v2' ? [2] : [1]);
  const cases: LoadCase[] = [
    {
      name: 'GET /v1',
      request: () => pathRequest('/v1/items'),
      expected: (phase) => version(phase).map((n) => (n === 1 ? ALLOW : DENIED)),
    },
    {
      name: 'GET /v2',
      request: () => pathRequest('/v2/items'),
      expected: (phase) => version(phase).map((n) => (n === 2 ? ALLOW : DENIED)),
    },
    { name: 'GET /other', request: () => pathRequest('/other'), expected: () => [DENIED] },
  ];
  const load = startCheckLoad({ address: gatehouse.address, cases, phase: 'v1' });
  await delay(300);

  const rejections = () => gatehouse.logs.filter((line) => line.msg === REJECTED).length;
  for (const [what, text] of Object.entries(INVALID_FILES)) {
    const before = rejections();
    await replacePolicyFile(text);
    await eventually(() => rejections() > before, 10_000).catch(() => t.fail(`the ${what} file was not rejected`));
    await delay(300);
  }

  await replacePolicyFile(policyVersion(2));
  const writtenAt = performance.now();
  load.phase = 'v2 written';
  const applied = await load.firstAnswer((entry) => entry.kind === 'GET /v2' && entry.decision === ALLOW, 10_000);
  load.phase = 'v2';
  await delay(300);
  const { records, failed, wrong } = await load.stop();

  t.deepEqual(describeRecords(failed), '', `${failed.length} of ${records.length} Checks failed`);
  t.deepEqual(describeRecords(wrong), '', `${wrong.length} of ${records.length} Checks got a wrong decision`);
  t.is(rejections(), Object.keys(INVALID_FILES).length);
  const admin = await gatehouse.adminHttpUrl();
  t.is(await metricTotal(admin, 'gatehouse_policy_rejections_total'), Object.keys(INVALID_FILES).length);
  t.is(await metricTotal(admin, 'gatehouse_policy_reloads_total'), 1);
  const recoveryMs = applied.answeredAt - writtenAt;
  t.true(
    recoveryMs <= RELOAD_DEBOUNCE_MS + SCHEDULING_ALLOWANCE_MS,
    `version 2 decided a Check ${recoveryMs.toFixed(0)} ms after it was written`,
  );
  t.true(gatehouse.logs.some((line) => line.msg === 'policy set reloaded'));
  t.log(`${records.length} Checks; version 2 applied ${recoveryMs.toFixed(0)} ms after it was written`);
});
