/**
 * A memo for the Check hot path: a Map that starts over when it is full.
 * A mesh has few distinct keys (SPIFFE IDs, workloads, outcomes), so an LRU's
 * bookkeeping buys nothing there, and the bound keeps hostile input from
 * growing it.
 *
 * @example
 * const parsed = new BoundedMemo<string, SpiffeIdResult>(4096);
 * const result = parsed.get(text) ?? parsed.remember(text, parse(text));
 */
export class BoundedMemo<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(private readonly maxEntries: number) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: K): V | undefined {
    return this.entries.get(key);
  }

  /** Stores `value` under `key` and returns it. */
  remember(key: K, value: V): V {
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    this.entries.set(key, value);
    return value;
  }
}
