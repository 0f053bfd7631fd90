/**
 * Wiring for `gatehouse serve` when gatehouse.yaml has `apiKeys` or
 * `clientCredentials`: the key store (a watched key file, or Redis through
 * the shared connection), the API-key stage with revocations from the
 * shared feed, the client-credentials map, and the composite around the
 * token stage. Loaded only when configured.
 */
import type { Authenticator } from '../authorizer.js';
import type { GatehouseConfig } from '../config/config.js';
import type { Logger } from '../log.js';
import type { SharedState } from '../shared-state.js';
import { ApiKeyAuthenticator } from './api-key-authenticator.js';
import { ApiKeyFileStore } from './api-key-file-store.js';
import { RedisApiKeyStore } from './api-key-redis-store.js';
import type { ApiKeyStore } from './api-key-store.js';
import { ClientCredentialMap } from './client-credentials.js';
import { CredentialAuthenticator, tokenPresence } from './credential-authenticator.js';
import { parseSpiffeId } from './spiffe-id.js';
import type { RequestAuthenticationSource } from './token-authenticator.js';

export interface CredentialParts {
  /** The token stage. */
  readonly tokens: Authenticator;
  /** The live RequestAuthentication rules, to tell whether a request also carries a bearer token. */
  readonly rules: RequestAuthenticationSource;
  readonly shared: Pick<SharedState, 'redis' | 'revocation'>;
  readonly log: Logger;
}

export interface OpenCredentials {
  readonly authenticator: Authenticator;
  readonly apiKeys?: ApiKeyAuthenticator;
  /** Stops watching the key file and listening for revocations. */
  close(): void;
}

/**
 * @example
 * const credentials = await openCredentials(config, { tokens, rules: policies, shared, log });
 * const server = await startServer({ config, policies, log, authenticator: credentials.authenticator });
 */
export async function openCredentials(config: GatehouseConfig, parts: CredentialParts): Promise<OpenCredentials> {
  const settings = config.apiKeys;
  let apiKeys: ApiKeyAuthenticator | undefined;
  let file: ApiKeyFileStore | undefined;
  if (settings !== undefined) {
    let store: ApiKeyStore;
    if (settings.file !== undefined) {
      file = await ApiKeyFileStore.open(settings.file, parts.log);
      if (settings.watch) file.watch();
      store = file;
    } else if (parts.shared.redis !== undefined) {
      store = new RedisApiKeyStore(parts.shared.redis.commands, parts.shared.redis.keyPrefix);
    } else {
      throw new Error('apiKeys without a file needs redis'); // the configuration loader refuses this already
    }
    apiKeys = new ApiKeyAuthenticator({
      store,
      issuer: settings.issuer,
      locations: { headers: settings.headers, queryParameter: settings.queryParameter },
      cache: {
        maxEntries: settings.cache.maxEntries,
        maxTtlMs: settings.cache.maxTtlSeconds * 1000,
        maxAgeWhileDisconnectedMs: config.jwt.revocation.maxCachedAgeWhileDisconnectedSeconds * 1000,
      },
      revocation: parts.shared.revocation,
    });
    const keys = apiKeys;
    file?.onReload(() => keys.clear());
    parts.log.info({ store: file ? 'file' : 'redis', issuer: settings.issuer }, 'api keys enabled');
  }
  const mappings = (config.clientCredentials ?? []).map((mapping) => {
    const parsed = parseSpiffeId(`spiffe://${mapping.principal}`);
    if (!parsed.ok) throw new Error(`clientCredentials: ${parsed.reason}`); // the configuration loader refuses this already
    return { ...mapping, principal: parsed.id };
  });
  const authenticator = new CredentialAuthenticator({
    tokens: parts.tokens,
    ...(apiKeys === undefined ? {} : { apiKeys, tokenPresent: tokenPresence(parts.rules, config.jwt.maxTokenBytes) }),
    ...(mappings.length === 0 ? {} : { clientCredentials: new ClientCredentialMap(mappings) }),
  });
  return {
    authenticator,
    ...(apiKeys === undefined ? {} : { apiKeys }),
    close: () => {
      file?.close();
      apiKeys?.close();
    },
  };
}
