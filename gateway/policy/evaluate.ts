/**
 * Deciding one request against a compiled policy set, with Istio's order:
 * CUSTOM (not evaluated here: Gatehouse is the custom provider) → DENY →
 * ALLOW; AUDIT policies only mark.
 */
import { DecisionCode } from '../errors.js';
import type { CheckInput, WorkloadRef } from '../request/model.js';
import {
  PolicyEvaluationError,
  type ApplicablePolicies,
  type CompiledPolicy,
  type CompiledRule,
  type CompiledPolicySet,
} from './compile.js';
import type { Decision, PolicyTrace } from './decision.js';
import { RequestFacts } from './facts.js';

/** How much work a decision took: what the indexes are for. */
export interface EvaluationStats {
  /** Policies that applied to the workload. */
  readonly policiesVisited: number;
  /** Rules whose checks ran. */
  readonly rulesVisited: number;
}

/**
 * Decides a request. Never throws: an unexpected failure is a deny with
 * code INTERNAL_ERROR, a failing CEL expression a deny with
 * POLICY_EVALUATION_ERROR.
 *
 * `trace` lists the policies evaluated, in order: DENY policies up to the one
 * that decided, ALLOW policies up to the one that decided, then every AUDIT policy.
 *
 * @example
 * const decision = evaluate(set, input);
 * if (!decision.allowed) log.info({ code: decision.code, policy: decision.policy }, decision.reason);
 */
export function evaluate(set: CompiledPolicySet, input: CheckInput): Decision {
  return evaluateWithStats(set, input).decision;
}

/** `evaluate`, also reporting how many policies and rules were visited (for tests and benchmarks). */
export function evaluateWithStats(set: CompiledPolicySet, input: CheckInput): { decision: Decision; stats: EvaluationStats } {
  const counter = { policies: 0, rules: 0 };
  let decision: Decision;
  try {
    decision = decide(set, input, counter);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    decision = {
      allowed: false,
      code: DecisionCode.Internal,
      reason: `policy evaluation failed unexpectedly: ${detail}`,
      audited: [],
      trace: [],
    };
  }
  return { decision, stats: { policiesVisited: counter.policies, rulesVisited: counter.rules } };
}

interface Counter {
  policies: number;
  rules: number;
}

function decide(set: CompiledPolicySet, input: CheckInput, counter: Counter): Decision {
  const workload = input.workload;
  if (workload.namespace === undefined && set.hasWorkloadSpecificPolicies) {
    return {
      allowed: false,
      code: DecisionCode.WorkloadUnresolved,
      reason: 'the namespace of the called workload is unknown, so the policies that apply to it cannot be determined',
      audited: [],
      trace: [],
    };
  }
  const applicable = applicablePolicies(set, workload);
  counter.policies = applicable.all.length;
  const facts = new RequestFacts(input);
  const trace: PolicyTrace[] = [];

  // AUDIT first so every return below can report it; AUDIT never changes the outcome,
  // so a CEL error in an AUDIT policy only leaves that policy unmarked.
  const auditTrace: PolicyTrace[] = [];
  const audited: string[] = [];
  for (const policy of applicable.audit) {
    let rule = -1;
    try {
      rule = firstMatchingRule(policy, facts, counter);
    } catch (error) {
      if (!(error instanceof PolicyEvaluationError)) throw error;
    }
    auditTrace.push({ policy: policy.id, action: 'AUDIT', matched: rule !== -1, rule });
    if (rule !== -1) audited.push(policy.id);
  }
  // Completes a decision literal built just below (on the hot path: no object spread).
  const finish = (decision: Omit<Decision, 'audited' | 'trace'>): Decision => {
    const complete = decision as { -readonly [K in keyof Decision]: Decision[K] };
    complete.audited = audited;
    complete.trace = auditTrace.length === 0 ? trace : trace.concat(auditTrace);
    return complete;
  };

  for (const action of ['DENY', 'ALLOW'] as const) {
    const policies = action === 'DENY' ? applicable.deny : applicable.allow;
    if (action === 'ALLOW' && policies.length === 0) {
      return finish({
        allowed: true,
        code: DecisionCode.Allowed,
        reason: applicable.noAllowPolicyReason,
      });
    }
    for (const policy of policies) {
      let rule: number;
      try {
        rule = firstMatchingRule(policy, facts, counter);
      } catch (error) {
        if (!(error instanceof PolicyEvaluationError)) throw error;
        trace.push({ policy: policy.id, action, matched: false, rule: -1 });
        return finish({
          allowed: false,
          code: DecisionCode.PolicyError,
          reason: `policy ${policy.id} could not be evaluated (${error.message}); denied`,
          policy: policy.id,
        });
      }
      trace.push({ policy: policy.id, action, matched: rule !== -1, rule });
      if (rule === -1) continue;
      return action === 'DENY'
        ? finish({
            allowed: false,
            code: DecisionCode.PolicyDenied,
            reason: (policy.rules[rule] as CompiledRule).matchedReason,
            policy: policy.id,
            rule,
          })
        : finish({
            allowed: true,
            code: DecisionCode.Allowed,
            reason: (policy.rules[rule] as CompiledRule).matchedReason,
            policy: policy.id,
            rule,
          });
    }
  }
  return finish({
    allowed: false,
    code: DecisionCode.NoAllowMatch,
    reason: applicable.noAllowMatchReason,
  });
}

