/**
 * Loading and validation: every rejected document names file, document
 * index and field; skipped kinds are reported.
 */
import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ValidationError } from '../../../gateway/errors.js';
import { compilePolicySet, loadPolicySet, parsePolicyDocuments, readPolicySources } from '../../../gateway/policy/index.js';

const header = 'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: p\n';
const withSpec = (spec: string) => `${header}spec:\n${spec}`;
const valid = withSpec('  rules:\n  - {}\n');

interface Row {
  readonly name: string;
  readonly text: string;
  /** Expected document index in the message (`file#index`), or undefined for file-level errors. */
  readonly documentIndex?: number;
  readonly field: string;
  readonly problem: RegExp;
}

const rows: Row[] = [
  { name: 'unknown top-level field', text: `${valid}extra: 1\n`, documentIndex: 0, field: 'extra', problem: /unknown field/ },
  { name: 'unknown spec field', text: withSpec('  rulez: []\n'), documentIndex: 0, field: 'spec.rulez', problem: /unknown field/ },
  {
    name: 'unknown source field',
    text: withSpec('  rules:\n  - from:\n    - source: {principal: [a]}\n'),
    documentIndex: 0,
    field: 'spec.rules[0].from[0].source.principal',
    problem: /unknown field/,
  },
  {
    name: 'principals is not a list',
    text: withSpec('  rules:\n  - from:\n    - source: {principals: a}\n'),
    documentIndex: 0,
    field: 'spec.rules[0].from[0].source.principals',
    problem: /must be a list/,
  },
  {
    name: 'a principal is not a string',
    text: withSpec('  rules:\n  - from:\n    - source: {namespaces: [a]}\n    - source: {principals: [a, b, 3]}\n'),
    documentIndex: 0,
    field: 'spec.rules[0].from[1].source.principals[2]',
    problem: /must be a string/,
  },
  {
    name: 'a port written as a number',
    text: withSpec('  rules:\n  - to:\n    - operation: {ports: [8080]}\n'),
    documentIndex: 0,
    field: 'spec.rules[0].to[0].operation.ports[0]',
    problem: /must be a string/,
  },
  {
    name: 'a port out of range',
    text: withSpec('  rules:\n  - to:\n    - operation: {ports: ["70000"]}\n'),
    documentIndex: 0,
    field: 'spec.rules[0].to[0].operation.ports[0]',
    problem: /not a port/,
  },
  {
    name: 'a bad CIDR',
    text: withSpec('  rules:\n  - from:\n    - source: {ipBlocks: ["10.0.0.0/33"]}\n'),
    documentIndex: 0,
    field: 'spec.rules[0].from[0].source.ipBlocks[0]',
    problem: /not an IP address or CIDR/,
  },
  {
    name: 'a bad IP in a when',
    text: withSpec('  rules:\n  - when:\n    - {key: source.ip, values: ["10.0.0"]}\n'),
    documentIndex: 0,
    field: 'spec.rules[0].when[0].values[0]',
    problem: /not an IP address/,
  },
  {
    name: 'a delegation depth that is not a number',
    text: withSpec('  rules:\n  - when:\n    - {key: request.auth.delegation.depth, values: [two]}\n'),
    documentIndex: 0,
    field: 'spec.rules[0].when[0].values[0]',
    problem: /not a whole number/,
  },
  {
    name: 'an unknown when key',
    text: withSpec('  rules:\n  - when:\n    - {key: request.body, values: [a]}\n'),
    documentIndex: 0,
    field: 'spec.rules[0].when[0].key',
    problem: /not a supported condition key/,
  },
  {
    name: 'experimental.envoy.filters is not supported',
    text: withSpec('  rules:\n  - when:\n    - {key: "experimental.envoy.filters.network.mysql_proxy[db.table]", values: [a]}\n'),
    documentIndex: 0,
    field: 'spec.rules[0].when[0].key',
    problem: /not supported/,
  },
  {
    name: 'a when without values or notValues',
    text: withSpec('  rules:\n  - when:\n    - {key: source.namespace}\n'),
    documentIndex: 0,
    field: 'spec.rules[0].when[0]',
    problem: /values or notValues/,
  },
  {
    name: '{**} not as the last segment',
    text: withSpec('  rules:\n  - to:\n    - operation: {paths: ["/a/{**}/b"]}\n'),
    documentIndex: 0,
    field: 'spec.rules[0].to[0].operation.paths[0]',
    problem: /last segment/,
  },
  {
    name: '{*} not a whole segment',
    text: withSpec('  rules:\n  - to:\n    - operation: {paths: ["/a/x{*}"]}\n'),
    documentIndex: 0,
    field: 'spec.rules[0].to[0].operation.paths[0]',
    problem: /whole path segments/,
  },
  {
    name: 'a * in the middle of a value',
    text: withSpec('  rules:\n  - to:\n    - operation: {methods: ["G*T"]}\n'),
    documentIndex: 0,
    field: 'spec.rules[0].to[0].operation.methods[0]',
    problem: /only allowed alone/,
  },
  { name: 'a bad action', text: withSpec('  action: REJECT\n'), documentIndex: 0, field: 'spec.action', problem: /must be one of/ },
  {
    name: 'serviceAccounts with principals',
    text: withSpec('  rules:\n  - from:\n    - source: {serviceAccounts: [default/a], principals: [x]}\n'),
    documentIndex: 0,
    field: 'spec.rules[0].from[0].source.principals',
    problem: /cannot be combined/,
  },
  {
    name: 'serviceAccounts with a wildcard',
    text: withSpec('  rules:\n  - from:\n    - source: {serviceAccounts: ["default/*"]}\n'),
    documentIndex: 0,
    field: 'spec.rules[0].from[0].source.serviceAccounts[0]',
    problem: /without wildcards/,
  },
  {
    name: 'selector with targetRefs',
    text: withSpec('  selector: {matchLabels: {app: a}}\n  targetRefs: [{kind: Service, group: "", name: a}]\n'),
    documentIndex: 0,
    field: 'spec.targetRefs',
    problem: /mutually exclusive/,
  },
  {
    name: 'targetRef of an unsupported kind',
    text: withSpec('  targetRef: {kind: Deployment, group: apps, name: a}\n'),
    documentIndex: 0,
    field: 'spec.targetRef.kind',
    problem: /not supported/,
  },
  {
    name: 'an empty source',
    text: withSpec('  rules:\n  - from:\n    - source: {}\n'),
    documentIndex: 0,
    field: 'spec.rules[0].from[0].source',
    problem: /at least one field/,
  },
  {
    name: 'missing metadata.name',
    text: 'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {namespace: default}\nspec: {}\n',
    documentIndex: 0,
    field: 'metadata.name',
    problem: /must be a string/,
  },
  {
    name: 'an unsupported apiVersion',
    text: valid.replace('security.istio.io/v1', 'security.istio.io/v2'),
    documentIndex: 0,
    field: 'apiVersion',
    problem: /unsupported version/,
  },
  {
    name: 'the error names the second document',
    text: `${valid}---\n${withSpec('  action: NOPE\n').replace('name: p', 'name: q')}`,
    documentIndex: 1,
    field: 'spec.action',
    problem: /must be one of/,
  },
  {
    name: 'a duplicate namespace/name',
    text: `${valid}---\n${valid}`,
    documentIndex: 1,
    field: 'metadata.name',
    problem: /duplicate policy default\/p/,
  },
  { name: 'invalid YAML syntax', text: `${header}spec: {rules: [}\n`, documentIndex: 0, field: '', problem: /invalid YAML/ },
  { name: 'a duplicate key', text: `${header}spec: {}\nspec: {}\n`, documentIndex: 0, field: '', problem: /invalid YAML/ },
  {
    name: 'a CEL syntax error',
    text: withSpec('  rules:\n  - when:\n    - {key: gatehouse.cel, values: ["request.path ==="]}\n'),
    documentIndex: 0,
    field: 'spec.rules[0].when[0].values[0]',
    problem: /CEL expression does not parse/,
  },
  {
    name: 'a CEL expression that cannot yield a bool',
    text: withSpec('  rules:\n  - when:\n    - {key: gatehouse.cel, values: ["size(request.path)"]}\n'),
    documentIndex: 0,
    field: 'spec.rules[0].when[0].values[0]',
    problem: /must yield a bool/,
  },
  {
    name: 'a CEL expression with an unknown variable',
    text: withSpec('  rules:\n  - when:\n    - {key: gatehouse.cel, values: ["user.admin"]}\n'),
    documentIndex: 0,
    field: 'spec.rules[0].when[0].values[0]',
    problem: /does not type-check/,
  },
  {
    name: 'an over-long string',
    text: withSpec(`  rules:\n  - to:\n    - operation: {paths: ["/${'a'.repeat(5000)}"]}\n`),
    documentIndex: 0,
    field: 'spec.rules[0].to[0].operation.paths[0]',
    problem: /longer than/,
  },
  { name: 'an oversized file', text: `# ${'x'.repeat(4 * 1024 * 1024)}\n${valid}`, field: '', problem: /larger than/ },
];

