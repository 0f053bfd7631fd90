/**
 * Polling for the fault tests: wait until a probe says yes, and report when
 * it first did, so recovery times are read from the moment, not the poll.
 */

/**
 * Resolves with the `performance.now()` at which `probe` first returned
 * true; a probe that throws counts as false. Rejects after `timeoutMs`.
 *
 * @example
 * const recoveredAt = await eventually(async () => (await sharedState()) === 'SERVING', 5000);
 */
export async function eventually(probe: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 25): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const askedAt = performance.now();
    if (await Promise.resolve(probe()).catch(() => false)) return askedAt;
    if (performance.now() > deadline) throw new Error(`condition not reached within ${timeoutMs} ms`);
    await delay(intervalMs);
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
