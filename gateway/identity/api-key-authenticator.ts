/**
 * The API-key stage: find a key in the request, look its record up (cache,
 * then one store lookup), compare the secret in constant time, then check
 * revocation and the validity window. Plugs into the Authorizer as an
 * `Authenticator`, alone or composed with the token stage
 * (`credential-authenticator.ts`); never throws.
 */
import type { AuthenticationResult, Authenticator } from '../authorizer.js';
import type { AuthenticationEffects } from '../response/plan.js';
import type { CheckInput, RequestAuth } from '../request/model.js';
import { ApiKeyErrorCode, apiKeyMatches, parseApiKey } from './api-key.js';
import { ApiKeyCache, type ApiKeyCacheOptions, type ApiKeyCacheStats, type CachedApiKey } from './api-key-cache.js';
import {
  findApiKey,
  describeApiKeyLocation,
  type ApiKeyLocation,
  type ApiKeyLocations,
  type ApiKeyPresentation,
} from './api-key-location.js';
import { apiKeyState, type ApiKeyRecord } from './api-key-record.js';
import type { ApiKeyLookup, ApiKeyStore } from './api-key-store.js';

/** The request principal of an API key is `<issuer>/<principal>`. */
export const defaultApiKeyIssuer = 'gatehouse.dev/api-key';

/** What the stage needs from revocation (`RevocationService` implements it). */
export interface ApiKeyRevocationView {
  isApiKeyRevoked(id: string): boolean;
  /** Whether revocations published by other replicas reach this one now. */
  connected(): boolean;
  onApiKeyRevocation(listener: (id: string) => void): () => void;
}

export interface ApiKeyAuthenticatorOptions {
  readonly store: ApiKeyStore;
  readonly locations: ApiKeyLocations;
  /** Default `gatehouse.dev/api-key`. */
  readonly issuer?: string;
  readonly cache?: Omit<ApiKeyCacheOptions, 'connected' | 'now'>;
  /** Without it, revocation is what the store's records say. */
  readonly revocation?: ApiKeyRevocationView;
  /** Clock in milliseconds (tests). */
  readonly now?: () => number;
  /** `crypto.timingSafeEqual` unless a test wraps it. */
  readonly equal?: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => boolean;
}

/** A key that was found in a request: what `verify` takes. */
export type PresentedApiKey = Extract<ApiKeyPresentation, { found: true }>;

const ANONYMOUS: AuthenticationResult = Object.freeze({ kind: 'anonymous' });
const NO_EFFECTS: AuthenticationEffects = Object.freeze({ upstreamHeaders: [], upstreamHeadersToRemove: [] });

/**
 * @example
 * const apiKeys = new ApiKeyAuthenticator({ store, locations: { headers: [{ name: 'x-api-key', prefix: '' }] }, revocation });
 * const authorizer = new Authorizer(config, policies, apiKeys);
 */
export class ApiKeyAuthenticator implements Authenticator {
  private readonly cache: ApiKeyCache;
  private readonly issuer: string;
  private readonly now: () => number;
  private readonly inFlight = new Map<string, Promise<ApiKeyLookup>>();
  /** The key's own header is removed before the request goes upstream: the upstream never sees a key. */
  private readonly effectsByHeader = new Map<string, AuthenticationEffects>();
  private readonly detach: () => void;

  constructor(private readonly options: ApiKeyAuthenticatorOptions) {
    this.issuer = options.issuer ?? defaultApiKeyIssuer;
    this.now = options.now ?? Date.now;
    const revocation = options.revocation;
    this.cache = new ApiKeyCache({ ...options.cache, now: this.now, connected: () => revocation?.connected() ?? true });
    this.detach = revocation?.onApiKeyRevocation((id) => this.cache.drop(id)) ?? (() => undefined);
    for (const { name } of options.locations.headers) {
      this.effectsByHeader.set(name, Object.freeze({ upstreamHeaders: [], upstreamHeadersToRemove: [name] }));
    }
  }

  /** The key a request presents, if any, or why it is refused (in the query, ambiguous, oversized). */
  find(input: CheckInput): ApiKeyPresentation {
    return findApiKey(input.request, this.options.locations);
  }

