/**
 * What the token benchmarks share: an identity provider serving a JWKS, a
 * Redis of the bench's own, a Gatehouse configuration with a
 * RequestAuthentication and an AuthorizationPolicy that requires a request
 * principal, and the fixed CheckRequest carrying a bearer token.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import { startJwksServer, type JwksServer } from '../test/helpers/jwks-server.js';
import { spawnRedis, type SpawnedRedis } from '../test/helpers/redis.js';
import { fixedCheckRequest } from './fixed-request.js';
import { loadPackageDefinition } from '../gateway/envoy/descriptors.js';
import { writeGatehouseFixture } from './gatehouse-fixture.js';
import { generateSigningKey, jwksOf, TOKEN_ALGORITHMS, type SigningKey, type TokenAlgorithm } from './jwt-tokens.js';
import type * as protoLoader from '@grpc/proto-loader';
import type { PolicyFile } from './policies.js';

/** The policy that allows a request with a valid token. */
export const EXPECTED_JWT_POLICY = 'default/todos-users';

export interface TokenBench {
  readonly idp: JwksServer;
  readonly keys: Readonly<Record<TokenAlgorithm, SigningKey>>;
  readonly redis: SpawnedRedis;
  /** A Redis client of the benchmark's own, for counting keys and commands. */
  readonly inspector: Redis;
  close(): Promise<void>;
}

/** Starts the IdP (one key per algorithm) and a Redis pinned to `redisCore`. */
export async function startTokenBench(redisCore: number | undefined): Promise<TokenBench> {
  const keys = Object.fromEntries(TOKEN_ALGORITHMS.map((alg) => [alg, generateSigningKey(alg)])) as Record<TokenAlgorithm, SigningKey>;
  const idp = await startJwksServer(jwksOf(Object.values(keys)));
  const redis = await spawnRedis();
  const inspector = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: 1, lazyConnect: false });
  // The fault benchmarks kill this Redis on purpose: the inspector reconnects by itself, nothing to report.
  inspector.on('error', () => {});
  await pinRedis(inspector, redisCore);
  return {
    idp,
    keys,
    redis,
    inspector,
    close: async () => {
      inspector.disconnect();
      await redis.stop();
      await idp.close();
    },
  };
}

/** Pins the redis-server process (found by `INFO server`) to a core, like the load generator. */
export async function pinRedis(client: Redis, core: number | undefined): Promise<void> {
  if (core === undefined || !existsSync('/usr/bin/taskset')) return;
  const info = await client.info('server');
  const pid = /process_id:(\d+)/.exec(info)?.[1];
  if (pid) execFileSync('/usr/bin/taskset', ['-a', '-p', '-c', String(core), pid], { stdio: 'ignore' });
}

/** A key prefix no earlier run used, so L2 starts empty for the run's tokens. */
export function freshKeyPrefix(name: string): string {
  return `gatehouse-bench:${name}:${randomBytes(4).toString('hex')}:`;
}

/** The RequestAuthentication and the ALLOW policy requiring a principal from the IdP. */
export function tokenPolicies(idp: JwksServer): PolicyFile[] {
  return [
    {
      name: 'authn.yaml',
      text: `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: todos-jwt, namespace: default }
spec:
  selector: { matchLabels: { app: todos } }
  jwtRules:
    - issuer: ${idp.url}
      jwksUri: ${idp.jwksUri}
      audiences: [todos]
`,
    },
    {
      name: 'authz.yaml',
      text: `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: todos-users, namespace: default }
spec:
  selector: { matchLabels: { app: todos } }
  action: ALLOW
  rules:
    - from: [{ source: { requestPrincipals: ["${idp.url}/*"] } }]
      to: [{ operation: { methods: [GET], paths: ["/todos/*"] } }]
`,
    },
  ];
}

export interface TokenGatehouseOptions {
  readonly redisUrl: string;
  readonly keyPrefix: string;
  /** `jwt.cache.l1MaxEntries`; the default (100 000) when absent. */
  readonly l1MaxEntries?: number;
  /** More top-level YAML (e.g. `telemetry: …`), and policy files besides the token policies. */
  readonly extraConfig?: string;
  readonly extraPolicies?: readonly PolicyFile[];
}

/** Writes a Gatehouse config (log level warn) with Redis and the token policies; returns the config file. */
export function writeTokenGatehouse(bench: TokenBench, options: TokenGatehouseOptions): Promise<string> {
  const config = [
    'listen: { host: 127.0.0.1, port: 9191 }',
    'policies: { paths: [./policies], rootNamespace: istio-system, defaultNamespace: default, watch: false }',
    'identity: { trustDomains: [cluster.local] }',
    'workloads:',
    '  - { namespace: default, serviceAccount: todos, labels: { app: todos }, service: todos }',
    '  - { namespace: default, serviceAccount: reminder, labels: { app: reminder }, service: reminder }',
    `redis: { url: "${options.redisUrl}", keyPrefix: "${options.keyPrefix}" }`,
    `jwt: { jwks: { refreshIntervalSeconds: 3600 }${options.l1MaxEntries === undefined ? '' : `, cache: { l1MaxEntries: ${options.l1MaxEntries} }`} }`,
    'log: { level: warn }',
    ...(options.extraConfig === undefined ? [] : [options.extraConfig]),
    '',
  ].join('\n');
  return writeGatehouseFixture(config, [...tokenPolicies(bench.idp), ...(options.extraPolicies ?? [])]);
}

function checkMethod(): protoLoader.MethodDefinition<object, object> {
  const service = loadPackageDefinition()['envoy.service.auth.v3.Authorization'] as protoLoader.ServiceDefinition;
  return service.Check as protoLoader.MethodDefinition<object, object>;
}

/**
 * The fixed CheckRequest (reminder → todos, GET /todos/123) with `authorization: Bearer <token>`, or none;
 * from another peer than the reminder service when `sourcePrincipal` is given.
 */
export function encodeTokenCheckRequest(token: string | undefined, sourcePrincipal?: string): Buffer {
  const request = fixedCheckRequest() as {
    attributes: { source: { principal: string }; request: { http: { headers: Record<string, string> } } };
  };
  if (token !== undefined) request.attributes.request.http.headers.authorization = `Bearer ${token}`;
  if (sourcePrincipal !== undefined) request.attributes.source.principal = sourcePrincipal;
  return checkMethod().requestSerialize(request);
}

/** Redis counters a run is checked by: GET hits and misses, SET calls, and `token:` keys under a prefix. */
export interface RedisCounters {
  readonly getHits: number;
  readonly getMisses: number;
  readonly sets: number;
}

export async function redisCounters(client: Redis): Promise<RedisCounters> {
  const [stats, commands] = await Promise.all([client.info('stats'), client.info('commandstats')]);
  const field = (text: string, pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 0);
  return {
    getHits: field(stats, /keyspace_hits:(\d+)/),
    getMisses: field(stats, /keyspace_misses:(\d+)/),
    sets: field(commands, /cmdstat_set:calls=(\d+)/),
  };
}

export function counterDelta(before: RedisCounters, after: RedisCounters): RedisCounters {
  return { getHits: after.getHits - before.getHits, getMisses: after.getMisses - before.getMisses, sets: after.sets - before.sets };
}

/** How many `<prefix>token:*` keys Redis holds. */
export async function countTokenKeys(client: Redis, keyPrefix: string): Promise<number> {
  let cursor = '0';
  let count = 0;
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${keyPrefix}token:*`, 'COUNT', 1000);
    cursor = next;
    count += keys.length;
  } while (cursor !== '0');
  return count;
}
