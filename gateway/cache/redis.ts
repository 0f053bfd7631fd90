/**
 * Redis for Gatehouse: the `redis` configuration section, the two ioredis
 * connections every replica opens (one for commands, one for pub/sub), and
 * `RedisStore`, the `SharedStore` the token cache uses as its second tier.
 *
 * Redis is an accelerator, never a dependency of a decision: commands time
 * out after a few tens of milliseconds, nothing is queued while Redis is
 * down, and every failure reads as a miss.
 */
import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Logger } from '../log.js';
import type { SharedStore } from './shared-store.js';

export interface RedisAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * The `redis` section of gatehouse.yaml. Exactly one of `url`, `sentinel`
 * or `cluster` says where Redis is.
 */
export interface RedisConfig {
  /** Standalone Redis: `redis://host:6379/0` or `rediss://…` for TLS. */
  readonly url?: string;
  readonly sentinel?: { readonly masterName: string; readonly sentinels: readonly RedisAddress[] };
  readonly cluster?: { readonly nodes: readonly RedisAddress[] };
  /** ACL user (Redis 6+). */
  readonly username?: string;
  /** Read from a file or the environment by the config loader; never logged. */
  readonly password?: string;
  /** TLS towards Redis; PEM contents, not paths. */
  readonly tls?: {
    readonly ca?: string;
    readonly cert?: string;
    readonly key?: string;
    readonly servername?: string;
  };
  /** Prefix of every key and channel Gatehouse uses. Default `gatehouse:`. */
  readonly keyPrefix?: string;
  /** A command that has not answered after this long fails (and reads as a miss). Default 50. */
  readonly commandTimeoutMs?: number;
  /** Default 1000. */
  readonly connectTimeoutMs?: number;
  /** Database index (standalone and Sentinel only). */
  readonly db?: number;
}

export const REDIS_DEFAULTS = {
  keyPrefix: 'gatehouse:',
  commandTimeoutMs: 50,
  connectTimeoutMs: 1000,
} as const;

/** A connection to Redis, whatever the topology: ioredis `Redis` or `Cluster`. */
export type RedisClient = Redis | Cluster;

/** What `createRedisConnections` opens. */
export interface RedisConnections {
  /** Commands: GET/SET/SCAN/PUBLISH. Fails fast while Redis is unreachable. */
  readonly commands: RedisClient;
  /** Pub/sub only (a subscribed connection cannot run other commands). */
  readonly subscriber: RedisClient;
  /** The configured prefix (with defaults applied). */
  readonly keyPrefix: string;
  /** Resolves true once `commands` is ready, false after `timeoutMs`. */
  ready(timeoutMs: number): Promise<boolean>;
  /** Closes both connections; stops reconnecting. */
  close(): Promise<void>;
}

/** Reconnect delay: exponential from 50 ms, capped at 2 s, with jitter; never gives up. */
export function reconnectDelayMs(attempt: number): number {
  const base = Math.min(2000, 50 * 2 ** Math.min(attempt, 6));
  return base + Math.floor(Math.random() * 100);
}

/**
 * Opens the command and subscriber connections for the configured topology.
 * Connecting starts at once (not lazily); errors are logged (without the
 * password) and never thrown, and reconnection goes on forever.
 *
 * @example
 * const redis = createRedisConnections({ url: 'redis://redis:6379' }, log);
 * const store = new RedisStore(redis.commands, redis.keyPrefix);
 * // … on shutdown:
 * await redis.close();
 */
export function createRedisConnections(config: RedisConfig, log: Logger): RedisConnections {
  const keyPrefix = config.keyPrefix ?? REDIS_DEFAULTS.keyPrefix;
  const commands = connect(config, 'commands');
  const subscriber = connect(config, 'subscriber');
  watch(commands, 'commands', log);
  watch(subscriber, 'subscriber', log);
  return {
    commands,
    subscriber,
    keyPrefix,
    ready: (timeoutMs) => whenReady(commands, timeoutMs),
    close: async () => {
      await Promise.all([quit(commands), quit(subscriber)]);
    },
  };
}

function tlsOptions(config: RedisConfig): ConnectionOptions | undefined {
  if (!config.tls) return undefined;
  const { ca, cert, key, servername } = config.tls;
  return { ca, cert, key, servername };
}

/**
 * The command connection must fail fast (no offline queue, one retry); the
 * subscriber keeps its SUBSCRIBE queued until it connects, and resubscribes
 * after every reconnect.
 */
function connect(config: RedisConfig, role: 'commands' | 'subscriber'): RedisClient {
  const isSubscriber = role === 'subscriber';
  const common = {
    username: config.username,
    password: config.password,
    connectTimeout: config.connectTimeoutMs ?? REDIS_DEFAULTS.connectTimeoutMs,
    connectionName: `gatehouse-${role}`,
    maxRetriesPerRequest: 1,
    enableAutoPipelining: !isSubscriber,
    autoResubscribe: true,
    // A subscriber's commands (SUBSCRIBE) are not on the request path and must not time out while queued.
    commandTimeout: isSubscriber ? undefined : (config.commandTimeoutMs ?? REDIS_DEFAULTS.commandTimeoutMs),
    tls: tlsOptions(config),
  } satisfies RedisOptions;

  if (config.cluster) {
    const options: ClusterOptions = {
      enableOfflineQueue: isSubscriber,
      enableAutoPipelining: !isSubscriber,
      lazyConnect: false,
      clusterRetryStrategy: reconnectDelayMs,
      clusterNodeRetryStrategy: reconnectDelayMs,
      slotsRefreshTimeout: common.connectTimeout,
      // A node that is down is retried once, quickly, then the command fails.
      retryDelayOnFailover: 20,
      retryDelayOnClusterDown: 20,
      retryDelayOnTryAgain: 20,
      maxRedirections: 4,
      redisOptions: { ...common, tls: common.tls },
    };
    return new Cluster(
      config.cluster.nodes.map((node) => ({ host: node.host, port: node.port })),
      options,
    );
  }

  const options: RedisOptions = {
    ...common,
    enableOfflineQueue: isSubscriber,
    lazyConnect: false,
    retryStrategy: reconnectDelayMs,
    db: config.db,
  };
  if (config.sentinel) {
    return new Redis({
      ...options,
      name: config.sentinel.masterName,
      sentinels: config.sentinel.sentinels.map((s) => ({ host: s.host, port: s.port })),
      sentinelUsername: config.username,
      sentinelPassword: config.password,
      enableTLSForSentinelMode: config.tls !== undefined,
      sentinelTLS: common.tls,
      sentinelRetryStrategy: reconnectDelayMs,
    });
  }
  if (!config.url) throw new Error('redis: one of url, sentinel or cluster is required');
  return new Redis(config.url, options);
}

