/**
 * A Kubernetes review object as kube-apiserver POSTs it: `apiVersion`,
 * `kind`, `metadata`, `spec` and an empty `status`, in JSON. Reading is
 * strict: an unknown field, a value of the wrong type or an unexpected
 * version is refused with the field's path, so that nothing the service
 * does not understand is ever decided. `null` reads as absent, as Go's
 * decoder (and so the apiserver) treats it.
 */
import { ReviewInputError } from './review-input.js';

export type JsonObject = Record<string, unknown>;

/** What is echoed back: the request's version and kind, and its metadata as sent. */
export interface ObjectEnvelope {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata?: JsonObject;
}

/** The versions of one review kind this service answers. */
export interface ReviewKind {
  /** API group, e.g. `authorization.k8s.io`. */
  readonly group: string;
  readonly kind: string;
  readonly versions: readonly string[];
}

/**
 * Parses a review object's JSON and checks its envelope; `spec` is returned
 * as an object for the kind's own reader, `status` (the apiserver sends an
 * empty one) is ignored.
 *
 * @throws ReviewInputError naming the field.
 * @example
 * const { envelope, version, spec } = readReviewObject(body, { group: 'authentication.k8s.io', kind: 'TokenReview', versions: ['v1', 'v1beta1'] });
 */
export function readReviewObject(text: string, expected: ReviewKind): { envelope: ObjectEnvelope; version: string; spec: JsonObject } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ReviewInputError('', `the body is not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!isObject(parsed)) throw new ReviewInputError('', `the body must be a JSON object, got ${describe(parsed)}`);
  const object = readObject(parsed, '', ['apiVersion', 'kind', 'metadata', 'spec', 'status']);
  const apiVersion = requiredString(object.apiVersion, 'apiVersion');
  const accepted = expected.versions.map((version) => `${expected.group}/${version}`);
  if (!accepted.includes(apiVersion)) throw new ReviewInputError('apiVersion', `must be ${accepted.join(' or ')}, got '${apiVersion}'`);
  const kind = requiredString(object.kind, 'kind');
  if (kind !== expected.kind) throw new ReviewInputError('kind', `must be ${expected.kind}, got '${kind}'`);
  const metadata = optionalObject(object.metadata, 'metadata');
  optionalObject(object.status, 'status');
  if (object.spec === undefined || object.spec === null) throw new ReviewInputError('spec', 'is required');
  return {
    envelope: { apiVersion, kind, ...(metadata === undefined ? {} : { metadata }) },
    version: apiVersion.slice(expected.group.length + 1),
    spec: readObject(object.spec, 'spec', undefined),
  };
}

/** The answer kube-apiserver expects: the request's envelope with `status` filled. */
export function reviewResponse(envelope: ObjectEnvelope, rest: JsonObject): JsonObject {
  return {
    apiVersion: envelope.apiVersion,
    kind: envelope.kind,
    ...(envelope.metadata === undefined ? {} : { metadata: envelope.metadata }),
    ...rest,
  };
}

/** An object whose keys are all in `allowed` (any keys when undefined). */
export function readObject(value: unknown, field: string, allowed: readonly string[] | undefined): JsonObject {
  if (!isObject(value)) throw new ReviewInputError(field, `must be an object, got ${describe(value)}`);
  if (allowed !== undefined) {
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) {
        throw new ReviewInputError(field === '' ? key : `${field}.${key}`, `unknown field (expected one of: ${allowed.join(', ')})`);
      }
    }
  }
  return value;
}

/** An optional object: undefined when absent or null. */
export function optionalObject(value: unknown, field: string): JsonObject | undefined {
  return value === undefined || value === null ? undefined : readObject(value, field, undefined);
}

/** An optional string: "" when absent or null. */
export function optionalString(value: unknown, field: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new ReviewInputError(field, `must be a string, got ${describe(value)}`);
  return value;
}

function requiredString(value: unknown, field: string): string {
  const text = optionalString(value, field);
  if (text === '') throw new ReviewInputError(field, 'is required');
  return text;
}

/** An optional list of strings: [] when absent or null. */
export function optionalStrings(value: unknown, field: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new ReviewInputError(field, `must be a list of strings, got ${describe(value)}`);
  return value.map((item, i) => {
    if (typeof item !== 'string') throw new ReviewInputError(`${field}[${i}]`, `must be a string, got ${describe(item)}`);
    return item;
  });
}

/** `map[string][]string` (user extras): key → list of strings. */
export function optionalExtra(value: unknown, field: string): Record<string, string[]> {
  // fromEntries defines every key as an own property, `__proto__` included.
  return Object.fromEntries(
    Object.entries(optionalObject(value, field) ?? {}).map(([key, values]) => [key, optionalStrings(values, `${field}.${key}`)]),
  );
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${value}`;
  return 'an object';
}
