/**
 * The token-exchange service's configuration: one YAML file, validated as
 * strictly as gatehouse.yaml (unknown fields are errors naming the field;
 * relative paths are resolved against the file's folder). The `redis`
 * section and the per-issuer settings are read by the gateway's own readers.
 */
import path from 'node:path';
import type { JSONWebKeySet } from 'jose';
import type { IssuerSettings, RedisSettings } from '../../gateway/config/config.js';
import { parseConfigYaml, readConfigText, readInlineJwks, readJwksSettings, type JwksSettings } from '../../gateway/config/config-file.js';
import { FieldReader, ISSUER_FIELDS, readIssuerSettings, readRedis } from '../../gateway/config/load.js';
import { defaultMaxDelegationDepth, delegationLimits } from '../../gateway/policy/index.js';

/** One issuer whose tokens the service accepts (as subject tokens, or as actor tokens). */
export interface TrustedIssuer {
  readonly issuer: string;
  /** Accepted `aud` values; empty: `aud` is not checked. */
  readonly audiences: readonly string[];
  readonly jwksUri?: string;
  readonly jwks?: JSONWebKeySet;
  /** The gateway's per-issuer settings (algorithms, clock skew, required claims and type, discovery). */
  readonly settings: IssuerSettings;
}

export interface TokenExchangeConfig {
  /** The file this configuration came from. */
  readonly source: string;
  readonly listen: { readonly host: string; readonly httpsPort: number; readonly grpcPort: number };
  readonly tls: { readonly certFile: string; readonly keyFile: string; readonly clientCaFile: string };
  /** `iss` of minted tokens; the HTTPS listener's external URL (https, no path). */
  readonly issuer: string;
  /** Path of the RFC 8693 token endpoint on the HTTPS listener. */
  readonly tokenPath: string;
  readonly signing: { readonly keysDir: string; readonly activeKid: string };
  readonly tokens: {
    /** Lifetime of a minted token, never past the subject token's `exp`. */
    readonly ttlSeconds: number;
    /** A cached token is served until this long before its `exp`. */
    readonly cacheMarginSeconds: number;
    /** Entries of the in-process cache used without Redis. */
    readonly cacheMaxEntries: number;
  };
  readonly subjectIssuers: readonly TrustedIssuer[];
  readonly actorIssuers: readonly TrustedIssuer[];
  readonly delegation: {
    /** Files or folders holding DelegationPolicy documents. */
    readonly paths: readonly string[];
    readonly rootNamespace: string;
    readonly defaultNamespace: string;
    readonly maxDepth: number;
  };
  readonly jwks: JwksSettings;
  readonly limits: { readonly maxBodyBytes: number; readonly maxTokenBytes: number };
  readonly redis?: RedisSettings;
  readonly log: { readonly level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' };
  /** Seconds in-flight exchanges get to finish on SIGTERM. */
  readonly drainSeconds: number;
}

export const TOKEN_EXCHANGE_DEFAULTS = {
  httpsPort: 8443,
  grpcPort: 8444,
  tokenPath: '/token',
  ttlSeconds: 300,
  cacheMarginSeconds: 30,
  cacheMaxEntries: 10_000,
  maxBodyBytes: 64 * 1024,
  maxTokenBytes: 16 * 1024,
} as const;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const ISSUER_ENTRY_FIELDS = ['issuer', 'audiences', 'jwksUri', 'jwks', ...ISSUER_FIELDS];
/** A `kid` as it appears in file names and JWKS: short, URL- and file-name-safe. */
export const KID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Loads and validates the configuration file.
 *
 * @throws ValidationError naming the file and the field.
 * @example
 * const config = await loadTokenExchangeConfig('/etc/token-exchange/config.yaml');
 */
export async function loadTokenExchangeConfig(file: string): Promise<TokenExchangeConfig> {
  return parseTokenExchangeConfig(await readConfigText(file), file);
}

/** Parses configuration text; relative paths are resolved against `file`'s folder. */
export function parseTokenExchangeConfig(text: string, file: string): TokenExchangeConfig {
  const r = new FieldReader(file);
  const baseDir = path.dirname(path.resolve(file));
  const resolve = (value: unknown, field: string): string => path.resolve(baseDir, r.string(value, field));
  const root = r.object(parseConfigYaml(text, file), '', [
    'listen',
    'tls',
    'issuer',
    'tokenPath',
    'signing',
    'tokens',
    'subjectIssuers',
    'actorIssuers',
    'delegation',
    'jwks',
    'limits',
    'redis',
    'log',
    'drainSeconds',
  ]);
  const listen = r.object(root.listen ?? {}, 'listen', ['host', 'httpsPort', 'grpcPort']);
  if (root.tls === undefined) r.fail('tls', 'is required: the service serves HTTPS and gRPC over TLS only');
  const tls = r.object(root.tls, 'tls', ['certFile', 'keyFile', 'clientCaFile']);
  for (const field of ['certFile', 'keyFile', 'clientCaFile']) if (tls[field] === undefined) r.fail(`tls.${field}`, 'is required');
  if (root.signing === undefined) r.fail('signing', 'is required (keysDir and activeKid)');
  const signing = r.object(root.signing, 'signing', ['keysDir', 'activeKid']);
  if (signing.keysDir === undefined) r.fail('signing.keysDir', 'is required');
  if (signing.activeKid === undefined) r.fail('signing.activeKid', 'is required');
  const activeKid = r.string(signing.activeKid, 'signing.activeKid');
  if (!KID_PATTERN.test(activeKid)) r.fail('signing.activeKid', `'${activeKid}' is not a key id of 1 to 64 characters [A-Za-z0-9._-]`);
  const tokens = r.object(root.tokens ?? {}, 'tokens', ['ttlSeconds', 'cacheMarginSeconds', 'cacheMaxEntries']);
  const delegation = r.object(root.delegation ?? {}, 'delegation', ['paths', 'rootNamespace', 'defaultNamespace', 'maxDepth']);
  const limits = r.object(root.limits ?? {}, 'limits', ['maxBodyBytes', 'maxTokenBytes']);
  const log = r.object(root.log ?? {}, 'log', ['level']);
  const level = r.string(log.level ?? 'info', 'log.level');
  if (!(LOG_LEVELS as readonly string[]).includes(level)) r.fail('log.level', `must be one of ${LOG_LEVELS.join(', ')}`);

  const subjectIssuers = readIssuers(r, root.subjectIssuers, 'subjectIssuers');
  if (subjectIssuers.length === 0) r.fail('subjectIssuers', 'must name at least one issuer whose tokens may be exchanged');
  const actorIssuers = root.actorIssuers === undefined ? [] : readIssuers(r, root.actorIssuers, 'actorIssuers');
  const ttlSeconds = r.integer(tokens.ttlSeconds ?? TOKEN_EXCHANGE_DEFAULTS.ttlSeconds, 'tokens.ttlSeconds', 10, 86_400);

  return {
    source: file,
    listen: {
      host: r.string(listen.host ?? '0.0.0.0', 'listen.host'),
      httpsPort: r.port(listen.httpsPort ?? TOKEN_EXCHANGE_DEFAULTS.httpsPort, 'listen.httpsPort'),
      grpcPort: r.port(listen.grpcPort ?? TOKEN_EXCHANGE_DEFAULTS.grpcPort, 'listen.grpcPort'),
    },
    tls: {
      certFile: resolve(tls.certFile, 'tls.certFile'),
      keyFile: resolve(tls.keyFile, 'tls.keyFile'),
      clientCaFile: resolve(tls.clientCaFile, 'tls.clientCaFile'),
    },
    issuer: readIssuerUrl(r, root.issuer),
    tokenPath: readTokenPath(r, root.tokenPath ?? TOKEN_EXCHANGE_DEFAULTS.tokenPath),
    signing: { keysDir: resolve(signing.keysDir, 'signing.keysDir'), activeKid },
    tokens: {
      ttlSeconds,
      cacheMarginSeconds: r.integer(
        tokens.cacheMarginSeconds ?? TOKEN_EXCHANGE_DEFAULTS.cacheMarginSeconds,
        'tokens.cacheMarginSeconds',
        0,
        ttlSeconds - 1,
      ),
      cacheMaxEntries: r.integer(
        tokens.cacheMaxEntries ?? TOKEN_EXCHANGE_DEFAULTS.cacheMaxEntries,
        'tokens.cacheMaxEntries',
        1,
        10_000_000,
      ),
    },
    subjectIssuers,
    actorIssuers,
    delegation: {
      paths: r.strings(delegation.paths ?? [], 'delegation.paths').map((p, i) => resolve(p, `delegation.paths[${i}]`)),
      rootNamespace: r.string(delegation.rootNamespace ?? 'istio-system', 'delegation.rootNamespace'),
      defaultNamespace: r.string(delegation.defaultNamespace ?? 'default', 'delegation.defaultNamespace'),
      maxDepth: r.integer(delegation.maxDepth ?? defaultMaxDelegationDepth, 'delegation.maxDepth', 1, delegationLimits.maxDepth),
    },
    jwks: readJwksSettings(r, root.jwks, 'jwks'),
    limits: {
      maxBodyBytes: r.integer(limits.maxBodyBytes ?? TOKEN_EXCHANGE_DEFAULTS.maxBodyBytes, 'limits.maxBodyBytes', 1024, 1024 * 1024),
      maxTokenBytes: r.integer(limits.maxTokenBytes ?? TOKEN_EXCHANGE_DEFAULTS.maxTokenBytes, 'limits.maxTokenBytes', 256, 1024 * 1024),
    },
    redis: root.redis === undefined ? undefined : readRedis(r, root.redis, baseDir),
    log: { level: level as TokenExchangeConfig['log']['level'] },
    drainSeconds: r.integer(root.drainSeconds ?? 10, 'drainSeconds', 0, 600),
  };
}

function readIssuerUrl(r: FieldReader, value: unknown): string {
  if (value === undefined) r.fail('issuer', 'is required: the https URL minted tokens name as "iss"');
  const text = r.string(value, 'issuer');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    r.fail('issuer', `'${text}' is not a URL`);
  }
  if (url.protocol !== 'https:') r.fail('issuer', 'must be an https:// URL (the service serves its keys over HTTPS)');
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '' || url.username !== '') {
    r.fail('issuer', 'must be scheme, host and port only: discovery and keys are served at its root');
  }
  return `${url.protocol}//${url.host}`;
}

