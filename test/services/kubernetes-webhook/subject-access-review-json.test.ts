/**
 * SubjectAccessReview JSON: the request bodies of the Kubernetes webhook
 * authorization documentation in both versions, what they read as, the
 * answers written back, and one row per malformed body with the field its
 * refusal names.
 */
import test from 'ava';
import type { AccessVerdict } from '../../../gateway/kubernetes/index.js';
import { ReviewInputError } from '../../../services/kubernetes-webhook/review-input.js';
import { parseSubjectAccessReview, subjectAccessReviewResponse } from '../../../services/kubernetes-webhook/subject-access-review-json.js';
import { documentedSubjectAccessReviews, sarBody, type SarVersion } from '../../helpers/kubernetes-webhook.js';

for (const version of ['v1', 'v1beta1'] as const) {
  const docs = documentedSubjectAccessReviews(version);

  test(`${version}: the documented resource request (kittensandponies, unicorn.example.org)`, (t) => {
    const { review, envelope } = parseSubjectAccessReview(JSON.stringify(docs.resource));
    t.deepEqual(envelope, { apiVersion: `authorization.k8s.io/${version}`, kind: 'SubjectAccessReview' });
    t.deepEqual(review, {
      user: { username: 'jane', groups: ['group1', 'group2'], extra: {} },
      kind: 'resource',
      resource: {
        namespace: 'kittensandponies',
        verb: 'get',
        group: 'unicorn.example.org',
        version: '',
        resource: 'pods',
        subresource: '',
        name: '',
      },
    });
  });

  test(`${version}: the documented non-resource request (/debug)`, (t) => {
    const { review } = parseSubjectAccessReview(JSON.stringify(docs.nonResource));
    t.deepEqual(review, {
      user: { username: 'jane', groups: ['group1', 'group2'], extra: {} },
      kind: 'nonResource',
      nonResource: { verb: 'get', path: '/debug' },
    });
  });

  test(`${version}: the documented field and label selectors are read from their requirements`, (t) => {
    const { review } = parseSubjectAccessReview(JSON.stringify(docs.selectors));
    if (review.kind !== 'resource') return t.fail();
    t.like(review.resource, { verb: 'list', group: '', resource: 'pods' });
    t.deepEqual(review.resource.fieldSelector, [{ key: 'spec.nodeName', operator: 'In', values: ['mynode'] }]);
    t.deepEqual(review.resource.labelSelector, [{ key: 'example.com/mykey', operator: 'In', values: ['myvalue'] }]);
  });

  test(`${version}: what kube-apiserver sends besides: metadata, an empty status, uid and extra`, (t) => {
    const body = {
      ...docs.resource,
      metadata: { creationTimestamp: null },
      spec: { ...docs.resource.spec, uid: '42', extra: { 'acme.com/project': ['some-project'], scopes: ['openid', 'profile'] } },
      status: { allowed: false },
    };
    const { review, envelope } = parseSubjectAccessReview(JSON.stringify(body));
    t.deepEqual(envelope.metadata, { creationTimestamp: null });
    t.deepEqual(review.user, {
      username: 'jane',
      uid: '42',
      groups: ['group1', 'group2'],
      extra: { 'acme.com/project': ['some-project'], scopes: ['openid', 'profile'] },
    });
  });

  test(`${version}: answers carry the request's version, kind, metadata and spec, with the status of the contract`, (t) => {
    const request = parseSubjectAccessReview(JSON.stringify({ ...docs.resource, metadata: { creationTimestamp: null } }));
    const verdicts: [AccessVerdict, Record<string, unknown>][] = [
      [{ allowed: true, denied: false, reason: '' }, { allowed: true }],
      [
        { allowed: false, denied: false, reason: 'user does not have read access to the namespace' },
        { allowed: false, reason: 'user does not have read access to the namespace' },
      ],
      [
        { allowed: false, denied: true, reason: 'user does not have read access to the namespace' },
        { allowed: false, denied: true, reason: 'user does not have read access to the namespace' },
      ],
      [
        { allowed: false, denied: false, reason: 'no opinion', evaluationError: 'policy a/b: bad selector' },
        { allowed: false, reason: 'no opinion', evaluationError: 'policy a/b: bad selector' },
      ],
    ];
    for (const [verdict, status] of verdicts) {
      t.deepEqual(subjectAccessReviewResponse(request, verdict), {
        apiVersion: `authorization.k8s.io/${version}`,
        kind: 'SubjectAccessReview',
        metadata: { creationTimestamp: null },
        spec: docs.resource.spec,
        status,
      });
    }
  });
}

test('a selector with an operator this service does not know is ignored as a whole: the request is decided unnarrowed', (t) => {
  const { review } = parseSubjectAccessReview(
    sarBody('v1', {
      resourceAttributes: {
        verb: 'list',
        resource: 'pods',
        labelSelector: {
          rawSelector: 'a=b',
          requirements: [
            { key: 'a', operator: 'In', values: ['b'] },
            { key: 'c', operator: 'GreaterThan', values: ['1'] },
          ],
        },
        fieldSelector: { rawSelector: 'spec.nodeName=n' },
      },
      user: 'jane',
    }),
  );
  if (review.kind !== 'resource') return t.fail();
  t.is(review.resource.labelSelector, undefined);
  t.is(review.resource.fieldSelector, undefined, 'a rawSelector alone narrows nothing: webhooks are to use the requirements');
});

