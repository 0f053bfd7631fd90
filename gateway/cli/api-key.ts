/**
 * `gatehouse api-key create | revoke | list`: API keys in the configured
 * Redis, or in a key file (`--file`) that then goes into the Kubernetes
 * Secret the gateway mounts. `create` prints the key once; nothing ever
 * prints a stored hash's key, and `list` prints no hashes either.
 */
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { createRedisConnections, type RedisConnections } from '../cache/redis.js';
import { RevocationService } from '../cache/revocation.js';
import type { GatehouseConfig } from '../config/config.js';
import { DEFAULT_API_KEY_ISSUER } from '../config/credentials.js';
import { DEMO_CONFIG_PATH, loadConfig } from '../config/load.js';
import { redisConfigOf } from '../config/redis-settings.js';
import { generateApiKey, hashApiKey, isApiKeyId } from '../identity/api-key.js';
import { ApiKeyFile } from '../identity/api-key-file-store.js';
import { apiKeyState, parseApiKeyTime, readApiKeyRecord, storedApiKeyRecord, type ApiKeyRecord } from '../identity/api-key-record.js';
import { RedisApiKeyStore } from '../identity/api-key-redis-store.js';
import type { ApiKeyAdministration } from '../identity/api-key-store.js';
import { createLogger } from '../log.js';

export const API_KEY_USAGE = `Usage:
  gatehouse api-key create --principal <name> [--scope <scope>]... [--not-before <time>]
                           [--not-after <time> | --ttl <duration>] [--description <text>]
                           [--file <keys.yaml>] [-c <config>]
  gatehouse api-key revoke <id> [--file <keys.yaml>] [-c <config>]
  gatehouse api-key list [--json] [--file <keys.yaml>] [-c <config>]

Keys are kept in the configuration's Redis, or with --file in a key file
(created if missing) to put into the Kubernetes Secret the gateway mounts.
Times are RFC 3339 with a zone (2026-01-31T00:00:00Z); durations 90d, 12h, 30m, 3600s.
See docs/api-keys.md.
`;

/** A revocation of a key with `notAfter` outlives it by this much, as token revocations do. */
const EXPIRY_MARGIN_MS = 5 * 60 * 1000;
const DURATION = /^(\d{1,9})(s|m|h|d)$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Where the command reads and writes keys, and how it tells replicas about revocations. */
interface KeyStore {
  readonly admin: ApiKeyAdministration;
  /** `redis (prefix gatehouse:)` or the file's path. */
  readonly description: string;
  readonly file?: string;
  /** Present when Redis is configured: revocations are published to every replica. */
  readonly redis?: RedisConnections;
  close(): Promise<void>;
}

/**
 * Runs `gatehouse api-key …` with the arguments after `api-key`; resolves with the exit code.
 *
 * @example
 * process.exitCode = await runApiKey(['list', '-c', 'gatehouse.yaml']);
 */
export async function runApiKey(argv: readonly string[], now: () => number = Date.now): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      file: { type: 'string' },
      principal: { type: 'string' },
      scope: { type: 'string', multiple: true },
      'not-before': { type: 'string' },
      'not-after': { type: 'string' },
      ttl: { type: 'string' },
      description: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [action, ...rest] = positionals;
  if (values.help || action === undefined) {
    (values.help ? process.stdout : process.stderr).write(API_KEY_USAGE);
    return values.help ? 0 : 2;
  }
  const config = await loadConfig(values.config ?? DEMO_CONFIG_PATH, process.env);
  switch (action) {
    case 'create':
      return create(config, values, now());
    case 'revoke':
      if (rest.length !== 1 || !isApiKeyId(rest[0] as string)) return usageError('revoke takes one key id (16 lower-case hex characters)');
      return revoke(config, values.file, rest[0] as string, now());
    case 'list':
      return list(config, values.file, values.json ?? false, now());
    default:
      return usageError(`unknown action '${action}'`);
  }
}

function usageError(problem: string): number {
  process.stderr.write(`gatehouse api-key: ${problem}\n\n${API_KEY_USAGE}`);
  return 2;
}

interface CreateOptions {
  readonly file?: string;
  readonly principal?: string;
  readonly scope?: string[];
  readonly 'not-before'?: string;
  readonly 'not-after'?: string;
  readonly ttl?: string;
  readonly description?: string;
}

