/**
 * The verified-token cache, revocation and Redis: what other folders may use.
 * Wiring order: `createRedisConnections` → `RedisStore` → `RevocationService`
 * → `TokenCache`; `revocation.onRevocation((matches) => cache.dropWhere(matches))`;
 * `await revocation.start()`. Shutdown: `revocation.stop()`, then `redis.close()`.
 */
export type { SharedStore } from './shared-store.js';
export {
  createRedisConnections,
  RedisStore,
  REDIS_DEFAULTS,
  type RedisAddress,
  type RedisClient,
  type RedisConfig,
  type RedisConnections,
  type RedisHealth,
  type RedisStoreStats,
} from './redis.js';
export {
  TokenCache,
  tokenCacheKey,
  TOKEN_CACHE_DEFAULTS,
  type CacheLookup,
  type CacheTier,
  type RevocationView,
  type TokenCacheOptions,
  type TokenCacheStats,
} from './token-cache.js';
export { readSharedFirst, READ_SHARED_FIRST } from './l2-policy.js';
export {
  RevocationService,
  revocationMatches,
  REVOCATION_DEFAULTS,
  type Revocation,
  type RevocationConfig,
  type RevocationListener,
  type RevocationOutcome,
  type RevocationServiceOptions,
  type RevocationStats,
} from './revocation.js';
