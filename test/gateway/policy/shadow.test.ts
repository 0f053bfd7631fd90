/**
 * Shadow mode, one row per case: live policies and shadow policies + request
 * → the live decision (which is what the client gets) and the candidate
 * decision (live plus shadow, as if enforced).
 */
import test from 'ava';
import { stringify } from 'yaml';
import { DecisionCode, ValidationError } from '../../../gateway/errors.js';
import { compilePolicySet, evaluate, evaluateShadow, parsePolicyDocuments, ShadowCounters } from '../../../gateway/policy/index.js';
import { checkInput, type CheckInputShortForm } from '../../helpers/check-input.js';

const reminder = 'cluster.local/ns/default/sa/reminder';
const SHADOW = { 'gatehouse.dev/shadow': 'true' };
const DRY_RUN = { 'istio.io/dry-run': 'true' };

function policy(
  name: string,
  spec: Record<string, unknown>,
  annotations?: Record<string, string>,
  namespace = 'default',
): Record<string, unknown> {
  return {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name, namespace, ...(annotations ? { annotations } : {}) },
    spec,
  };
}
const allowGet = (name: string, annotations?: Record<string, string>) =>
  policy(name, { action: 'ALLOW', rules: [{ to: [{ operation: { methods: ['GET'] } }] }] }, annotations);
const allowPost = (name: string, annotations?: Record<string, string>) =>
  policy(name, { action: 'ALLOW', rules: [{ to: [{ operation: { methods: ['POST'] } }] }] }, annotations);
const denyAll = (name: string, annotations?: Record<string, string>) => policy(name, { action: 'DENY', rules: [{}] }, annotations);
const denyDelete = (name: string, annotations?: Record<string, string>) =>
  policy(name, { action: 'DENY', rules: [{ to: [{ operation: { methods: ['DELETE'] } }] }] }, annotations);

interface Outcome {
  allowed: boolean;
  code: DecisionCode;
  policy?: string;
}
interface Row {
  readonly name: string;
  readonly policies: Record<string, unknown>[];
  readonly input?: CheckInputShortForm;
  readonly live: Outcome;
  /** undefined: the candidate set is not evaluated for this request. */
  readonly shadow?: Outcome & { diverged: boolean; divergedBy: string[] };
}

const allowedNoPolicy = { allowed: true, code: DecisionCode.Allowed };

const rows: Row[] = [
  {
    name: 'without shadow policies the candidate set is not evaluated',
    policies: [allowGet('a')],
    live: { allowed: true, code: DecisionCode.Allowed, policy: 'default/a' },
  },
  {
    name: 'a shadow DENY on an allowed request still allows, and diverges',
    policies: [allowGet('a'), denyAll('new-deny', SHADOW)],
    live: { allowed: true, code: DecisionCode.Allowed, policy: 'default/a' },
    shadow: {
      allowed: false,
      code: DecisionCode.PolicyDenied,
      policy: 'default/new-deny',
      diverged: true,
      divergedBy: ['default/new-deny'],
    },
  },
  {
    name: 'a shadow ALLOW when the live set denies still denies, and diverges',
    policies: [allowPost('writers'), allowGet('readers', SHADOW)],
    live: { allowed: false, code: DecisionCode.NoAllowMatch },
    shadow: { allowed: true, code: DecisionCode.Allowed, policy: 'default/readers', diverged: true, divergedBy: ['default/readers'] },
  },
  {
    name: 'a shadow ALLOW that does not match would deny where no live ALLOW applies: diverges, counted against it',
    policies: [allowPost('writers-only', SHADOW)],
    live: allowedNoPolicy,
    shadow: { allowed: false, code: DecisionCode.NoAllowMatch, diverged: true, divergedBy: ['default/writers-only'] },
  },
  {
    name: 'a shadow DENY that does not match: evaluated, no divergence',
    policies: [allowGet('a'), denyDelete('no-deletes', SHADOW)],
    live: { allowed: true, code: DecisionCode.Allowed, policy: 'default/a' },
    shadow: { allowed: true, code: DecisionCode.Allowed, policy: 'default/a', diverged: false, divergedBy: [] },
  },
  {
    name: 'a live DENY and a shadow DENY both matching: same outcome, the first in order reports',
    policies: [denyAll('b-live'), denyAll('a-shadow', SHADOW)],
    live: { allowed: false, code: DecisionCode.PolicyDenied, policy: 'default/b-live' },
    shadow: { allowed: false, code: DecisionCode.PolicyDenied, policy: 'default/a-shadow', diverged: false, divergedBy: [] },
  },
  {
    name: 'a shadow policy for another workload is not evaluated',
    policies: [allowGet('a'), policy('other', { selector: { matchLabels: { app: 'other' } }, action: 'DENY', rules: [{}] }, SHADOW)],
    input: { workload: { labels: { app: 'todos' } } },
    live: { allowed: true, code: DecisionCode.Allowed, policy: 'default/a' },
  },
  {
    name: "Istio's istio.io/dry-run annotation means shadow too",
    policies: [allowGet('a'), denyAll('dry', DRY_RUN)],
    live: { allowed: true, code: DecisionCode.Allowed, policy: 'default/a' },
    shadow: { allowed: false, code: DecisionCode.PolicyDenied, policy: 'default/dry', diverged: true, divergedBy: ['default/dry'] },
  },
  {
    name: 'both annotations at once: shadow',
    policies: [denyAll('both', { ...SHADOW, ...DRY_RUN })],
    live: allowedNoPolicy,
    shadow: { allowed: false, code: DecisionCode.PolicyDenied, policy: 'default/both', diverged: true, divergedBy: ['default/both'] },
  },
  {
    name: 'either annotation true suffices (dry-run false, shadow true)',
    policies: [denyAll('mixed', { 'istio.io/dry-run': 'false', 'gatehouse.dev/shadow': 'true' })],
    live: allowedNoPolicy,
    shadow: { allowed: false, code: DecisionCode.PolicyDenied, policy: 'default/mixed', diverged: true, divergedBy: ['default/mixed'] },
  },
  {
    name: 'gatehouse.dev/shadow "false" is enforced',
    policies: [denyAll('enforced', { 'gatehouse.dev/shadow': 'false' })],
    live: { allowed: false, code: DecisionCode.PolicyDenied, policy: 'default/enforced' },
  },
  {
    name: "Go's boolean spellings are accepted (True)",
    policies: [denyAll('capital', { 'istio.io/dry-run': 'True' })],
    live: allowedNoPolicy,
    shadow: { allowed: false, code: DecisionCode.PolicyDenied, policy: 'default/capital', diverged: true, divergedBy: ['default/capital'] },
  },
  {
    name: 'a divergence without a deciding shadow policy is counted against every applying shadow policy',
    policies: [allowPost('a-writers', SHADOW), allowPost('b-writers', SHADOW)],
    live: allowedNoPolicy,
    shadow: { allowed: false, code: DecisionCode.NoAllowMatch, diverged: true, divergedBy: ['default/a-writers', 'default/b-writers'] },
  },
  {
    name: 'unknown workload namespace with only mesh-wide live policies: a namespaced shadow policy would make it unresolvable',
    policies: [policy('mesh', { action: 'ALLOW', rules: [{}] }, undefined, 'istio-system'), denyDelete('ns-deny', SHADOW)],
    input: { workload: { namespace: undefined } },
    live: { allowed: true, code: DecisionCode.Allowed, policy: 'istio-system/mesh' },
    shadow: { allowed: false, code: DecisionCode.WorkloadUnresolved, diverged: true, divergedBy: ['default/ns-deny'] },
  },
  {
    name: 'shadow rules see the same request (principal-indexed rules included)',
    policies: [
      allowGet('a'),
      policy('no-reminder', { action: 'DENY', rules: [{ from: [{ source: { principals: [reminder] } }] }] }, SHADOW),
    ],
    input: { principal: reminder },
    live: { allowed: true, code: DecisionCode.Allowed, policy: 'default/a' },
    shadow: {
      allowed: false,
      code: DecisionCode.PolicyDenied,
      policy: 'default/no-reminder',
      diverged: true,
      divergedBy: ['default/no-reminder'],
    },
  },
];