async function create(config: GatehouseConfig, options: CreateOptions, now: number): Promise<number> {
  if (options.principal === undefined) return usageError('create needs --principal <name>');
  if (options['not-after'] !== undefined && options.ttl !== undefined) return usageError('give --not-after or --ttl, not both');
  const notBefore = time(options['not-before'], '--not-before', now);
  const start = notBefore ?? now;
  const notAfter = options.ttl !== undefined ? start + duration(options.ttl) : time(options['not-after'], '--not-after', now);
  if (notAfter !== undefined && notAfter <= now) throw new Error('the key would be expired already: --not-after must be in the future');

  const { id, key } = generateApiKey();
  const reading = readApiKeyRecord(
    storedApiKeyRecord({
      id,
      principal: options.principal,
      scopes: options.scope ?? [],
      sha256: hashApiKey(key),
      createdAt: now,
      ...(notBefore === undefined ? {} : { notBefore }),
      ...(notAfter === undefined ? {} : { notAfter }),
      ...(options.description === undefined ? {} : { description: options.description }),
    }),
  );
  if (!reading.ok) throw new Error(`${optionOf(reading.field)}: ${reading.problem}`);
  const record = reading.record;

  const store = await openStore(config, options.file, 'create');
  try {
    await store.admin.create(record);
  } finally {
    await store.close();
  }
  const issuer = config.apiKeys?.issuer ?? DEFAULT_API_KEY_ISSUER;
  const lines = [
    `key: ${key}`,
    `id: ${id}`,
    `request principal: ${issuer}/${record.principal}`,
    ...(record.scopes.length > 0 ? [`scopes: ${record.scopes.join(' ')}`] : []),
    `valid: ${record.notBefore === undefined ? 'now' : iso(record.notBefore)} until ${record.notAfter === undefined ? 'revoked' : iso(record.notAfter)}`,
    `store: ${store.description}`,
    '',
    'The key is shown this once: hand it to the calling service now. Gatehouse keeps only its SHA-256.',
  ];
  if (store.file !== undefined) {
    lines.push(
      '',
      `Added to ${store.file}:`,
      '',
      stringify({ keys: [storedApiKeyRecord(record)] }).trimEnd(),
      '',
      'Put the file into the Secret the gateway mounts, for example:',
      `  kubectl create secret generic gatehouse-api-keys --from-file=keys.yaml=${store.file} --dry-run=client -o yaml | kubectl apply -f -`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

async function revoke(config: GatehouseConfig, file: string | undefined, id: string, now: number): Promise<number> {
  const store = await openStore(config, file, 'revoke');
  try {
    const record = await store.admin.revoke(id, now);
    if (record === undefined) {
      process.stderr.write(`gatehouse api-key: no API key ${id} in ${store.description}\n`);
      return 1;
    }
    if (store.redis === undefined) {
      const unreachable = config.redis !== undefined;
      process.stdout.write(
        `revoked ${id} in ${store.description}; replicas stop accepting it when the updated Secret reaches them (${unreachable ? 'Redis was not reachable' : 'no Redis'} to tell them sooner)\n`,
      );
      return unreachable ? 1 : 0;
    }
    const log = createLogger('warn', process.stderr);
    const revocations = new RevocationService({ redis: store.redis, log });
    const until =
      record.notAfter !== undefined
        ? record.notAfter + EXPIRY_MARGIN_MS
        : now + (config.apiKeys?.revocationTtlSeconds ?? 7 * 86_400) * 1000;
    const outcome = await revocations.revokeApiKey(id, until);
    if (!outcome.shared) {
      process.stdout.write(
        `revoked ${id} in ${store.description}, but Redis was not reachable: running replicas may accept it until they reload\n`,
      );
      return 1;
    }
    process.stdout.write(`revoked ${id} in ${store.description}, and on every replica\n`);
    if (store.file !== undefined)
      process.stdout.write(`Update the Secret from ${store.file} as well, so the revocation outlives ${iso(until)}.\n`);
    return 0;
  } finally {
    await store.close();
  }
}

async function list(config: GatehouseConfig, file: string | undefined, json: boolean, now: number): Promise<number> {
  const store = await openStore(config, file, 'list');
  let records: ApiKeyRecord[];
  try {
    records = await store.admin.list();
  } finally {
    await store.close();
  }
  // Never the hash: a listing is for people and tickets, not for checking keys.
  const rows = records.map((record) => ({
    id: record.id,
    principal: record.principal,
    scopes: [...record.scopes],
    state: apiKeyState(record, now),
    notBefore: record.notBefore === undefined ? undefined : iso(record.notBefore),
    notAfter: record.notAfter === undefined ? undefined : iso(record.notAfter),
    createdAt: record.createdAt === undefined ? undefined : iso(record.createdAt),
    revokedAt: record.revokedAt === undefined ? undefined : iso(record.revokedAt),
    description: record.description,
  }));
  if (json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return 0;
  }
  const table = [
    ['ID', 'PRINCIPAL', 'STATE', 'NOT BEFORE', 'NOT AFTER', 'SCOPES', 'DESCRIPTION'],
    ...rows.map((row) => [
      row.id,
      row.principal,
      row.state,
      row.notBefore ?? '-',
      row.notAfter ?? '-',
      row.scopes.join(' ') || '-',
      row.description ?? '',
    ]),
  ];
  const widths = table[0]!.map((_, column) => Math.max(...table.map((row) => (row[column] ?? '').length)));
  const text = table
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
  process.stdout.write(`${text}\n${records.length} key${records.length === 1 ? '' : 's'} in ${store.description}\n`);
  return 0;
}

/**
 * `--file` when given; otherwise the configuration's Redis. A configuration
 * whose keys are in a (mounted, read-only) file is edited through a copy.
 */
async function openStore(config: GatehouseConfig, file: string | undefined, action: string): Promise<KeyStore> {
  if (file !== undefined) {
    // The file is the store; Redis, when configured, only tells running replicas about a revocation at once.
    const redis =
      action === 'revoke' && config.redis
        ? await connect(config).catch((error: unknown) => {
            process.stderr.write(`gatehouse api-key: ${error instanceof Error ? error.message : String(error)}\n`);
            return undefined;
          })
        : undefined;
    return {
      admin: new ApiKeyFile(file),
      description: file,
      file,
      ...(redis === undefined ? {} : { redis }),
      close: async () => redis?.close(),
    };
  }
  if (config.apiKeys?.file !== undefined) {
    throw new Error(
      `the configuration keeps API keys in ${config.apiKeys.file}: pass --file <a copy of it>, then update the Secret from the copy`,
    );
  }
  if (config.redis === undefined)
    throw new Error(`nowhere to ${action} keys: pass --file <keys.yaml>, or -c <config> with a redis section`);
  const redis = await connect(config);
  return {
    admin: new RedisApiKeyStore(redis.commands, redis.keyPrefix),
    description: `redis (prefix ${redis.keyPrefix})`,
    redis,
    close: () => redis.close(),
  };
}

async function connect(config: GatehouseConfig): Promise<RedisConnections> {
  const settings = config.redis as NonNullable<GatehouseConfig['redis']>;
  const redisConfig = await redisConfigOf(settings, config.source, process.env);
  // Not on a request path: give SCAN and friends time.
  const redis = createRedisConnections(
    { ...redisConfig, commandTimeoutMs: Math.max(settings.commandTimeoutMs, 2000) },
    createLogger('error', process.stderr),
  );
  if (!(await redis.ready(Math.max(settings.connectTimeoutMs, 2000)))) {
    await redis.close();
    throw new Error('Redis is not reachable');
  }
  return redis;
}

function time(value: string | undefined, flag: string, now: number): number | undefined {
  if (value === undefined) return undefined;
  if (value === 'now') return now;
  const parsed = parseApiKeyTime(value);
  if (parsed === undefined) throw new Error(`${flag} takes an RFC 3339 time with a zone, e.g. 2026-01-31T00:00:00Z, or now`);
  return parsed;
}

function duration(value: string): number {
  const match = DURATION.exec(value);
  if (!match) throw new Error('--ttl takes a duration such as 90d, 12h, 30m or 3600s');
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

/** The option a record field came from, for messages. */
function optionOf(field: string): string {
  if (field.startsWith('scopes')) return `--scope ${field.slice('scopes'.length)}`.trimEnd();
  return { principal: '--principal', description: '--description', notAfter: '--not-after', notBefore: '--not-before' }[field] ?? field;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
