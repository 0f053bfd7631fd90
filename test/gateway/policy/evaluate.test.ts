/**
 * Evaluation beyond the semantics table: index flatness at 10,000 rules,
 * first-match reporting across indexes, never throwing.
 */
import test from 'ava';
import { stringify } from 'yaml';
import { DecisionCode } from '../../../gateway/errors.js';
import {
  compilePolicySet,
  evaluate,
  evaluateWithStats,
  parsePolicyDocuments,
  type CompiledPolicySet,
} from '../../../gateway/policy/index.js';
import type { CheckInput } from '../../../gateway/request/model.js';
import { checkInput } from '../../helpers/check-input.js';

const principal = (i: number) => `cluster.local/ns/ns-${i % 50}/sa/caller-${i}`;

/**
 * 100 workloads (app: svc-0..99) in 10 namespaces, each with one ALLOW policy
 * of 100 rules, one principal per rule: 10,000 rules. Plus one mesh-wide DENY.
 */
function largeSet(): CompiledPolicySet {
  const documents: Record<string, unknown>[] = [];
  for (let app = 0; app < 100; app++) {
    const rules = [];
    for (let r = 0; r < 100; r++) {
      rules.push({ from: [{ source: { principals: [principal(app * 100 + r)] } }], to: [{ operation: { methods: ['GET'] } }] });
    }
    documents.push({
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: `svc-${app}-allow`, namespace: `team-${app % 10}` },
      spec: { selector: { matchLabels: { app: `svc-${app}` } }, rules },
    });
  }
  documents.push({
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'mesh-deny-debug', namespace: 'istio-system' },
    spec: { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/debug*'] } }] }] },
  });
  const text = documents.map((d) => stringify(d)).join('---\n');
  return compilePolicySet(parsePolicyDocuments([{ file: 'large.yaml', text }]));
}

const large = largeSet();
const callTo = (app: number, caller: number, method = 'GET', path = '/'): CheckInput =>
  checkInput({ principal: principal(caller), method, path, workload: { namespace: `team-${app % 10}`, labels: { app: `svc-${app}` } } });

test('the large set has 10,000 ALLOW rules', (t) => {
  t.is(large.ruleCount, 10_001);
  t.is(large.policyCount, 101);
});

test('at 10,000 rules a decision visits only the workload’s policies and the caller’s rule', (t) => {
  const { decision, stats } = evaluateWithStats(large, callTo(57, 5742));
  t.like(decision, { allowed: true, policy: 'team-7/svc-57-allow', rule: 42 });
  t.is(stats.policiesVisited, 2); // the mesh-wide DENY and the workload's ALLOW
  t.is(stats.rulesVisited, 2); // one DENY rule, one indexed ALLOW rule
});

test('at 10,000 rules a caller with no rule visits no ALLOW rule at all', (t) => {
  const { decision, stats } = evaluateWithStats(large, callTo(57, 1234));
  t.like(decision, { allowed: false, code: DecisionCode.NoAllowMatch });
  t.is(stats.rulesVisited, 1);
});

test('at 10,000 rules every caller gets the right answer for its own and a foreign workload', (t) => {
  for (let caller = 0; caller < 10_000; caller += 97) {
    const own = Math.floor(caller / 100);
    t.like(evaluate(large, callTo(own, caller)), { allowed: true, rule: caller % 100 });
    t.like(evaluate(large, callTo((own + 1) % 100, caller)), { allowed: false, code: DecisionCode.NoAllowMatch });
    t.like(evaluate(large, callTo(own, caller, 'POST')), { allowed: false, code: DecisionCode.NoAllowMatch });
  }
  t.like(evaluate(large, callTo(3, 342, 'GET', '/debug/vars')), {
    allowed: false,
    code: DecisionCode.PolicyDenied,
    policy: 'istio-system/mesh-deny-debug',
  });
});

test('principal-indexed and always-checked rules merge in index order', (t) => {
  const text = stringify({
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'p' },
    spec: {
      rules: [
        { from: [{ source: { principals: ['a/x'] } }], to: [{ operation: { methods: ['POST'] } }] },
        { to: [{ operation: { methods: ['PUT'] } }] },
        { from: [{ source: { principals: ['a/y', 'a/x'] } }] },
        {},
      ],
    },
  });
  const set = compilePolicySet(parsePolicyDocuments([{ file: 'p.yaml', text }]));
  t.like(evaluate(set, checkInput({ principal: 'a/x', method: 'POST' })), { rule: 0 });
  t.like(evaluate(set, checkInput({ principal: 'a/x', method: 'PUT' })), { rule: 1 });
  t.like(evaluate(set, checkInput({ principal: 'a/x', method: 'GET' })), { rule: 2 });
  t.like(evaluate(set, checkInput({ principal: 'a/z', method: 'GET' })), { rule: 3 });
  t.like(evaluate(set, checkInput({ method: 'GET' })), { rule: 3 });
});

test('evaluate never throws: a broken input is an INTERNAL_ERROR deny', (t) => {
  const set = compilePolicySet(
    parsePolicyDocuments([
      { file: 'p.yaml', text: 'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p}\nspec: {rules: [{}]}\n' },
    ]),
  );
  const broken = { ...checkInput({}), request: undefined } as unknown as CheckInput;
  const decision = evaluate(set, broken);
  t.like(decision, { allowed: false, code: DecisionCode.Internal });
});

test('trace lists the evaluated policies in order, AUDIT last', (t) => {
  const doc = (name: string, action: string, rules: unknown[]) =>
    stringify({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name }, spec: { action, rules } });
  const text = [
    doc('audit', 'AUDIT', [{}]),
    doc('deny', 'DENY', [{ to: [{ operation: { methods: ['DELETE'] } }] }]),
    doc('allow', 'ALLOW', [{}]),
  ].join('---\n');
  const decision = evaluate(compilePolicySet(parsePolicyDocuments([{ file: 't.yaml', text }])), checkInput({}));
  t.deepEqual(decision.trace, [
    { policy: 'default/deny', action: 'DENY', matched: false, rule: -1 },
    { policy: 'default/allow', action: 'ALLOW', matched: true, rule: 0 },
    { policy: 'default/audit', action: 'AUDIT', matched: true, rule: 0 },
  ]);
  t.deepEqual(decision.audited, ['default/audit']);
});
