/**
 * Wiring only: opens Redis (when configured), the key registry, the signing
 * keys and the delegation rules, and starts both listeners around one
 * TokenExchanger.
 */
import { readFile } from 'node:fs/promises';
import { createRedisConnections, RedisStore, type RedisConnections } from '../../gateway/cache/index.js';
import { redisConfigOf } from '../../gateway/config/redis-settings.js';
import { JwksRegistry } from '../../gateway/identity/index.js';
import type { Logger } from '../../gateway/log.js';
import { startServiceTelemetry } from '../../gateway/telemetry/index.js';
import type { TokenExchangeConfig } from './config.js';
import { loadDelegationRules, type DelegationRules } from './delegation.js';
import { TokenExchanger, type TokenExchangerOptions } from './exchange.js';
import { startGrpcListener, type RunningGrpcListener } from './grpc-listener.js';
import { startHttpsListener, type RunningHttpsListener } from './https-listener.js';
import { MintedTokenCache } from './minted-token-cache.js';
import { loadSigningKeys } from './signing-keys.js';
import { issuerRuleOf, TokenValidator } from './token-validator.js';

export interface TokenExchangeDependencies {
  readonly log: Logger;
  readonly env?: NodeJS.ProcessEnv;
  /** Instead of the DelegationPolicy documents of `delegation.paths`. */
  readonly delegation?: DelegationRules;
  /** Milliseconds since the epoch. */
  readonly now?: () => number;
}

export interface RunningTokenExchange {
  readonly httpsPort: number;
  readonly grpcPort: number;
  readonly grpc: RunningGrpcListener;
  /** NOT_SERVING, finish exchanges in flight (up to `drainSeconds`), close Redis and key refreshes. */
  close(): Promise<void>;
}

/**
 * Starts the service; resolves once both listeners accept connections.
 *
 * @throws ValidationError for unreadable keys, certificates or delegation policies.
 * @example
 * const service = await startTokenExchange(await loadTokenExchangeConfig(file), { log });
 * process.once('SIGTERM', () => void service.close().then(() => process.exit(0)));
 */
export async function startTokenExchange(
  config: TokenExchangeConfig,
  dependencies: TokenExchangeDependencies,
): Promise<RunningTokenExchange> {
  const { log } = dependencies;
  // Telemetry only when OTEL_* variables ask for it (docs/telemetry.md); an unsupported one stops start-up here.
  const telemetry = await startServiceTelemetry({ serviceName: 'gatehouse-token-exchange', env: dependencies.env ?? process.env, log });
  const [cert, key, clientCa] = await Promise.all(
    [config.tls.certFile, config.tls.keyFile, config.tls.clientCaFile].map((file) => readFile(file)),
  );
  const tls = { cert: cert!, key: key!, clientCa: clientCa! };
  const keys = await loadSigningKeys(config.signing.keysDir, config.signing.activeKid);
  const delegation = dependencies.delegation ?? (await loadDelegationRules(config.delegation));
  const subjectRules = config.subjectIssuers.map((issuer, i) => issuerRuleOf(issuer, `subjectIssuers[${i}]`, config.source));
  const actorRules = config.actorIssuers.map((issuer, i) => issuerRuleOf(issuer, `actorIssuers[${i}]`, config.source));

  let redis: RedisConnections | undefined;
  if (config.redis) redis = createRedisConnections(await redisConfigOf(config.redis, config.source, dependencies.env ?? process.env), log);
  const store = redis ? new RedisStore(redis.commands, redis.keyPrefix) : undefined;
  const registry = new JwksRegistry({
    fetchTimeoutMs: config.jwks.fetchTimeoutMs,
    refreshIntervalMs: config.jwks.refreshIntervalSeconds * 1000,
    unknownKidCooldownMs: config.jwks.unknownKidCooldownSeconds * 1000,
    maxStaleMs: config.jwks.maxStaleSeconds * 1000,
    ...(store ? { store } : {}),
    log,
  });
  // Keys are fetched in the background; an exchange arriving first waits for its issuer's set.
  void registry.prefetch([...subjectRules, ...actorRules]);

  const observed = telemetry
    ? new (await import('./exchange-telemetry.js')).ExchangeTelemetry(telemetry, {
        jwks: () => registry.stats(),
        ...(store ? { redis: () => store.stats(), redisConnected: () => store.healthy } : {}),
      })
    : undefined;
  const exchangerOptions: TokenExchangerOptions = {
    issuer: config.issuer,
    subjectTokens: new TokenValidator(subjectRules, registry, config.limits.maxTokenBytes),
    actorTokens: new TokenValidator(actorRules, registry, config.limits.maxTokenBytes),
    delegation,
    keys: () => keys,
    cache: new MintedTokenCache({ store, marginSeconds: config.tokens.cacheMarginSeconds, maxEntries: config.tokens.cacheMaxEntries }),
    ttlSeconds: config.tokens.ttlSeconds,
    log,
    ...(dependencies.now ? { now: dependencies.now } : {}),
  };
  const exchanger = observed ? observed.exchanger(exchangerOptions) : new TokenExchanger(exchangerOptions);

  let serving = true;
  // What runs in the background, stopped on close, or at once when a listener cannot start.
  const stopBackground = async (): Promise<void> => {
    registry.close();
    await redis?.close();
    await telemetry?.shutdown();
  };
  let https: RunningHttpsListener | undefined;
  let grpc: RunningGrpcListener;
  try {
    https = await startHttpsListener({
      host: config.listen.host,
      port: config.listen.httpsPort,
      tls,
      issuer: config.issuer,
      tokenPath: config.tokenPath,
      maxBodyBytes: config.limits.maxBodyBytes,
      exchanger,
      keys: () => keys,
      serving: () => serving,
      log,
    });
    grpc = await startGrpcListener({
      host: config.listen.host,
      port: config.listen.grpcPort,
      tls,
      maxMessageBytes: config.limits.maxBodyBytes,
      exchanger,
      log,
    });
  } catch (error) {
    // A port taken: nothing may stay open behind the error.
    await https?.close(0);
    await stopBackground();
    throw error;
  }
  log.info(
    {
      httpsPort: https.port,
      grpcPort: grpc.port,
      issuer: config.issuer,
      activeKid: keys.active.kid,
      keys: keys.all.size,
      redis: redis !== undefined,
    },
    'token exchange serving',
  );

  let closing: Promise<void> | undefined;
  return {
    httpsPort: https.port,
    grpcPort: grpc.port,
    grpc,
    close: () =>
      (closing ??= (async () => {
        serving = false;
        const graceMs = config.drainSeconds * 1000;
        await Promise.all([https.close(graceMs), grpc.close(graceMs)]);
        await stopBackground();
        log.info('token exchange stopped');
      })()),
  };
}
