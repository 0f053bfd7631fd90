/**
 * KubernetesAccessPolicy semantics, one row per rule of
 * docs/kubernetes-authorization.md: policies + SubjectAccessReview → verdict.
 */
import test from 'ava';
import { stringify } from 'yaml';
import {
  KubernetesAuthorizer,
  parseKubernetesAccessPolicies,
  type AccessReview,
  type AccessVerdict,
  type BreakGlassSubjects,
  type KubernetesUser,
  type NonResourceAttributes,
  type ResourceAttributes,
  type SelectorRequirement,
} from '../../../gateway/kubernetes/index.js';

type Rule = Record<string, unknown>;

function policy(name: string, action: 'ALLOW' | 'DENY', rules: Rule[]): Record<string, unknown> {
  return { apiVersion: 'gatehouse.dev/v1alpha1', kind: 'KubernetesAccessPolicy', metadata: { name }, spec: { action, rules } };
}
const allow = (name: string, ...rules: Rule[]) => policy(name, 'ALLOW', rules);
const deny = (name: string, ...rules: Rule[]) => policy(name, 'DENY', rules);

/** A resources[] entry; verbs, apiGroups and resources default to any. */
const res = (entry: Record<string, unknown> = {}) => ({ verbs: ['*'], apiGroups: ['*'], resources: ['*'], ...entry });
const resources = (...entries: Record<string, unknown>[]): Rule => ({ resources: entries.map(res) });
const nonResources = (...entries: Record<string, unknown>[]): Rule => ({ nonResources: entries });
const anyResource = resources({});

// Users, as the apiserver describes them in a SubjectAccessReview.
const user = (username: string, groups: string[] = [], extra: Record<string, string[]> = {}): KubernetesUser => ({
  username,
  groups: username === 'system:anonymous' ? groups : [...groups, 'system:authenticated'],
  extra,
});
const alice = user('alice@example.com', ['todo-devs']);
const bob = user('bob@example.com', ['sre']);
const jane = user('jane');
const anonymous = user('system:anonymous', ['system:unauthenticated']);
const reminderSa = user('system:serviceaccount:default:reminder', ['system:serviceaccounts', 'system:serviceaccounts:default']);
const kubeProxySa = user('system:serviceaccount:kube-system:kube-proxy', ['system:serviceaccounts']);

const blankResource: ResourceAttributes = { verb: '', namespace: '', group: '', version: '', resource: '', subresource: '', name: '' };
const onResource = (who: KubernetesUser, attributes: Partial<ResourceAttributes>): AccessReview => ({
  user: who,
  kind: 'resource',
  resource: { ...blankResource, ...attributes },
});
const onPath = (who: KubernetesUser, attributes: NonResourceAttributes): AccessReview => ({
  user: who,
  kind: 'nonResource',
  nonResource: attributes,
});
const getPod = (who: KubernetesUser, extra: Partial<ResourceAttributes> = {}) =>
  onResource(who, { verb: 'get', namespace: 'default', version: 'v1', resource: 'pods', name: 'todos-1', ...extra });
const listPods = (who: KubernetesUser, selectors: { labelSelector?: SelectorRequirement[]; fieldSelector?: SelectorRequirement[] }) =>
  onResource(who, { verb: 'list', namespace: 'default', version: 'v1', resource: 'pods', ...selectors });
const req = (key: string, operator: SelectorRequirement['operator'], values: string[] = []): SelectorRequirement => ({
  key,
  operator,
  values,
});

/** `allow p#0`, `deny d#1`, `no opinion`, `break-glass <name>`; `+error` when an evaluationError is expected. */
type Expect = string;

interface Row {
  readonly name: string;
  readonly policies: Record<string, unknown>[];
  readonly review: AccessReview;
  readonly expect: Expect;
  readonly breakGlass?: BreakGlassSubjects;
}

const noBreakGlass: BreakGlassSubjects = { users: [], groups: [] };
const breakGlass: BreakGlassSubjects = { users: ['breakglass-admin'], groups: ['breakglass'] };
const denyEverything = deny('d', anyResource, nonResources({ verbs: ['*'], paths: ['*'] }));