/** Logs state changes once per transition rather than every failed reconnect. */
function watch(client: RedisClient, role: string, log: Logger): void {
  let down = false;
  client.on('ready', () => {
    if (down) log.info({ redis: role }, 'redis connection restored');
    else log.debug({ redis: role }, 'redis connected');
    down = false;
  });
  client.on('error', (error: Error) => {
    if (!down) log.warn({ redis: role, err: { message: error.message } }, 'redis connection failing');
    down = true;
  });
  client.on('close', () => {
    if (!down) log.warn({ redis: role }, 'redis connection closed');
    down = true;
  });
}

function whenReady(client: RedisClient, timeoutMs: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      resolve(false);
    }, timeoutMs);
    const onReady = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    client.once('ready', onReady);
  });
}

async function quit(client: RedisClient): Promise<void> {
  if (client.status === 'end') return;
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  const quitting = client.quit().then(
    () => undefined,
    () => undefined,
  );
  const timeout = new Promise<void>((resolve) => setTimeout(resolve, 500).unref());
  await Promise.race([quitting, timeout]);
  client.disconnect();
}

/** Health of the shared store, for `/health` and metrics. */
export interface RedisHealth {
  readonly connected: boolean;
  /** The message of the last failure (never contains the password). */
  readonly lastError?: string;
  readonly errors: number;
}

export interface RedisStoreStats {
  readonly gets: number;
  readonly hits: number;
  readonly sets: number;
  readonly errors: number;
  readonly timeouts: number;
  /** Over the last `LATENCY_SAMPLE_SIZE` successful commands, in milliseconds. */
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number; readonly samples: number };
}

const LATENCY_SAMPLE_SIZE = 512;

/**
 * `SharedStore` over an ioredis connection: prefixes keys, never rejects,
 * counts errors and keeps a latency sample. `healthy` is false after a
 * failed command or a lost connection, and true again after a command
 * succeeds or the connection becomes ready.
 *
 * @example
 * const store = new RedisStore(redis.commands, 'gatehouse:');
 * await store.set('token:abc', '{…}', 60_000); // SET gatehouse:token:abc … PX 60000
 */
export class RedisStore implements SharedStore {
  private ok: boolean;
  private lastError: string | undefined;
  private readonly counts = { gets: 0, hits: 0, sets: 0, errors: 0, timeouts: 0 };
  private readonly latencies = new Float64Array(LATENCY_SAMPLE_SIZE);
  private latencyCount = 0;

  constructor(
    private readonly client: RedisClient,
    private readonly keyPrefix: string = REDIS_DEFAULTS.keyPrefix,
  ) {
    this.ok = client.status === 'ready';
    client.on('ready', () => {
      this.ok = true;
    });
    client.on('close', () => {
      this.ok = false;
    });
  }

  get healthy(): boolean {
    return this.ok;
  }

  async get(key: string): Promise<string | undefined> {
    this.counts.gets++;
    const started = performance.now();
    try {
      const value = await this.client.get(this.keyPrefix + key);
      this.succeeded(started);
      if (value === null) return undefined;
      this.counts.hits++;
      return value;
    } catch (error) {
      this.failed(error);
      return undefined;
    }
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    const ttl = Math.floor(ttlMs);
    if (ttl <= 0) return;
    this.counts.sets++;
    const started = performance.now();
    try {
      await this.client.set(this.keyPrefix + key, value, 'PX', ttl);
      this.succeeded(started);
    } catch (error) {
      this.failed(error);
    }
  }

  health(): RedisHealth {
    return {
      connected: this.client.status === 'ready',
      ...(this.lastError === undefined ? {} : { lastError: this.lastError }),
      errors: this.counts.errors,
    };
  }

  stats(): RedisStoreStats {
    const n = Math.min(this.latencyCount, LATENCY_SAMPLE_SIZE);
    const sorted = Array.from(this.latencies.subarray(0, n)).sort((a, b) => a - b);
    const at = (q: number): number => sorted[Math.min(n - 1, Math.floor(q * n))] ?? 0;
    return {
      ...this.counts,
      latencyMs: { p50: at(0.5), p99: at(0.99), max: sorted[n - 1] ?? 0, samples: n },
    };
  }

  private succeeded(started: number): void {
    this.ok = true;
    this.latencies[this.latencyCount++ % LATENCY_SAMPLE_SIZE] = performance.now() - started;
  }

  private failed(error: unknown): void {
    this.ok = false;
    this.counts.errors++;
    const message = error instanceof Error ? error.message : String(error);
    if (/timed out/i.test(message)) this.counts.timeouts++;
    this.lastError = message;
  }
}
