/**
 * Shadow mode: policies annotated `istio.io/dry-run: "true"` or
 * `gatehouse.dev/shadow: "true"` are evaluated beside the live ones and
 * never decide. The live set (policies without the annotation) decides; the
 * candidate set (the live set plus the shadow policies, as if enforced) says
 * what would happen if the annotations were removed. A difference in
 * allow/deny is a divergence, counted per shadow policy.
 */
import type { CheckInput, WorkloadRef } from '../request/model.js';
import type { CompiledPolicy, CompiledPolicySet, ShadowPolicies } from './compile.js';
import type { Decision } from './decision.js';
import { evaluate } from './evaluate.js';

/** What the candidate set decided for one request, beside the live decision. */
export interface ShadowOutcome {
  /** The candidate set's decision. */
  readonly decision: Decision;
  /** The shadow policies that apply to the workload (`namespace/name`). */
  readonly policies: readonly string[];
  /** Whether the candidate's allow/deny differs from the live decision's. */
  readonly diverged: boolean;
  /**
   * The shadow policies a divergence is counted against: the candidate's
   * deciding policy when it is a shadow policy, else every shadow policy that
   * applies (a shadow ALLOW can deny by making ALLOW policies apply). Empty
   * without a divergence.
   */
  readonly divergedBy: readonly string[];
}

/**
 * Evaluates the candidate set when shadow policies apply to the request's
 * workload; undefined when none do, so a workload without shadow policies
 * pays one index lookup. Never throws (as `evaluate`).
 *
 * @example
 * const live = evaluate(set, input);
 * const shadow = evaluateShadow(set, input, live);
 * if (shadow?.diverged) log.info({ shadow: shadow.decision.code }, 'a shadow policy would change this decision');
 */
export function evaluateShadow(set: CompiledPolicySet, input: CheckInput, live: Decision): ShadowOutcome | undefined {
  const shadow = set.shadow;
  if (shadow === undefined) return undefined;
  const applying = applicableShadowPolicies(set, shadow, input.workload);
  if (applying.length === 0) return undefined;
  const decision = evaluate(shadow.candidate, input);
  const diverged = decision.allowed !== live.allowed;
  const policies = applying.map((policy) => policy.id);
  let divergedBy: readonly string[] = [];
  if (diverged) divergedBy = decision.policy !== undefined && shadow.ids.has(decision.policy) ? [decision.policy] : policies;
  return { decision, policies, diverged, divergedBy };
}

function applicableShadowPolicies(set: CompiledPolicySet, shadow: ShadowPolicies, workload: WorkloadRef): readonly CompiledPolicy[] {
  let applying = shadow.applicableByWorkload.get(workload);
  if (applying === undefined) {
    applying = shadow.targets.find(workload);
    // A workload of unknown namespace is evaluated normally while only mesh-wide policies are live;
    // namespaced shadow policies would deny it (WORKLOAD_UNRESOLVED) once promoted.
    if (workload.namespace === undefined && shadow.targets.hasWorkloadSpecificItems && !set.hasWorkloadSpecificPolicies) {
      applying = shadow.policies;
    }
    shadow.applicableByWorkload.set(workload, applying);
  }
  return applying;
}

/** Shadow evaluations and divergences so far, for the metrics layer and `stats()`. */
export interface ShadowStats {
  /** Checks for which the candidate set was evaluated. */
  readonly evaluations: number;
  /** Checks whose candidate allow/deny differed from the live one. */
  readonly divergences: number;
  /** Divergences by shadow policy (`namespace/name`), as `ShadowOutcome.divergedBy` attributes them. */
  readonly divergencesByPolicy: Readonly<Record<string, number>>;
}

/**
 * Counts shadow evaluations and divergences. Counts survive policy reloads,
 * keyed by policy name.
 *
 * @example
 * const counters = new ShadowCounters();
 * if (shadow) counters.record(shadow);
 * counters.stats().divergencesByPolicy['default/new-deny']; // 3
 */
export class ShadowCounters {
  private evaluations = 0;
  private divergences = 0;
  private readonly byPolicy = new Map<string, number>();

  record(outcome: ShadowOutcome): void {
    this.evaluations += 1;
    if (!outcome.diverged) return;
    this.divergences += 1;
    for (const policy of outcome.divergedBy) this.byPolicy.set(policy, (this.byPolicy.get(policy) ?? 0) + 1);
  }

  stats(): ShadowStats {
    return { evaluations: this.evaluations, divergences: this.divergences, divergencesByPolicy: Object.fromEntries(this.byPolicy) };
  }
}