  async authenticate(input: CheckInput): Promise<AuthenticationResult> {
    const found = this.find(input);
    if (found.found) return this.verify(found);
    return found.error === undefined ? ANONYMOUS : { kind: 'rejected', code: found.error, reason: found.reason };
  }

  /**
   * Verifies a presented key. The secret is compared before anything about
   * the record is reported, so knowing an id (ids are not secret) tells
   * nothing about the key's state.
   */
  async verify(presented: PresentedApiKey): Promise<AuthenticationResult> {
    const parsed = parseApiKey(presented.key);
    if (parsed === undefined) {
      return reject(
        ApiKeyErrorCode.Malformed,
        `the value in the ${describeApiKeyLocation(presented.location)} is not a Gatehouse API key (ghk_<id>_<secret>)`,
      );
    }
    const entry = this.cache.fresh(parsed.id) ?? (await this.read(parsed.id));
    if (entry === 'unavailable') return reject(ApiKeyErrorCode.StoreUnavailable, 'the API key store could not be read');
    // An unknown id and a wrong secret are one answer.
    if (entry === 'absent' || !apiKeyMatches(parsed.key, entry.record.sha256, this.options.equal)) {
      return reject(ApiKeyErrorCode.Invalid, 'the API key is not valid');
    }
    switch (apiKeyState(entry.record, this.now(), this.options.revocation?.isApiKeyRevoked(parsed.id))) {
      case 'revoked':
        return reject(ApiKeyErrorCode.Revoked, `API key ${parsed.id} is revoked`);
      case 'not-yet-valid':
        return reject(ApiKeyErrorCode.NotYetValid, `API key ${parsed.id} is not valid before ${isoTime(entry.record.notBefore)}`);
      case 'expired':
        return reject(ApiKeyErrorCode.Expired, `API key ${parsed.id} expired at ${isoTime(entry.record.notAfter)}`);
      case 'valid':
        return { kind: 'authenticated', auth: entry.auth, effects: this.effectsOf(presented.location) };
    }
  }

  /** Forgets every cached record (the key file changed). */
  clear(): void {
    this.cache.clear();
  }

  /** Stops listening for revocations. */
  close(): void {
    this.detach();
  }

  stats(): ApiKeyCacheStats {
    return this.cache.stats();
  }

  /** One store lookup per id at a time; when the store cannot answer, the last known record (if unexpired) stands. */
  private async read(id: string): Promise<CachedApiKey | 'absent' | 'unavailable'> {
    let pending = this.inFlight.get(id);
    if (pending === undefined) {
      pending = Promise.resolve(this.options.store.find(id)).finally(() => this.inFlight.delete(id));
      this.inFlight.set(id, pending);
    }
    const lookup = await pending;
    if (lookup.kind === 'found') return this.cache.remember(lookup.record, this.authOf(lookup.record));
    if (lookup.kind === 'absent') return 'absent';
    return this.cache.lastKnown(id) ?? 'unavailable';
  }

  /** The identity a key gives, built once per record read: `<issuer>/<principal>`, scopes as the `scope` claim. */
  private authOf(record: ApiKeyRecord): RequestAuth {
    const claims: Record<string, unknown> = { iss: this.issuer, sub: record.principal, key_id: record.id };
    if (record.scopes.length > 0) claims.scope = Object.freeze([...record.scopes]);
    return Object.freeze({
      principal: `${this.issuer}/${record.principal}`,
      audiences: Object.freeze([]),
      claims: Object.freeze(claims),
      credential: 'api-key',
    });
  }

  private effectsOf(location: ApiKeyLocation): AuthenticationEffects {
    return location.kind === 'header' ? (this.effectsByHeader.get(location.name) ?? NO_EFFECTS) : NO_EFFECTS;
  }
}

function reject(code: ApiKeyErrorCode, reason: string): AuthenticationResult {
  return { kind: 'rejected', code, reason };
}

function isoTime(ms: number | undefined): string {
  return ms === undefined ? 'unknown' : new Date(ms).toISOString();
}
