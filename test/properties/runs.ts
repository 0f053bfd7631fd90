/**
 * How many cases a property runs: moderate by default, so the suite stays
 * fast; `FC_NUM_RUNS=100000 npx ava dist/test/properties/…` searches harder.
 */
export function numRuns(defaultRuns: number): number {
  const fromEnv = Number(process.env.FC_NUM_RUNS);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : defaultRuns;
}
