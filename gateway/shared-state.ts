/**
 * Opens what replicas share, in the order it depends on: Redis (when
 * configured), the shared store, revocation, the verified-token cache and the
 * JWKS registry. Starting never waits on Redis or the IdP for long: without
 * them the replica decides from its own cache and local verification.
 */
import type { RedisConnections, RedisStore } from './cache/redis.js';
import { RevocationService } from './cache/revocation.js';
import { TokenCache } from './cache/token-cache.js';
import type { GatehouseConfig } from './config/config.js';
import { redisConfigOf } from './config/redis-settings.js';
import { JwksRegistry } from './identity/index.js';
import type { Logger } from './log.js';

export interface SharedState {
  readonly redis?: RedisConnections;
  readonly store?: RedisStore;
  readonly revocation: RevocationService;
  readonly cache: TokenCache;
  readonly keys: JwksRegistry;
  /** Stops background work and closes Redis. */
  close(): Promise<void>;
}

const REDIS_START_WAIT_MS = 500;

/**
 * @example
 * const shared = await openSharedState(config, process.env, log);
 * const authenticator = new TokenAuthenticator({ rules: store, keys: shared.keys, cache: shared.cache, maxTokenBytes });
 */
export async function openSharedState(config: GatehouseConfig, env: NodeJS.ProcessEnv, log: Logger): Promise<SharedState> {
  const { jwt } = config;
  // ioredis is loaded only when Redis is configured: the demo and Redis-less replicas start without it.
  const redisModule = config.redis ? await import('./cache/redis.js') : undefined;
  const redis =
    config.redis && redisModule
      ? redisModule.createRedisConnections(await redisConfigOf(config.redis, config.source, env), log)
      : undefined;
  const store = redis && redisModule ? new redisModule.RedisStore(redis.commands, redis.keyPrefix) : undefined;
  const revocation = new RevocationService({ redis, log, config: { subjectTtlSeconds: jwt.revocation.subjectRevocationTtlSeconds } });
  const cache = new TokenCache({
    shared: store,
    revocation,
    maxEntries: jwt.cache.l1MaxEntries,
    maxBytes: jwt.cache.l1MaxBytes,
    maxTtlSeconds: jwt.cache.maxTtlSeconds,
    negativeTtlSeconds: jwt.cache.negativeTtlSeconds,
    maxL1AgeWhileDisconnectedMs: jwt.revocation.maxCachedAgeWhileDisconnectedSeconds * 1000,
  });
  revocation.onRevocation((matches) => cache.dropWhere(matches));
  const keys = new JwksRegistry({
    fetchTimeoutMs: jwt.jwks.fetchTimeoutMs,
    checkWaitMs: jwt.jwks.checkWaitMs,
    refreshIntervalMs: jwt.jwks.refreshIntervalSeconds * 1000,
    unknownKidCooldownMs: jwt.jwks.unknownKidCooldownSeconds * 1000,
    maxStaleMs: jwt.jwks.maxStaleSeconds * 1000,
    store,
    log,
  });
  if (redis) {
    const live = await revocation.start(REDIS_START_WAIT_MS);
    log.info({ live }, live ? 'shared state: Redis connected' : 'shared state: Redis not reachable yet; deciding locally meanwhile');
  }
  return {
    redis,
    store,
    revocation,
    cache,
    keys,
    close: async () => {
      keys.close();
      await revocation.stop();
      await cache.flushWrites();
      await redis?.close();
    },
  };
}
