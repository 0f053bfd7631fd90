/**
 * Reads a counter from the gateway's Prometheus endpoint, as an operator's
 * dashboard would during a fault.
 */

/**
 * The sum of every series of `name` on `<adminUrl>/metrics` (all label sets).
 *
 * @example
 * const rejected = await metricTotal(await gatehouse.adminHttpUrl(), 'gatehouse_policy_rejections_total');
 */
export async function metricTotal(adminUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    const match = /^(\S+?)(?:\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (match?.[1] === name) total += Number(match[2]);
  }
  return total;
}
