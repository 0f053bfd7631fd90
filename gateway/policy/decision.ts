/**
 * The output of the policy stage: plain data that the response stage turns
 * into an Envoy CheckResponse and that `gatehouse check` explains.
 */
import type { DecisionCode } from '../errors.js';

/** Actions of an AuthorizationPolicy that Gatehouse evaluates. */
export type PolicyAction = 'ALLOW' | 'DENY' | 'AUDIT';

/** How one policy took part in a decision. */
export interface PolicyTrace {
  /** `namespace/name`. */
  readonly policy: string;
  readonly action: PolicyAction;
  readonly matched: boolean;
  /** Index of the first matching rule in `spec.rules`, or -1. */
  readonly rule: number;
}

/** The result of evaluating the policy set for one request. */
export interface Decision {
  readonly allowed: boolean;
  readonly code: DecisionCode;
  /** A sentence a human can act on. Never contains credentials. */
  readonly reason: string;
  /** The policy that decided (`namespace/name`), when one did. */
  readonly policy?: string;
  /** The rule of that policy that matched, when one did. */
  readonly rule?: number;
  /** AUDIT policies that matched: `namespace/name`. */
  readonly audited: readonly string[];
  /** The policies evaluated for this decision, in order: DENY policies up to the deciding one, ALLOW policies likewise, then AUDIT. */
  readonly trace: readonly PolicyTrace[];
}
