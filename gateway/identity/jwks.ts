/**
 * The verification keys of one issuer: a JWKS from a configured URI, from
 * OIDC discovery, or inline, kept fresh in the background and shared between
 * replicas through the SharedStore, so that a Check waits on the identity
 * provider only when no known key can possibly match.
 *
 * Keys come only from the configured source. Whatever a token says in its
 * `jku`, `x5u`, `x5c` or `jwk` header is never fetched nor used: the key
 * resolver looks up `kid`/`alg` in the current set and nothing else.
 */
import { createHash } from 'node:crypto';
import { createLocalJWKSet, errors, type FlattenedJWSInput, type JSONWebKeySet, type JWSHeaderParameters, type LocalJWKSet } from 'jose';
import type { SharedStore } from '../cache/shared-store.js';
import type { Logger } from '../log.js';
import type { IssuerRule } from './issuer-rule.js';

/** Where the keys of an issuer come from. */
export type JwksSource =
  | { readonly kind: 'uri'; readonly uri: string }
  | { readonly kind: 'discovery'; readonly issuer: string }
  | { readonly kind: 'inline'; readonly jwks: JSONWebKeySet };

export interface JwksOptions {
  /** One HTTP fetch (discovery document or JWKS), body included. */
  readonly fetchTimeoutMs: number;
  /**
   * How long one verification waits for a key-set fetch it started or
   * joined (a missing set, or a token naming an unknown `kid`); past that it
   * fails with KeysPendingError while the fetch goes on, up to
   * `fetchTimeoutMs`, for the verifications that come after. Without it a
   * verification waits for the whole fetch.
   */
  readonly checkWaitMs?: number;
  /** Background refresh period. */
  readonly refreshIntervalMs: number;
  /** At most one fetch per this period because of an unknown `kid` or a missing set. */
  readonly unknownKidCooldownMs: number;
  /** How long the last good set keeps serving while fetches fail; after that, verification fails with KeysUnavailable. */
  readonly maxStaleMs: number;
  /** Largest response body accepted. */
  readonly maxResponseBytes: number;
  /** Shared with other replicas: read on a cold start, written after each successful fetch. */
  readonly store?: SharedStore;
  /** Milliseconds since the epoch (tests pass a controllable clock). */
  readonly now?: () => number;
  readonly log?: Logger;
}

export const defaultJwksOptions = {
  fetchTimeoutMs: 2000,
  refreshIntervalMs: 300_000,
  unknownKidCooldownMs: 30_000,
  maxStaleMs: 86_400_000,
  maxResponseBytes: 1024 * 1024,
} as const satisfies Partial<JwksOptions>;

/** Bounds on a key set, fetched or inline. */
export const jwksLimits = { maxKeys: 256 } as const;

/**
 * Thrown by the key resolver when the fetch a token needs is still running
 * after `checkWaitMs`: nothing is known against the token, so the caller is
 * told to retry; verification maps it to KeysPending.
 */
export class KeysPendingError extends Error {
  readonly code = 'TOKEN_KEYS_PENDING';
  constructor(message: string) {
    super(message);
    this.name = 'KeysPendingError';
  }
}

/** Thrown by the key resolver when no usable key set exists; verification maps it to KeysUnavailable. */
export class KeysUnavailableError extends Error {
  readonly code = 'TOKEN_KEYS_UNAVAILABLE';
  constructor(message: string) {
    super(message);
    this.name = 'KeysUnavailableError';
  }
}

// Members of private (or secret-bearing asymmetric) JWKs: a published key set must not contain them.
const privateMembers = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth'];

/**
 * Checks that `value` is a JSON Web Key Set (RFC 7517 §5) jose can use:
 * a `keys` list of at most 256 keys, each with a `kty`, none private.
 *
 * @example
 * const checked = checkJwks(JSON.parse(text));
 * if (!checked.ok) throw new Error(checked.problem);
 */