const rows: Row[] = [
  // 1. Break-glass, before any policy.
  {
    name: 'break-glass user with no policies at all',
    policies: [],
    review: getPod(user('breakglass-admin')),
    expect: 'break-glass breakglass-admin',
    breakGlass,
  },
  {
    name: 'break-glass group wins over a matching DENY',
    policies: [denyEverything],
    review: getPod(user('carol', ['breakglass'])),
    expect: 'break-glass breakglass',
    breakGlass,
  },
  {
    name: 'break-glass wins over a DENY whose CEL fails',
    policies: [deny('d', { ...anyResource, when: ["user.extra['missing'][0] == 'x'"] })],
    review: getPod(user('breakglass-admin')),
    expect: 'break-glass breakglass-admin',
    breakGlass,
  },
  {
    name: 'break-glass names must match exactly',
    policies: [denyEverything],
    review: getPod(user('breakglass-admin2')),
    expect: 'deny d#0',
    breakGlass,
  },
  {
    name: 'a break-glass group name is not a username',
    policies: [],
    review: getPod(user('breakglass')),
    expect: 'no opinion',
    breakGlass,
  },

  // 2. DENY.
  {
    name: 'a DENY names its policy and rule',
    policies: [deny('d', resources({ resources: ['secrets'] }), resources({ resources: ['pods'] }))],
    review: getPod(alice),
    expect: 'deny d#1',
  },
  { name: 'DENY wins over ALLOW', policies: [allow('a', anyResource), deny('d', anyResource)], review: getPod(alice), expect: 'deny d#0' },
  {
    name: 'a CEL runtime error in a DENY denies (fail closed)',
    policies: [deny('d', { ...anyResource, when: ["user.extra['scopes'][0] == 'admin'"] })],
    review: getPod(alice),
    expect: 'deny d#0 +error',
  },
  {
    name: 'a non-bool CEL result in a DENY denies (fail closed)',
    policies: [deny('d', { ...anyResource, when: ['resource.name'] })],
    review: getPod(alice),
    expect: 'deny d#0 +error',
  },
  {
    name: 'a false condition decides a DENY even when another fails (CEL &&)',
    policies: [deny('d', { ...anyResource, when: ["user.extra['scopes'][0] == 'admin'", 'false'] })],
    review: getPod(alice),
    expect: 'no opinion',
  },
  {
    name: 'a DENY whose condition is false does not deny',
    policies: [deny('d', { ...anyResource, when: ["verb == 'delete'"] })],
    review: getPod(alice),
    expect: 'no opinion',
  },
  {
    name: 'a DENY without subjects applies to the anonymous user too',
    policies: [deny('d', anyResource)],
    review: getPod(anonymous),
    expect: 'deny d#0',
  },
  {
    name: 'a DENY with only notGroups spares that group',
    policies: [deny('d', { subjects: [{ notGroups: ['sre'] }], ...anyResource })],
    review: getPod(bob),
    expect: 'no opinion',
  },
  {
    name: 'a DENY with only notGroups applies to the anonymous user',
    policies: [deny('d', { subjects: [{ notGroups: ['sre'] }], ...anyResource })],
    review: getPod(anonymous),
    expect: 'deny d#0',
  },

  // 3. ALLOW.
  { name: 'a matching ALLOW allows', policies: [allow('a', anyResource)], review: getPod(alice), expect: 'allow a#0' },
  {
    name: 'policies are tried in namespace/name order',
    policies: [allow('z', anyResource), allow('b', resources({ verbs: ['list'] }), anyResource)],
    review: getPod(alice),
    expect: 'allow b#1',
  },
  {
    name: 'a CEL error in an ALLOW is no match, reported when nothing allows',
    policies: [allow('a', { ...anyResource, when: ["user.extra['scopes'][0] == 'admin'"] })],
    review: getPod(alice),
    expect: 'no opinion +error',
  },
  {
    name: 'a CEL error in one ALLOW does not stop another from allowing',
    policies: [allow('a', { ...anyResource, when: ["user.extra['scopes'][0] == 'admin'"] }), allow('b', anyResource)],
    review: getPod(alice),
    expect: 'allow b#0',
  },
  {
    name: 'an ALLOW without subjects does not admit the anonymous user',
    policies: [allow('a', anyResource)],
    review: getPod(anonymous),
    expect: 'no opinion',
  },
  {
    name: 'an ALLOW without subjects does not admit a user in system:unauthenticated',
    policies: [allow('a', anyResource)],
    review: getPod({ username: 'guest', groups: ['system:unauthenticated'], extra: {} }),
    expect: 'no opinion',
  },
  {
    name: 'an ALLOW may name the anonymous user explicitly',
    policies: [allow('a', { subjects: [{ users: ['system:anonymous'] }], ...nonResources({ verbs: ['get'], paths: ['/healthz'] }) })],
    review: onPath(anonymous, { verb: 'get', path: '/healthz' }),
    expect: 'allow a#0',
  },
  {
    name: 'an ALLOW without subjects admits any authenticated user',
    policies: [allow('a', anyResource)],
    review: getPod(jane),
    expect: 'allow a#0',
  },

  // 4. No opinion.
  { name: 'no policies: no opinion', policies: [], review: getPod(alice), expect: 'no opinion' },
  {
    name: 'no matching rule: no opinion',
    policies: [allow('a', resources({ resources: ['secrets'] }))],
    review: getPod(alice),
    expect: 'no opinion',
  },

  // Subjects.
  ...(
    [
      ['an exact user', { users: ['alice@example.com'] }, alice, true],
      ['a user prefix', { users: ['oidc:*'] }, user('oidc:alice'), true],
      ['a user suffix', { users: ['*@example.com'] }, alice, true],
      ['another user', { users: ['alice@example.com'] }, jane, false],
      ['one of the groups', { groups: ['todo-devs'] }, alice, true],
      ['a group prefix', { groups: ['todo-*'] }, alice, true],
      ['a group the user lacks', { groups: ['sre'] }, alice, false],
      ['a service account', { serviceAccounts: ['default/reminder'] }, reminderSa, true],
      ['another service account', { serviceAccounts: ['default/todos'] }, reminderSa, false],
      ['every service account of a namespace', { serviceAccounts: ['kube-system/*'] }, kubeProxySa, true],
      ['a namespace wildcard is not another namespace', { serviceAccounts: ['kube-system/*'] }, reminderSa, false],
      ['users and groups together (AND), both match', { users: ['alice@example.com'], groups: ['todo-devs'] }, alice, true],
      ['users and groups together (AND), group missing', { users: ['alice@example.com'], groups: ['sre'] }, alice, false],
      ['notUsers excludes a user', { users: ['*@example.com'], notUsers: ['alice@example.com'] }, alice, false],
      ['notGroups excludes a group', { users: ['*'], notGroups: ['todo-devs'] }, alice, false],
      ['notUsers alone admits others', { notUsers: ['alice@example.com'] }, jane, true],
    ] as const
  ).map(([name, subject, who, matches]): Row => ({
    name: `subject: ${name}`,
    policies: [allow('a', { subjects: [subject], ...anyResource })],
    review: getPod(who),
    expect: matches ? 'allow a#0' : 'no opinion',
  })),
  {
    name: 'subject entries are OR-ed',
    policies: [allow('a', { subjects: [{ users: ['nobody'] }, { groups: ['sre'] }], ...anyResource })],
    review: getPod(bob),
    expect: 'allow a#0',
  },

  // Resources, RBAC style.
  ...(
    [
      [
        'the Kubernetes docs example',
        { verbs: ['get'], apiGroups: ['unicorn.example.org'], resources: ['pods'], namespaces: ['kittensandponies'] },
        { namespace: 'kittensandponies', verb: 'get', group: 'unicorn.example.org', resource: 'pods' },
        true,
      ],
      ['verb * is any verb', { verbs: ['*'] }, { verb: 'escalate', resource: 'roles', group: 'rbac.authorization.k8s.io' }, true],
      ['a verb not listed', { verbs: ['get', 'list'] }, { verb: 'delete', resource: 'pods' }, false],
      ['apiGroup "" is the core group', { apiGroups: [''] }, { verb: 'get', resource: 'pods' }, true],
      ['apiGroup "" is not apps', { apiGroups: [''] }, { verb: 'get', group: 'apps', resource: 'deployments' }, false],
      ['apiGroup * includes the core group', { apiGroups: ['*'] }, { verb: 'get', resource: 'pods' }, true],
      [
        'resource pods is not its subresource pods/log',
        { resources: ['pods'] },
        { verb: 'get', resource: 'pods', subresource: 'log' },
        false,
      ],
      ['resource pods/log is that subresource', { resources: ['pods/log'] }, { verb: 'get', resource: 'pods', subresource: 'log' }, true],
      ['resource pods/log is not pods/exec', { resources: ['pods/log'] }, { verb: 'create', resource: 'pods', subresource: 'exec' }, false],
      [
        'resource pods/* is any subresource of pods',
        { resources: ['pods/*'] },
        { verb: 'create', resource: 'pods', subresource: 'exec' },
        true,
      ],
      ['resource pods/* is not pods itself', { resources: ['pods/*'] }, { verb: 'get', resource: 'pods' }, false],
      [
        'resource */scale is the scale of anything',
        { resources: ['*/scale'] },
        { verb: 'update', group: 'apps', resource: 'deployments', subresource: 'scale' },
        true,
      ],
      [
        'resource */scale is not the resource itself',
        { resources: ['*/scale'] },
        { verb: 'update', group: 'apps', resource: 'deployments' },
        false,
      ],
      ['resource * includes subresources', { resources: ['*'] }, { verb: 'get', resource: 'pods', subresource: 'log' }, true],
      ['namespaces absent: cluster-scoped too', {}, { verb: 'get', resource: 'nodes', name: 'node-1' }, true],
      ['namespace "" is cluster-scoped only', { namespaces: [''] }, { verb: 'get', resource: 'nodes', name: 'node-1' }, true],
      ['namespace "" is not a namespaced request', { namespaces: [''] }, { verb: 'get', namespace: 'default', resource: 'pods' }, false],
      ['namespace * is every namespace but not cluster-scoped', { namespaces: ['*'] }, { verb: 'get', resource: 'nodes' }, false],
      ['a namespace prefix', { namespaces: ['team-*'] }, { verb: 'get', namespace: 'team-a', resource: 'pods' }, true],
      [
        'names: the named object',
        { names: ['todo-config'] },
        { verb: 'get', namespace: 'default', resource: 'configmaps', name: 'todo-config' },
        true,
      ],
      [
        'names: another object',
        { names: ['todo-config'] },
        { verb: 'get', namespace: 'default', resource: 'configmaps', name: 'other' },
        false,
      ],
      [
        'names: a list has no name and never matches',
        { names: ['todo-config'] },
        { verb: 'list', namespace: 'default', resource: 'configmaps' },
        false,
      ],
      [
        'the version is ignored',
        { apiGroups: ['apps'], resources: ['deployments'] },
        { verb: 'get', group: 'apps', version: 'v1beta1', resource: 'deployments' },
        true,
      ],
    ] as const
  ).map(([name, entry, attributes, matches]): Row => ({
    name: `resource: ${name}`,
    policies: [allow('a', resources(entry))],
    review: onResource(alice, attributes),
    expect: matches ? 'allow a#0' : 'no opinion',
  })),
  {
    name: 'resource rules never match a non-resource request',
    policies: [allow('a', anyResource)],
    review: onPath(alice, { path: '/debug', verb: 'get' }),
    expect: 'no opinion',
  },
  {
    name: 'resource entries are OR-ed',
    policies: [allow('a', resources({ resources: ['secrets'] }, { resources: ['pods'] }))],
    review: getPod(alice),
    expect: 'allow a#0',
  },
  {
    name: 'a verb no rule names matches only rules with verb *',
    policies: [allow('a', resources({ verbs: ['get'] })), allow('b', resources({ verbs: ['*'], resources: ['widgets'] }))],
    review: onResource(alice, { verb: 'frobnicate', group: 'example.org', resource: 'widgets' }),
    expect: 'allow b#0',
  },

  // Non-resource requests.
  ...(
    [
      ['the Kubernetes docs example', { verbs: ['get'], paths: ['/debug'] }, { path: '/debug', verb: 'get' }, true],
      ['an exact path is not a longer one', { verbs: ['get'], paths: ['/healthz'] }, { path: '/healthz/ready', verb: 'get' }, false],
      ['a path prefix', { verbs: ['get'], paths: ['/apis/*'] }, { path: '/apis/apps/v1', verb: 'get' }, true],
      ['path * is any path', { verbs: ['get'], paths: ['*'] }, { path: '/metrics', verb: 'get' }, true],
      ['another verb', { verbs: ['get'], paths: ['*'] }, { path: '/metrics', verb: 'post' }, false],
    ] as const
  ).map(([name, entry, attributes, matches]): Row => ({
    name: `non-resource: ${name}`,
    policies: [allow('a', nonResources(entry))],
    review: onPath(alice, attributes),
    expect: matches ? 'allow a#0' : 'no opinion',
  })),
  {
    name: 'non-resource rules never match a resource request',
    policies: [allow('a', nonResources({ verbs: ['*'], paths: ['*'] }))],
    review: getPod(alice),
    expect: 'no opinion',
  },

  // Selectors only ever narrow an ALLOW.
  ...(
    [
      ['In is implied by In of a subset', [req('app', 'In', ['todos', 'share'])], [req('app', 'In', ['todos'])], true],
      ['In is not implied by In of a superset', [req('app', 'In', ['todos'])], [req('app', 'In', ['todos', 'other'])], false],
      ['In is not implied by NotIn', [req('app', 'In', ['todos'])], [req('app', 'NotIn', ['other'])], false],
      ['In is not implied by another key', [req('app', 'In', ['todos'])], [req('tier', 'In', ['todos'])], false],
      ['NotIn is implied by NotIn of a superset', [req('app', 'NotIn', ['a', 'b'])], [req('app', 'NotIn', ['a', 'b', 'c'])], true],
      ['NotIn is not implied by NotIn of a subset', [req('app', 'NotIn', ['a', 'b'])], [req('app', 'NotIn', ['a'])], false],
      ['NotIn is implied by a disjoint In', [req('app', 'NotIn', ['a'])], [req('app', 'In', ['b', 'c'])], true],
      ['NotIn is not implied by an overlapping In', [req('app', 'NotIn', ['a'])], [req('app', 'In', ['a', 'c'])], false],
      ['NotIn is implied by DoesNotExist', [req('app', 'NotIn', ['a'])], [req('app', 'DoesNotExist')], true],
      ['Exists is implied by Exists', [req('app', 'Exists')], [req('app', 'Exists')], true],
      ['Exists is implied by In', [req('app', 'Exists')], [req('app', 'In', ['todos'])], true],
      ['Exists is not implied by NotIn', [req('app', 'Exists')], [req('app', 'NotIn', ['todos'])], false],
      ['DoesNotExist is implied by DoesNotExist', [req('app', 'DoesNotExist')], [req('app', 'DoesNotExist')], true],
      ['DoesNotExist is not implied by NotIn', [req('app', 'DoesNotExist')], [req('app', 'NotIn', ['a'])], false],
      ['every rule requirement must be implied', [req('app', 'Exists'), req('tier', 'In', ['web'])], [req('app', 'In', ['todos'])], false],
      [
        'one implying request requirement among several suffices',
        [req('app', 'Exists')],
        [req('tier', 'In', ['web']), req('app', 'In', ['todos'])],
        true,
      ],
      ['a request without selectors implies nothing', [req('app', 'Exists')], undefined, false],
    ] as const
  ).map(([name, rule, request, matches]): Row => ({
    name: `label selector: ${name}`,
    policies: [allow('a', resources({ verbs: ['list'], resources: ['pods'], labelSelector: rule }))],
    review: listPods(alice, request === undefined ? {} : { labelSelector: [...request] }),
    expect: matches ? 'allow a#0' : 'no opinion',
  })),
  {
    name: 'field selector: a node may list its own pods',
    policies: [
      allow('a', resources({ verbs: ['list', 'watch'], resources: ['pods'], fieldSelector: [req('spec.nodeName', 'In', ['node-1'])] })),
    ],
    review: listPods(alice, { fieldSelector: [req('spec.nodeName', 'In', ['node-1'])] }),
    expect: 'allow a#0',
  },
  {
    name: 'field selector: a label selector does not stand in for it',
    policies: [allow('a', resources({ verbs: ['list'], resources: ['pods'], fieldSelector: [req('spec.nodeName', 'In', ['node-1'])] }))],
    review: listPods(alice, { labelSelector: [req('spec.nodeName', 'In', ['node-1'])] }),
    expect: 'no opinion',
  },
  {
    name: 'request selectors do not change a rule without selectors',
    policies: [deny('d', resources({ verbs: ['list'], resources: ['pods'] }))],
    review: listPods(alice, { labelSelector: [req('app', 'In', ['todos'])], fieldSelector: [req('spec.nodeName', 'In', ['node-1'])] }),
    expect: 'deny d#0',
  },

  // Impersonation is verb impersonate on users, groups, serviceaccounts, uids and userextras.
  ...(
    [
      [
        'a service account',
        { apiGroups: [''], resources: ['serviceaccounts'], namespaces: ['default'] },
        { namespace: 'default', resource: 'serviceaccounts', name: 'todos' },
        true,
      ],
      [
        'a service account of another namespace',
        { apiGroups: [''], resources: ['serviceaccounts'], namespaces: ['default'] },
        { namespace: 'kube-system', resource: 'serviceaccounts', name: 'kube-proxy' },
        false,
      ],
      [
        'a user',
        { apiGroups: [''], resources: ['users'], names: ['alice@example.com'] },
        { resource: 'users', name: 'alice@example.com' },
        true,
      ],
      [
        'another user',
        { apiGroups: [''], resources: ['users'], names: ['alice@example.com'] },
        { resource: 'users', name: 'admin' },
        false,
      ],
      ['a group', { apiGroups: [''], resources: ['groups'], names: ['todo-*'] }, { resource: 'groups', name: 'todo-devs' }, true],
      [
        'a uid',
        { apiGroups: ['authentication.k8s.io'], resources: ['uids'], names: ['06f6ce97-e2c5-4ab8-7ba5-7654dd08d52b'] },
        { group: 'authentication.k8s.io', resource: 'uids', name: '06f6ce97-e2c5-4ab8-7ba5-7654dd08d52b' },
        true,
      ],
      [
        'a user extra',
        { apiGroups: ['authentication.k8s.io'], resources: ['userextras/scopes'], names: ['view'] },
        { group: 'authentication.k8s.io', resource: 'userextras', subresource: 'scopes', name: 'view' },
        true,
      ],
      [
        'a user extra with another value',
        { apiGroups: ['authentication.k8s.io'], resources: ['userextras/scopes'], names: ['view'] },
        { group: 'authentication.k8s.io', resource: 'userextras', subresource: 'scopes', name: 'admin' },
        false,
      ],
      [
        'a user extra key with a slash',
        { apiGroups: ['authentication.k8s.io'], resources: ['userextras/example.org/team'] },
        { group: 'authentication.k8s.io', resource: 'userextras', subresource: 'example.org/team', name: 'blue' },
        true,
      ],
    ] as const
  ).map(([name, entry, attributes, matches]): Row => ({
    name: `impersonation: ${name}`,
    policies: [allow('a', { subjects: [{ groups: ['sre'] }], ...resources({ verbs: ['impersonate'], ...entry }) })],
    review: onResource(bob, { verb: 'impersonate', ...attributes }),
    expect: matches ? 'allow a#0' : 'no opinion',
  })),
  {
    name: 'impersonation: get on users is not impersonate',
    policies: [allow('a', resources({ verbs: ['impersonate'], apiGroups: [''], resources: ['users'] }))],
    review: onResource(bob, { verb: 'get', resource: 'users', name: 'alice@example.com' }),
    expect: 'no opinion',
  },

  // CEL variables.
  ...(
    [
      ['user.groups', "user.groups.exists(g, g == 'todo-devs')", getPod(alice), true],
      ['user.username and uid', "user.username == 'alice@example.com' && user.uid == ''", getPod(alice), true],
      ['user.extra', "'blue' in user.extra['team']", getPod(user('dave', [], { team: ['blue'] })), true],
      ['verb', "verb == 'get'", getPod(alice), true],
      [
        'resource keys, version included',
        "resource.namespace == 'default' && resource.version == 'v1' && resource.name == 'todos-1'",
        getPod(alice),
        true,
      ],
      ['an unset resource string is "" (no error)', "resource.subresource == ''", getPod(alice), true],
      ['nonResource is empty on a resource request', 'size(nonResource) == 0', getPod(alice), true],
      [
        'nonResource on a non-resource request',
        "nonResource.path.startsWith('/metrics') && verb == nonResource.verb && size(resource) == 0",
        onPath(alice, { path: '/metrics', verb: 'get' }),
        true,
      ],
      ['a false condition', "user.groups.exists(g, g == 'sre')", getPod(alice), false],
    ] as const
  ).map(([name, expression, review, matches]): Row => ({
    name: `CEL: ${name}`,
    policies: [allow('a', { ...anyResource, ...nonResources({ verbs: ['*'], paths: ['*'] }), when: [expression] })],
    review,
    expect: matches ? 'allow a#0' : 'no opinion',
  })),
];

