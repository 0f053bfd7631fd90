/**
 * CEL for KubernetesAccessPolicy `when` conditions: its own environment,
 * with the variables of a SubjectAccessReview (`user`, `resource`,
 * `nonResource`, `verb`). Expressions are parsed and type-checked once, when
 * the policy is read; a review only runs them.
 */
import { celEnvironment, compileCelBool, type CelBoolProgram } from '../cel-program.js';
import type { AccessReview, KubernetesUser } from './types.js';

// One environment for every policy: building it is the expensive part.
const environment = celEnvironment()
  .registerVariable('user', 'map')
  .registerVariable('resource', 'map')
  .registerVariable('nonResource', 'map')
  .registerVariable('verb', 'string');

/** The variables an expression sees, built at most once per review. */
export interface AccessCelActivation {
  readonly user: ReadonlyMap<string, unknown>;
  readonly resource: ReadonlyMap<string, unknown>;
  readonly nonResource: ReadonlyMap<string, unknown>;
  readonly verb: string;
}

/** A parsed, type-checked expression. */
export type AccessCelProgram = CelBoolProgram<AccessCelActivation>;

/**
 * Parses and type-checks one expression. Returns the problem as a sentence
 * when it does not parse, does not type-check, or cannot yield a bool.
 *
 * @example
 * const compiled = compileAccessCel("user.groups.exists(g, g == 'sre')");
 * if (compiled.ok) compiled.program.run(accessCelActivation(review)); // true or false
 */
export function compileAccessCel(expression: string): { ok: true; program: AccessCelProgram } | { ok: false; problem: string } {
  return compileCelBool<AccessCelActivation>(environment, expression);
}

const emptyMap: ReadonlyMap<string, unknown> = new Map();

/**
 * The CEL variables of a review. Every key of `user` and `resource` is
 * present, with "" where Kubernetes leaves a string unset (as the
 * SubjectAccessReview does), so `resource.name == 'x'` is false on a list
 * rather than a "no such key" error; the map of the other request kind is
 * empty (`size(nonResource) == 0` on a resource request).
 */
export function accessCelActivation(review: AccessReview): AccessCelActivation {
  const user = userMap(review.user);
  if (review.kind === 'resource') {
    const r = review.resource;
    const resource = new Map<string, unknown>([
      ['verb', r.verb],
      ['namespace', r.namespace],
      ['group', r.group],
      ['version', r.version],
      ['resource', r.resource],
      ['subresource', r.subresource],
      ['name', r.name],
    ]);
    return { user, resource, nonResource: emptyMap, verb: r.verb };
  }
  const n = review.nonResource;
  const nonResource = new Map<string, unknown>([
    ['verb', n.verb],
    ['path', n.path],
  ]);
  return { user, resource: emptyMap, nonResource, verb: n.verb };
}

function userMap(user: KubernetesUser): Map<string, unknown> {
  return new Map<string, unknown>([
    ['username', user.username],
    ['uid', user.uid ?? ''],
    ['groups', user.groups],
    ['extra', new Map(Object.entries(user.extra))],
  ]);
}
