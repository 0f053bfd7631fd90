/**
 * The last line of defence between the reviewers and the wire: whatever an
 * authorizer or token reviewer does wrong (throws, rejects, answers both
 * allowed and denied, authenticates nobody), the answer sent is never an
 * allow or an authentication. The reviewers here misbehave on purpose; the
 * real ones are exercised by the HTTPS, gRPC and CLI tests.
 */
import test from 'ava';
import type { AccessReview, AccessVerdict } from '../../../gateway/kubernetes/index.js';
import { createLogger } from '../../../gateway/log.js';
import { Reviews, TOKEN_REVIEW_FAILED, type TokenReviewing } from '../../../services/kubernetes-webhook/index.js';
import type { TokenReviewVerdict } from '../../../services/kubernetes-webhook/types.js';

const review: AccessReview = {
  user: { username: 'jane', groups: [], extra: {} },
  kind: 'nonResource',
  nonResource: { verb: 'get', path: '/debug' },
};
const log = createLogger('silent');
const noTokens: TokenReviewing = { review: () => Promise.resolve({ authenticated: false, code: 'TOKEN_MISSING', error: 'none' }) };

const verdicts: [name: string, answer: () => AccessVerdict, expected: Partial<AccessVerdict>][] = [
  [
    'an authorizer that throws: no opinion, with the error',
    () => {
      throw new Error('boom');
    },
    { allowed: false, denied: false, evaluationError: 'internal error: boom' },
  ],
  ['allowed and denied at once: denied', () => ({ allowed: true, denied: true, reason: 'both' }), { allowed: false, denied: true }],
  [
    'allowed with an evaluation error: not allowed',
    () => ({ allowed: true, denied: false, reason: 'x', evaluationError: 'a condition failed' }),
    { allowed: false, denied: false, evaluationError: 'a condition failed' },
  ],
];

for (const [name, answer, expected] of verdicts) {
  test(name, (t) => {
    const reviews = new Reviews({ authorizer: () => ({ review: answer }), tokens: noTokens, log });
    t.like(reviews.subjectAccessReview(review, 'https'), expected);
    t.is(reviews.stats().subjectAccessReviews.allowed, 0);
  });
}

test('break-glass allows are counted by entry', (t) => {
  const reviews = new Reviews({
    authorizer: () => ({ review: () => ({ allowed: true, denied: false, reason: 'break-glass', breakGlass: 'group:emergency' }) }),
    tokens: noTokens,
    log,
  });
  reviews.subjectAccessReview(review, 'https');
  reviews.subjectAccessReview(review, 'grpc');
  t.deepEqual(reviews.stats().subjectAccessReviews, {
    allowed: 2,
    denied: 0,
    noOpinion: 0,
    evaluationErrors: 0,
    breakGlass: { 'group:emergency': 2 },
  });
});

const tokenAnswers: [name: string, answer: () => Promise<TokenReviewVerdict>][] = [
  ['a token reviewer that rejects', () => Promise.reject(new Error('redis exploded'))],
  [
    'a token reviewer that throws',
    () => {
      throw new Error('sync boom');
    },
  ],
  [
    'an authentication without a username',
    () => Promise.resolve({ authenticated: true, user: { username: '', groups: ['system:masters'], extra: {} }, audiences: [] }),
  ],
];

for (const [name, answer] of tokenAnswers) {
  test(`${name}: not authenticated`, async (t) => {
    const reviews = new Reviews({
      authorizer: () => ({ review: () => ({ allowed: false, denied: false, reason: '' }) }),
      tokens: { review: answer },
      log,
    });
    const verdict = await reviews.tokenReview({ token: 'abc', audiences: [] }, 'grpc');
    t.like(verdict, { authenticated: false, code: TOKEN_REVIEW_FAILED });
    t.deepEqual(reviews.stats().tokenReviews, { authenticated: 0, refused: 1 });
  });
}
