/**
 * `gatehouse revoke`: revokes a token (by `jti`) or every token of a subject
 * issued before a time, on every replica. Writes through Redis from the
 * configuration, or asks a running replica's admin service (`--admin`).
 */
import * as grpc from '@grpc/grpc-js';
import { createRedisConnections, RevocationService } from '../cache/index.js';
import { loadConfig, DEMO_CONFIG_PATH } from '../config/load.js';
import { redisConfigOf } from '../config/redis-settings.js';
import { ADMIN_SERVICE } from '../admin-server.js';
import { loadPackageDefinition } from '../envoy/descriptors.js';
import { createLogger } from '../log.js';

export interface RevokeArguments {
  readonly config?: string;
  readonly jti?: string;
  readonly subject?: string;
  /** `exp` of the token (seconds since the epoch), for `--jti`. */
  readonly expiresAt?: string;
  /** Cut-off (seconds since the epoch), for `--subject`; default now. */
  readonly before?: string;
  /** `host:port` of a replica's admin listener. */
  readonly admin?: string;
}

export async function runRevoke(args: RevokeArguments): Promise<number> {
  if ((args.jti === undefined) === (args.subject === undefined)) {
    process.stderr.write('gatehouse revoke: give exactly one of --jti <id> or --subject <iss/sub>\n');
    return 2;
  }
  const seconds = (value: string | undefined, flag: string): number | undefined => {
    if (value === undefined) return undefined;
    if (!/^\d{1,12}$/.test(value)) throw new Error(`${flag} takes seconds since the epoch`);
    return Number(value);
  };
  const expiresAt = seconds(args.expiresAt, '--expires-at');
  const before = seconds(args.before, '--before');
  if (args.subject !== undefined && !args.subject.includes('/')) throw new Error('--subject takes the request principal, iss/sub');

  const shared = args.admin ? await viaAdmin(args.admin, args, expiresAt, before) : await viaRedis(args, expiresAt, before);
  process.stdout.write(shared ? 'revoked on every replica\n' : 'revoked, but Redis was not reachable: other replicas do not know it\n');
  return shared ? 0 : 1;
}

async function viaRedis(args: RevokeArguments, expiresAt: number | undefined, before: number | undefined): Promise<boolean> {
  const config = await loadConfig(args.config ?? DEMO_CONFIG_PATH, process.env);
  if (!config.redis) throw new Error('the configuration has no redis section: use --admin <host:port> to ask a replica instead');
  const log = createLogger('warn', process.stderr);
  const redis = createRedisConnections(await redisConfigOf(config.redis, config.source, process.env), log);
  try {
    await redis.ready(config.redis.connectTimeoutMs);
    const revocation = new RevocationService({
      redis,
      log,
      config: { subjectTtlSeconds: config.jwt.revocation.subjectRevocationTtlSeconds },
    });
    const outcome =
      args.jti !== undefined ? await revocation.revokeToken(args.jti, expiresAt) : await revocation.revokeSubject(args.subject!, before);
    return outcome.shared;
  } finally {
    await redis.close();
  }
}

type AdminCall = (
  request: unknown,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, value?: { shared?: boolean }) => void,
) => void;

async function viaAdmin(
  address: string,
  args: RevokeArguments,
  expiresAt: number | undefined,
  before: number | undefined,
): Promise<boolean> {
  const Client = grpc.makeGenericClientConstructor(loadPackageDefinition()[ADMIN_SERVICE] as grpc.ServiceDefinition, ADMIN_SERVICE);
  const client = new Client(address, grpc.credentials.createInsecure());
  const [method, request] =
    args.jti !== undefined
      ? (['RevokeToken', { jti: args.jti, expires_at: expiresAt ?? 0 }] as const)
      : (['RevokeSubject', { principal: args.subject, issued_before: before ?? 0 }] as const);
  try {
    const call = (client as unknown as Record<string, AdminCall>)[method] as AdminCall;
    const response = await new Promise<{ shared?: boolean }>((resolve, reject) => {
      call.call(client, request, { deadline: Date.now() + 5000 }, (error, value) => (error ? reject(error) : resolve(value ?? {})));
    });
    return response.shared ?? false;
  } finally {
    client.close();
  }
}