test('Exists and DoesNotExist take no values', (t) => {
  const { review } = parseSubjectAccessReview(
    sarBody('v1', {
      resourceAttributes: {
        verb: 'list',
        resource: 'pods',
        labelSelector: {
          requirements: [
            { key: 'a', operator: 'Exists' },
            { key: 'b', operator: 'DoesNotExist', values: [] },
          ],
        },
      },
      user: 'jane',
    }),
  );
  if (review.kind !== 'resource') return t.fail();
  t.deepEqual(review.resource.labelSelector, [
    { key: 'a', operator: 'Exists', values: [] },
    { key: 'b', operator: 'DoesNotExist', values: [] },
  ]);
});

test('an extra key named __proto__ is an ordinary key', (t) => {
  const { review } = parseSubjectAccessReview(
    '{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"nonResourceAttributes":{"verb":"get","path":"/"},"user":"jane","extra":{"__proto__":["x"]}}}',
  );
  t.deepEqual(Object.keys(review.user.extra), ['__proto__']);
  t.deepEqual(Object.getPrototypeOf(review.user.extra), Object.prototype);
});

interface MalformedRow {
  readonly name: string;
  readonly body: string;
  readonly field: string;
  readonly problem?: RegExp;
}

const resource = { verb: 'get', resource: 'pods', namespace: 'default' };
const spec = (extra: Record<string, unknown>, version: SarVersion = 'v1'): string =>
  sarBody(version, { resourceAttributes: resource, user: 'jane', ...extra });

