/**
 * Token revocation shared by all replicas: revoke one token by `jti`, or
 * every token of a principal (`iss/sub`) issued before a time; and API keys
 * by id (docs/api-keys.md). A revocation
 * is stored in Redis (so a replica that starts or reconnects later loads it)
 * and published on a channel (so running replicas learn it at once). Each
 * replica keeps a bounded local mirror that `isRevoked` reads synchronously;
 * when Redis is down the mirror is the last known state.
 */
import type { Logger } from '../log.js';
import type { VerifiedToken } from '../identity/issuer-rule.js';
import type { Cluster } from 'ioredis';
import type { RedisClient, RedisConnections } from './redis.js';
import type { RevocationView } from './token-cache.js';

/** A revocation as stored, published and mirrored. Times in milliseconds since the epoch unless named otherwise. */
export type Revocation =
  | { readonly kind: 'jti'; readonly jti: string; readonly until: number }
  | {
      readonly kind: 'subject';
      readonly principal: string;
      /** Tokens of the principal with `iat` before this (seconds) are revoked. */
      readonly issuedBefore: number;
      readonly until: number;
    }
  /** An API key, by its id; `gatehouse api-key revoke` also marks the stored record. */
  | { readonly kind: 'api-key'; readonly id: string; readonly until: number };

export interface RevocationConfig {
  /** How long a `jti` revocation is kept when the token's `exp` is not given. Default 86 400. */
  readonly jtiTtlSeconds?: number;
  /** How long a subject revocation is kept; make it at least the longest token lifetime. Default 86 400. */
  readonly subjectTtlSeconds?: number;
  /** Mirror bounds. Defaults 100 000 and 10 000. */
  readonly maxJtiEntries?: number;
  readonly maxSubjectEntries?: number;
  /** Mirror bound for API-key revocations. Default 10 000. */
  readonly maxApiKeyEntries?: number;
}

export const REVOCATION_DEFAULTS = {
  jtiTtlSeconds: 86_400,
  subjectTtlSeconds: 86_400,
  maxJtiEntries: 100_000,
  maxSubjectEntries: 10_000,
  maxApiKeyEntries: 10_000,
} as const;

/** A `jti` revocation outlives the token's `exp` by this much, to cover verifiers' clock-skew allowance. */
const EXPIRY_MARGIN_MS = 5 * 60 * 1000;
const MAX_ID_LENGTH = 2048;
const MAX_MESSAGE_BYTES = 8192;
const RESYNC_RETRY_MS = 250;

export interface RevocationOutcome {
  /** The revocation this replica now applies. */
  readonly revocation: Revocation;
  /** Whether it reached Redis (stored and published to the other replicas). */
  readonly shared: boolean;
  readonly error?: string;
}

export interface RevocationStats {
  readonly jtis: number;
  readonly subjects: number;
  readonly apiKeys: number;
  /** Full reloads from Redis (start and every subscriber reconnect). */
  readonly reloads: number;
  readonly messages: number;
  /** Mirror entries dropped because a bound was reached (each one a revocation this replica forgot). */
  readonly evicted: number;
  readonly connected: boolean;
}

/** A predicate over verified tokens: does `revocation` revoke `token`? */
export function revocationMatches(revocation: Revocation, token: VerifiedToken): boolean {
  if (revocation.kind === 'api-key') return false;
  if (revocation.kind === 'jti') return token.jti === revocation.jti;
  return token.principal === revocation.principal && issuedBeforeCutOff(token, revocation.issuedBefore);
}

/** Tokens without `iat` cannot show they came after the revocation, so they are revoked too. */
function issuedBeforeCutOff(token: VerifiedToken, cutOff: number): boolean {
  return token.issuedAt === undefined || token.issuedAt < cutOff;
}

export type RevocationListener = (matches: (token: VerifiedToken) => boolean, revocation: Revocation) => void;

/** Told the id of every API key newly revoked here. */
export type ApiKeyRevocationListener = (id: string) => void;

export interface RevocationServiceOptions {
  /** Without Redis, revocations apply to this replica only. */
  readonly redis?: RedisConnections;
  readonly log: Logger;
  readonly config?: RevocationConfig;
  /** Clock in milliseconds (tests). */
  readonly now?: () => number;
}

