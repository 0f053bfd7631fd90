/**
 * Label and field selectors in ALLOW rules only ever narrow access: a rule
 * that requires `app In [todos]` allows a list or watch only when the request's
 * own selector guarantees that every object it can return satisfies the
 * requirement. Kubernetes ≥ 1.31 sends the request's parsed selector
 * requirements in the SubjectAccessReview.
 */
import type { SelectorRequirement } from './types.js';

/** A rule requirement prepared for implication checks. */
export interface CompiledRequirement {
  readonly key: string;
  readonly operator: SelectorRequirement['operator'];
  readonly values: ReadonlySet<string>;
}

/** Prepares a rule's requirements once, at compile time: values become sets. */
export function compileRequirements(requirements: readonly SelectorRequirement[]): readonly CompiledRequirement[] {
  return requirements.map(({ key, operator, values }) => ({ key, operator, values: new Set(values) }));
}

/**
 * Whether the request's requirements (AND'ed, as Kubernetes reads them)
 * imply every rule requirement. A request without selector requirements
 * implies none. Conservative: implications that need two request
 * requirements together (`In [a,b]` with `NotIn [b]`) are not derived.
 */
export function impliesAll(request: readonly SelectorRequirement[] | undefined, rule: readonly CompiledRequirement[]): boolean {
  if (request === undefined) return false;
  for (const required of rule) {
    let implied = false;
    for (const given of request) {
      if (given.key === required.key && implies(given, required)) {
        implied = true;
        break;
      }
    }
    if (!implied) return false;
  }
  return true;
}

/** Whether every object satisfying `given` satisfies `required` (same key). */
function implies(given: SelectorRequirement, required: CompiledRequirement): boolean {
  switch (required.operator) {
    case 'In':
      // k In V' ⊆ V. An empty V' selects nothing; Kubernetes refuses it, and so do we.
      return given.operator === 'In' && given.values.length > 0 && given.values.every((value) => required.values.has(value));
    case 'NotIn':
      if (given.operator === 'NotIn') {
        for (const value of required.values) if (!given.values.includes(value)) return false;
        return true;
      }
      if (given.operator === 'In') return given.values.length > 0 && given.values.every((value) => !required.values.has(value));
      // An object without the key has none of V.
      return given.operator === 'DoesNotExist';
    case 'Exists':
      return given.operator === 'Exists' || (given.operator === 'In' && given.values.length > 0);
    case 'DoesNotExist':
      return given.operator === 'DoesNotExist';
  }
}
