/**
 * Properties of the Kubernetes webhook's request body parsers
 * (TokenReview, SubjectAccessReview JSON): any text is either parsed or
 * refused with a ReviewInputError, never another exception; a well-formed
 * TokenReview gives back exactly the token and audiences it carried.
 */
import test from 'ava';
import fc from 'fast-check';
import { ReviewInputError } from '../../services/kubernetes-webhook/review-input.js';
import { parseSubjectAccessReview } from '../../services/kubernetes-webhook/subject-access-review-json.js';
import { parseTokenReview } from '../../services/kubernetes-webhook/token-review-json.js';
import { numRuns } from './runs.js';

const tokenReview = { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: 'abc.def.ghi', audiences: ['api'] } };
const accessReview = {
  apiVersion: 'authorization.k8s.io/v1',
  kind: 'SubjectAccessReview',
  spec: { user: 'alice', groups: ['dev'], resourceAttributes: { verb: 'get', resource: 'pods', namespace: 'default' } },
};

/** A valid body with one field replaced by a random JSON value, or random text. */
function hostileBodies(valid: Record<string, unknown>): fc.Arbitrary<string> {
  const path = fc.constantFrom(['apiVersion'], ['kind'], ['spec'], ...Object.keys(valid.spec as object).map((key) => ['spec', key]));
  return fc.oneof(
    fc.tuple(path, fc.jsonValue()).map(([[first, second], value]) => {
      const copy = structuredClone(valid);
      if (second === undefined) copy[first as string] = value;
      else (copy.spec as Record<string, unknown>)[second] = value;
      return JSON.stringify(copy);
    }),
    fc.json(),
    fc.string(),
    fc.nat().map((at) => JSON.stringify(valid).slice(0, at % JSON.stringify(valid).length)),
  );
}

/** Parses, or refuses with a ReviewInputError; anything else thrown fails the property. */
function parsesOrRefuses(parse: () => unknown): boolean {
  try {
    parse();
    return true;
  } catch (error) {
    return error instanceof ReviewInputError && error.message.length > 0;
  }
}

test('TokenReview bodies: parsed or refused with a ReviewInputError, never another exception', (t) => {
  fc.assert(
    fc.property(hostileBodies(tokenReview), (body) => parsesOrRefuses(() => parseTokenReview(body, 16_384))),
    { numRuns: numRuns(3000) },
  );
  t.pass();
});

test('SubjectAccessReview bodies: parsed or refused with a ReviewInputError, never another exception', (t) => {
  fc.assert(
    fc.property(hostileBodies(accessReview), (body) => parsesOrRefuses(() => parseSubjectAccessReview(body))),
    { numRuns: numRuns(3000) },
  );
  t.pass();
});

test('a well-formed TokenReview gives back exactly its token and audiences', (t) => {
  const text = fc.string({ unit: fc.constantFrom(...'abcXYZ019-_.'.split('')), minLength: 1, maxLength: 200 });
  fc.assert(
    fc.property(text, fc.uniqueArray(text, { maxLength: 4 }), (token, audiences) => {
      const { request } = parseTokenReview(JSON.stringify({ ...tokenReview, spec: { token, audiences } }), 16_384);
      return request.token === token && JSON.stringify(request.audiences) === JSON.stringify(audiences);
    }),
    { numRuns: numRuns(1000) },
  );
  t.pass();
});
