/**
 * Minted tokens, kept so that the same exchange asked again (same subject
 * token, actor, audiences, scopes and token type) returns the same token
 * instead of signing a new one: in Redis when configured, shared by every
 * replica, otherwise in a bounded in-process cache. A token is served until
 * `marginSeconds` before its `exp`, so a caller never gets one about to lapse.
 *
 * Keys are hashes: the subject token itself is never stored or sent to Redis.
 */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { SharedStore } from '../../gateway/cache/index.js';
import type { TokenType } from './types.js';

/** What identifies one exchange. */
export interface ExchangeKey {
  readonly subjectToken: string;
  readonly actor: string;
  readonly audiences: readonly string[];
  readonly scopes: readonly string[];
  readonly issuedTokenType: TokenType;
  /** The minting service's `iss`: deployments sharing a Redis never serve each other's tokens. */
  readonly issuer: string;
  /** The active signing key: a rotation starts minting with the new key at once. */
  readonly kid: string;
}

export interface MintedToken {
  readonly token: string;
  /** `exp`, seconds since the epoch. */
  readonly expiresAt: number;
  readonly scopes: readonly string[];
}

/** The key prefix of minted tokens, under the Redis `keyPrefix`. */
export const MINTED_KEY_PREFIX = 'token-exchange:minted:';

/**
 * @example
 * const cache = new MintedTokenCache({ store: redisStore, marginSeconds: 30 });
 * const hit = await cache.get(key, nowSeconds);
 * if (!hit) await cache.put(key, minted, nowSeconds);
 */
export class MintedTokenCache {
  private readonly store: SharedStore;

  constructor(options: { readonly store?: SharedStore; readonly marginSeconds: number; readonly maxEntries?: number }) {
    this.store = options.store ?? new MemoryStore(options.maxEntries ?? 10_000);
    this.marginSeconds = options.marginSeconds;
  }

  private readonly marginSeconds: number;

  /** The cached token, when it still has more than the margin to live. */
  async get(key: ExchangeKey, nowSeconds: number): Promise<MintedToken | undefined> {
    const text = await this.store.get(cacheKeyOf(key));
    if (text === undefined) return undefined;
    let entry: unknown;
    try {
      entry = JSON.parse(text);
    } catch {
      return undefined;
    }
    if (!isMintedToken(entry) || entry.expiresAt - this.marginSeconds <= nowSeconds) return undefined;
    return entry;
  }

  /** Keeps `minted` until `marginSeconds` before its `exp`; a token shorter-lived than that is not kept. */
  async put(key: ExchangeKey, minted: MintedToken, nowSeconds: number): Promise<void> {
    const ttlSeconds = minted.expiresAt - this.marginSeconds - nowSeconds;
    if (ttlSeconds <= 0) return;
    await this.store.set(cacheKeyOf(key), JSON.stringify(minted), ttlSeconds * 1000);
  }
}

/** base64url(SHA-256) of the exchange's canonical form. */
export function cacheKeyOf(key: ExchangeKey): string {
  const material = JSON.stringify([
    createHash('sha256').update(key.subjectToken).digest('base64url'),
    key.actor,
    [...key.audiences].sort(),
    [...key.scopes].sort(),
    key.issuedTokenType,
    key.issuer,
    key.kid,
  ]);
  return MINTED_KEY_PREFIX + createHash('sha256').update(material).digest('base64url');
}

function isMintedToken(value: unknown): value is MintedToken {
  if (typeof value !== 'object' || value === null) return false;
  const entry = value as Record<string, unknown>;
  return (
    typeof entry['token'] === 'string' &&
    typeof entry['expiresAt'] === 'number' &&
    Array.isArray(entry['scopes']) &&
    entry['scopes'].every((scope) => typeof scope === 'string')
  );
}

/** The SharedStore contract in process memory, bounded by entries, each with its TTL. */
class MemoryStore implements SharedStore {
  readonly healthy = true;
  private readonly entries: LRUCache<string, string>;

  constructor(maxEntries: number) {
    this.entries = new LRUCache<string, string>({ max: Math.max(1, maxEntries), ttlAutopurge: false });
  }

  get(key: string): Promise<string | undefined> {
    return Promise.resolve(this.entries.get(key));
  }

  set(key: string, value: string, ttlMs: number): Promise<void> {
    if (ttlMs > 0) this.entries.set(key, value, { ttl: ttlMs });
    return Promise.resolve();
  }
}