const malformed: readonly MalformedRow[] = [
  { name: 'not JSON', body: '{"apiVersion": ', field: '', problem: /not valid JSON/ },
  { name: 'a JSON list', body: '[]', field: '', problem: /must be a JSON object/ },
  { name: 'JSON null', body: 'null', field: '', problem: /must be a JSON object/ },
  { name: 'an empty body', body: '', field: '', problem: /not valid JSON/ },
  {
    name: 'another group',
    body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SubjectAccessReview', spec: {} }),
    field: 'apiVersion',
  },
  {
    name: 'an unknown version',
    body: JSON.stringify({ apiVersion: 'authorization.k8s.io/v2', kind: 'SubjectAccessReview', spec: {} }),
    field: 'apiVersion',
  },
  { name: 'no apiVersion', body: JSON.stringify({ kind: 'SubjectAccessReview', spec: {} }), field: 'apiVersion', problem: /required/ },
  {
    name: 'another kind',
    body: JSON.stringify({ apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: {} }),
    field: 'kind',
  },
  {
    name: 'a TokenReview sent to the authorizer',
    body: JSON.stringify({ apiVersion: 'authorization.k8s.io/v1', kind: 'TokenReview', spec: { token: 'x' } }),
    field: 'kind',
  },
  { name: 'no spec', body: JSON.stringify({ apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview' }), field: 'spec' },
  {
    name: 'a spec that is a string',
    body: JSON.stringify({ apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: 'jane' }),
    field: 'spec',
  },
  {
    name: 'an unknown top-level field',
    body: JSON.stringify({ apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: {}, allowed: true }),
    field: 'allowed',
    problem: /unknown field/,
  },
  {
    name: 'metadata that is a list',
    body: JSON.stringify({ apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', metadata: [], spec: {} }),
    field: 'metadata',
  },
  {
    name: 'both attribute kinds',
    body: spec({ nonResourceAttributes: { path: '/debug', verb: 'get' } }),
    field: 'spec.nonResourceAttributes',
  },
  { name: 'neither attribute kind', body: sarBody('v1', { user: 'jane' }), field: 'spec.resourceAttributes', problem: /required/ },
  { name: 'no user', body: sarBody('v1', { resourceAttributes: resource, groups: ['g'] }), field: 'spec.user', problem: /required/ },
  { name: 'an empty user', body: spec({ user: '' }), field: 'spec.user', problem: /required/ },
  { name: 'a user that is a number', body: spec({ user: 7 }), field: 'spec.user', problem: /must be a string/ },
  {
    name: 'a resource request without a verb',
    body: sarBody('v1', { resourceAttributes: { resource: 'pods' }, user: 'jane' }),
    field: 'spec.resourceAttributes.verb',
    problem: /required/,
  },
  {
    name: 'a non-resource request without a verb',
    body: sarBody('v1', { nonResourceAttributes: { path: '/debug' }, user: 'jane' }),
    field: 'spec.nonResourceAttributes.verb',
  },
  {
    name: 'a non-resource request without a path',
    body: sarBody('v1', { nonResourceAttributes: { verb: 'get' }, user: 'jane' }),
    field: 'spec.nonResourceAttributes.path',
  },
  {
    name: 'a non-resource path that is not absolute',
    body: sarBody('v1', { nonResourceAttributes: { verb: 'get', path: 'debug' }, user: 'jane' }),
    field: 'spec.nonResourceAttributes.path',
    problem: /start with \//,
  },
  {
    name: 'a verb that is a list',
    body: sarBody('v1', { resourceAttributes: { verb: ['get'] }, user: 'jane' }),
    field: 'spec.resourceAttributes.verb',
  },
  {
    name: 'an unknown resource attribute',
    body: sarBody('v1', { resourceAttributes: { ...resource, path: '/x' }, user: 'jane' }),
    field: 'spec.resourceAttributes.path',
    problem: /unknown field/,
  },
  {
    name: 'an unknown non-resource attribute',
    body: sarBody('v1', { nonResourceAttributes: { path: '/x', verb: 'get', resource: 'pods' }, user: 'jane' }),
    field: 'spec.nonResourceAttributes.resource',
  },
  { name: 'groups that are a string', body: spec({ groups: 'system:masters' }), field: 'spec.groups', problem: /list of strings/ },
  { name: 'a group that is a number', body: spec({ groups: ['a', 1] }), field: 'spec.groups[1]' },
  { name: 'v1 groups spelled as v1beta1 does', body: spec({ group: ['g'] }), field: 'spec.group', problem: /unknown field/ },
  { name: 'v1beta1 groups spelled as v1 does', body: spec({ groups: ['g'] }, 'v1beta1'), field: 'spec.groups', problem: /unknown field/ },
  { name: 'extra that is a list', body: spec({ extra: ['a'] }), field: 'spec.extra', problem: /must be an object/ },
  { name: 'an extra value that is a string', body: spec({ extra: { scopes: 'openid' } }), field: 'spec.extra.scopes' },
  { name: 'an empty extra key', body: spec({ extra: { '': ['x'] } }), field: 'spec.extra' },
  { name: 'a uid that is a number', body: spec({ uid: 42 }), field: 'spec.uid' },
  { name: 'an unknown spec field', body: spec({ impersonate: 'admin' }), field: 'spec.impersonate', problem: /unknown field/ },
  {
    name: 'a selector that is a string',
    body: sarBody('v1', { resourceAttributes: { ...resource, labelSelector: 'a=b' }, user: 'jane' }),
    field: 'spec.resourceAttributes.labelSelector',
  },
  {
    name: 'selector requirements that are an object',
    body: sarBody('v1', { resourceAttributes: { ...resource, labelSelector: { requirements: { key: 'a' } } }, user: 'jane' }),
    field: 'spec.resourceAttributes.labelSelector.requirements',
  },
  {
    name: 'a selector requirement without a key',
    body: sarBody('v1', {
      resourceAttributes: { ...resource, fieldSelector: { requirements: [{ operator: 'In', values: ['x'] }] } },
      user: 'jane',
    }),
    field: 'spec.resourceAttributes.fieldSelector.requirements[0].key',
  },
  {
    name: 'a selector requirement without an operator',
    body: sarBody('v1', {
      resourceAttributes: { ...resource, fieldSelector: { requirements: [{ key: 'a', values: ['x'] }] } },
      user: 'jane',
    }),
    field: 'spec.resourceAttributes.fieldSelector.requirements[0].operator',
  },
  {
    name: 'In without values',
    body: sarBody('v1', {
      resourceAttributes: { ...resource, labelSelector: { requirements: [{ key: 'a', operator: 'In' }] } },
      user: 'jane',
    }),
    field: 'spec.resourceAttributes.labelSelector.requirements[0].values',
    problem: /must not be empty/,
  },
  {
    name: 'Exists with values',
    body: sarBody('v1', {
      resourceAttributes: { ...resource, labelSelector: { requirements: [{ key: 'a', operator: 'Exists', values: ['x'] }] } },
      user: 'jane',
    }),
    field: 'spec.resourceAttributes.labelSelector.requirements[0].values',
    problem: /must be empty/,
  },
  {
    name: 'a selector requirement with an unknown field',
    body: sarBody('v1', {
      resourceAttributes: { ...resource, labelSelector: { requirements: [{ key: 'a', operator: 'In', values: ['x'], not: true }] } },
      user: 'jane',
    }),
    field: 'spec.resourceAttributes.labelSelector.requirements[0].not',
  },
  {
    name: 'a rawSelector that is a number',
    body: sarBody('v1', { resourceAttributes: { ...resource, labelSelector: { rawSelector: 1 } }, user: 'jane' }),
    field: 'spec.resourceAttributes.labelSelector.rawSelector',
  },
];

for (const row of malformed) {
  test(`malformed: ${row.name} → refused, naming '${row.field || '(body)'}'`, (t) => {
    const error = t.throws(() => parseSubjectAccessReview(row.body), { instanceOf: ReviewInputError });
    t.is(error?.field, row.field);
    t.is(error?.code, 'INVALID_REVIEW');
    if (row.problem) t.regex(error?.problem ?? '', row.problem);
    if (row.field !== '') t.true(error?.message.startsWith(`${row.field}: `));
  });
}