/**
 * @example
 * const revocation = new RevocationService({ redis, log });
 * revocation.onRevocation((matches) => cache.dropWhere(matches));
 * await revocation.start();
 * await revocation.revokeSubject('https://idp.example/alice');
 */
export class RevocationService implements RevocationView {
  private readonly jtis = new Map<string, Extract<Revocation, { kind: 'jti' }>>();
  private readonly subjects = new Map<string, Extract<Revocation, { kind: 'subject' }>>();
  private readonly apiKeys = new Map<string, Extract<Revocation, { kind: 'api-key' }>>();
  private readonly listeners = new Set<RevocationListener>();
  private readonly apiKeyListeners = new Set<ApiKeyRevocationListener>();
  private readonly settings: Required<RevocationConfig>;
  private readonly now: () => number;
  private readonly redis: RedisConnections | undefined;
  private readonly log: Logger;
  private readonly channel: string;
  private readonly keyPattern: string;
  private live = false;
  private stopped = false;
  private generation = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly counts = { reloads: 0, messages: 0, evicted: 0 };
  private readonly detach: (() => void)[] = [];

  constructor(options: RevocationServiceOptions) {
    this.redis = options.redis;
    this.log = options.log;
    this.now = options.now ?? Date.now;
    this.settings = { ...REVOCATION_DEFAULTS, ...definedOnly(options.config ?? {}) };
    const prefix = options.redis?.keyPrefix ?? '';
    this.channel = `${prefix}revocations`;
    this.keyPattern = `${escapeGlob(prefix)}revoked:*`;
  }

  /**
   * Subscribes and loads the stored revocations. Resolves with whether the
   * feed is live within `timeoutMs`; if not, it keeps trying in the background.
   */
  async start(timeoutMs = 2000): Promise<boolean> {
    const redis = this.redis;
    if (!redis) return true;
    const { subscriber } = redis;
    const onReady = (): void => void this.resync();
    const onDown = (): void => {
      this.live = false;
    };
    const onMessage = (channel: string, message: string): void => {
      if (channel === this.channel) this.receive(message);
    };
    subscriber.on('ready', onReady);
    subscriber.on('close', onDown);
    subscriber.on('end', onDown);
    subscriber.on('message', onMessage);
    this.detach.push(() => {
      subscriber.off('ready', onReady);
      subscriber.off('close', onDown);
      subscriber.off('end', onDown);
      subscriber.off('message', onMessage);
    });
    if (subscriber.status === 'ready') void this.resync();
    const deadline = Date.now() + timeoutMs;
    while (!this.live && Date.now() < deadline) await sleep(10);
    return this.live;
  }

  /** Stops listening; call before closing the Redis connections. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.live = false;
    clearTimeout(this.retryTimer);
    this.detach.splice(0).forEach((detach) => detach());
    const subscriber = this.redis?.subscriber;
    if (subscriber?.status === 'ready') await subscriber.unsubscribe(this.channel).catch(() => undefined);
  }

  /** Whether revocations published by other replicas reach this one now. Always true without Redis. */
  connected(): boolean {
    return this.redis === undefined || this.live;
  }

  /** Synchronous, against the local mirror. */
  isRevoked(token: VerifiedToken): boolean {
    const now = this.now();
    if (token.jti !== undefined) {
      const byJti = this.jtis.get(token.jti);
      if (byJti && byJti.until > now) return true;
    }
    const bySubject = this.subjects.get(token.principal);
    return bySubject !== undefined && bySubject.until > now && issuedBeforeCutOff(token, bySubject.issuedBefore);
  }

