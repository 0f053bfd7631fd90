/**
 * Wiring only: the break-glass tokens, the live KubernetesAccessPolicy set
 * (reloaded on change when `policies.watch`), Redis when configured (L2 of
 * the verified-token cache, shared key sets, revocations), the key
 * registry, the token reviewer, and both listeners around one Reviews.
 */
import { readFile } from 'node:fs/promises';
import { RevocationService } from '../../gateway/cache/revocation.js';
import { TokenCache } from '../../gateway/cache/token-cache.js';
import { redisConfigOf } from '../../gateway/config/redis-settings.js';
import { ValidationError } from '../../gateway/errors.js';
import { JwksRegistry } from '../../gateway/identity/index.js';
import {
  issuerRuleOfAuthenticator,
  loadKubernetesAuthorizer,
  type BreakGlassSubjects,
  type KubernetesAuthorizer,
} from '../../gateway/kubernetes/index.js';
import type { Logger } from '../../gateway/log.js';
import { startServiceTelemetry } from '../../gateway/telemetry/index.js';
import { readBreakGlassTokensFile, type BreakGlassToken } from './break-glass-tokens.js';
import type { KubernetesWebhookConfig } from './config.js';
import { startGrpcListener, type RunningGrpcListener } from './grpc-listener.js';
import { startHttpsListener, type HttpsListenerOptions, type RunningHttpsListener } from './https-listener.js';
import { LiveAuthorizer } from './live-authorizer.js';
import { Reviews } from './reviews.js';
import { TokenReviewer } from './token-reviewer.js';

export interface KubernetesWebhookDependencies {
  readonly log: Logger;
  readonly env?: NodeJS.ProcessEnv;
  /** Milliseconds since the epoch (token verification). */
  readonly now?: () => number;
}

export interface RunningKubernetesWebhook {
  readonly httpsPort: number;
  readonly grpcPort: number;
  readonly grpc: RunningGrpcListener;
  readonly policies: LiveAuthorizer<KubernetesAuthorizer>;
  readonly reviews: Reviews;
  readonly tokens: TokenReviewer;
  /** Not ready, finish reviews in flight (up to `drainSeconds`), stop watching and refreshing, close Redis. */
  close(): Promise<void>;
}

/** How long start-up waits for Redis before answering from local verification alone. */
const REDIS_START_WAIT_MS = 500;

/**
 * Starts the service; resolves once both listeners accept connections.
 *
 * @throws ValidationError for unreadable certificates, break-glass token files or policies.
 * @example
 * const webhook = await startKubernetesWebhook(await loadKubernetesWebhookConfig(file), { log });
 * process.once('SIGTERM', () => void webhook.close().then(() => process.exit(0)));
 */