export function checkJwks(value: unknown): { ok: true; jwks: JSONWebKeySet } | { ok: false; problem: string } {
  if (!isPlainObject(value)) return { ok: false, problem: 'is not a JSON object' };
  const keys = value['keys'];
  if (!Array.isArray(keys)) return { ok: false, problem: 'has no "keys" list' };
  if (keys.length > jwksLimits.maxKeys) return { ok: false, problem: `has more than ${jwksLimits.maxKeys} keys` };
  for (let i = 0; i < keys.length; i++) {
    const key: unknown = keys[i];
    if (!isPlainObject(key)) return { ok: false, problem: `keys[${i}] is not a JSON object` };
    if (typeof key['kty'] !== 'string' || key['kty'] === '') return { ok: false, problem: `keys[${i}] has no "kty"` };
    if (key['kty'] !== 'oct' && privateMembers.some((member) => member in key)) {
      return { ok: false, problem: `keys[${i}] is a private key; a key set must publish public keys only` };
    }
  }
  try {
    createLocalJWKSet(value as unknown as JSONWebKeySet);
  } catch (error) {
    return { ok: false, problem: `is not a usable key set (${errorMessage(error)})` };
  }
  return { ok: true, jwks: value as unknown as JSONWebKeySet };
}

/** The key source of a rule: inline `jwks`, then `jwksUri`, then OIDC discovery when the rule's extensions enable it. */
export function jwksSourceOf(rule: IssuerRule): JwksSource | undefined {
  if (rule.jwks !== undefined) return { kind: 'inline', jwks: rule.jwks };
  if (rule.jwksUri !== undefined) return { kind: 'uri', uri: rule.jwksUri };
  if (rule.extensions.discovery) return { kind: 'discovery', issuer: rule.issuer };
  return undefined;
}

/** A stable identity of a key source: rules with equal keys share one manager. */
export function jwksSourceKey(source: JwksSource): string {
  switch (source.kind) {
    case 'uri':
      return `uri:${source.uri}`;
    case 'discovery':
      return `discovery:${source.issuer}`;
    case 'inline':
      return `inline:${sha256Hex(JSON.stringify(source.jwks))}`;
  }
}

interface KeySet {
  readonly resolve: LocalJWKSet;
  readonly jwks: JSONWebKeySet;
  /** When the set was fetched from the identity provider (by this or another replica). */
  readonly fetchedAt: number;
}

interface StoredKeySet {
  readonly fetchedAt: number;
  readonly jwks: unknown;
}

/**
 * Keeps the key set of one source and resolves verification keys for jose.
 * Never throws to its callers except from `getKey`, whose errors (jose's
 * JWKSNoMatchingKey, KeysUnavailableError) verification maps to TokenVerdicts.
 *
 * @example
 * const keys = new JwksManager({ kind: 'uri', uri: 'https://idp.example/jwks.json' }, { store, log });
 * await keys.prefetch();          // at start-up: store first, then the identity provider
 * await jwtVerify(token, keys.getKey, { algorithms: ['RS256'] });
 * keys.close();                   // on shutdown
 */
export class JwksManager {
  readonly sourceKey: string;
  private readonly options: Required<Omit<JwksOptions, 'store' | 'log' | 'checkWaitMs'>> &
    Pick<JwksOptions, 'store' | 'log' | 'checkWaitMs'>;
  private current: KeySet | undefined;
  private inflight: Promise<void> | undefined;
  private coldLoad: Promise<void> | undefined;
  private lastAttemptAt = Number.NEGATIVE_INFINITY;
  private lastError: string | undefined;
  private discoveredUri: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private fetchCount = 0;
  private fetchErrorCount = 0;

  constructor(
    readonly source: JwksSource,
    options: Partial<JwksOptions> = {},
  ) {
    this.sourceKey = jwksSourceKey(source);
    this.options = { ...defaultJwksOptions, now: Date.now, ...withoutUndefined(options) };
    if (source.kind === 'inline') this.current = { resolve: createLocalJWKSet(source.jwks), jwks: source.jwks, fetchedAt: Infinity };
  }

  /** A manager for the rule's key source, with the rule's Istio `timeout` as the fetch timeout when set. */
  static forRule(rule: IssuerRule, options: Partial<JwksOptions> = {}): JwksManager {
    const source = jwksSourceOf(rule);
    if (source === undefined) throw new Error(`issuer rule ${rule.id} has no key source (jwksUri, jwks or discovery)`);
    const fetchTimeoutMs = rule.jwksFetchTimeoutMs ?? options.fetchTimeoutMs;
    return new JwksManager(source, { ...options, ...(fetchTimeoutMs === undefined ? {} : { fetchTimeoutMs }) });
  }

