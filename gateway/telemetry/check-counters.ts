/**
 * What the metrics layer reports about served Checks, kept in plain memory
 * on the hot path: decisions by outcome, code and deciding policy, the time
 * to answer, and the depth of delegated tokens' actor chains. Counting
 * starts with the first Check, before the OpenTelemetry SDK is loaded.
 */
import type { CheckOutcome } from '../authorizer.js';
import { FixedHistogram } from './fixed-histogram.js';

/**
 * Bucket bounds of the Check duration, in seconds: fine below a
 * millisecond, where decisions from memory land, coarse up to a second (a
 * token whose keys are fetched, Redis timing out).
 */
export const CHECK_DURATION_BOUNDARIES_SECONDS = [
  0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
];

/** Bucket bounds of the actor chain depth (the configuration allows up to 16). */
export const DELEGATION_DEPTH_BOUNDARIES = [1, 2, 3, 4, 5, 6, 8, 10, 12, 16];

/** Checks answered with one outcome: a decision code and the policy that decided (`''` when none did). */
export interface DecisionCount {
  readonly allowed: boolean;
  readonly code: string;
  readonly policy: string;
  readonly count: number;
}

interface MutableDecisionCount {
  readonly allowed: boolean;
  readonly code: string;
  readonly policy: string;
  count: number;
}

/**
 * @example
 * const counters = new CheckCounters();
 * counters.record(outcome, performance.now() - started);
 * counters.decisions(); // [{ allowed: true, code: 'ALLOWED', policy: 'default/todos-viewer-allow', count: 1 }]
 */
export class CheckCounters {
  /** Decision code → deciding policy → count: two lookups, no key built per Check. */
  private readonly byCode = new Map<string, Map<string, MutableDecisionCount>>();
  readonly duration = new FixedHistogram(CHECK_DURATION_BOUNDARIES_SECONDS);
  readonly delegationDepth = new FixedHistogram(DELEGATION_DEPTH_BOUNDARIES);

  /** Counts one answered Check; `latencyMs` from receiving it to encoding the response. */
  record(outcome: CheckOutcome, latencyMs: number): void {
    const { decision } = outcome;
    let byPolicy = this.byCode.get(decision.code);
    if (byPolicy === undefined) this.byCode.set(decision.code, (byPolicy = new Map<string, MutableDecisionCount>()));
    const policy = decision.policy ?? '';
    let entry = byPolicy.get(policy);
    if (entry === undefined) byPolicy.set(policy, (entry = { allowed: decision.allowed, code: decision.code, policy, count: 0 }));
    entry.count++;
    this.duration.record(latencyMs / 1000);
    const depth = outcome.input?.auth?.delegation?.depth;
    if (depth !== undefined) this.delegationDepth.record(depth);
  }

  /** Every outcome seen so far with its count. */
  decisions(): DecisionCount[] {
    const counts: DecisionCount[] = [];
    for (const byPolicy of this.byCode.values()) for (const entry of byPolicy.values()) counts.push({ ...entry });
    return counts;
  }
}
