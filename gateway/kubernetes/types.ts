/**
 * The Kubernetes side of Gatehouse's data: who a Kubernetes request is made
 * as (`user.Info`), what it asks to do (a SubjectAccessReview's attributes),
 * and what Gatehouse answers. Shared by the Kubernetes webhook service
 * (services/kubernetes-webhook) and the gateway's front-proxy mode.
 */

/** A Kubernetes user, as TokenReview returns it and SubjectAccessReview carries it. */
export interface KubernetesUser {
  readonly username: string;
  readonly uid?: string;
  readonly groups: readonly string[];
  /** `user.Info` extras: key → values. Keys are compared as given (Kubernetes lower-cases them on the wire of impersonation only). */
  readonly extra: Readonly<Record<string, readonly string[]>>;
}

/** Operators of label and field selector requirements (authorization.k8s.io/v1, Kubernetes ≥ 1.31). */
export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

/** One parsed label or field selector requirement of a request. */
export interface SelectorRequirement {
  readonly key: string;
  readonly operator: SelectorOperator;
  /** Non-empty for In and NotIn, empty for Exists and DoesNotExist. */
  readonly values: readonly string[];
}

/** `spec.resourceAttributes`. Absent strings are empty, as in Kubernetes ("" is the core API group, "*" means all). */
export interface ResourceAttributes {
  readonly verb: string;
  readonly namespace: string;
  readonly group: string;
  readonly version: string;
  readonly resource: string;
  readonly subresource: string;
  readonly name: string;
  /** Parsed `fieldSelector.requirements`; absent when the request carried none. */
  readonly fieldSelector?: readonly SelectorRequirement[];
  /** Parsed `labelSelector.requirements`; absent when the request carried none. */
  readonly labelSelector?: readonly SelectorRequirement[];
}

/** `spec.nonResourceAttributes`. */
export interface NonResourceAttributes {
  readonly verb: string;
  readonly path: string;
}

/** A SubjectAccessReview's question: may this user do this? Exactly one of the attribute kinds. */
export type AccessReview =
  | { readonly user: KubernetesUser; readonly kind: 'resource'; readonly resource: ResourceAttributes }
  | { readonly user: KubernetesUser; readonly kind: 'nonResource'; readonly nonResource: NonResourceAttributes };

/**
 * Gatehouse's answer, in the Kubernetes contract's terms: `allowed`; or
 * `denied` (an explicit deny that short-circuits the apiserver's other
 * authorizers); or neither ("no opinion": RBAC and the rest decide).
 * Never both `allowed` and `denied`.
 */
export interface AccessVerdict {
  readonly allowed: boolean;
  readonly denied: boolean;
  /** Human-readable, returned to the apiserver (and shown by `kubectl auth can-i`). */
  readonly reason: string;
  /** Set when a policy could not be evaluated; the verdict is then never an allow. */
  readonly evaluationError?: string;
  /** `namespace/name` of the policy that decided, when one did. */
  readonly policy?: string;
  /** Index of the deciding rule within that policy. */
  readonly rule?: number;
  /** Name of the break-glass entry that allowed the request, when one did. */
  readonly breakGlass?: string;
}

/** Break-glass subjects: requests by these users or groups are allowed without consulting any policy (logged and counted). */
export interface BreakGlassSubjects {
  /** Exact usernames, e.g. the CN of a break-glass client certificate the apiserver authenticated. */
  readonly users: readonly string[];
  /** Exact group names, e.g. the O of such a certificate. */
  readonly groups: readonly string[];
}
