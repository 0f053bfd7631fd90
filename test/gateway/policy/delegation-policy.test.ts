/**
 * DelegationPolicy: validation names file#document and field; evaluation is
 * a table, one row per rule of the semantics (docs/delegation.md).
 */
import test from 'ava';
import { ValidationError } from '../../../gateway/errors.js';
import {
  compileDelegationPolicies,
  DelegationPolicySet,
  parseDelegationPolicies,
  parsePolicyDocuments,
  type DelegationRequest,
} from '../../../gateway/policy/index.js';

const header = 'apiVersion: gatehouse.dev/v1alpha1\nkind: DelegationPolicy\nmetadata:\n  name: d\n';
const withSpec = (spec: string) => `${header}spec:\n${spec}`;
const minimalRule = '  rules:\n  - actors: ["*"]\n    subjects: ["*"]\n';

interface InvalidRow {
  readonly name: string;
  readonly text: string;
  readonly field: string;
  readonly problem: RegExp;
}

const invalid: InvalidRow[] = [
  {
    name: 'wrong version',
    text: `${header.replace('v1alpha1', 'v1')}spec:\n${minimalRule}`,
    field: 'apiVersion',
    problem: /expected gatehouse\.dev\/v1alpha1/,
  },
  { name: 'unknown spec field', text: withSpec('  rulez: []\n'), field: 'spec.rulez', problem: /unknown field/ },
  {
    name: 'unknown rule field',
    text: withSpec('  rules:\n  - actors: [a]\n    subjects: [b]\n    from: []\n'),
    field: 'spec.rules[0].from',
    problem: /unknown field/,
  },
  { name: 'actors missing', text: withSpec('  rules:\n  - subjects: [b]\n'), field: 'spec.rules[0].actors', problem: /is required/ },
  {
    name: 'actors empty',
    text: withSpec('  rules:\n  - actors: []\n    subjects: [b]\n'),
    field: 'spec.rules[0].actors',
    problem: /must not be empty/,
  },
  { name: 'subjects missing', text: withSpec('  rules:\n  - actors: [a]\n'), field: 'spec.rules[0].subjects', problem: /is required/ },
  {
    name: 'a wildcard inside an actor',
    text: withSpec('  rules:\n  - actors: [a, "spiffe://x/*/sa"]\n    subjects: [b]\n'),
    field: 'spec.rules[0].actors[1]',
    problem: /only allowed alone, as a prefix or as a suffix/,
  },
  {
    name: 'an audience that is not a string',
    text: withSpec('  rules:\n  - actors: [a]\n    subjects: [b]\n    audiences: [3]\n'),
    field: 'spec.rules[0].audiences[0]',
    problem: /must be a string/,
  },
  {
    name: 'ports cannot be compared at mint time',
    text: withSpec('  rules:\n  - actors: [a]\n    subjects: [b]\n    to:\n    - operation: {ports: ["80"]}\n'),
    field: 'spec.rules[0].to[0].operation.ports',
    problem: /unknown field/,
  },
  {
    name: 'a bad path template',
    text: withSpec('  rules:\n  - actors: [a]\n    subjects: [b]\n    to:\n    - operation: {paths: ["/a/{**}/b"]}\n'),
    field: 'spec.rules[0].to[0].operation.paths[0]',
    problem: /only allowed as the last segment/,
  },
  {
    name: 'maxDepth zero',
    text: withSpec('  rules:\n  - actors: [a]\n    subjects: [b]\n    maxDepth: 0\n'),
    field: 'spec.rules[0].maxDepth',
    problem: /whole number from 1 to 16/,
  },
  {
    name: 'maxDepth as a string',
    text: withSpec('  rules:\n  - actors: [a]\n    subjects: [b]\n    maxDepth: "2"\n'),
    field: 'spec.rules[0].maxDepth',
    problem: /whole number/,
  },
  {
    name: 'selector and targetRefs together',
    text: withSpec(`  selector: {matchLabels: {app: todos}}\n  targetRefs: [{kind: Service, name: todos}]\n${minimalRule}`),
    field: 'spec.targetRefs',
    problem: /mutually exclusive/,
  },
];

for (const row of invalid) {
  test(`invalid DelegationPolicy: ${row.name}`, (t) => {
    const error = t.throws(
      () => parseDelegationPolicies([{ file: 'd.yaml', text: `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n${row.text}` }]),
      {
        instanceOf: ValidationError,
      },
    );
    t.true(error.message.startsWith(`d.yaml#1 ${row.field}:`), error.message);
    t.regex(error.message, row.problem);
  });
}

