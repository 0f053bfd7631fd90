/**
 * gatehouse.kubernetes.v1 messages (as proto-loader hands them over: proto
 * field names, absent fields undefined) to and from the service's data.
 * The checks are review-input.ts's, with fields renamed to the proto's
 * (`resource_attributes.verb`).
 */
import type { AccessReview, AccessVerdict } from '../../gateway/kubernetes/index.js';
import {
  accessReviewOf,
  ReviewInputError,
  tokenReviewRequestOf,
  type ResourceAttributesInput,
  type SelectorInput,
} from './review-input.js';
import type { TokenReviewRequest, TokenReviewVerdict } from './types.js';

interface ExtraValueMessage {
  values?: string[] | null;
}

interface SelectorAttributesMessage {
  raw_selector?: string | null;
  requirements?: { key?: string | null; operator?: string | null; values?: string[] | null }[] | null;
}

interface ResourceAttributesMessage {
  namespace?: string | null;
  verb?: string | null;
  group?: string | null;
  version?: string | null;
  resource?: string | null;
  subresource?: string | null;
  name?: string | null;
  field_selector?: SelectorAttributesMessage | null;
  label_selector?: SelectorAttributesMessage | null;
}

export interface SubjectAccessReviewRequestMessage {
  resource_attributes?: ResourceAttributesMessage | null;
  non_resource_attributes?: { path?: string | null; verb?: string | null } | null;
  user?: string | null;
  groups?: string[] | null;
  extra?: Record<string, ExtraValueMessage> | null;
  uid?: string | null;
}

export interface SubjectAccessReviewResponseMessage {
  allowed: boolean;
  denied: boolean;
  reason: string;
  evaluation_error: string;
}

export interface TokenReviewRequestMessage {
  token?: string | null;
  audiences?: string[] | null;
}

export interface TokenReviewResponseMessage {
  authenticated: boolean;
  user?: { username: string; uid: string; groups: string[]; extra: Record<string, { values: string[] }> };
  audiences: string[];
  error: string;
}

/** `resourceAttributes.fieldSelector` → `resource_attributes.field_selector`. */
export function protoFieldName(field: string): string {
  return field.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

/**
 * @throws ReviewInputError naming the proto field.
 * @example
 * const review = accessReviewOfMessage({ non_resource_attributes: { path: '/debug', verb: 'get' }, user: 'jane' });
 */
export function accessReviewOfMessage(message: SubjectAccessReviewRequestMessage): AccessReview {
  const resource = message.resource_attributes ?? undefined;
  const nonResource = message.non_resource_attributes ?? undefined;
  return renamingErrors(() =>
    accessReviewOf({
      ...(resource === undefined ? {} : { resourceAttributes: resourceAttributesOf(resource) }),
      ...(nonResource === undefined ? {} : { nonResourceAttributes: { path: nonResource.path ?? '', verb: nonResource.verb ?? '' } }),
      user: message.user ?? '',
      groups: message.groups ?? [],
      uid: message.uid ?? '',
      extra: Object.fromEntries(Object.entries(message.extra ?? {}).map(([key, value]) => [key, value?.values ?? []])),
    }),
  );
}

function resourceAttributesOf(message: ResourceAttributesMessage): ResourceAttributesInput {
  const fieldSelector = selectorOf(message.field_selector);
  const labelSelector = selectorOf(message.label_selector);
  return {
    namespace: message.namespace ?? '',
    verb: message.verb ?? '',
    group: message.group ?? '',
    version: message.version ?? '',
    resource: message.resource ?? '',
    subresource: message.subresource ?? '',
    name: message.name ?? '',
    ...(fieldSelector === undefined ? {} : { fieldSelector }),
    ...(labelSelector === undefined ? {} : { labelSelector }),
  };
}

function selectorOf(message: SelectorAttributesMessage | null | undefined): SelectorInput | undefined {
  if (message === undefined || message === null) return undefined;
  return {
    requirements: (message.requirements ?? []).map((requirement) => ({
      key: requirement.key ?? '',
      operator: requirement.operator ?? '',
      values: requirement.values ?? [],
    })),
  };
}

export function subjectAccessReviewResponseOf(verdict: AccessVerdict): SubjectAccessReviewResponseMessage {
  return { allowed: verdict.allowed, denied: verdict.denied, reason: verdict.reason, evaluation_error: verdict.evaluationError ?? '' };
}

/**
 * @throws ReviewInputError naming the proto field (`token`).
 */
export function tokenReviewRequestOfMessage(message: TokenReviewRequestMessage, maxTokenBytes: number): TokenReviewRequest {
  return renamingErrors(() => tokenReviewRequestOf({ token: message.token ?? '', audiences: message.audiences ?? [] }, maxTokenBytes));
}

export function tokenReviewResponseOf(verdict: TokenReviewVerdict): TokenReviewResponseMessage {
  if (!verdict.authenticated) return { authenticated: false, audiences: [], error: verdict.error };
  const { user } = verdict;
  return {
    authenticated: true,
    user: {
      username: user.username,
      uid: user.uid ?? '',
      groups: [...user.groups],
      extra: Object.fromEntries(Object.entries(user.extra).map(([key, values]) => [key, { values: [...values] }])),
    },
    audiences: [...verdict.audiences],
    error: '',
  };
}

function renamingErrors<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof ReviewInputError) throw error.renamed(protoFieldName);
    throw error;
  }
}