function outcome(verdict: AccessVerdict): Expect {
  const error = verdict.evaluationError === undefined ? '' : ' +error';
  if (verdict.breakGlass !== undefined) return `break-glass ${verdict.breakGlass}${error}`;
  const where = `${verdict.policy?.replace(/^default\//, '')}#${verdict.rule}`;
  if (verdict.allowed) return `allow ${where}${error}`;
  if (verdict.denied) return `deny ${where}${error}`;
  return `no opinion${error}`;
}

for (const row of rows) {
  test(`authorizer: ${row.name}`, (t) => {
    const text = row.policies.map((document) => stringify(document)).join('---\n');
    const authorizer = KubernetesAuthorizer.compile(
      parseKubernetesAccessPolicies([{ file: 'k.yaml', text }]),
      row.breakGlass ?? noBreakGlass,
    );
    const verdict = authorizer.review(row.review);
    t.is(outcome(verdict), row.expect);
    t.false(verdict.allowed && verdict.denied, 'never allowed and denied');
    t.true(verdict.reason.length > 0);
    if (verdict.evaluationError !== undefined) t.false(verdict.allowed, 'an evaluation error is never an allow');
  });
}

test('verdicts explain themselves: policy, rule, reason and the failed condition', (t) => {
  const text = [
    deny('no-secrets', resources({ resources: ['secrets'] })),
    deny('scoped', { ...resources({ resources: ['configmaps'] }), when: ["user.extra['scopes'][0] == 'x'"] }),
    allow('readers', resources({ verbs: ['get'] })),
  ]
    .map((document) => stringify(document))
    .join('---\n');
  const authorizer = KubernetesAuthorizer.compile(parseKubernetesAccessPolicies([{ file: 'k.yaml', text }]), breakGlass);
  t.is(authorizer.policyCount, 3);
  t.is(authorizer.ruleCount, 3);
  t.deepEqual(authorizer.review(getPod(alice)), {
    allowed: true,
    denied: false,
    reason: 'allowed by KubernetesAccessPolicy default/readers rule 0',
    policy: 'default/readers',
    rule: 0,
  });
  t.like(authorizer.review(getPod(alice, { resource: 'secrets' })), {
    allowed: false,
    denied: true,
    reason: 'denied by KubernetesAccessPolicy default/no-secrets rule 0',
    policy: 'default/no-secrets',
    rule: 0,
  });
  const failed = authorizer.review(getPod(alice, { resource: 'configmaps' }));
  t.like(failed, { allowed: false, denied: true, policy: 'default/scoped', rule: 0 });
  t.regex(failed.reason, /fail closed/);
  t.regex(failed.evaluationError ?? '', /^default\/scoped rule 0 when\[0\]: /);
  t.deepEqual(authorizer.review(getPod(user('breakglass-admin'), { resource: 'secrets' })), {
    allowed: true,
    denied: false,
    breakGlass: 'breakglass-admin',
    reason: 'break-glass user breakglass-admin: allowed without consulting any policy',
  });
  t.deepEqual(authorizer.review(getPod(alice, { verb: 'delete' })), {
    allowed: false,
    denied: false,
    reason: "no Gatehouse policy matched; RBAC and the cluster's other authorizers decide",
  });
});

