/**
 * Sampling, one row per rate: which decisions are written for a given
 * random draw.
 */
import test from 'ava';
import type { CheckOutcome } from '../../../gateway/authorizer.js';
import { DecisionSampler, type SampleRates } from '../../../gateway/decision-log/index.js';
import { DecisionCode } from '../../../gateway/errors.js';

function outcome(allowed: boolean, diverged?: boolean): CheckOutcome {
  const decision = { allowed, code: allowed ? DecisionCode.Allowed : DecisionCode.NoAllowMatch, reason: '', audited: [], trace: [] };
  return {
    decisionId: 'd',
    decision,
    httpStatus: allowed ? 200 : 403,
    ...(diverged === undefined
      ? {}
      : { shadow: { decision: { ...decision, allowed: !allowed }, policies: ['p'], diverged, divergedBy: [] } }),
  };
}

const all: SampleRates = { allow: 1, deny: 1, divergence: 1 };
const rows: [name: string, rates: SampleRates, outcome: CheckOutcome, draw: number, written: boolean][] = [
  ['rate 1 writes every allow', all, outcome(true), 0.999, true],
  ['rate 0 writes no allow', { ...all, allow: 0 }, outcome(true), 0, false],
  ['denials have their own rate', { ...all, allow: 0 }, outcome(false), 0.5, true],
  ['a draw below the rate writes', { ...all, allow: 0.1 }, outcome(true), 0.05, true],
  ['a draw at or above the rate does not', { ...all, allow: 0.1 }, outcome(true), 0.1, false],
  ['a deny rate below 1 samples denials', { ...all, deny: 0.5 }, outcome(false), 0.7, false],
  [
    'a divergence is sampled at the divergence rate, not the allow rate',
    { allow: 0, deny: 0, divergence: 1 },
    outcome(true, true),
    0.9,
    true,
  ],
  ['divergences can be sampled too', { ...all, divergence: 0.2 }, outcome(false, true), 0.3, false],
  ['a shadow outcome without divergence uses the live rate', { allow: 0, deny: 1, divergence: 1 }, outcome(true, false), 0, false],
];

for (const [name, rates, decided, draw, written] of rows) {
  test(`sampling: ${name}`, (t) => {
    let draws = 0;
    const sampler = new DecisionSampler(rates, () => {
      draws += 1;
      return draw;
    });
    t.is(sampler.sampled(decided), written);
    const rate = decided.shadow?.diverged ? rates.divergence : decided.decision.allowed ? rates.allow : rates.deny;
    t.is(draws, rate > 0 && rate < 1 ? 1 : 0, 'a random number is drawn only for a rate between 0 and 1');
  });
}

test('sampling with the default source writes about the configured fraction', (t) => {
  const sampler = new DecisionSampler({ allow: 0.25, deny: 1, divergence: 1 });
  let written = 0;
  for (let i = 0; i < 20_000; i++) if (sampler.sampled(outcome(true))) written += 1;
  t.true(written > 4_500 && written < 5_500, String(written));
});
