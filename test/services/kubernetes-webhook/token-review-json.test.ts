/**
 * TokenReview JSON: the documented request in both versions, the documented
 * answers (success and failure), and one row per malformed body with the
 * field its refusal names.
 */
import test from 'ava';
import { ReviewInputError } from '../../../services/kubernetes-webhook/review-input.js';
import { parseTokenReview, tokenReviewResponse } from '../../../services/kubernetes-webhook/token-review-json.js';
import { documentedTokenReview, tokenReviewBody } from '../../helpers/kubernetes-webhook.js';

const maxTokenBytes = 1024;

for (const version of ['v1', 'v1beta1'] as const) {
  test(`${version}: the documented request reads as its token and audiences`, (t) => {
    const { envelope, request } = parseTokenReview(JSON.stringify(documentedTokenReview(version, '014fbff9a07c...')), maxTokenBytes);
    t.deepEqual(envelope, { apiVersion: `authentication.k8s.io/${version}`, kind: 'TokenReview' });
    t.deepEqual(request, {
      token: '014fbff9a07c...',
      audiences: ['https://myserver.example.com', 'https://myserver.internal.example.com'],
    });
  });

  test(`${version}: as kube-apiserver sends it, with metadata and an empty status user; no audiences`, (t) => {
    const body = JSON.stringify({
      apiVersion: `authentication.k8s.io/${version}`,
      kind: 'TokenReview',
      metadata: { creationTimestamp: null },
      spec: { token: 'abc' },
      status: { user: {} },
    });
    const { envelope, request } = parseTokenReview(body, maxTokenBytes);
    t.deepEqual(envelope.metadata, { creationTimestamp: null });
    t.deepEqual(request, { token: 'abc', audiences: [] });
  });

  test(`${version}: the documented answers, with the request's version and no spec (the token is not sent back)`, (t) => {
    const { envelope } = parseTokenReview(JSON.stringify(documentedTokenReview(version, 'secret-token')), maxTokenBytes);
    const success = tokenReviewResponse(envelope, {
      authenticated: true,
      user: {
        username: 'janedoe@example.com',
        uid: '42',
        groups: ['developers', 'qa'],
        extra: { extrafield1: ['extravalue1', 'extravalue2'] },
      },
      audiences: ['https://myserver.example.com'],
    });
    t.deepEqual(success, {
      apiVersion: `authentication.k8s.io/${version}`,
      kind: 'TokenReview',
      status: {
        authenticated: true,
        user: {
          username: 'janedoe@example.com',
          uid: '42',
          groups: ['developers', 'qa'],
          extra: { extrafield1: ['extravalue1', 'extravalue2'] },
        },
        audiences: ['https://myserver.example.com'],
      },
    });
    t.false(JSON.stringify(success).includes('secret-token'));
    t.deepEqual(tokenReviewResponse(envelope, { authenticated: false, error: 'Credentials are expired', code: 'TOKEN_EXPIRED' }), {
      apiVersion: `authentication.k8s.io/${version}`,
      kind: 'TokenReview',
      status: { authenticated: false, error: 'Credentials are expired' },
    });
  });
}

test('a user with only a username is answered with only a username; no audiences, none in the answer', (t) => {
  const { envelope } = parseTokenReview(tokenReviewBody('v1', { token: 't' }), maxTokenBytes);
  t.deepEqual(tokenReviewResponse(envelope, { authenticated: true, user: { username: 'jane', groups: [], extra: {} }, audiences: [] }), {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenReview',
    status: { authenticated: true, user: { username: 'jane' } },
  });
});

const malformed: readonly { name: string; body: string; field: string; problem?: RegExp }[] = [
  { name: 'not JSON', body: 'token=abc', field: '', problem: /not valid JSON/ },
  { name: 'a JSON string', body: '"abc"', field: '' },
  {
    name: 'a SubjectAccessReview sent to the authenticator',
    body: JSON.stringify({ apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user: 'jane' } }),
    field: 'apiVersion',
  },
  {
    name: 'another kind of the group',
    body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { token: 'x' } }),
    field: 'kind',
  },
  {
    name: 'an unknown version',
    body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1alpha1', kind: 'TokenReview', spec: { token: 'x' } }),
    field: 'apiVersion',
  },
  { name: 'no token', body: tokenReviewBody('v1', { audiences: ['a'] }), field: 'spec.token', problem: /required/ },
  { name: 'an empty token', body: tokenReviewBody('v1', { token: '' }), field: 'spec.token', problem: /required/ },
  { name: 'a null token', body: tokenReviewBody('v1beta1', { token: null }), field: 'spec.token', problem: /required/ },
  {
    name: 'a token that is an object',
    body: tokenReviewBody('v1', { token: { value: 'x' } }),
    field: 'spec.token',
    problem: /must be a string/,
  },
  {
    name: 'a token over the limit',
    body: tokenReviewBody('v1', { token: 'x'.repeat(maxTokenBytes + 1) }),
    field: 'spec.token',
    problem: /larger than 1024/,
  },
  { name: 'audiences that are a string', body: tokenReviewBody('v1', { token: 't', audiences: 'api' }), field: 'spec.audiences' },
  { name: 'an empty audience', body: tokenReviewBody('v1', { token: 't', audiences: ['api', ''] }), field: 'spec.audiences[1]' },
  {
    name: 'an unknown spec field',
    body: tokenReviewBody('v1', { token: 't', user: 'admin' }),
    field: 'spec.user',
    problem: /unknown field/,
  },
  {
    name: 'no spec',
    body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', status: { authenticated: true } }),
    field: 'spec',
  },
  {
    name: 'a status that is not an object',
    body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: 't' }, status: true }),
    field: 'status',
  },
];

for (const row of malformed) {
  test(`malformed: ${row.name} → refused, naming '${row.field || '(body)'}'`, (t) => {
    const error = t.throws(() => parseTokenReview(row.body, maxTokenBytes), { instanceOf: ReviewInputError });
    t.is(error?.field, row.field);
    if (row.problem) t.regex(error?.problem ?? '', row.problem);
    t.false(error?.message.includes('x'.repeat(64)) ?? true, 'the refusal does not quote the token');
  });
}
