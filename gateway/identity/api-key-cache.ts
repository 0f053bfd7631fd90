/**
 * Verified API-key records in this replica's memory, like verified tokens:
 * a bounded LRU whose entries live until the earlier of the key's
 * `notAfter` and `maxTtlMs` after they were read from the store. Revocation
 * drops entries; while the revocation feed is down, entries older than
 * `maxAgeWhileDisconnectedMs` are read from the store again.
 */
import { LRUCache } from 'lru-cache';
import type { RequestAuth } from '../request/model.js';
import type { ApiKeyRecord } from './api-key-record.js';

export interface ApiKeyCacheOptions {
  /** Default 10 000. */
  readonly maxEntries?: number;
  /** Default 60 000. */
  readonly maxTtlMs?: number;
  /** Default 5000. */
  readonly maxAgeWhileDisconnectedMs?: number;
  /** Whether revocations published by other replicas reach this one now. Default: always. */
  readonly connected?: () => boolean;
  /** Clock in milliseconds (tests). */
  readonly now?: () => number;
}

export const API_KEY_CACHE_DEFAULTS = { maxEntries: 10_000, maxTtlMs: 60_000, maxAgeWhileDisconnectedMs: 5000 } as const;

/** A record as read from the store, with the request identity it gives (built once). */
export interface CachedApiKey {
  readonly record: ApiKeyRecord;
  readonly auth: RequestAuth;
  readonly cachedAt: number;
  readonly expiresAt: number;
}

export interface ApiKeyCacheStats {
  readonly entries: number;
  readonly hits: number;
  readonly misses: number;
  readonly dropped: number;
}

/**
 * @example
 * const cache = new ApiKeyCache({ connected: () => revocation.connected() });
 * const hit = cache.fresh(id) ?? cache.remember(record, authOf(record));
 */
export class ApiKeyCache {
  private readonly entries: LRUCache<string, CachedApiKey>;
  private readonly maxTtlMs: number;
  private readonly maxAgeWhileDisconnectedMs: number;
  private readonly connected: () => boolean;
  private readonly now: () => number;
  private readonly counts = { hits: 0, misses: 0, dropped: 0 };

  constructor(options: ApiKeyCacheOptions = {}) {
    this.entries = new LRUCache({ max: options.maxEntries ?? API_KEY_CACHE_DEFAULTS.maxEntries });
    this.maxTtlMs = options.maxTtlMs ?? API_KEY_CACHE_DEFAULTS.maxTtlMs;
    this.maxAgeWhileDisconnectedMs = options.maxAgeWhileDisconnectedMs ?? API_KEY_CACHE_DEFAULTS.maxAgeWhileDisconnectedMs;
    this.connected = options.connected ?? (() => true);
    this.now = options.now ?? Date.now;
  }

  /** The entry for `id` when it may be served without asking the store. */
  fresh(id: string): CachedApiKey | undefined {
    const entry = this.lastKnown(id);
    const now = this.now();
    if (entry !== undefined && (now - entry.cachedAt <= this.maxAgeWhileDisconnectedMs || this.connected())) {
      this.counts.hits++;
      return entry;
    }
    this.counts.misses++;
    return undefined;
  }

  /** The unexpired entry for `id`, however old: the last known state, for when the store cannot be read. */
  lastKnown(id: string): CachedApiKey | undefined {
    const entry = this.entries.get(id);
    if (entry === undefined) return undefined;
    if (this.now() < entry.expiresAt) return entry;
    this.entries.delete(id);
    return undefined;
  }

  /** Caches a record just read from the store; an expired key is not cached. Returns the entry either way. */
  remember(record: ApiKeyRecord, auth: RequestAuth): CachedApiKey {
    const now = this.now();
    const expiresAt = Math.min(now + this.maxTtlMs, record.notAfter ?? Number.POSITIVE_INFINITY);
    const entry = { record, auth, cachedAt: now, expiresAt };
    if (expiresAt > now) this.entries.set(record.id, entry);
    return entry;
  }

  /** Forgets one key (revoked). */
  drop(id: string): void {
    if (this.entries.delete(id)) this.counts.dropped++;
  }

  /** Forgets every key (the key file changed). */
  clear(): void {
    this.counts.dropped += this.entries.size;
    this.entries.clear();
  }

  stats(): ApiKeyCacheStats {
    return { entries: this.entries.size, ...this.counts };
  }
}
