/**
 * The one check of what callers ask, whichever wire it came over: a
 * SubjectAccessReview or TokenReview `spec`, already read out of JSON
 * (subject-access-review-json.ts, token-review-json.ts) or protobuf
 * (grpc-messages.ts) into the plain shapes below, becomes an AccessReview
 * or a TokenReviewRequest, or a ReviewInputError naming the field. Field
 * names are Kubernetes' JSON names relative to `spec`; each wire renames
 * them its own way (`spec.resourceAttributes.verb`, `resource_attributes.verb`).
 */
import { GatehouseError } from '../../gateway/errors.js';
import type {
  AccessReview,
  KubernetesUser,
  ResourceAttributes,
  SelectorOperator,
  SelectorRequirement,
} from '../../gateway/kubernetes/index.js';
import type { TokenReviewRequest } from './types.js';

/** The stable code of every refused review input. */
export const INVALID_REVIEW = 'INVALID_REVIEW';

/** A review input that cannot be decided: which field, and what is wrong with it. */
export class ReviewInputError extends GatehouseError {
  constructor(
    /** The field's path (`resourceAttributes.verb`); empty for the input as a whole. */
    readonly field: string,
    readonly problem: string,
  ) {
    super(INVALID_REVIEW, field === '' ? problem : `${field}: ${problem}`);
    this.name = 'ReviewInputError';
  }

  /** The same problem, its field renamed for another wire. */
  renamed(rename: (field: string) => string): ReviewInputError {
    return new ReviewInputError(rename(this.field), this.problem);
  }
}

/** One selector requirement as the wire carried it; the operator is not checked yet. */
export interface SelectorRequirementInput {
  readonly key: string;
  readonly operator: string;
  readonly values: readonly string[];
}

/** A field or label selector as the wire carried it. `rawSelector` is never used for decisions. */
export interface SelectorInput {
  readonly requirements: readonly SelectorRequirementInput[];
}

/** `spec.resourceAttributes`, absent strings as "". */
export interface ResourceAttributesInput {
  readonly namespace: string;
  readonly verb: string;
  readonly group: string;
  readonly version: string;
  readonly resource: string;
  readonly subresource: string;
  readonly name: string;
  readonly fieldSelector?: SelectorInput;
  readonly labelSelector?: SelectorInput;
}

/** A SubjectAccessReview's `spec`, typed but not yet checked. */
export interface AccessReviewInput {
  readonly resourceAttributes?: ResourceAttributesInput;
  readonly nonResourceAttributes?: { readonly path: string; readonly verb: string };
  readonly user: string;
  readonly groups: readonly string[];
  readonly uid: string;
  readonly extra: Readonly<Record<string, readonly string[]>>;
}

/** A TokenReview's `spec`, typed but not yet checked. */
export interface TokenReviewInput {
  readonly token: string;
  readonly audiences: readonly string[];
}

const operators: ReadonlySet<string> = new Set<SelectorOperator>(['In', 'NotIn', 'Exists', 'DoesNotExist']);

/**
 * Checks a SubjectAccessReview's spec: exactly one attribute kind, a verb, a
 * user, well-formed selector requirements.
 *
 * @throws ReviewInputError naming the field.
 * @example
 * const review = accessReviewOf({ resourceAttributes: { verb: 'get', resource: 'pods', … }, user: 'jane', groups: [], uid: '', extra: {} });
 */
export function accessReviewOf(input: AccessReviewInput): AccessReview {
  const { resourceAttributes, nonResourceAttributes } = input;
  if (resourceAttributes !== undefined && nonResourceAttributes !== undefined) {
    throw new ReviewInputError('nonResourceAttributes', 'must not be set together with resourceAttributes: a review is of one kind');
  }
  if (input.user === '') throw new ReviewInputError('user', 'is required');
  for (const key of Object.keys(input.extra)) if (key === '') throw new ReviewInputError('extra', 'has an empty key');
  const user: KubernetesUser = {
    username: input.user,
    ...(input.uid === '' ? {} : { uid: input.uid }),
    groups: input.groups,
    extra: input.extra,
  };
  if (nonResourceAttributes !== undefined) {
    if (nonResourceAttributes.verb === '') throw new ReviewInputError('nonResourceAttributes.verb', 'is required');
    if (!nonResourceAttributes.path.startsWith('/')) {
      throw new ReviewInputError('nonResourceAttributes.path', nonResourceAttributes.path === '' ? 'is required' : 'must start with /');
    }
    return { user, kind: 'nonResource', nonResource: { verb: nonResourceAttributes.verb, path: nonResourceAttributes.path } };
  }
  if (resourceAttributes === undefined) {
    throw new ReviewInputError('resourceAttributes', 'is required (or nonResourceAttributes): a review names what is asked for');
  }
  if (resourceAttributes.verb === '') throw new ReviewInputError('resourceAttributes.verb', 'is required');
  const { fieldSelector, labelSelector, ...strings } = resourceAttributes;
  const fields = selectorOf(fieldSelector, 'resourceAttributes.fieldSelector');
  const labels = selectorOf(labelSelector, 'resourceAttributes.labelSelector');
  const resource: ResourceAttributes = {
    ...strings,
    ...(fields === undefined ? {} : { fieldSelector: fields }),
    ...(labels === undefined ? {} : { labelSelector: labels }),
  };
  return { user, kind: 'resource', resource };
}

/**
 * A selector's parsed requirements, or undefined when it does not narrow the
 * request. SubjectAccessReview API: requirements can only narrow a request,
 * so one the webhook does not understand (an operator added after In, NotIn,
 * Exists, DoesNotExist) makes it decide the request as not narrowed at all.
 */
function selectorOf(selector: SelectorInput | undefined, field: string): SelectorRequirement[] | undefined {
  if (selector === undefined || selector.requirements.length === 0) return undefined;
  const requirements: SelectorRequirement[] = [];
  let understood = true;
  selector.requirements.forEach((requirement, i) => {
    const at = `${field}.requirements[${i}]`;
    if (requirement.key === '') throw new ReviewInputError(`${at}.key`, 'is required');
    if (requirement.operator === '') throw new ReviewInputError(`${at}.operator`, 'is required');
    if (!operators.has(requirement.operator)) {
      understood = false;
      return;
    }
    const operator = requirement.operator as SelectorOperator;
    const needsValues = operator === 'In' || operator === 'NotIn';
    if (needsValues && requirement.values.length === 0) throw new ReviewInputError(`${at}.values`, `must not be empty for ${operator}`);
    if (!needsValues && requirement.values.length > 0) throw new ReviewInputError(`${at}.values`, `must be empty for ${operator}`);
    requirements.push({ key: requirement.key, operator, values: requirement.values });
  });
  return understood ? requirements : undefined;
}

/**
 * Checks a TokenReview's spec: a token no larger than `maxTokenBytes`, and
 * audiences that are names.
 *
 * @throws ReviewInputError naming the field.
 * @example
 * const request = tokenReviewRequestOf({ token, audiences: [] }, 16 * 1024);
 */
export function tokenReviewRequestOf(input: TokenReviewInput, maxTokenBytes: number): TokenReviewRequest {
  if (input.token === '') throw new ReviewInputError('token', 'is required');
  if (Buffer.byteLength(input.token) > maxTokenBytes) throw new ReviewInputError('token', `is larger than ${maxTokenBytes} bytes`);
  input.audiences.forEach((audience, i) => {
    if (audience === '') throw new ReviewInputError(`audiences[${i}]`, 'must be a non-empty string');
  });
  return { token: input.token, audiences: input.audiences };
}
