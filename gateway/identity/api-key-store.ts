/**
 * Where API keys are looked up: Redis (`api-key-redis-store.ts`) or a key
 * file mounted from a Kubernetes Secret (`api-key-file-store.ts`). A lookup
 * is by id, one Redis GET or one map read, never a scan.
 */
import type { ApiKeyRecord } from './api-key-record.js';

/** What a store knows about one id. `unavailable`: it could not say (Redis down or slow, a record it cannot read). */
export type ApiKeyLookup =
  | { readonly kind: 'found'; readonly record: ApiKeyRecord }
  | { readonly kind: 'absent' }
  | { readonly kind: 'unavailable'; readonly reason: string };

/** The gateway's view of a store. Never throws: failures are `unavailable`. */
export interface ApiKeyStore {
  find(id: string): ApiKeyLookup | Promise<ApiKeyLookup>;
}

/** What the `gatehouse api-key` command does with a store. */
export interface ApiKeyAdministration {
  /** Stores a new record; throws when the id exists or the store cannot be written. */
  create(record: ApiKeyRecord): Promise<void>;
  /** Marks the record revoked at `at` (ms); the record as revoked, or undefined when there is none. */
  revoke(id: string, at: number): Promise<ApiKeyRecord | undefined>;
  /** Every record, in id order. */
  list(): Promise<ApiKeyRecord[]>;
}

/** How long a record is kept after it expires or is revoked, so it is reported as such rather than unknown. */
export const apiKeyRetentionMs = 7 * 24 * 3600 * 1000;
