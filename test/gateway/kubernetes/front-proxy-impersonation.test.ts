/**
 * The front proxy's reading of Impersonate-* headers and the reviews it
 * makes of them, table by table, without a server.
 */
import test from 'ava';
import { KubernetesAuthorizer, parseKubernetesAccessPolicies } from '../../../gateway/kubernetes/index.js';
import {
  authorizeImpersonation,
  extraHeaderKey,
  impersonationReviews,
  readImpersonation,
} from '../../../gateway/kubernetes/front-proxy-impersonation.js';

const headers = (entries: Record<string, string>): Map<string, string> => new Map(Object.entries(entries));

const parseCases: { name: string; headers: Record<string, string>; expect: 'none' | 'invalid' | Record<string, unknown> }[] = [
  { name: 'no impersonation headers', headers: { authorization: 'Bearer x', 'x-remote-user': 'root' }, expect: 'none' },
  { name: 'a user', headers: { 'impersonate-user': 'bob' }, expect: { user: 'bob', groups: [], extra: {} } },
  {
    name: 'groups joined by Envoy from two headers',
    headers: { 'impersonate-user': 'bob', 'impersonate-group': 'qa,dev' },
    expect: { user: 'bob', groups: ['qa', 'dev'], extra: {} },
  },
  {
    name: 'an extra key is lower-cased and percent-decoded',
    headers: { 'impersonate-user': 'bob', 'impersonate-extra-example.com%2fscopes': 'view,edit' },
    expect: { user: 'bob', groups: [], extra: { 'example.com/scopes': ['view', 'edit'] } },
  },
  {
    name: 'a uid with a user',
    headers: { 'impersonate-user': 'bob', 'impersonate-uid': '42' },
    expect: { user: 'bob', uid: '42', groups: [], extra: {} },
  },
  { name: 'a group without a user', headers: { 'impersonate-group': 'qa' }, expect: 'invalid' },
  { name: 'a uid without a user', headers: { 'impersonate-uid': '42' }, expect: 'invalid' },
  { name: 'an extra without a user', headers: { 'impersonate-extra-scopes': 'view' }, expect: 'invalid' },
  { name: 'two users (joined)', headers: { 'impersonate-user': 'bob,carol' }, expect: 'invalid' },
  { name: 'two uids (joined)', headers: { 'impersonate-user': 'bob', 'impersonate-uid': '1,2' }, expect: 'invalid' },
  { name: 'an empty group value', headers: { 'impersonate-user': 'bob', 'impersonate-group': 'qa,' }, expect: 'invalid' },
  { name: 'an extra key that does not decode', headers: { 'impersonate-user': 'bob', 'impersonate-extra-%zz': 'v' }, expect: 'invalid' },
  { name: 'an unknown Impersonate- header', headers: { 'impersonate-user': 'bob', 'impersonate-role': 'admin' }, expect: 'invalid' },
  {
    name: 'more than 64 values in one header',
    headers: { 'impersonate-user': 'bob', 'impersonate-group': Array.from({ length: 65 }, (_, i) => `g${i}`).join(',') },
    expect: 'invalid',
  },
];

for (const { name, headers: entries, expect } of parseCases) {
  test(`readImpersonation: ${name}`, (t) => {
    const parsed = readImpersonation(headers(entries));
    if (expect === 'invalid') return t.false(parsed.ok);
    if (!parsed.ok) return t.fail(parsed.reason);
    if (expect === 'none') return t.is(parsed.request, undefined);
    const request = parsed.request!;
    t.deepEqual(
      {
        user: request.user,
        ...(request.uid === undefined ? {} : { uid: request.uid }),
        groups: request.groups,
        extra: Object.fromEntries(request.extra),
      },
      expect,
    );
  });
}

test('impersonationReviews: the reviews kube-apiserver makes, service accounts by namespace and name', (t) => {
  const parsed = readImpersonation(
    headers({
      'impersonate-user': 'system:serviceaccount:ci:deployer',
      'impersonate-group': 'qa',
      'impersonate-uid': '42',
      'impersonate-extra-scopes': 'view',
    }),
  );
  if (!parsed.ok || parsed.request === undefined) return t.fail();
  const reviews = impersonationReviews(parsed.request).map(
    ({ attributes: a }) => `${a.group}/${a.resource}/${a.subresource} ${a.namespace}/${a.name}`,
  );
  t.deepEqual(reviews, [
    '/serviceaccounts/ ci/deployer',
    '/groups/ /qa',
    'authentication.k8s.io/userextras/scopes /view',
    'authentication.k8s.io/uids/ /42',
  ]);
  const malformedAccount = readImpersonation(headers({ 'impersonate-user': 'system:serviceaccount:ci' }));
  if (!malformedAccount.ok || malformedAccount.request === undefined) return t.fail();
  t.is(impersonationReviews(malformedAccount.request)[0]!.attributes.resource, 'users', 'not a service account name: reviewed as a user');
});

test('authorizeImpersonation: every review must be an explicit allow; no opinion refuses', (t) => {
  const policies = KubernetesAuthorizer.compile(
    parseKubernetesAccessPolicies([
      {
        file: 'impersonation.yaml',
        text: `apiVersion: gatehouse.dev/v1alpha1
kind: KubernetesAccessPolicy
metadata: { name: allow, namespace: istio-system }
spec:
  action: ALLOW
  rules:
    - subjects: [{ users: [alice] }]
      resources: [{ verbs: [impersonate], apiGroups: [""], resources: [users, groups], names: [bob, qa] }]
`,
      },
    ]),
    { users: [], groups: [] },
  );
  const alice = { username: 'alice', groups: ['system:authenticated'], extra: {} };
  const request = (entries: Record<string, string>) => {
    const parsed = readImpersonation(headers(entries));
    if (!parsed.ok || parsed.request === undefined) throw new Error('unexpected');
    return parsed.request;
  };
  t.deepEqual(authorizeImpersonation(policies, alice, request({ 'impersonate-user': 'bob', 'impersonate-group': 'qa' })), {
    allowed: true,
  });
  const refused = authorizeImpersonation(policies, alice, request({ 'impersonate-user': 'bob', 'impersonate-group': 'qa,ops' }));
  t.false(refused.allowed);
  t.regex(refused.allowed ? '' : refused.reason, /^alice may not impersonate group ops: /);
  t.false(authorizeImpersonation(policies, { ...alice, username: 'mallory' }, request({ 'impersonate-user': 'bob' })).allowed);
});

test('extraHeaderKey: percent-encodes as client-go does (non-token bytes and %)', (t) => {
  t.is(extraHeaderKey('scopes'), 'scopes');
  t.is(extraHeaderKey('example.com/team'), 'example.com%2Fteam');
  t.is(extraHeaderKey('a b%c'), 'a%20b%25c');
  t.is(extraHeaderKey('é'), '%C3%A9');
});
