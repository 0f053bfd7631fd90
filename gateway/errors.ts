/**
 * One vocabulary for everything that can go wrong or deny. Logs, metrics,
 * response bodies and tests all use these codes.
 */
import type { ApiKeyErrorCode } from './identity/api-key.js';
import type { TokenErrorCode } from './identity/issuer-rule.js';

/** Stable reason codes for decisions. */
export const DecisionCode = {
  /** An ALLOW policy matched, or no ALLOW policy applies to the workload. */
  Allowed: 'ALLOWED',
  /** A DENY policy matched. */
  PolicyDenied: 'POLICY_DENIED',
  /** ALLOW policies apply to the workload and none matched. */
  NoAllowMatch: 'NO_ALLOW_MATCH',
  /** The request could not be read: missing attributes, bad path, oversized input. */
  BadRequest: 'BAD_REQUEST',
  /** The peer presented an identity that is malformed (SPIFFE ID, certificate). */
  InvalidPeerIdentity: 'INVALID_PEER_IDENTITY',
  /** The workload being called could not be determined, so its policies are unknown. */
  WorkloadUnresolved: 'WORKLOAD_UNRESOLVED',
  /** A policy could not be evaluated (e.g. a CEL runtime error). */
  PolicyError: 'POLICY_EVALUATION_ERROR',
  /** Gatehouse failed internally. Never an allow. */
  Internal: 'INTERNAL_ERROR',
  /** The gateway is draining and no longer deciding. */
  Unavailable: 'UNAVAILABLE',
  /** RFC 8693: the token's actor chain is longer than the configured or the rule's maximum depth. */
  DelegationTooDeep: 'DELEGATION_TOO_DEEP',
  /** RFC 8693: the same actor appears twice in the token's actor chain. */
  DelegationCycle: 'DELEGATION_CYCLE',
  /** RFC 8693: an `act` claim is not an object with a non-empty string `sub`. */
  DelegationMalformed: 'DELEGATION_MALFORMED',
  /** The token's current actor is not the peer making the call, however valid its signature. */
  DelegationActorNotCaller: 'DELEGATION_ACTOR_NOT_CALLER',
  /** No DelegationPolicy rule permits the actor (or a prior actor) for this subject, audience and request. */
  DelegationNotPermitted: 'DELEGATION_NOT_PERMITTED',
  /** RFC 8693 §4.4: the subject's `may_act` claim does not name the current actor. */
  DelegationMayActMismatch: 'DELEGATION_MAY_ACT_MISMATCH',
  /** Kubernetes front proxy: the request carries no bearer token and pass-through is off (401). */
  KubernetesTokenRequired: 'KUBERNETES_TOKEN_REQUIRED',
  /** Kubernetes front proxy: the verified token does not map to a Kubernetes user (claim or user validation, mapping) (401). */
  KubernetesUserUnmapped: 'KUBERNETES_USER_UNMAPPED',
  /** Kubernetes front proxy: the caller may not impersonate a requested user, group, uid or extra (403). */
  ImpersonationNotAllowed: 'IMPERSONATION_NOT_ALLOWED',
  /** Kubernetes front proxy: Impersonate-* headers kube-apiserver would refuse, e.g. a group without a user (400). */
  ImpersonationInvalid: 'IMPERSONATION_INVALID',
} as const;

/** The codes a delegation (RFC 8693 actor chain) is refused with; each denies with 403. */
export type DelegationCode =
  | typeof DecisionCode.DelegationTooDeep
  | typeof DecisionCode.DelegationCycle
  | typeof DecisionCode.DelegationMalformed
  | typeof DecisionCode.DelegationActorNotCaller
  | typeof DecisionCode.DelegationNotPermitted
  | typeof DecisionCode.DelegationMayActMismatch;

/** The codes the Kubernetes front proxy (gateway/kubernetes/front-proxy.ts) refuses a request with. */
export type FrontProxyCode =
  | typeof DecisionCode.KubernetesTokenRequired
  | typeof DecisionCode.KubernetesUserUnmapped
  | typeof DecisionCode.ImpersonationNotAllowed
  | typeof DecisionCode.ImpersonationInvalid;

/**
 * A decision's code: one of the above, or a request authentication failure
 * (`TOKEN_…`, gateway/identity/issuer-rule.ts; `APIKEY_…`,
 * gateway/identity/api-key.ts), which denies with 401.
 */
export type DecisionCode = (typeof DecisionCode)[keyof typeof DecisionCode] | TokenErrorCode | ApiKeyErrorCode;

/** An error with a stable code and a reason a human can act on. */
export class GatehouseError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'GatehouseError';
  }
}

/**
 * A policy or configuration document that failed validation. `location`
 * names the file, the document index within it, and the field path.
 */
export class ValidationError extends GatehouseError {
  constructor(
    readonly file: string,
    readonly documentIndex: number | undefined,
    readonly field: string,
    readonly problem: string,
  ) {
    super('INVALID_CONFIGURATION', `${formatLocation(file, documentIndex, field)}: ${problem}`);
    this.name = 'ValidationError';
  }
}

function formatLocation(file: string, documentIndex: number | undefined, field: string): string {
  const doc = documentIndex === undefined ? '' : `#${documentIndex}`;
  return field ? `${file}${doc} ${field}` : `${file}${doc}`;
}