  /** Calls `listener` for every token revocation newly applied here (local, published or reloaded). Returns an unsubscribe. */
  onRevocation(listener: RevocationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Synchronous, against the local mirror: is the API key with this id revoked? */
  isApiKeyRevoked(id: string): boolean {
    const revocation = this.apiKeys.get(id);
    return revocation !== undefined && revocation.until > this.now();
  }

  /** Calls `listener` for every API-key revocation newly applied here. Returns an unsubscribe. */
  onApiKeyRevocation(listener: ApiKeyRevocationListener): () => void {
    this.apiKeyListeners.add(listener);
    return () => this.apiKeyListeners.delete(listener);
  }

  /**
   * Revokes the API key `id` on every replica until `until` (ms): the key's
   * `notAfter` plus a margin, or as long as a key store may still show it valid.
   */
  async revokeApiKey(id: string, until: number): Promise<RevocationOutcome> {
    checkId('id', id);
    return this.publish({ kind: 'api-key', id, until });
  }

  /**
   * Revokes the token with this `jti` until its `exp` (seconds; plus a
   * clock-skew margin) or, without it, for `jtiTtlSeconds`.
   */
  async revokeToken(jti: string, expiresAt?: number): Promise<RevocationOutcome> {
    checkId('jti', jti);
    const now = this.now();
    const until = expiresAt === undefined ? now + this.settings.jtiTtlSeconds * 1000 : expiresAt * 1000 + EXPIRY_MARGIN_MS;
    return this.publish({ kind: 'jti', jti, until });
  }

  /**
   * Revokes every token of `principal` (`iss/sub`) issued before
   * `issuedBefore` (seconds), for `subjectTtlSeconds`. The default cut-off is
   * the end of the current second, so tokens issued in the same second as the
   * revocation are revoked too (`iat` has one-second resolution).
   */
  async revokeSubject(principal: string, issuedBefore?: number): Promise<RevocationOutcome> {
    checkId('principal', principal);
    const now = this.now();
    return this.publish({
      kind: 'subject',
      principal,
      issuedBefore: issuedBefore ?? Math.floor(now / 1000) + 1,
      until: now + this.settings.subjectTtlSeconds * 1000,
    });
  }

  stats(): RevocationStats {
    return { jtis: this.jtis.size, subjects: this.subjects.size, apiKeys: this.apiKeys.size, ...this.counts, connected: this.connected() };
  }

  private async publish(revocation: Revocation): Promise<RevocationOutcome> {
    this.apply(revocation);
    const redis = this.redis;
    if (!redis) return { revocation, shared: false };
    const message = JSON.stringify(revocation);
    const ttl = revocation.until - this.now();
    try {
      if (ttl > 0) await redis.commands.set(this.keyOf(revocation), message, 'PX', ttl);
      await redis.commands.publish(this.channel, message);
      return { revocation, shared: true };
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.log.warn({ err: { message: reason }, kind: revocation.kind }, 'revocation applied locally only: redis failed');
      return { revocation, shared: false, error: reason };
    }
  }

  private keyOf(revocation: Revocation): string {
    const prefix = this.redis?.keyPrefix ?? '';
    if (revocation.kind === 'api-key') return `${prefix}revoked:api-key:${revocation.id}`;
    return revocation.kind === 'jti' ? `${prefix}revoked:jti:${revocation.jti}` : `${prefix}revoked:subject:${revocation.principal}`;
  }

  private receive(message: string): void {
    this.counts.messages++;
    const revocation = message.length <= MAX_MESSAGE_BYTES ? parseRevocation(message) : undefined;
    if (revocation) this.apply(revocation);
    else this.log.warn({ channel: this.channel }, 'ignored a malformed revocation message');
  }

  /** Merges into the mirror; tells listeners when it revokes more than before. */
  private apply(revocation: Revocation): boolean {
    if (revocation.until <= this.now()) return false;
    if (revocation.kind === 'api-key') return this.applyApiKey(revocation);
    let applied: Revocation;
    if (revocation.kind === 'jti') {
      const known = this.jtis.get(revocation.jti);
      if (known && known.until >= revocation.until) return false;
      applied = revocation;
      this.jtis.set(revocation.jti, revocation);
      this.bound(this.jtis, this.settings.maxJtiEntries);
    } else {
      const known = this.subjects.get(revocation.principal);
      if (known && known.issuedBefore >= revocation.issuedBefore && known.until >= revocation.until) return false;
      const merged = known
        ? {
            ...revocation,
            issuedBefore: Math.max(known.issuedBefore, revocation.issuedBefore),
            until: Math.max(known.until, revocation.until),
          }
        : revocation;
      applied = merged;
      this.subjects.set(revocation.principal, merged);
      this.bound(this.subjects, this.settings.maxSubjectEntries);
    }
    const matches = (token: VerifiedToken): boolean => revocationMatches(applied, token);
    for (const listener of this.listeners) {
      try {
        listener(matches, applied);
      } catch (error) {
        this.log.error({ err: { message: String(error) } }, 'revocation listener failed');
      }
    }
    return true;
  }

  private applyApiKey(revocation: Extract<Revocation, { kind: 'api-key' }>): boolean {
    const known = this.apiKeys.get(revocation.id);
    if (known && known.until >= revocation.until) return false;
    this.apiKeys.set(revocation.id, revocation);
    this.bound(this.apiKeys, this.settings.maxApiKeyEntries);
    for (const listener of this.apiKeyListeners) {
      try {
        listener(revocation.id);
      } catch (error) {
        this.log.error({ err: { message: String(error) } }, 'api key revocation listener failed');
      }
    }
    return true;
  }

  /** Over the bound: forget expired entries, then the oldest. */
  private bound(mirror: Map<string, Revocation>, max: number): void {
    if (mirror.size <= max) return;
    const now = this.now();
    for (const [id, revocation] of mirror) if (revocation.until <= now) mirror.delete(id);
    let evicted = 0;
    for (const id of mirror.keys()) {
      if (mirror.size <= max) break;
      mirror.delete(id);
      evicted++;
    }
    if (evicted > 0) {
      this.counts.evicted += evicted;
      this.log.warn({ evicted, max }, 'revocation mirror full: oldest revocations forgotten');
    }
  }

  /** (Re)subscribe, then reload everything stored; only then is the feed live. */
  private async resync(): Promise<void> {
    const redis = this.redis;
    if (!redis || this.stopped) return;
    const generation = ++this.generation;
    clearTimeout(this.retryTimer);
    this.live = false;
    try {
      await redis.subscriber.subscribe(this.channel);
      const loaded = await this.reload(redis.commands);
      if (generation !== this.generation || this.stopped) return;
      this.counts.reloads++;
      this.live = redis.subscriber.status === 'ready';
      this.log.info({ loaded }, 'revocation feed live');
    } catch (error) {
      if (generation !== this.generation || this.stopped) return;
      this.log.debug({ err: { message: String(error) } }, 'revocation reload failed; retrying');
      if (redis.subscriber.status === 'ready') {
        this.retryTimer = setTimeout(() => void this.resync(), RESYNC_RETRY_MS);
        this.retryTimer.unref();
      }
    }
  }

  /** SCANs every master for revocation keys and applies them; returns how many were read. */
  private async reload(commands: RedisClient): Promise<number> {
    const nodes: RedisClient[] = isCluster(commands) ? commands.nodes('master') : [commands];
    let loaded = 0;
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', this.keyPattern, 'COUNT', 1000);
        cursor = next;
        const values = await Promise.all(keys.map((key) => commands.get(key)));
        for (const value of values) {
          const revocation = value === null ? undefined : parseRevocation(value);
          if (revocation) {
            this.apply(revocation);
            loaded++;
          }
        }
      } while (cursor !== '0');
    }
    return loaded;
  }
}

function parseRevocation(json: string): Revocation | undefined {
  try {
    const value = JSON.parse(json) as Record<string, unknown> | null;
    if (!value || typeof value.until !== 'number') return undefined;
    if (value.kind === 'jti' && isId(value.jti)) return { kind: 'jti', jti: value.jti, until: value.until };
    if (value.kind === 'subject' && isId(value.principal) && typeof value.issuedBefore === 'number') {
      return { kind: 'subject', principal: value.principal, issuedBefore: value.issuedBefore, until: value.until };
    }
    if (value.kind === 'api-key' && isId(value.id)) return { kind: 'api-key', id: value.id, until: value.until };
  } catch {
    // not JSON
  }
  return undefined;
}

function isId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_ID_LENGTH;
}

function checkId(what: string, value: string): void {
  if (!isId(value)) throw new RangeError(`${what} must be 1 to ${MAX_ID_LENGTH} characters`);
}

/** SCAN MATCH treats `*?[]\` specially; a prefix must match itself only. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/** Told apart without importing ioredis, which replicas without Redis never load. */
function isCluster(client: RedisClient): client is Cluster {
  return (client as { isCluster?: boolean }).isCluster === true;
}