test('a duplicate DelegationPolicy names the first definition', (t) => {
  const text = `${withSpec(minimalRule)}---\n${withSpec(minimalRule)}`;
  const error = t.throws(() => parseDelegationPolicies([{ file: 'd.yaml', text }]), { instanceOf: ValidationError });
  t.regex(error.message, /^d\.yaml#1 metadata\.name: duplicate DelegationPolicy default\/d, first defined in d\.yaml#0/);
});

test("a rule's maxDepth above the global maximum fails at compile time with its field", (t) => {
  const loaded = parseDelegationPolicies([{ file: 'd.yaml', text: withSpec(`${minimalRule}    maxDepth: 4\n`) }]);
  const error = t.throws(() => compileDelegationPolicies(loaded, { maxDepth: 3 }), { instanceOf: ValidationError });
  t.regex(error.message, /^d\.yaml#0 spec\.rules\[0\]\.maxDepth: 4 exceeds the global delegation\.maxDepth 3/);
  t.notThrows(() => compileDelegationPolicies(loaded, { maxDepth: 4 }));
});

test('the AuthorizationPolicy loader neither evaluates nor lists DelegationPolicy documents as skipped', (t) => {
  const loaded = parsePolicyDocuments([{ file: 'd.yaml', text: withSpec(minimalRule) }]);
  t.deepEqual(loaded.policies, []);
  t.deepEqual(loaded.skipped, []);
});

// The todo/share example: share may act for end users of the IdP towards todos;
// the web frontend may come first in a chain of two.
const SHARE = 'spiffe://cluster.local/ns/default/sa/share';
const WEB = 'spiffe://cluster.local/ns/default/sa/web';
const REMINDER = 'spiffe://cluster.local/ns/default/sa/reminder';
const BOB = 'https://idp.example/bob';
const ALICE = 'https://idp.example/alice';
const TODOS = { namespace: 'default', serviceAccount: 'todos', labels: { app: 'todos' } };
const OTHER = { namespace: 'default', serviceAccount: 'billing', labels: { app: 'billing' } };

const policies = `
apiVersion: gatehouse.dev/v1alpha1
kind: DelegationPolicy
metadata: {name: share-for-users, namespace: default}
spec:
  selector: {matchLabels: {app: todos}}
  rules:
  - actors: ["${SHARE}"]
    subjects: ["https://idp.example/*"]
    audiences: [todos]
    to:
    - operation: {methods: [GET], paths: ["/todos/*"]}
    maxDepth: 2
  - actors: ["${WEB}"]
    subjects: ["https://idp.example/*"]
    audiences: [todos]
    maxDepth: 1
---
apiVersion: gatehouse.dev/v1alpha1
kind: DelegationPolicy
metadata: {name: mesh-web, namespace: istio-system}
spec:
  rules:
  - actors: ["${WEB}"]
    subjects: ["${ALICE}"]
    maxDepth: 3
`;
const set = compileDelegationPolicies(parseDelegationPolicies([{ file: 'delegation.yaml', text: policies }]), { maxDepth: 3 });

interface Row {
  readonly name: string;
  readonly request: DelegationRequest;
  /** `namespace/name#rule` when permitted, else the code. */
  readonly expect: string;
}

const at = { workload: TODOS, method: 'GET', path: '/todos/7', host: 'todos.default.svc' };
const rows: Row[] = [
  {
    name: 'share acting for Bob on GET /todos/7',
    request: { subject: BOB, actors: [SHARE], audiences: ['todos'], ...at },
    expect: 'default/share-for-users#0',
  },
  {
    name: 'prior actor web is permitted for Bob only in chains of one',
    request: { subject: BOB, actors: [SHARE, WEB], audiences: ['todos'], ...at },
    expect: 'DELEGATION_NOT_PERMITTED',
  },
  {
    name: 'share for Alice, chain share ← web: web is permitted for Alice mesh-wide up to 3',
    request: { subject: ALICE, actors: [SHARE, WEB], audiences: ['todos'], ...at },
    expect: 'default/share-for-users#0',
  },
  {
    name: 'reminder is not an actor any rule names',
    request: { subject: BOB, actors: [REMINDER], audiences: ['todos'], ...at },
    expect: 'DELEGATION_NOT_PERMITTED',
  },
  {
    name: 'subject of another issuer',
    request: { subject: 'https://evil.example/bob', actors: [SHARE], audiences: ['todos'], ...at },
    expect: 'DELEGATION_NOT_PERMITTED',
  },
  { name: 'wrong audience', request: { subject: BOB, actors: [SHARE], audiences: ['billing'], ...at }, expect: 'DELEGATION_NOT_PERMITTED' },
  {
    name: 'one of several audiences suffices',
    request: { subject: BOB, actors: [SHARE], audiences: ['billing', 'todos'], ...at },
    expect: 'default/share-for-users#0',
  },
  {
    name: 'operation outside to (DELETE)',
    request: { subject: BOB, actors: [SHARE], audiences: ['todos'], ...at, method: 'DELETE' },
    expect: 'DELEGATION_NOT_PERMITTED',
  },
  {
    name: 'operation outside to (path)',
    request: { subject: BOB, actors: [SHARE], audiences: ['todos'], ...at, path: '/admin' },
    expect: 'DELEGATION_NOT_PERMITTED',
  },
  {
    name: 'a workload no namespaced policy targets',
    request: { subject: BOB, actors: [SHARE], audiences: ['todos'], ...at, workload: OTHER },
    expect: 'DELEGATION_NOT_PERMITTED',
  },
  {
    name: 'mesh-wide policy applies to every workload',
    request: { subject: ALICE, actors: [WEB], audiences: [], ...at, workload: OTHER },
    expect: 'istio-system/mesh-web#0',
  },
  {
    name: 'rule maxDepth exceeded reports too deep',
    request: { subject: BOB, actors: [WEB, SHARE], audiences: ['todos'], ...at },
    expect: 'DELEGATION_TOO_DEEP',
  },
  {
    name: 'global maximum exceeded',
    request: { subject: ALICE, actors: [WEB, SHARE, 'a', 'b'], audiences: ['todos'], ...at },
    expect: 'DELEGATION_TOO_DEEP',
  },
  {
    name: 'same actor twice',
    request: { subject: ALICE, actors: [WEB, SHARE, WEB], audiences: ['todos'], ...at },
    expect: 'DELEGATION_CYCLE',
  },
  { name: 'empty chain', request: { subject: BOB, actors: [], audiences: ['todos'], ...at }, expect: 'DELEGATION_MALFORMED' },
  { name: 'empty actor', request: { subject: BOB, actors: [SHARE, ''], audiences: ['todos'], ...at }, expect: 'DELEGATION_MALFORMED' },
  {
    name: 'may_act naming the actor',
    request: { subject: BOB, actors: [SHARE], audiences: ['todos'], ...at, mayAct: { sub: SHARE } },
    expect: 'default/share-for-users#0',
  },
  {
    name: 'may_act naming someone else',
    request: { subject: BOB, actors: [SHARE], audiences: ['todos'], ...at, mayAct: { sub: REMINDER } },
    expect: 'DELEGATION_MAY_ACT_MISMATCH',
  },
  {
    name: 'may_act without sub',
    request: { subject: BOB, actors: [SHARE], audiences: ['todos'], ...at, mayAct: { iss: 'x' } },
    expect: 'DELEGATION_MAY_ACT_MISMATCH',
  },
  {
    name: 'may_act not an object',
    request: { subject: BOB, actors: [SHARE], audiences: ['todos'], ...at, mayAct: SHARE },
    expect: 'DELEGATION_MAY_ACT_MISMATCH',
  },
  // Token exchange: no workload, no request. Every policy counts; `to` is not checked.
  {
    name: 'mint time: share for Bob',
    request: { subject: BOB, actors: [SHARE], audiences: ['todos'] },
    expect: 'default/share-for-users#0',
  },
  {
    name: 'mint time: audience still checked',
    request: { subject: BOB, actors: [SHARE], audiences: ['billing'] },
    expect: 'DELEGATION_NOT_PERMITTED',
  },
  {
    name: 'mint time: depth still checked',
    request: { subject: BOB, actors: [WEB, SHARE], audiences: ['todos'] },
    expect: 'DELEGATION_TOO_DEEP',
  },
  {
    name: 'mint time: may_act still checked',
    request: { subject: BOB, actors: [SHARE], audiences: ['todos'], mayAct: { sub: WEB } },
    expect: 'DELEGATION_MAY_ACT_MISMATCH',
  },
];

for (const row of rows) {
  test(`delegation: ${row.name}`, (t) => {
    const verdict = set.evaluate(row.request);
    t.is(verdict.ok ? `${verdict.policy}#${verdict.rule}` : verdict.code, row.expect, verdict.ok ? undefined : verdict.reason);
  });
}

test('an empty set refuses every delegation (default deny)', (t) => {
  const empty = DelegationPolicySet.empty();
  t.is(empty.policyCount, 0);
  t.is(empty.maxDepth, 3);
  const verdict = empty.evaluate({ subject: BOB, actors: [SHARE], audiences: ['todos'] });
  t.false(verdict.ok);
  t.is(verdict.ok ? undefined : verdict.code, 'DELEGATION_NOT_PERMITTED');
});

test('counts and the global depth', (t) => {
  t.is(set.policyCount, 2);
  t.is(set.ruleCount, 3);
  t.is(set.maxDepth, 3);
});
