/**
 * Which decisions are written: a rate per kind of outcome, drawn per
 * decision. Denials are usually rarer and more interesting than allows, and
 * shadow divergences are the point of shadow mode, so each has its own rate.
 */
import type { CheckOutcome } from '../authorizer.js';

/** Fractions from 0 (never) to 1 (always). */
export interface SampleRates {
  readonly allow: number;
  readonly deny: number;
  /** Decisions whose shadow outcome diverged, whatever the live outcome. */
  readonly divergence: number;
}

/**
 * Decides per decision whether it is written. A rate of 1 or 0 draws no
 * random number. The default source is `Math.random` (V8's xorshift128+: a few
 * nanoseconds, no allocation); tests pass their own.
 *
 * @example
 * const sampler = new DecisionSampler({ allow: 0.01, deny: 1, divergence: 1 });
 * if (sampler.sampled(outcome)) write(outcome);
 */
export class DecisionSampler {
  constructor(
    private readonly rates: SampleRates,
    private readonly random: () => number = Math.random,
  ) {}

  sampled(outcome: CheckOutcome): boolean {
    const rate = outcome.shadow?.diverged === true ? this.rates.divergence : outcome.decision.allowed ? this.rates.allow : this.rates.deny;
    if (rate >= 1) return true;
    if (rate <= 0) return false;
    return this.random() < rate;
  }
}
