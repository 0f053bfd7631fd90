/**
 * The two-tier verified-token cache. L1 is this replica's memory (an LRU
 * bounded by entries and bytes); L2 is a `SharedStore` (Redis) that replicas
 * share. A cached verdict never outlives the token's `exp` nor
 * `maxTtlSeconds` after it was verified, is keyed by the issuer rule's
 * fingerprint so a configuration change cannot serve an old verdict, and is
 * checked against the revocation state every time it is served.
 */
import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { TokenErrorCode, type TokenVerdict, type VerifiedToken } from '../identity/issuer-rule.js';
import { readSharedFirst as measuredReadSharedFirst } from './l2-policy.js';
import type { SharedStore } from './shared-store.js';

/**
 * The cache key of a token under an issuer rule: SHA-256 (base64url) of the
 * rule's fingerprint, a NUL, and the token. The cache never stores or logs
 * the raw token; the key is all it keeps.
 *
 * @example
 * const key = tokenCacheKey(jwt, rule.fingerprint);
 */
export function tokenCacheKey(token: string, fingerprint: string): string {
  // One-shot hashing: about half the cost of a Hash object, and this runs on every Check that carries a token.
  return hash('sha256', `${fingerprint}\0${token}`, 'base64url');
}

/** What the cache needs from revocation (`RevocationService` implements it). */
export interface RevocationView {
  /** Whether the token is revoked by the last known revocation state. Synchronous. */
  isRevoked(token: VerifiedToken): boolean;
  /** Whether revocations are arriving live; while not, old L1 entries are not served. */
  connected(): boolean;
}

export interface TokenCacheOptions {
  /** L1 entry bound. Default 100 000. */
  readonly maxEntries?: number;
  /** L1 byte bound (JSON size of the entries). Default 64 MiB. */
  readonly maxBytes?: number;
  /** No verdict is cached longer than this after verification, whatever the token's `exp`. Default 300. */
  readonly maxTtlSeconds?: number;
  /** How long a `TOKEN_BAD_SIGNATURE` verdict is remembered. Default 5; 0 turns the negative cache off. */
  readonly negativeTtlSeconds?: number;
  /** Default 1000. */
  readonly negativeMaxEntries?: number;
  /** While the revocation feed is down, L1 entries older than this are verified again (or read from L2). Default 5000. */
  readonly maxL1AgeWhileDisconnectedMs?: number;
  /** L2. Without it the cache is L1 only. */
  readonly shared?: SharedStore;
  readonly revocation?: RevocationView;
  /** Whether to ask L2 before verifying a token of this `alg`. Default: the measured rule in `l2-policy.ts`. */
  readonly readSharedFirst?: (algorithm: string) => boolean;
  /** Clock in milliseconds (tests). Default `Date.now`. */
  readonly now?: () => number;
}

export const TOKEN_CACHE_DEFAULTS = {
  maxEntries: 100_000,
  maxBytes: 64 * 1024 * 1024,
  maxTtlSeconds: 300,
  negativeTtlSeconds: 5,
  negativeMaxEntries: 1000,
  maxL1AgeWhileDisconnectedMs: 5000,
} as const;

/** Where a lookup's verdict came from. `verified`: `verifyLocally` ran (whatever it said). */
export type CacheTier = 'l1' | 'l2' | 'verified' | 'negative';

export interface CacheLookup {
  readonly verdict: TokenVerdict;
  readonly tier: CacheTier;
}

export interface TokenCacheStats {
  readonly hits: { readonly l1: number; readonly l2: number; readonly negative: number };
  readonly misses: { readonly l1: number; readonly l2: number };
  /** Calls of `verifyLocally`, and how many of them failed. */
  readonly verifications: number;
  readonly verificationFailures: number;
  /** Lookups that waited for an identical verification already in flight. */
  readonly singleFlightJoins: number;
  /** Positive verdicts turned into `TOKEN_REVOKED`. */
  readonly revoked: number;
  /** L1 entries skipped because they were too old while the revocation feed was down. */
  readonly staleWhileDisconnected: number;
  readonly l1: { readonly entries: number; readonly bytes: number };
  readonly negativeEntries: number;
  readonly inFlight: number;
}

interface L1Entry {
  readonly token: VerifiedToken;
  /** When this replica stored the entry (ms). */
  readonly storedAt: number;
  /** Past this (ms) the entry must not be served: min(exp, verifiedAt + maxTtl). */
  readonly deadline: number;
  readonly bytes: number;
}

/** What L2 holds under `token:<key>`. */
interface SharedEntry {
  readonly token: VerifiedToken;
  /** When the token was verified (ms), so L2 hits keep the `maxTtlSeconds` bound. */
  readonly verifiedAt: number;
}

const REVOKED: TokenVerdict = { ok: false, code: TokenErrorCode.Revoked, reason: 'the token has been revoked' };

