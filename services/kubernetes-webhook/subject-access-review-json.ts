/**
 * SubjectAccessReview in JSON, as kube-apiserver's authorization webhook
 * sends it (`authorization.k8s.io/v1`, or `v1beta1`, whose spec calls the
 * groups `group`) and expects it back: the same object with `status`
 * filled.
 */
import type { AccessReview, AccessVerdict } from '../../gateway/kubernetes/index.js';
import {
  optionalExtra,
  optionalObject,
  optionalString,
  optionalStrings,
  readObject,
  readReviewObject,
  reviewResponse,
  type JsonObject,
  type ObjectEnvelope,
  type ReviewKind,
} from './kubernetes-object.js';
import { accessReviewOf, ReviewInputError, type ResourceAttributesInput, type SelectorInput } from './review-input.js';

export const SUBJECT_ACCESS_REVIEW: ReviewKind = {
  group: 'authorization.k8s.io',
  kind: 'SubjectAccessReview',
  versions: ['v1', 'v1beta1'],
};

/** A parsed request: the review to decide, and what the answer echoes. */
export interface SubjectAccessReviewObject {
  readonly envelope: ObjectEnvelope;
  /** `spec` as sent, echoed in the answer. */
  readonly spec: JsonObject;
  readonly review: AccessReview;
}

const RESOURCE_FIELDS = ['namespace', 'verb', 'group', 'version', 'resource', 'subresource', 'name', 'fieldSelector', 'labelSelector'];

/**
 * Parses a SubjectAccessReview request body.
 *
 * @throws ReviewInputError naming the field (`spec.resourceAttributes.verb`).
 * @example
 * const { review } = parseSubjectAccessReview('{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{…}}');
 */
export function parseSubjectAccessReview(text: string): SubjectAccessReviewObject {
  const { envelope, version, spec } = readReviewObject(text, SUBJECT_ACCESS_REVIEW);
  // authorization.k8s.io/v1beta1 serializes SubjectAccessReviewSpec.Groups as `group`.
  const groupsField = version === 'v1beta1' ? 'group' : 'groups';
  readObject(spec, 'spec', ['resourceAttributes', 'nonResourceAttributes', 'user', groupsField, 'extra', 'uid']);
  const resource = optionalObject(spec.resourceAttributes, 'spec.resourceAttributes');
  const nonResource = optionalObject(spec.nonResourceAttributes, 'spec.nonResourceAttributes');
  if (nonResource !== undefined) readObject(nonResource, 'spec.nonResourceAttributes', ['path', 'verb']);
  try {
    const review = accessReviewOf({
      ...(resource === undefined ? {} : { resourceAttributes: readResourceAttributes(resource) }),
      ...(nonResource === undefined
        ? {}
        : {
            nonResourceAttributes: {
              path: optionalString(nonResource.path, 'spec.nonResourceAttributes.path'),
              verb: optionalString(nonResource.verb, 'spec.nonResourceAttributes.verb'),
            },
          }),
      user: optionalString(spec.user, 'spec.user'),
      groups: optionalStrings(spec[groupsField], `spec.${groupsField}`),
      uid: optionalString(spec.uid, 'spec.uid'),
      extra: optionalExtra(spec.extra, 'spec.extra'),
    });
    return { envelope, spec, review };
  } catch (error) {
    // The readers above name fields from the top; the semantic checks name them within the spec.
    if (error instanceof ReviewInputError && !error.field.startsWith('spec.')) throw error.renamed((field) => `spec.${field}`);
    throw error;
  }
}

function readResourceAttributes(value: JsonObject): ResourceAttributesInput {
  const field = 'spec.resourceAttributes';
  const attributes = readObject(value, field, RESOURCE_FIELDS);
  const text = (name: string): string => optionalString(attributes[name], `${field}.${name}`);
  const fieldSelector = readSelector(attributes.fieldSelector, `${field}.fieldSelector`);
  const labelSelector = readSelector(attributes.labelSelector, `${field}.labelSelector`);
  return {
    namespace: text('namespace'),
    verb: text('verb'),
    group: text('group'),
    version: text('version'),
    resource: text('resource'),
    subresource: text('subresource'),
    name: text('name'),
    ...(fieldSelector === undefined ? {} : { fieldSelector }),
    ...(labelSelector === undefined ? {} : { labelSelector }),
  };
}

/** `{rawSelector, requirements: [{key, operator, values}]}`; rawSelector is read for its type only. */
function readSelector(value: unknown, field: string): SelectorInput | undefined {
  const selector = optionalObject(value, field);
  if (selector === undefined) return undefined;
  readObject(selector, field, ['rawSelector', 'requirements']);
  optionalString(selector.rawSelector, `${field}.rawSelector`);
  const requirements = selector.requirements;
  if (requirements !== undefined && requirements !== null && !Array.isArray(requirements)) {
    throw new ReviewInputError(`${field}.requirements`, 'must be a list');
  }
  return {
    requirements: (requirements ?? []).map((item: unknown, i: number) => {
      const at = `${field}.requirements[${i}]`;
      const requirement = readObject(item, at, ['key', 'operator', 'values']);
      return {
        key: optionalString(requirement.key, `${at}.key`),
        operator: optionalString(requirement.operator, `${at}.operator`),
        values: optionalStrings(requirement.values, `${at}.values`),
      };
    }),
  };
}

/**
 * The answer: the request's envelope and spec with `status` filled per the
 * webhook contract: `allowed`; `denied` only when true; `reason`;
 * `evaluationError` when set.
 */
export function subjectAccessReviewResponse(
  request: Pick<SubjectAccessReviewObject, 'envelope' | 'spec'>,
  verdict: AccessVerdict,
): JsonObject {
  return reviewResponse(request.envelope, { spec: request.spec, status: subjectAccessReviewStatus(verdict) });
}

/** `status` of a SubjectAccessReview. */
export function subjectAccessReviewStatus(verdict: AccessVerdict): JsonObject {
  return {
    allowed: verdict.allowed,
    ...(verdict.denied ? { denied: true } : {}),
    ...(verdict.reason === '' ? {} : { reason: verdict.reason }),
    ...(verdict.evaluationError === undefined || verdict.evaluationError === '' ? {} : { evaluationError: verdict.evaluationError }),
  };
}