test('an ALLOW whose condition fails reports the error with no opinion', (t) => {
  const text = stringify(allow('a', { ...anyResource, when: ['true', 'resource.name'] }));
  const verdict = KubernetesAuthorizer.compile(parseKubernetesAccessPolicies([{ file: 'k.yaml', text }]), noBreakGlass).review(
    getPod(alice),
  );
  t.like(verdict, { allowed: false, denied: false, evaluationError: 'default/a rule 0 when[1]: yielded string, not a bool' });
  t.regex(verdict.reason, /^no Gatehouse policy matched/);
});

test('an unexpected failure never allows: a deny when DENY policies exist, else no opinion', (t) => {
  // A review the service should never produce: a user without groups.
  const broken = { user: { username: 'alice', extra: {} }, kind: 'resource', resource: blankResource } as unknown as AccessReview;
  const withDeny = KubernetesAuthorizer.compile(
    parseKubernetesAccessPolicies([
      {
        file: 'k.yaml',
        text: [deny('d', resources({ resources: ['secrets'] })), allow('a', anyResource)].map((d) => stringify(d)).join('---\n'),
      },
    ]),
    breakGlass,
  );
  const verdict = withDeny.review(broken);
  t.like(verdict, { allowed: false, denied: true });
  t.regex(verdict.evaluationError ?? '', /^internal error: /);
  const allowOnly = KubernetesAuthorizer.compile(
    parseKubernetesAccessPolicies([{ file: 'k.yaml', text: stringify(allow('a', anyResource)) }]),
    breakGlass,
  );
  t.like(allowOnly.review(broken), { allowed: false, denied: false });
});

test('break-glass subjects must be non-empty strings', (t) => {
  const error = t.throws(() => KubernetesAuthorizer.compile([], { users: ['root', ''], groups: [] }));
  t.regex(error.message, /^breakGlass users\[1\]: must be a non-empty string/);
});

test('the order of the policies given does not change the verdicts', (t) => {
  const documents = [allow('b', anyResource), allow('a', resources({ verbs: ['get'] })), deny('c', resources({ resources: ['secrets'] }))];
  const policies = parseKubernetesAccessPolicies([{ file: 'k.yaml', text: documents.map((d) => stringify(d)).join('---\n') }]);
  const forward = KubernetesAuthorizer.compile(policies, noBreakGlass);
  const backward = KubernetesAuthorizer.compile([...policies].reverse(), noBreakGlass);
  for (const review of [getPod(alice), getPod(alice, { verb: 'list', name: '' }), getPod(alice, { resource: 'secrets' })]) {
    t.deepEqual(backward.review(review), forward.review(review));
  }
  t.like(forward.review(getPod(alice)), { policy: 'default/a' });
});
