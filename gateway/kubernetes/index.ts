/**
 * Kubernetes authorization and user mapping: what other folders may use.
 */
export type {
  AccessReview,
  AccessVerdict,
  BreakGlassSubjects,
  KubernetesUser,
  NonResourceAttributes,
  ResourceAttributes,
  SelectorOperator,
  SelectorRequirement,
} from './types.js';
