/**
 * TokenReview in JSON, as kube-apiserver's token webhook sends it
 * (`authentication.k8s.io/v1` or `v1beta1`) and expects it back: the same
 * version and kind with `status` filled. The answer leaves out `spec` (the
 * contract lets it): the token is never sent back.
 */
import type { TokenReviewRequest, TokenReviewVerdict } from './types.js';
import {
  optionalStrings,
  optionalString,
  readObject,
  readReviewObject,
  reviewResponse,
  type JsonObject,
  type ObjectEnvelope,
  type ReviewKind,
} from './kubernetes-object.js';
import { tokenReviewRequestOf, ReviewInputError } from './review-input.js';

export const TOKEN_REVIEW: ReviewKind = { group: 'authentication.k8s.io', kind: 'TokenReview', versions: ['v1', 'v1beta1'] };

/** A parsed request: the token to review, and what the answer echoes. */
export interface TokenReviewObject {
  readonly envelope: ObjectEnvelope;
  readonly request: TokenReviewRequest;
}

/**
 * Parses a TokenReview request body; a token over `maxTokenBytes` is refused here.
 *
 * @throws ReviewInputError naming the field (`spec.token`).
 * @example
 * const { request } = parseTokenReview('{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"…"}}', 16384);
 */
export function parseTokenReview(text: string, maxTokenBytes: number): TokenReviewObject {
  const { envelope, spec } = readReviewObject(text, TOKEN_REVIEW);
  readObject(spec, 'spec', ['token', 'audiences']);
  const input = { token: optionalString(spec.token, 'spec.token'), audiences: optionalStrings(spec.audiences, 'spec.audiences') };
  try {
    return { envelope, request: tokenReviewRequestOf(input, maxTokenBytes) };
  } catch (error) {
    if (error instanceof ReviewInputError) throw error.renamed((field) => `spec.${field}`);
    throw error;
  }
}

/** The answer: the request's envelope with `status` filled (no `spec`). */
export function tokenReviewResponse(envelope: ObjectEnvelope, verdict: TokenReviewVerdict): JsonObject {
  return reviewResponse(envelope, { status: tokenReviewStatus(verdict) });
}

/**
 * `status` of a TokenReview: `authenticated`, then the user (username, and
 * uid, groups and extra when present) and audiences, or the error.
 */
export function tokenReviewStatus(verdict: TokenReviewVerdict): JsonObject {
  if (!verdict.authenticated) return { authenticated: false, error: verdict.error };
  const { user } = verdict;
  return {
    authenticated: true,
    user: {
      username: user.username,
      ...(user.uid === undefined || user.uid === '' ? {} : { uid: user.uid }),
      ...(user.groups.length === 0 ? {} : { groups: user.groups }),
      ...(Object.keys(user.extra).length === 0 ? {} : { extra: user.extra }),
    },
    ...(verdict.audiences.length === 0 ? {} : { audiences: verdict.audiences }),
  };
}