  /**
   * Loads the key set (shared store first, then the identity provider) and
   * starts the background refresh. Resolves whether a usable set is held; never rejects.
   */
  async prefetch(): Promise<boolean> {
    this.startRefreshing();
    await this.loadCold();
    return this.usable() !== undefined;
  }

  /** Stops the background refresh. */
  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** What the manager holds, for health and debugging (no key material). */
  get status(): { loaded: boolean; fetchedAt?: number; keyCount: number; fetches: number; fetchErrors: number; lastError?: string } {
    return {
      loaded: this.current !== undefined,
      ...(this.current === undefined || this.source.kind === 'inline' ? {} : { fetchedAt: this.current.fetchedAt }),
      keyCount: this.current?.jwks.keys.length ?? 0,
      fetches: this.fetchCount,
      fetchErrors: this.fetchErrorCount,
      ...(this.lastError === undefined ? {} : { lastError: this.lastError }),
    };
  }

  /**
   * jose's key resolver (`jwtVerify(token, keys.getKey, …)`): picks the key
   * by the protected header's `kid`, `alg` and the key types they allow,
   * from the configured source only.
   *
   * @throws KeysUnavailableError when no set younger than `maxStaleMs` can be had.
   * @throws KeysPendingError when the fetch it needs outlasts `checkWaitMs`.
   * @throws jose `JWKSNoMatchingKey` when the set (refetched at most once per cooldown) has no such key.
   */
  readonly getKey = async (header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> => {
    this.startRefreshing();
    await this.waitFor(this.loadCold());
    let set = this.usable();
    if (set === undefined) {
      await this.waitFor(this.fetchOrJoin('the key set is missing or stale'));
      set = this.usable();
    }
    if (set === undefined) throw new KeysUnavailableError(this.unavailableReason());
    if (this.now() - set.fetchedAt > this.options.refreshIntervalMs) void this.refresh('the key set is due for refresh');
    try {
      return await set.resolve(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      // RFC 7517 key rotation: an unknown kid may be a new key; look once, then wait out the cooldown.
      const fetched = this.fetchOrJoin('a token names a key the set does not have');
      if (fetched === undefined) throw error;
      await this.waitFor(fetched);
    }
    const refreshed = this.usable();
    if (refreshed === undefined) throw new KeysUnavailableError(this.unavailableReason());
    return refreshed.resolve(header, token);
  };

  /**
   * Fetches the set now, unless a fetch is already running (then waits for
   * that one). Resolves when done, whatever the outcome.
   */
  refresh(why = 'refresh requested'): Promise<void> {
    if (this.source.kind === 'inline') return Promise.resolve();
    if (this.inflight !== undefined) return this.inflight;
    this.lastAttemptAt = this.now();
    this.inflight = this.fetchAndKeep(why).finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private now(): number {
    return this.options.now();
  }

  private usable(): KeySet | undefined {
    const set = this.current;
    if (set === undefined || this.now() - set.fetchedAt > this.options.maxStaleMs) return undefined;
    return set;
  }

  /** Waits for `fetch` (which never rejects), at most `checkWaitMs`; past that throws KeysPendingError, and the fetch goes on. */
  private async waitFor(fetch: Promise<void> | undefined): Promise<void> {
    const limitMs = this.options.checkWaitMs;
    if (fetch === undefined || limitMs === undefined) return fetch;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'expired'>((resolve) => (timer = setTimeout(resolve, limitMs, 'expired')));
    try {
      if ((await Promise.race([fetch, expired])) === 'expired') {
        throw new KeysPendingError(`the key set of ${describeSource(this.source)} is still being fetched after ${limitMs} ms; retry`);
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Joins the running fetch, or starts one when the cooldown since the last attempt has passed; undefined when neither. */
  private fetchOrJoin(why: string): Promise<void> | undefined {
    if (this.inflight !== undefined) return this.inflight;
    if (this.source.kind === 'inline' || this.now() - this.lastAttemptAt < this.options.unknownKidCooldownMs) return undefined;
    return this.refresh(why);
  }

  private unavailableReason(): string {
    const what = this.current === undefined ? 'no key set has been fetched' : 'the last key set is older than the allowed staleness';
    return `keys of ${describeSource(this.source)} are unavailable: ${what}${this.lastError === undefined ? '' : ` (last error: ${this.lastError})`}`;
  }

  private startRefreshing(): void {
    if (this.timer !== undefined || this.closed || this.source.kind === 'inline') return;
    this.timer = setInterval(() => void this.refresh('periodic refresh'), this.options.refreshIntervalMs);
    this.timer.unref();
  }

  /** First use: the shared store, else the identity provider; once per manager. */
  private loadCold(): Promise<void> {
    if (this.current !== undefined || this.source.kind === 'inline') return Promise.resolve();
    this.coldLoad ??= this.loadFromStore().then((found) => {
      if (!found) return this.refresh('no key set yet');
      // Known keys serve now; a set older than the refresh interval is renewed behind them.
      if (this.current !== undefined && this.now() - this.current.fetchedAt > this.options.refreshIntervalMs) {
        void this.refresh('the stored key set is due for refresh');
      }
    });
    return this.coldLoad;
  }

  private async loadFromStore(): Promise<boolean> {
    const store = this.options.store;
    if (store === undefined) return false;
    try {
      const text = await store.get(this.storeKey());
      if (text === undefined) return false;
      const stored = JSON.parse(text) as Partial<StoredKeySet>;
      const checked = checkJwks(stored.jwks);
      if (typeof stored.fetchedAt !== 'number' || !checked.ok) return false;
      const fetchedAt = Math.min(stored.fetchedAt, this.now());
      if (this.now() - fetchedAt > this.options.maxStaleMs) return false;
      if (this.current === undefined || this.current.fetchedAt < fetchedAt) this.keep(checked.jwks, fetchedAt);
      this.options.log?.debug({ jwks: this.sourceKey }, 'key set loaded from the shared store');
      return true;
    } catch (error) {
      this.options.log?.warn({ jwks: this.sourceKey, error: errorMessage(error) }, 'stored key set ignored');
      return false;
    }
  }

  private async fetchAndKeep(why: string): Promise<void> {
    this.fetchCount++;
    try {
      const uri = await this.jwksUri();
      const checked = checkJwks(await this.fetchJson(uri));
      if (!checked.ok) throw new Error(`the response of ${uri} ${checked.problem}`);
      const fetchedAt = this.now();
      this.keep(checked.jwks, fetchedAt);
      this.lastError = undefined;
      this.options.log?.debug({ jwks: this.sourceKey, keys: checked.jwks.keys.length, why }, 'key set fetched');
      const stored: StoredKeySet = { fetchedAt, jwks: checked.jwks };
      await this.options.store?.set(this.storeKey(), JSON.stringify(stored), this.options.maxStaleMs).catch(() => undefined);
    } catch (error) {
      this.fetchErrorCount++;
      this.lastError = errorMessage(error);
      if (this.source.kind === 'discovery') this.discoveredUri = undefined; // discover again next time
      this.options.log?.warn({ jwks: this.sourceKey, error: this.lastError, why }, 'key set fetch failed');
    }
  }

  private keep(jwks: JSONWebKeySet, fetchedAt: number): void {
    this.current = { resolve: createLocalJWKSet(jwks), jwks, fetchedAt };
  }

  private async jwksUri(): Promise<string> {
    if (this.source.kind === 'uri') return this.source.uri;
    if (this.source.kind !== 'discovery') throw new Error('an inline key set is never fetched');
    if (this.discoveredUri !== undefined) return this.discoveredUri;
    const issuer = this.source.issuer;
    // OpenID Connect Discovery 1.0 §4: the document lives under the issuer, and must name that same issuer (§4.3).
    const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    const document = await this.fetchJson(url);
    if (!isPlainObject(document)) throw new Error(`${url} did not return a JSON object`);
    if (document['issuer'] !== issuer) throw new Error(`${url} names issuer ${JSON.stringify(document['issuer'])}, not ${issuer}`);
    const jwksUri = document['jwks_uri'];
    if (typeof jwksUri !== 'string' || !isHttpUrl(jwksUri)) throw new Error(`${url} has no http(s) jwks_uri`);
    this.discoveredUri = jwksUri;
    return jwksUri;
  }

  private async fetchJson(url: string): Promise<unknown> {
    const timeoutMs = this.options.fetchTimeoutMs;
    const maxBytes = this.options.maxResponseBytes;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
      if (!response.ok) {
        await response.body?.cancel();
        throw new Error(`${url} answered HTTP ${response.status}`);
      }
      const declared = Number(response.headers.get('content-length') ?? '0');
      if (declared > maxBytes) {
        await response.body?.cancel();
        throw new Error(`${url} sent more than ${maxBytes} bytes`);
      }
      const chunks: Uint8Array[] = [];
      let size = 0;
      if (response.body !== null) {
        const reader = response.body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          size += value.byteLength;
          if (size > maxBytes) {
            await reader.cancel();
            throw new Error(`${url} sent more than ${maxBytes} bytes`);
          }
          chunks.push(value);
        }
      }
      try {
        return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
      } catch {
        throw new Error(`${url} did not return JSON`);
      }
    } catch (error) {
      if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
        throw new Error(`${url} did not answer within ${timeoutMs} ms`, { cause: error });
      }
      if (error instanceof TypeError)
        throw new Error(`${url} could not be fetched (${errorMessage(error.cause ?? error)})`, { cause: error });
      throw error;
    }
  }

  private storeKey(): string {
    return `jwks:v1:${sha256Hex(this.sourceKey)}`; // the store adds its own prefix (`gatehouse:`)
  }
}

/** One key source's fetches: `issuer` is the issuer its keys were first fetched for. */
export interface JwksSourceStats {
  readonly issuer: string;
  /** Fetches from the identity provider (discovery and key set together count once). */
  readonly fetches: number;
  readonly fetchErrors: number;
}

/**
 * One JwksManager per distinct key source, shared by every rule that uses
 * it. Build one per configuration, prefetch at start-up, close on reload.
 *
 * @example
 * const keys = new JwksRegistry({ store, log });
 * await keys.prefetch(requestAuthentications.issuers);
 * const verdict = await verifyToken(token, rule, keys.forRule(rule), { now });
 */
export class JwksRegistry {
  private readonly managers = new Map<string, JwksManager>();
  /** The issuer a key source was first asked for, to label its metrics. */
  private readonly issuers = new Map<string, string>();

  constructor(private readonly options: Partial<JwksOptions> = {}) {}

  /** The manager of the rule's key source, created on first use. */
  forRule(rule: IssuerRule): JwksManager {
    const source = jwksSourceOf(rule);
    if (source === undefined) throw new Error(`issuer rule ${rule.id} has no key source (jwksUri, jwks or discovery)`);
    const key = jwksSourceKey(source);
    let manager = this.managers.get(key);
    if (manager === undefined) {
      this.managers.set(key, (manager = JwksManager.forRule(rule, this.options)));
      this.issuers.set(key, rule.issuer);
    }
    return manager;
  }

  /** Fetches and failed fetches per fetched key source (inline sets are never fetched), for the metrics layer. */
  stats(): JwksSourceStats[] {
    const stats: JwksSourceStats[] = [];
    for (const [key, manager] of this.managers) {
      if (manager.source.kind === 'inline') continue;
      const { fetches, fetchErrors } = manager.status;
      stats.push({ issuer: this.issuers.get(key) ?? key, fetches, fetchErrors });
    }
    return stats;
  }

  /** Warms the key sets of `rules` concurrently; resolves when every fetch has ended, never rejects. */
  async prefetch(rules: readonly IssuerRule[]): Promise<void> {
    await Promise.all(rules.map((rule) => this.forRule(rule).prefetch()));
  }

  close(): void {
    for (const manager of this.managers.values()) manager.close();
    this.managers.clear();
    this.issuers.clear();
  }
}

/** Whether `value` is an absolute http: or https: URL. */
export function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.hostname !== '';
  } catch {
    return false;
  }
}

function describeSource(source: JwksSource): string {
  switch (source.kind) {
    case 'uri':
      return source.uri;
    case 'discovery':
      return `${source.issuer} (OIDC discovery)`;
    case 'inline':
      return 'the inline key set';
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as Partial<T>;
}