function readTokenPath(r: FieldReader, value: unknown): string {
  const text = r.string(value, 'tokenPath');
  if (!/^\/[A-Za-z0-9._~\-/]*$/.test(text) || text.startsWith('/.well-known/')) {
    r.fail('tokenPath', `'${text}' must be an absolute path of [A-Za-z0-9._~-/] outside /.well-known/`);
  }
  return text;
}

function readIssuers(r: FieldReader, value: unknown, field: string): TrustedIssuer[] {
  const seen = new Set<string>();
  return r.array(value ?? [], field).map((item, i) => {
    const at = `${field}[${i}]`;
    const entry = r.object(item, at, ISSUER_ENTRY_FIELDS);
    if (entry.issuer === undefined) r.fail(`${at}.issuer`, 'is required');
    const issuer = r.string(entry.issuer, `${at}.issuer`);
    if (seen.has(issuer)) r.fail(`${at}.issuer`, `'${issuer}' is listed twice`);
    seen.add(issuer);
    const settingsFields = Object.fromEntries(Object.entries(entry).filter(([key]) => ISSUER_FIELDS.includes(key)));
    const settings = readIssuerSettings(r, settingsFields, at);
    const jwksUri = entry.jwksUri === undefined ? undefined : r.string(entry.jwksUri, `${at}.jwksUri`);
    if (jwksUri !== undefined && !/^https?:\/\/[^/]/.test(jwksUri)) r.fail(`${at}.jwksUri`, 'must be an http(s) URL');
    const jwks = entry.jwks === undefined ? undefined : readInlineJwks(r, entry.jwks, `${at}.jwks`);
    if (jwksUri !== undefined && jwks !== undefined) r.fail(at, 'set jwksUri or jwks, not both');
    if (jwksUri === undefined && jwks === undefined && settings.discovery !== true) {
      r.fail(at, 'needs a key source: jwksUri, jwks, or discovery: true');
    }
    return {
      issuer,
      audiences: r.strings(entry.audiences ?? [], `${at}.audiences`),
      ...(jwksUri === undefined ? {} : { jwksUri }),
      ...(jwks === undefined ? {} : { jwks }),
      settings,
    };
  });
}
