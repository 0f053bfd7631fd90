/**
 * The validated shape of an Istio AuthorizationPolicy
 * (https://istio.io/latest/docs/reference/config/security/authorization-policy/),
 * as `load.ts` produces it. Field names follow Istio's so a policy reads the
 * same in YAML and in code. Nothing here has been compiled yet.
 */

/** Every action Istio defines. Gatehouse evaluates ALLOW, DENY and AUDIT. */
export type AuthorizationAction = 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';

/** Where a policy was read from, for error messages. */
export interface PolicyOrigin {
  readonly file: string;
  readonly documentIndex: number;
}

/** `spec.targetRef` / `spec.targetRefs[]`. */
export interface PolicyTargetRef {
  readonly group: string;
  readonly kind: 'Service' | 'Gateway';
  readonly name: string;
}

/** `spec.rules[].from[].source`. Absent fields are not set; set fields are non-empty. */
export interface PolicySource {
  readonly principals?: readonly string[];
  readonly notPrincipals?: readonly string[];
  readonly requestPrincipals?: readonly string[];
  readonly notRequestPrincipals?: readonly string[];
  readonly namespaces?: readonly string[];
  readonly notNamespaces?: readonly string[];
  readonly serviceAccounts?: readonly string[];
  readonly notServiceAccounts?: readonly string[];
  readonly ipBlocks?: readonly string[];
  readonly notIpBlocks?: readonly string[];
  readonly remoteIpBlocks?: readonly string[];
  readonly notRemoteIpBlocks?: readonly string[];
}

/** `spec.rules[].to[].operation`. */
export interface PolicyOperation {
  readonly hosts?: readonly string[];
  readonly notHosts?: readonly string[];
  readonly ports?: readonly string[];
  readonly notPorts?: readonly string[];
  readonly methods?: readonly string[];
  readonly notMethods?: readonly string[];
  readonly paths?: readonly string[];
  readonly notPaths?: readonly string[];
}

/** `spec.rules[].when[]`: at least one of `values` / `notValues` is set. */
export interface PolicyCondition {
  readonly key: string;
  readonly values?: readonly string[];
  readonly notValues?: readonly string[];
}

/** `spec.rules[]`. Empty lists mean "any". */
export interface PolicyRule {
  readonly from: readonly PolicySource[];
  readonly to: readonly PolicyOperation[];
  readonly when: readonly PolicyCondition[];
}

/** One validated AuthorizationPolicy document. */
export interface AuthorizationPolicy {
  readonly apiVersion: 'security.istio.io/v1' | 'security.istio.io/v1beta1';
  readonly name: string;
  /** `metadata.namespace`, or the configured default namespace. */
  readonly namespace: string;
  readonly origin: PolicyOrigin;
  /** `spec.action`, ALLOW when absent. */
  readonly action: AuthorizationAction;
  /** `spec.provider.name` (CUSTOM only). */
  readonly provider?: string;
  /** `spec.selector.matchLabels`; undefined when the policy has no selector. */
  readonly selector?: Readonly<Record<string, string>>;
  /** `spec.targetRef` and `spec.targetRefs` together; empty when neither is set. */
  readonly targetRefs: readonly PolicyTargetRef[];
  readonly rules: readonly PolicyRule[];
  /**
   * Shadow mode (`istio.io/dry-run: "true"` or `gatehouse.dev/shadow: "true"`):
   * evaluated and logged beside the live policies, never deciding.
   */
  readonly shadow: boolean;
}

/** A document that was read but is not evaluated, and why. */
export interface SkippedDocument {
  readonly file: string;
  readonly documentIndex: number;
  readonly kind: string;
  readonly name?: string;
  readonly note: string;
}

/** Settings shared by loading, compiling and evaluating. */
export interface PolicyOptions {
  /** Policies in this namespace apply to workloads of every namespace. Default `istio-system`. */
  rootNamespace?: string;
  /** Namespace of policies whose `metadata.namespace` is absent. Default `default`. */
  defaultNamespace?: string;
}

export const defaultRootNamespace = 'istio-system';
export const defaultPolicyNamespace = 'default';

/** A file's name and text, as read from disk or handed in by a test. */
export interface PolicyDocumentSource {
  readonly file: string;
  readonly text: string;
}

/** What `parsePolicyDocuments` returns. */
export interface LoadedPolicies {
  readonly policies: AuthorizationPolicy[];
  readonly skipped: SkippedDocument[];
}