function compile(policies: Record<string, unknown>[]) {
  const text = policies.map((document) => stringify(document)).join('---\n');
  return compilePolicySet(parsePolicyDocuments([{ file: 'policies.yaml', text }]));
}

for (const row of rows) {
  test(`shadow: ${row.name}`, (t) => {
    const set = compile(row.policies);
    const input = checkInput(row.input ?? {});
    const live = evaluate(set, input);
    t.like(live, { allowed: row.live.allowed, code: row.live.code, policy: row.live.policy });
    const shadow = evaluateShadow(set, input, live);
    if (row.shadow === undefined) {
      t.is(shadow, undefined);
      return;
    }
    t.truthy(shadow);
    t.like(shadow?.decision, { allowed: row.shadow.allowed, code: row.shadow.code, policy: row.shadow.policy });
    t.is(shadow?.diverged, row.shadow.diverged);
    t.deepEqual(shadow?.divergedBy, row.shadow.divergedBy);
  });
}

test('shadow policies are loaded, not skipped, and not counted as enforced', (t) => {
  const set = compile([allowGet('a'), denyAll('s', SHADOW), denyAll('d', DRY_RUN)]);
  t.deepEqual(set.skipped, []);
  t.is(set.policyCount, 1);
  t.deepEqual(
    set.shadow?.policies.map((p) => p.id),
    ['default/d', 'default/s'],
  );
  t.is(set.shadow?.candidate.policyCount, 3);
});

for (const annotation of ['gatehouse.dev/shadow', 'istio.io/dry-run']) {
  test(`a ${annotation} value that is not a boolean is refused, naming the annotation`, (t) => {
    const error = t.throws(() => compile([denyAll('typo', { [annotation]: 'yes' })]), { instanceOf: ValidationError });
    t.is(error?.field, `metadata.annotations[${annotation}]`);
    t.regex(error?.problem ?? '', /must be "true" or "false", not "yes"/);
  });
}

test('ShadowCounters count evaluations and divergences per shadow policy', (t) => {
  const set = compile([allowGet('a'), denyAll('new-deny', SHADOW), allowPost('writers', SHADOW)]);
  const counters = new ShadowCounters();
  for (const method of ['GET', 'GET', 'POST']) {
    const input = checkInput({ method });
    const shadow = evaluateShadow(set, input, evaluate(set, input));
    if (shadow) counters.record(shadow);
  }
  // GET: live allows by a, the candidate denies by new-deny. POST: live denies (NO_ALLOW_MATCH), the candidate denies too.
  t.deepEqual(counters.stats(), { evaluations: 3, divergences: 2, divergencesByPolicy: { 'default/new-deny': 2 } });
});