function describeWorkload(workload: WorkloadRef): string {
  const labels = Object.entries(workload.labels)
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
  return `${workload.namespace ?? '(unknown namespace)'}${labels ? ` {${labels}}` : ''}`;
}

/**
 * The policies that apply to the workload, in (namespace, name) order: those
 * of its namespace and of the root namespace, without selector or with a
 * matching selector or targetRef.
 */
function applicablePolicies(set: CompiledPolicySet, workload: WorkloadRef): ApplicablePolicies {
  let applicable = set.applicableByWorkload.get(workload);
  if (applicable === undefined) {
    const all = set.targets.find(workload);
    const allow = all.filter((policy) => policy.action === 'ALLOW');
    const described = describeWorkload(workload);
    applicable = {
      all,
      deny: all.filter((policy) => policy.action === 'DENY'),
      allow,
      audit: all.filter((policy) => policy.action === 'AUDIT'),
      noAllowPolicyReason: `no ALLOW policy applies to workload ${described}, so the request is allowed`,
      noAllowMatchReason: `${allow.length} ALLOW ${allow.length === 1 ? 'policy applies' : 'policies apply'} to workload ${described} and none matched`,
    };
    set.applicableByWorkload.set(workload, applicable);
  }
  return applicable;
}

/**
 * The lowest index of a matching rule, or -1. Only rules keyed by the peer's
 * principal and rules that are always checked are visited, merged in index order.
 */
function firstMatchingRule(policy: CompiledPolicy, facts: RequestFacts, counter: Counter): number {
  const keyed = facts.principal === undefined ? undefined : policy.rulesByPrincipal.get(facts.principal);
  const always = policy.rulesAlwaysChecked;
  let k = 0;
  let a = 0;
  const keyedLength = keyed?.length ?? 0;
  while (k < keyedLength || a < always.length) {
    const nextKeyed = k < keyedLength ? ((keyed as readonly number[])[k] as number) : Number.POSITIVE_INFINITY;
    const nextAlways = a < always.length ? (always[a] as number) : Number.POSITIVE_INFINITY;
    const index = nextKeyed < nextAlways ? nextKeyed : nextAlways;
    if (nextKeyed < nextAlways) k++;
    else a++;
    counter.rules++;
    const rule = policy.rules[index];
    if (rule !== undefined && rule.matches(facts)) return index;
  }
  return -1;
}