for (const row of rows) {
  test(`rejects ${row.name}`, (t) => {
    const error = t.throws(() => compilePolicySet(parsePolicyDocuments([{ file: 'policies/p.yaml', text: row.text }])), {
      instanceOf: ValidationError,
    });
    if (error === undefined) return;
    t.is(error.file, 'policies/p.yaml');
    t.is(error.documentIndex, row.documentIndex);
    t.is(error.field, row.field);
    t.regex(error.problem, row.problem);
    const location = row.documentIndex === undefined ? 'policies/p.yaml' : `policies/p.yaml#${row.documentIndex}`;
    t.true(error.message.startsWith(row.field ? `${location} ${row.field}: ` : `${location}: `), error.message);
  });
}

test('other kinds, CUSTOM policies and empty documents are skipped and reported', (t) => {
  const text = [
    'apiVersion: v1\nkind: Service\nmetadata: {name: todos}\n',
    '',
    'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: strict}\n',
    'apiVersion: policy.linkerd.io/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {name: linkerd}\n',
    `${header}spec: {action: CUSTOM, provider: {name: gatehouse}, rules: [{}]}\n`.replace('name: p', 'name: ext'),
    valid,
  ].join('---\n');
  const loaded = parsePolicyDocuments([{ file: 'mixed.yaml', text }]);
  t.deepEqual(
    loaded.skipped.map((s) => [s.documentIndex, s.kind, s.name]),
    [
      [0, 'Service', 'todos'],
      [2, 'PeerAuthentication', 'strict'],
      [3, 'AuthorizationPolicy', 'linkerd'],
      [4, 'AuthorizationPolicy', 'default/ext'],
    ],
  );
  t.regex(loaded.skipped[3]?.note ?? '', /CUSTOM/);
  t.deepEqual(
    loaded.policies.map((p) => `${p.namespace}/${p.name}:${p.action}`),
    ['default/ext:CUSTOM', 'default/p:ALLOW'],
  );
  const set = compilePolicySet(loaded);
  t.is(set.policyCount, 1);
  t.is(set.ruleCount, 1);
  t.is(set.skipped.length, 4);
});

