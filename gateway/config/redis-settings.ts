/**
 * Turns the `redis` section into what the Redis connections need: secrets
 * and certificates read from their files (or the environment) at start-up.
 */
import { readFile } from 'node:fs/promises';
import type { RedisConfig } from '../cache/index.js';
import { ValidationError } from '../errors.js';
import type { RedisSettings } from './config.js';

/**
 * @example
 * const redis = createRedisConnections(await redisConfigOf(config.redis, config.source, process.env), log);
 */
export async function redisConfigOf(settings: RedisSettings, configFile: string, env: NodeJS.ProcessEnv): Promise<RedisConfig> {
  const read = async (file: string | undefined, field: string): Promise<string | undefined> => {
    if (file === undefined) return undefined;
    try {
      return await readFile(file, 'utf8');
    } catch (error) {
      throw new ValidationError(
        configFile,
        undefined,
        field,
        `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      );
    }
  };
  let password = (await read(settings.passwordFile, 'redis.passwordFile'))?.trimEnd();
  if (settings.passwordEnv !== undefined) {
    password = env[settings.passwordEnv];
    if (password === undefined)
      throw new ValidationError(configFile, undefined, 'redis.passwordEnv', `$${settings.passwordEnv} is not set`);
  }
  return {
    url: settings.url,
    sentinel: settings.sentinel,
    cluster: settings.cluster,
    username: settings.username,
    password,
    tls: settings.tls && {
      ca: await read(settings.tls.caFile, 'redis.tls.caFile'),
      cert: await read(settings.tls.certFile, 'redis.tls.certFile'),
      key: await read(settings.tls.keyFile, 'redis.tls.keyFile'),
      servername: settings.tls.servername,
    },
    keyPrefix: settings.keyPrefix,
    commandTimeoutMs: settings.commandTimeoutMs,
    connectTimeoutMs: settings.connectTimeoutMs,
    db: settings.db,
  };
}
