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
export {
  accessPolicyLimits,
  kubernetesAccessApiVersion,
  kubernetesAccessPolicyKind,
  parseKubernetesAccessPolicies,
  validateKubernetesAccessPolicy,
} from './access-policy.js';
export type {
  AccessCondition,
  AccessNonResourceRule,
  AccessResourceRule,
  AccessSubject,
  KubernetesAccessAction,
  KubernetesAccessPolicy,
  KubernetesAccessRule,
} from './access-policy.js';
export { KubernetesAuthorizer, loadKubernetesAuthorizer } from './authorizer.js';
export { readJwtAuthenticators, mapTokenToUser, issuerRuleOfAuthenticator, UserMappingCode } from './claim-mappings.js';
export type { ClaimMappings, ClaimValidationRule, JwtAuthenticator, UserMapping, UserValidationRule } from './claim-mappings.js';