test('metadata.namespace defaults to the configured default namespace', (t) => {
  t.is(parsePolicyDocuments([{ file: 'a.yaml', text: valid }]).policies[0]?.namespace, 'default');
  t.is(parsePolicyDocuments([{ file: 'a.yaml', text: valid }], { defaultNamespace: 'team-a' }).policies[0]?.namespace, 'team-a');
});

test('v1beta1 and JSON documents are accepted', (t) => {
  const json = JSON.stringify({
    apiVersion: 'security.istio.io/v1beta1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'j' },
    spec: { rules: [{}] },
  });
  t.is(parsePolicyDocuments([{ file: 'a.json', text: json }]).policies[0]?.apiVersion, 'security.istio.io/v1beta1');
});

test('a duplicate across files names both files', (t) => {
  const error = t.throws(
    () =>
      parsePolicyDocuments([
        { file: 'a.yaml', text: valid },
        { file: 'b.yaml', text: valid },
      ]),
    { instanceOf: ValidationError },
  );
  t.is(error?.file, 'b.yaml');
  t.regex(error?.message ?? '', /first defined in a\.yaml#0/);
});

test('readPolicySources reads a directory sorted, only policy extensions; loadPolicySet compiles it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-policies-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'b.yml'), valid.replace('name: p', 'name: b'));
  await writeFile(join(dir, 'a.yaml'), valid.replace('name: p', 'name: a'));
  await writeFile(join(dir, 'notes.txt'), 'not a policy');
  const sources = await readPolicySources([dir]);
  t.deepEqual(
    sources.map((s) => s.file),
    [join(dir, 'a.yaml'), join(dir, 'b.yml')],
  );
  const set = await loadPolicySet([dir]);
  t.is(set.policyCount, 2);
});

test('readPolicySources reports an unreadable path as a ValidationError', async (t) => {
  const error = await t.throwsAsync(readPolicySources(['/nonexistent/gatehouse/policies.yaml']), { instanceOf: ValidationError });
  t.regex(error?.message ?? '', /cannot be read \(ENOENT\)/);
});

test('readPolicySources refuses an oversized file before reading it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-policies-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'big.yaml');
  await writeFile(file, Buffer.alloc(4 * 1024 * 1024 + 1, 0x20));
  const error = await t.throwsAsync(readPolicySources([file]), { instanceOf: ValidationError });
  t.regex(error?.message ?? '', /larger than/);
});

test('a YAML alias bomb is an error, not a hang', (t) => {
  const lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
  for (let i = 0; i < 12; i++)
    lines.push(
      `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)}]`,
    );
  const text = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n${lines.map((l) => `  ${l}`).join('\n')}\n`;
  t.throws(() => parsePolicyDocuments([{ file: 'bomb.yaml', text }]), { instanceOf: ValidationError });
});
