/**
 * KubernetesAccessPolicy documents: what a valid one reads as, every
 * validation error naming file#document and field, and the other readers of
 * the policy files leaving the kind alone.
 */
import test from 'ava';
import { ValidationError } from '../../../gateway/errors.js';
import { accessPolicyLimits, parseKubernetesAccessPolicies } from '../../../gateway/kubernetes/index.js';
import { parseDelegationPolicies, parsePolicyDocuments } from '../../../gateway/policy/index.js';

const header = 'apiVersion: gatehouse.dev/v1alpha1\nkind: KubernetesAccessPolicy\nmetadata:\n  name: k\n';
const withSpec = (spec: string) => `${header}spec:\n${spec}`;
/** One rule with the given YAML lines (indented under `- `). */
const withRule = (rule: string, action = 'ALLOW') =>
  withSpec(`  action: ${action}\n  rules:\n  - ${rule.trim().replace(/\n/g, '\n    ')}\n`);
const anyPods = 'resources: [{verbs: [get], apiGroups: [""], resources: [pods]}]';
const withResource = (entry: string, action = 'ALLOW') =>
  withRule(`resources:\n- {verbs: [get], apiGroups: [""], resources: [pods], ${entry}}`, action);

interface InvalidRow {
  readonly name: string;
  readonly text: string;
  readonly field: string;
  readonly problem: RegExp;
}

