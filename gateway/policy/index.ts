/**
 * The policy stage: Istio AuthorizationPolicy documents in, decisions out.
 * Other folders use only what is exported here.
 *
 * @example
 * const set = await loadPolicySet(['deploy/examples/todo/policies'], { rootNamespace: 'istio-system' });
 * const decision = evaluate(set, input);
 */
export type {
  AuthorizationAction,
  AuthorizationPolicy,
  LoadedPolicies,
  PolicyCondition,
  PolicyDocumentSource,
  PolicyOperation,
  PolicyOptions,
  PolicyOrigin,
  PolicyRule,
  PolicySource,
  PolicyTargetRef,
  SkippedDocument,
} from './types.js';
export type { CompiledPolicySet, ShadowPolicies } from './compile.js';
export type { Decision, PolicyAction, PolicyTrace } from './decision.js';
export type { EvaluationStats } from './evaluate.js';
export { compilePolicySet } from './compile.js';
export { evaluate, evaluateWithStats } from './evaluate.js';
export { evaluateShadow, ShadowCounters } from './shadow.js';
export type { ShadowOutcome, ShadowStats } from './shadow.js';
export { shadowAnnotations } from './validate.js';
export { loadPolicySet, parsePolicyDocuments, readPolicySources, parseDocuments, readDocumentsOfKind, readHeader } from './load.js';
export type { DocumentHeader } from './load.js';
export { TargetIndex } from './targeting.js';
export { StringMatcher } from './match.js';
export type { Targeting } from './targeting.js';
export { Validator } from './validate.js';
export {
  DelegationPolicySet,
  compileDelegationPolicies,
  defaultMaxDelegationDepth,
  delegationApiVersion,
  delegationKind,
  delegationLimits,
  parseDelegationPolicies,
  validateDelegationPolicy,
} from './delegation-policy.js';
export type {
  DelegationPolicy,
  DelegationPolicyOptions,
  DelegationRequest,
  DelegationRule,
  DelegationVerdict,
  LoadedDelegationPolicies,
} from './delegation-policy.js';
export { defaultPolicyNamespace, defaultRootNamespace } from './types.js';
