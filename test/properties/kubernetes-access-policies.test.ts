/**
 * Properties of KubernetesAccessPolicy documents
 * (gateway/kubernetes/access-policy.ts) and the authorizer compiled from them
 * (gateway/kubernetes/authorizer.ts): valid documents load and answer every
 * random SubjectAccessReview, never both allowed and denied and never allowed
 * with an evaluation error; a DENY with a selector is refused naming the
 * selector; DENY policies never allow a review the policies without them do
 * not allow (alone: none at all, like the empty set).
 */
import test from 'ava';
import fc from 'fast-check';
import { KubernetesAuthorizer, parseKubernetesAccessPolicies } from '../../gateway/kubernetes/index.js';
import {
  accessReviews,
  kubernetesAccessPolicies,
  loadOrRefusal,
  named,
  policyOptions,
  withValueAt,
  yamlStream,
  type Document,
} from '../helpers/policy-documents.js';
import { numRuns } from './runs.js';

const file = 'access.yaml';
const authorizer = (documents: readonly Document[]) =>
  KubernetesAuthorizer.compile(parseKubernetesAccessPolicies([{ file, text: yamlStream(documents) }], policyOptions), {
    users: [],
    groups: [],
  });

test('valid documents load, and every random review is answered: never allowed and denied, never allowed with an evaluation error', (t) => {
  fc.assert(
    fc.property(
      fc.array(kubernetesAccessPolicies(), { maxLength: 4 }),
      fc.array(accessReviews, { minLength: 1, maxLength: 4 }),
      (documents, reviews) => {
        const compiled = authorizer(named(documents));
        return reviews.every((review) => {
          const verdict = compiled.review(review);
          return (
            !(verdict.allowed && verdict.denied) && !(verdict.allowed && verdict.evaluationError !== undefined) && verdict.reason !== ''
          );
        });
      },
    ),
    { numRuns: numRuns(100) },
  );
  t.pass();
});

/** Where the validator meets the first selector of a document: rules, then resources, labelSelector before fieldSelector. */
function firstSelector(document: Document): string | undefined {
  const rules = (document.spec as { rules: { resources?: Document[] }[] }).rules;
  for (const [i, rule] of rules.entries()) {
    for (const [j, entry] of (rule.resources ?? []).entries()) {
      for (const selector of ['labelSelector', 'fieldSelector'])
        if (entry[selector] !== undefined) return `spec.rules[${i}].resources[${j}].${selector}`;
    }
  }
  return undefined;
}

test('an ALLOW with selectors turned into a DENY is refused, naming its first selector', (t) => {
  const withSelectors = kubernetesAccessPolicies(['ALLOW']).filter((document) => firstSelector(document) !== undefined);
  fc.assert(
    fc.property(withSelectors, (document) => {
      const denying = withValueAt(named([document])[0] as Document, ['spec'], (spec) => ({ ...(spec as Document), action: 'DENY' }));
      const outcome = loadOrRefusal(() => authorizer([denying]));
      return !outcome.ok && outcome.error.documentIndex === 0 && outcome.error.field === firstSelector(document);
    }),
    { numRuns: numRuns(60) },
  );
  t.pass();
});

test('DENY policies never allow a review the policies without them do not allow (alone: none at all)', (t) => {
  fc.assert(
    fc.property(
      fc.array(kubernetesAccessPolicies(), { maxLength: 3 }),
      fc.array(kubernetesAccessPolicies(['DENY']), { minLength: 1, maxLength: 3 }),
      fc.array(accessReviews, { minLength: 1, maxLength: 4 }),
      (others, denies, reviews) => {
        const without = authorizer(named(others, 'other'));
        const withDenies = authorizer([...named(others, 'other'), ...named(denies, 'deny')]);
        const denyOnly = authorizer(named(denies, 'deny'));
        return reviews.every(
          (review) => !denyOnly.review(review).allowed && (!withDenies.review(review).allowed || without.review(review).allowed),
        );
      },
    ),
    { numRuns: numRuns(100) },
  );
  t.pass();
});
