/**
 * What replicas share through Redis, seen from the code that uses it: a
 * small key-value contract. `gateway/cache/redis.ts` implements it with
 * ioredis; tests may use the same implementation against a real Redis.
 * Every method resolves (never rejects): a Redis failure reads as a miss or
 * a skipped write, is counted, and flips `healthy` until Redis answers again.
 */
export interface SharedStore {
  /** The value, or undefined when absent or when Redis did not answer in time. */
  get(key: string): Promise<string | undefined>;
  /** Stores `value` for `ttlMs` milliseconds (best effort). */
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** Whether the last command succeeded. */
  readonly healthy: boolean;
}
