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
export { readJwtAuthenticators, mapTokenToUser, issuerRuleOfAuthenticator, UserMappingCode } from './claim-mappings.js';
export type { ClaimMappings, ClaimValidationRule, JwtAuthenticator, UserMapping, UserValidationRule } from './claim-mappings.js';