const invalid: InvalidRow[] = [
  {
    name: 'wrong version',
    text: header.replace('v1alpha1', 'v1') + `spec:\n  rules: []\n`,
    field: 'apiVersion',
    problem: /expected gatehouse\.dev\/v1alpha1/,
  },
  { name: 'no spec', text: header, field: 'spec', problem: /must be a mapping, not missing/ },
  {
    name: 'an unknown spec field',
    text: withSpec('  selector: {}\n'),
    field: 'spec.selector',
    problem: /unknown field \(expected one of action, rules\)/,
  },
  {
    name: 'an action Kubernetes has no use for',
    text: withSpec(`  action: AUDIT\n  rules:\n  - ${anyPods}\n`),
    field: 'spec.action',
    problem: /must be ALLOW or DENY, not "AUDIT"/,
  },
  {
    name: 'no rules',
    text: withSpec('  action: DENY\n'),
    field: 'spec.rules',
    problem: /is required \(a policy needs at least one rule\)/,
  },
  { name: 'empty rules', text: withSpec('  rules: []\n'), field: 'spec.rules', problem: /must not be empty/ },
  { name: 'rules as a mapping', text: withSpec('  rules: {a: 1}\n'), field: 'spec.rules', problem: /must be a list, not a mapping/ },
  { name: 'an unknown rule field', text: withRule(`${anyPods}\nfrom: []`), field: 'spec.rules[0].from', problem: /unknown field/ },
  {
    name: 'a rule without resources or nonResources',
    text: withRule('subjects: [{users: [alice]}]'),
    field: 'spec.rules[0]',
    problem: /needs resources, nonResources or both/,
  },
  { name: 'empty resources', text: withRule('resources: []'), field: 'spec.rules[0].resources', problem: /must not be empty/ },
  {
    name: 'empty subjects',
    text: withRule(`subjects: []\n${anyPods}`),
    field: 'spec.rules[0].subjects',
    problem: /omit subjects for any subject/,
  },
  {
    name: 'an empty subject entry',
    text: withRule(`subjects: [{}]\n${anyPods}`),
    field: 'spec.rules[0].subjects[0]',
    problem: /must set at least one of users, groups, serviceAccounts, notUsers, notGroups/,
  },
  {
    name: 'a misspelt subject field',
    text: withRule(`subjects: [{serviceAccount: [default/x]}]\n${anyPods}`),
    field: 'spec.rules[0].subjects[0].serviceAccount',
    problem: /unknown field/,
  },
  {
    name: 'a user that is not a string',
    text: withRule(`subjects: [{users: [alice, 3]}]\n${anyPods}`),
    field: 'spec.rules[0].subjects[0].users[1]',
    problem: /must be a string, not number 3/,
  },
  {
    name: 'users as a string',
    text: withRule(`subjects: [{users: alice}]\n${anyPods}`),
    field: 'spec.rules[0].subjects[0].users',
    problem: /must be a list/,
  },
  {
    name: 'a wildcard inside a group',
    text: withRule(`subjects: [{groups: ["team-*-admins"]}]\n${anyPods}`),
    field: 'spec.rules[0].subjects[0].groups[0]',
    problem: /only allowed alone, as a prefix or as a suffix/,
  },
  {
    name: 'an empty notUsers pattern',
    text: withRule(`subjects: [{notUsers: [""]}]\n${anyPods}`),
    field: 'spec.rules[0].subjects[0].notUsers[0]',
    problem: /must not be empty/,
  },
  {
    name: 'a service account without namespace',
    text: withRule(`subjects: [{serviceAccounts: [reminder]}]\n${anyPods}`),
    field: 'spec.rules[0].subjects[0].serviceAccounts[0]',
    problem: /<namespace>\/<name> or <namespace>\/\*/,
  },
  {
    name: 'a service account in any namespace',
    text: withRule(`subjects: [{serviceAccounts: ["*/reminder"]}]\n${anyPods}`),
    field: 'spec.rules[0].subjects[0].serviceAccounts[0]',
    problem: /<namespace>\/<name>/,
  },
  {
    name: 'a service account written as a username',
    text: withRule(`subjects: [{serviceAccounts: ["system:serviceaccount:default:reminder"]}]\n${anyPods}`),
    field: 'spec.rules[0].subjects[0].serviceAccounts[0]',
    problem: /<namespace>\/<name>/,
  },
  {
    name: 'verbs missing',
    text: withRule('resources: [{apiGroups: [""], resources: [pods]}]'),
    field: 'spec.rules[0].resources[0].verbs',
    problem: /is required \(use \["\*"\] for any\)/,
  },
  {
    name: 'an upper-case verb',
    text: withRule('resources: [{verbs: [GET], apiGroups: [""], resources: [pods]}]'),
    field: 'spec.rules[0].resources[0].verbs[0]',
    problem: /"GET" is not a Kubernetes verb/,
  },
  {
    name: 'apiGroups missing',
    text: withRule('resources: [{verbs: [get], resources: [pods]}]'),
    field: 'spec.rules[0].resources[0].apiGroups',
    problem: /use \[""\] for the core group/,
  },
  {
    name: 'the core group called core',
    text: withRule('resources: [{verbs: [get], apiGroups: [core], resources: [pods]}]'),
    field: 'spec.rules[0].resources[0].apiGroups[0]',
    problem: /the core API group is ""/,
  },
  {
    name: 'an API group with its version',
    text: withRule('resources: [{verbs: [get], apiGroups: [apps/v1], resources: [deployments]}]'),
    field: 'spec.rules[0].resources[0].apiGroups[0]',
    problem: /without its version/,
  },
  {
    name: 'a resource glob',
    text: withRule('resources: [{verbs: [get], apiGroups: [""], resources: ["po*"]}]'),
    field: 'spec.rules[0].resources[0].resources[0]',
    problem: /must be "\*", a resource, resource\/subresource/,
  },
  {
    name: 'a resource with an empty subresource',
    text: withRule('resources: [{verbs: [get], apiGroups: [""], resources: ["pods/"]}]'),
    field: 'spec.rules[0].resources[0].resources[0]',
    problem: /must be "\*", a resource/,
  },
  {
    name: 'an unknown resource field',
    text: withResource('resourceNames: [x]'),
    field: 'spec.rules[0].resources[0].resourceNames',
    problem: /unknown field/,
  },
  {
    name: 'empty namespaces',
    text: withResource('namespaces: []'),
    field: 'spec.rules[0].resources[0].namespaces',
    problem: /omit namespaces for any/,
  },
  {
    name: 'a bad name pattern',
    text: withResource('names: ["a*b"]'),
    field: 'spec.rules[0].resources[0].names[0]',
    problem: /only allowed alone/,
  },
  { name: 'an empty name', text: withResource('names: [""]'), field: 'spec.rules[0].resources[0].names[0]', problem: /must not be empty/ },
  {
    name: 'a bad selector operator',
    text: withResource('labelSelector: [{key: app, operator: Equals, values: [a]}]'),
    field: 'spec.rules[0].resources[0].labelSelector[0].operator',
    problem: /must be one of In, NotIn, Exists, DoesNotExist, not "Equals"/,
  },
  {
    name: 'values on Exists',
    text: withResource('labelSelector: [{key: app, operator: Exists, values: [a]}]'),
    field: 'spec.rules[0].resources[0].labelSelector[0].values',
    problem: /Exists takes no values/,
  },
  {
    name: 'values on DoesNotExist',
    text: withResource('fieldSelector: [{key: spec.nodeName, operator: DoesNotExist, values: [a]}]'),
    field: 'spec.rules[0].resources[0].fieldSelector[0].values',
    problem: /DoesNotExist takes no values/,
  },
  {
    name: 'empty values on In',
    text: withResource('labelSelector: [{key: app, operator: In, values: []}]'),
    field: 'spec.rules[0].resources[0].labelSelector[0].values',
    problem: /In needs at least one value/,
  },
  {
    name: 'no values on NotIn',
    text: withResource('fieldSelector: [{key: spec.nodeName, operator: NotIn}]'),
    field: 'spec.rules[0].resources[0].fieldSelector[0].values',
    problem: /NotIn needs at least one value/,
  },
  {
    name: 'a selector without key',
    text: withResource('labelSelector: [{operator: Exists}]'),
    field: 'spec.rules[0].resources[0].labelSelector[0].key',
    problem: /must be a string, not missing/,
  },
  {
    name: 'an unknown selector field',
    text: withResource('labelSelector: [{key: app, operator: In, value: [a]}]'),
    field: 'spec.rules[0].resources[0].labelSelector[0].value',
    problem: /unknown field/,
  },
  {
    name: 'an empty selector',
    text: withResource('labelSelector: []'),
    field: 'spec.rules[0].resources[0].labelSelector',
    problem: /must not be empty/,
  },
  {
    name: 'a label selector on a DENY',
    text: withResource('labelSelector: [{key: app, operator: In, values: [a]}]', 'DENY'),
    field: 'spec.rules[0].resources[0].labelSelector',
    problem: /selectors may only narrow an ALLOW/,
  },
  {
    name: 'a field selector on a DENY',
    text: withResource('fieldSelector: [{key: spec.nodeName, operator: In, values: [a]}]', 'DENY'),
    field: 'spec.rules[0].resources[0].fieldSelector',
    problem: /selectors may only narrow an ALLOW/,
  },
  {
    name: 'a non-resource path without a slash',
    text: withRule('nonResources: [{verbs: [get], paths: [healthz]}]'),
    field: 'spec.rules[0].nonResources[0].paths[0]',
    problem: /must be "\*" or a path starting with "\/"/,
  },
  {
    name: 'a star inside a non-resource path',
    text: withRule('nonResources: [{verbs: [get], paths: ["/apis/*/v1"]}]'),
    field: 'spec.rules[0].nonResources[0].paths[0]',
    problem: /with "\*" only at its end/,
  },
  {
    name: 'non-resource paths missing',
    text: withRule('nonResources: [{verbs: [get]}]'),
    field: 'spec.rules[0].nonResources[0].paths',
    problem: /is required/,
  },
  {
    name: 'an unknown non-resource field',
    text: withRule('nonResources: [{verbs: [get], paths: ["*"], nonResourceURLs: ["*"]}]'),
    field: 'spec.rules[0].nonResources[0].nonResourceURLs',
    problem: /unknown field/,
  },
  {
    name: 'CEL that does not parse',
    text: withRule(`${anyPods}\nwhen: ["user.username =="]`),
    field: 'spec.rules[0].when[0]',
    problem: /CEL expression does not parse/,
  },
  {
    name: 'CEL naming an unknown variable',
    text: withRule(`${anyPods}\nwhen: ["true", "request.path == '/'"]`),
    field: 'spec.rules[0].when[1]',
    problem: /CEL expression does not type-check: .*request/,
  },
  {
    name: 'CEL that cannot yield a bool',
    text: withRule(`${anyPods}\nwhen: ["verb"]`),
    field: 'spec.rules[0].when[0]',
    problem: /must yield a bool, not string/,
  },
  {
    name: 'CEL that is not a string',
    text: withRule(`${anyPods}\nwhen: [true]`),
    field: 'spec.rules[0].when[0]',
    problem: /must be a string, not boolean true/,
  },
  {
    name: 'a policy name Kubernetes refuses',
    text: withRule(anyPods).replace('name: k', 'name: Secrets_Policy'),
    field: 'metadata.name',
    problem: /not a valid Kubernetes name/,
  },
  {
    name: 'more rules than allowed',
    text: withSpec(`  rules:\n${`  - ${anyPods}\n`.repeat(accessPolicyLimits.maxRules + 1)}`),
    field: 'spec.rules',
    problem: /has more than 1000 entries/,
  },
  {
    name: 'more patterns than allowed',
    text: withRule(
      `subjects: [{users: [${Array.from({ length: accessPolicyLimits.maxPatterns + 1 }, (_, i) => `u${i}`).join(', ')}]}]\n${anyPods}`,
    ),
    field: 'spec.rules[0].subjects[0].users',
    problem: /has more than 1000 entries/,
  },
  {
    name: 'more conditions than allowed',
    text: withRule(
      `${anyPods}\nwhen: [${Array(accessPolicyLimits.maxConditions + 1)
        .fill('"true"')
        .join(', ')}]`,
    ),
    field: 'spec.rules[0].when',
    problem: /has more than 16 entries/,
  },
];