export async function startKubernetesWebhook(
  config: KubernetesWebhookConfig,
  dependencies: KubernetesWebhookDependencies,
): Promise<RunningKubernetesWebhook> {
  const { log } = dependencies;
  // Telemetry only when OTEL_* variables ask for it (docs/telemetry.md); an unsupported one stops start-up here.
  const telemetry = await startServiceTelemetry({ serviceName: 'gatehouse-kubernetes-webhook', env: dependencies.env ?? process.env, log });
  const observed = telemetry ? await import('./review-telemetry.js') : undefined;
  const [cert, key, clientCa] = await Promise.all([config.tls.certFile, config.tls.keyFile, config.tls.clientCaFile].map(readTlsFile));
  const tls = { cert: cert!, key: key!, clientCa: clientCa! };
  const breakGlassTokens = await allBreakGlassTokens(config);
  const breakGlass: BreakGlassSubjects = { users: config.breakGlass.users, groups: config.breakGlass.groups };
  const { paths, rootNamespace, defaultNamespace } = config.policies;
  const policies = await LiveAuthorizer.open(
    paths,
    () => loadKubernetesAuthorizer(paths, breakGlass, { rootNamespace, defaultNamespace }),
    log,
  );
  if (config.policies.watch) await policies.watch();

  // ioredis is loaded only when Redis is configured.
  const redisModule = config.redis ? await import('../../gateway/cache/redis.js') : undefined;
  const redis =
    config.redis && redisModule
      ? redisModule.createRedisConnections(await redisConfigOf(config.redis, config.source, dependencies.env ?? process.env), log)
      : undefined;
  const store = redis && redisModule ? new redisModule.RedisStore(redis.commands, redis.keyPrefix) : undefined;
  // Revocations (`gatehouse revoke`) reach this service through the Redis they share.
  const revocation = redis ? new RevocationService({ redis, log }) : undefined;
  const cache = new TokenCache({
    ...(store ? { shared: store } : {}),
    ...(revocation ? { revocation } : {}),
    maxEntries: config.authentication.cache.l1MaxEntries,
    maxTtlSeconds: config.authentication.cache.maxTtlSeconds,
  });
  revocation?.onRevocation((matches) => cache.dropWhere(matches));
  if (revocation) await revocation.start(REDIS_START_WAIT_MS);
  const keys = new JwksRegistry({
    fetchTimeoutMs: config.jwks.fetchTimeoutMs,
    refreshIntervalMs: config.jwks.refreshIntervalSeconds * 1000,
    unknownKidCooldownMs: config.jwks.unknownKidCooldownSeconds * 1000,
    maxStaleMs: config.jwks.maxStaleSeconds * 1000,
    ...(store ? { store } : {}),
    log,
  });
  // Keys are fetched in the background; a review arriving first waits for its issuer's set.
  void keys.prefetch(config.authentication.jwt.map((authenticator, i) => issuerRuleOfAuthenticator(authenticator, `jwt[${i}]`)));
  const tokens = new TokenReviewer({
    authenticators: config.authentication.jwt,
    breakGlassTokens,
    keys,
    cache,
    maxTokenBytes: config.limits.maxTokenBytes,
    log,
    ...(dependencies.now ? { now: dependencies.now } : {}),
  });
  const reviews = new Reviews({
    authorizer: () => policies.current(),
    tokens,
    log,
    ...(telemetry && observed ? { observer: new observed.ReviewTelemetry(telemetry.tracer, telemetry.rootSampling) } : {}),
  });
  if (telemetry && observed) {
    observed.registerReviewMetrics(telemetry.meter, {
      reviews: () => reviews.stats(),
      tokenCache: () => cache.stats(),
      jwks: () => keys.stats(),
      ...(store ? { redis: () => store.stats(), redisConnected: () => store.healthy && (revocation?.connected() ?? false) } : {}),
    });
  }

  let serving = true;
  // What runs in the background, stopped on close, or at once when a listener cannot start.
  const stopBackground = async (): Promise<void> => {
    policies.close();
    keys.close();
    await revocation?.stop();
    await cache.flushWrites();
    await redis?.close();
    await telemetry?.shutdown();
  };
  let listeners: Listeners;
  try {
    listeners = await startListeners(config, { tls, reviews, log, serving: () => serving });
  } catch (error) {
    await stopBackground();
    throw error;
  }
  const { https, grpc } = listeners;
  log.info(
    {
      httpsPort: https.port,
      grpcPort: grpc.port,
      authorizePath: config.paths.authorize,
      authenticatePath: config.paths.authenticate,
      policies: policies.current().policyCount,
      authenticators: config.authentication.jwt.length,
      breakGlassTokens: breakGlassTokens.length,
      breakGlassSubjects: breakGlass.users.length + breakGlass.groups.length,
      redis: redis !== undefined,
    },
    'kubernetes webhook serving',
  );

  let closing: Promise<void> | undefined;
  return {
    httpsPort: https.port,
    grpcPort: grpc.port,
    grpc,
    policies,
    reviews,
    tokens,
    close: () =>
      (closing ??= (async () => {
        serving = false;
        const graceMs = config.drainSeconds * 1000;
        await Promise.all([https.close(graceMs), grpc.close(graceMs)]);
        await stopBackground();
        log.info('kubernetes webhook stopped');
      })()),
  };
}

interface Listeners {
  readonly https: RunningHttpsListener;
  readonly grpc: RunningGrpcListener;
}

/** Both listeners, or neither: the HTTPS one is closed again when the gRPC one cannot start. */
async function startListeners(
  config: KubernetesWebhookConfig,
  shared: Pick<HttpsListenerOptions, 'tls' | 'reviews' | 'log' | 'serving'>,
): Promise<Listeners> {
  const common = { host: config.listen.host, allowedClientNames: config.tls.allowedClientNames, ...shared };
  const https = await startHttpsListener({
    ...common,
    port: config.listen.httpsPort,
    authorizePath: config.paths.authorize,
    authenticatePath: config.paths.authenticate,
    maxBodyBytes: config.limits.maxBodyBytes,
    maxTokenBytes: config.limits.maxTokenBytes,
  });
  try {
    const grpc = await startGrpcListener({
      ...common,
      port: config.listen.grpcPort,
      maxMessageBytes: config.limits.maxBodyBytes,
      maxTokenBytes: config.limits.maxTokenBytes,
    });
    return { https, grpc };
  } catch (error) {
    await https.close(0);
    throw error;
  }
}

async function readTlsFile(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new ValidationError(file, undefined, '', `cannot read the file: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

/** The configured break-glass tokens and those of `breakGlass.tokensFile`; a name or digest in both is an error. */
async function allBreakGlassTokens(config: KubernetesWebhookConfig): Promise<BreakGlassToken[]> {
  const inline = config.breakGlass.tokens;
  if (config.breakGlass.tokensFile === undefined) return [...inline];
  const fromFile = await readBreakGlassTokensFile(config.breakGlass.tokensFile);
  for (const token of fromFile) {
    const twin = inline.find((other) => other.name === token.name || other.sha256.equals(token.sha256));
    if (twin !== undefined) {
      const what = twin.name === token.name ? `the name '${token.name}'` : `the digest of '${token.name}'`;
      throw new ValidationError(config.source, undefined, 'breakGlass.tokensFile', `${what} is also in breakGlass.tokens ('${twin.name}')`);
    }
  }
  return [...inline, ...fromFile];
}