/**
 * @example
 * const cache = new TokenCache({ shared: store, revocation });
 * revocation.onRevocation((matches) => cache.dropWhere(matches));
 * const { verdict, tier } = await cache.lookup(tokenCacheKey(jwt, rule.fingerprint), header.alg, () => verify(jwt, rule));
 */
export class TokenCache {
  private l1Cache: LRUCache<string, L1Entry> | undefined;
  private readonly l1Options: LRUCache.Options<string, L1Entry, unknown>;
  private readonly negative: LRUCache<string, TokenVerdict> | undefined;
  private readonly inFlight = new Map<string, Promise<CacheLookup>>();
  private readonly pendingWrites = new Set<Promise<void>>();
  private readonly shared: SharedStore | undefined;
  private readonly revocation: RevocationView | undefined;
  private readonly readSharedFirst: (algorithm: string) => boolean;
  private readonly now: () => number;
  private readonly maxTtlMs: number;
  private readonly maxL1AgeWhileDisconnectedMs: number;
  private readonly counts = {
    l1Hits: 0,
    l2Hits: 0,
    negativeHits: 0,
    l1Misses: 0,
    l2Misses: 0,
    verifications: 0,
    verificationFailures: 0,
    singleFlightJoins: 0,
    revoked: 0,
    staleWhileDisconnected: 0,
  };

  constructor(options: TokenCacheOptions = {}) {
    const settings = { ...TOKEN_CACHE_DEFAULTS, ...definedOnly(options) };
    this.now = options.now ?? Date.now;
    const perf = { now: this.now };
    this.shared = options.shared;
    this.revocation = options.revocation;
    this.readSharedFirst = options.readSharedFirst ?? measuredReadSharedFirst;
    this.maxTtlMs = settings.maxTtlSeconds * 1000;
    this.maxL1AgeWhileDisconnectedMs = settings.maxL1AgeWhileDisconnectedMs;
    this.l1Options = {
      max: settings.maxEntries,
      maxSize: settings.maxBytes,
      sizeCalculation: (entry) => entry.bytes,
      perf,
      ttlResolution: 0,
    };
    this.negative =
      settings.negativeTtlSeconds > 0
        ? new LRUCache<string, TokenVerdict>({
            max: settings.negativeMaxEntries,
            ttl: settings.negativeTtlSeconds * 1000,
            perf,
            ttlResolution: 0,
          })
        : undefined;
  }

  /**
   * L1, allocated on first use: lru-cache preallocates arrays for `max`
   * entries, which a replica that never sees a token should not pay for at
   * start (a measured part of cold start).
   */
  private get l1(): LRUCache<string, L1Entry> {
    this.l1Cache ??= new LRUCache<string, L1Entry>(this.l1Options);
    return this.l1Cache;
  }