for (const row of invalid) {
  test(`invalid KubernetesAccessPolicy: ${row.name}`, (t) => {
    // Document 0 is another kind, which this reader must skip.
    const text = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n${row.text}`;
    const error = t.throws(() => parseKubernetesAccessPolicies([{ file: 'k.yaml', text }]), { instanceOf: ValidationError });
    t.true(error.message.startsWith(`k.yaml#1 ${row.field}:`), error.message);
    t.regex(error.message, row.problem);
  });
}

test('a duplicate KubernetesAccessPolicy names the first definition', (t) => {
  const text = `${withRule(anyPods)}---\n${withRule(anyPods)}`;
  const error = t.throws(() => parseKubernetesAccessPolicies([{ file: 'k.yaml', text }]), { instanceOf: ValidationError });
  t.regex(error.message, /^k\.yaml#1 metadata\.name: duplicate KubernetesAccessPolicy default\/k, first defined in k\.yaml#0/);
});

test('a valid document reads as written, with defaults for action and namespace', (t) => {
  const text = withSpec(`  rules:
  - subjects:
    - users: ["alice@example.com", "oidc:*"]
      groups: [sre]
      serviceAccounts: [default/reminder, "kube-system/*"]
      notUsers: [mallory]
      notGroups: [interns]
    resources:
    - verbs: [get, list, watch]
      apiGroups: ["", apps]
      resources: [configmaps, deployments/scale, "pods/*", "*/status"]
      namespaces: [default, ""]
      names: [todo-config]
      labelSelector: [{key: app, operator: In, values: [todos]}]
      fieldSelector: [{key: spec.nodeName, operator: Exists}]
    nonResources:
    - verbs: [get]
      paths: [/healthz, "/apis/*"]
    when: ["user.groups.exists(g, g == 'sre')"]
`);
  const [policy] = parseKubernetesAccessPolicies([{ file: 'k.yaml', text }], { defaultNamespace: 'platform' });
  t.like(policy, {
    apiVersion: 'gatehouse.dev/v1alpha1',
    name: 'k',
    namespace: 'platform',
    action: 'ALLOW',
    origin: { file: 'k.yaml', documentIndex: 0 },
  });
  const rule = policy?.rules[0];
  t.deepEqual(rule?.subjects, [
    {
      users: ['alice@example.com', 'oidc:*'],
      groups: ['sre'],
      serviceAccounts: ['default/reminder', 'kube-system/*'],
      notUsers: ['mallory'],
      notGroups: ['interns'],
    },
  ]);
  t.deepEqual(rule?.resources, [
    {
      verbs: ['get', 'list', 'watch'],
      apiGroups: ['', 'apps'],
      resources: ['configmaps', 'deployments/scale', 'pods/*', '*/status'],
      namespaces: ['default', ''],
      names: ['todo-config'],
      labelSelector: [{ key: 'app', operator: 'In', values: ['todos'] }],
      fieldSelector: [{ key: 'spec.nodeName', operator: 'Exists', values: [] }],
    },
  ]);
  t.deepEqual(rule?.nonResources, [{ verbs: ['get'], paths: ['/healthz', '/apis/*'] }]);
  t.deepEqual(
    rule?.when.map((condition) => condition.expression),
    ["user.groups.exists(g, g == 'sre')"],
  );
});

test('the other readers of the policy files leave KubernetesAccessPolicy documents alone', (t) => {
  const sources = [{ file: 'k.yaml', text: withRule(anyPods) }];
  const loaded = parsePolicyDocuments(sources);
  t.deepEqual(loaded.policies, []);
  t.deepEqual(loaded.skipped, [], 'not reported as a kind Gatehouse does not evaluate');
  t.deepEqual(parseDelegationPolicies(sources).documents, []);
});