  /**
   * The verdict for the token behind `key`: from L1, else (for algorithms
   * whose verification costs more than a Redis round trip) from L2, else from
   * `verifyLocally` (and then written to L2 for those same algorithms). Identical concurrent misses share one verification.
   * Every positive verdict is checked against revocation before it is
   * returned. Rejects only if `verifyLocally` does.
   */
  async lookup(key: string, algorithm: string | (() => string), verifyLocally: () => Promise<TokenVerdict>): Promise<CacheLookup> {
    const hit = this.cached(key);
    if (hit) return hit;
    this.counts.l1Misses++;

    const rejected = this.negative?.get(key);
    if (rejected) {
      this.counts.negativeHits++;
      return { verdict: rejected, tier: 'negative' };
    }

    let flight = this.inFlight.get(key);
    if (flight) {
      this.counts.singleFlightJoins++;
    } else {
      flight = this.fill(key, algorithm, verifyLocally).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, flight);
    }
    const result = await flight;
    return result.verdict.ok ? this.checkRevocation(key, result.verdict.token, result.tier) : result;
  }

  /**
   * The L1 verdict for `key`, synchronously, or undefined on an L1 miss (which
   * is not counted: `lookup` follows). The hot path asks this first, before
   * decoding anything of the token.
   */
  cached(key: string): CacheLookup | undefined {
    const entry = this.l1.get(key);
    if (!entry || !this.servable(entry)) return undefined;
    this.counts.l1Hits++;
    return this.checkRevocation(key, entry.token, 'l1');
  }

  /** Drops every L1 entry whose token matches (revocation); returns how many. */
  dropWhere(predicate: (token: VerifiedToken) => boolean): number {
    const doomed: string[] = [];
    if (this.l1Cache === undefined) return 0;
    for (const [key, entry] of this.l1Cache.entries()) if (predicate(entry.token)) doomed.push(key);
    for (const key of doomed) this.l1.delete(key);
    return doomed.length;
  }

  /** Resolves when the L2 writes started so far have finished (tests, shutdown). */
  async flushWrites(): Promise<void> {
    await Promise.all([...this.pendingWrites]);
  }

  stats(): TokenCacheStats {
    const c = this.counts;
    return {
      hits: { l1: c.l1Hits, l2: c.l2Hits, negative: c.negativeHits },
      misses: { l1: c.l1Misses, l2: c.l2Misses },
      verifications: c.verifications,
      verificationFailures: c.verificationFailures,
      singleFlightJoins: c.singleFlightJoins,
      revoked: c.revoked,
      staleWhileDisconnected: c.staleWhileDisconnected,
      l1: { entries: this.l1Cache?.size ?? 0, bytes: this.l1Cache?.calculatedSize ?? 0 },
      negativeEntries: this.negative?.size ?? 0,
      inFlight: this.inFlight.size,
    };
  }

  private servable(entry: L1Entry): boolean {
    const now = this.now();
    if (now >= entry.deadline) return false;
    const revocation = this.revocation;
    if (revocation && !revocation.connected() && now - entry.storedAt > this.maxL1AgeWhileDisconnectedMs) {
      this.counts.staleWhileDisconnected++;
      return false;
    }
    return true;
  }

  private async fill(key: string, algorithm: string | (() => string), verifyLocally: () => Promise<TokenVerdict>): Promise<CacheLookup> {
    // L2 holds only what replicas read back: the algorithms read first. An RS256 verdict written there
    // would be read by no one and cost every miss a Redis write (measured: bench/RESULTS.md, JWT throughput).
    const shared = this.shared && this.readSharedFirst(typeof algorithm === 'string' ? algorithm : algorithm()) ? this.shared : undefined;
    if (shared) {
      const entry = parseSharedEntry(await shared.get(sharedKey(key)));
      if (entry && this.remember(key, entry.token, entry.verifiedAt)) {
        this.counts.l2Hits++;
        return { verdict: { ok: true, token: entry.token }, tier: 'l2' };
      }
      this.counts.l2Misses++;
    }

    this.counts.verifications++;
    const verdict = await verifyLocally();
    if (verdict.ok) {
      const verifiedAt = this.now();
      const json = this.remember(key, verdict.token, verifiedAt);
      if (json && shared) this.writeShared(shared, key, json, this.deadline(verdict.token, verifiedAt) - verifiedAt);
    } else {
      this.counts.verificationFailures++;
      // Only a bad signature is remembered: it cannot become valid, and it is what a flood of forged tokens looks like.
      if (verdict.code === TokenErrorCode.BadSignature) this.negative?.set(key, verdict);
    }
    return { verdict, tier: 'verified' };
  }

  /** Stores in L1 until the deadline; returns the L2 JSON, or undefined when the token is already past it. */
  private remember(key: string, token: VerifiedToken, verifiedAt: number): string | undefined {
    const now = this.now();
    const deadline = this.deadline(token, verifiedAt);
    if (deadline <= now) return undefined;
    const json = JSON.stringify({ token, verifiedAt } satisfies SharedEntry);
    const bytes = Buffer.byteLength(json) + key.length;
    this.l1.set(key, { token, storedAt: now, deadline, bytes }, { ttl: deadline - now });
    return json;
  }

  private deadline(token: VerifiedToken, verifiedAt: number): number {
    const byConfig = verifiedAt + this.maxTtlMs;
    return token.expiresAt === undefined ? byConfig : Math.min(token.expiresAt * 1000, byConfig);
  }

  private writeShared(shared: SharedStore, key: string, json: string, ttlMs: number): void {
    const write = shared.set(sharedKey(key), json, ttlMs).finally(() => this.pendingWrites.delete(write));
    this.pendingWrites.add(write);
  }

  private checkRevocation(key: string, token: VerifiedToken, tier: CacheTier): CacheLookup {
    if (this.revocation?.isRevoked(token)) {
      this.counts.revoked++;
      this.l1.delete(key);
      return { verdict: REVOKED, tier };
    }
    return { verdict: { ok: true, token }, tier };
  }
}

function sharedKey(key: string): string {
  return `token:${key}`;
}

/** L2 is shared with other replicas and versions: anything that does not look like an entry is a miss. */
function parseSharedEntry(json: string | undefined): SharedEntry | undefined {
  if (json === undefined) return undefined;
  try {
    const parsed = JSON.parse(json) as Partial<SharedEntry> | null;
    const token = parsed?.token as Partial<VerifiedToken> | undefined;
    if (
      typeof parsed?.verifiedAt !== 'number' ||
      !token ||
      typeof token.principal !== 'string' ||
      typeof token.issuer !== 'string' ||
      typeof token.subject !== 'string' ||
      typeof token.algorithm !== 'string' ||
      !Array.isArray(token.audiences) ||
      typeof token.claims !== 'object' ||
      token.claims === null ||
      (token.expiresAt !== undefined && typeof token.expiresAt !== 'number') ||
      (token.issuedAt !== undefined && typeof token.issuedAt !== 'number')
    ) {
      return undefined;
    }
    return { token: token as VerifiedToken, verifiedAt: parsed.verifiedAt };
  } catch {
    return undefined;
  }
}

function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>;
}
