/**
 * Reads and validates a Gatehouse configuration file. Every problem is a
 * ValidationError naming the file and the field, so a typo fails start-up
 * with a message the operator can act on.
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { ValidationError } from '../errors.js';
import { supportedAlgorithms, validatePeerConfig } from '../identity/index.js';
import { defaultMaxDelegationDepth, delegationLimits } from '../policy/index.js';
import { neverLoggedReason } from '../decision-log/redaction.js';
import { readApiKeys, readClientCredentials } from './credentials.js';
import { readKubernetesFrontProxy } from '../kubernetes/front-proxy-config.js';
import {
  DEFAULT_PORT,
  type AdminSettings,
  type TelemetrySettings,
  type DecisionLogSettings,
  type GatehouseConfig,
  type HostPort,
  type IssuerSettings,
  type JwtSettings,
  type RedisSettings,
  type TlsConfig,
  type WorkloadEntry,
} from './config.js';

/** The demo configuration shipped with Gatehouse: the todo application. */
export const DEMO_CONFIG_PATH = fileURLToPath(new URL('../../../deploy/examples/todo/gatehouse.yaml', import.meta.url));

const MAX_CONFIG_BYTES = 1024 * 1024;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

/**
 * Loads the configuration file at `file`; `$PORT` overrides `listen.port`.
 *
 * @example
 * const config = await loadConfig('deploy/examples/todo/gatehouse.yaml', process.env);
 */
export async function loadConfig(file: string, env: NodeJS.ProcessEnv = {}): Promise<GatehouseConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ValidationError(file, undefined, '', `cannot read the file: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  return parseConfig(text, file, env);
}

/** Parses configuration text; relative paths inside are resolved against `file`'s folder. */
export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = {}): GatehouseConfig {
  if (Buffer.byteLength(text) > MAX_CONFIG_BYTES) {
    throw new ValidationError(file, undefined, '', `larger than ${MAX_CONFIG_BYTES} bytes`);
  }
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ValidationError(file, undefined, '', `not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
  }
  const raw: unknown = doc.toJS() ?? {};
  const r = new FieldReader(file);
  const baseDir = path.dirname(path.resolve(file));
  const root = r.object(raw, '', [
    'listen',
    'tls',
    'policies',
    'identity',
    'workloads',
    'response',
    'limits',
    'redis',
    'jwt',
    'admin',
    'telemetry',
    'delegation',
    'log',
    'decisionLog',
    'apiKeys',
    'clientCredentials',
    'kubernetesFrontProxy',
    'drainSeconds',
  ]);

  const listen = r.object(root.listen ?? {}, 'listen', ['host', 'port']);
  const port = env.PORT !== undefined && env.PORT !== '' ? r.port(env.PORT, '$PORT') : r.port(listen.port ?? DEFAULT_PORT, 'listen.port');

  const policies = r.object(root.policies ?? {}, 'policies', ['paths', 'rootNamespace', 'defaultNamespace', 'watch']);
  const identity = r.object(root.identity ?? {}, 'identity', ['trustDomains', 'xfcc', 'numTrustedProxies']);
  const xfcc = r.object(identity.xfcc ?? {}, 'identity.xfcc', ['trustedPeers', 'trustedCidrs']);
  const response = r.object(root.response ?? {}, 'response', ['peerHeader', 'decisionIdHeader', 'subjectHeader', 'actorsHeader']);
  const delegation = r.object(root.delegation ?? {}, 'delegation', ['maxDepth']);
  const limits = r.object(root.limits ?? {}, 'limits', ['maxHeaderCount', 'maxHeaderBytes', 'maxPathBytes']);
  const log = r.object(root.log ?? {}, 'log', ['level']);

  const trustedCidrs = r.strings(xfcc.trustedCidrs ?? [], 'identity.xfcc.trustedCidrs');
  trustedCidrs.forEach((cidr, i) => {
    if (!isCidr(cidr)) r.fail(`identity.xfcc.trustedCidrs[${i}]`, `'${cidr}' is not an IP address or CIDR block`);
  });

  const level = r.string(log.level ?? 'info', 'log.level');
  if (!(LOG_LEVELS as readonly string[]).includes(level)) r.fail('log.level', `must be one of ${LOG_LEVELS.join(', ')}`);

  const trustDomains = r.strings(identity.trustDomains ?? [], 'identity.trustDomains');
  const trustedPeers = r.strings(xfcc.trustedPeers ?? [], 'identity.xfcc.trustedPeers');
  const [peerProblem] = validatePeerConfig({ xfcc: { trustedPeers, trustedCidrs }, trustDomains });
  if (peerProblem) r.fail('identity', peerProblem);

  const policyPaths = r.strings(policies.paths ?? [], 'policies.paths').map((p) => path.resolve(baseDir, p));
  const kubernetesFrontProxy =
    root.kubernetesFrontProxy === undefined ? undefined : readKubernetesFrontProxy(r, root.kubernetesFrontProxy, baseDir, policyPaths);

  return {
    source: file,
    listen: { host: r.string(listen.host ?? '0.0.0.0', 'listen.host'), port },
    tls: root.tls === undefined ? undefined : readTls(r, root.tls, baseDir),
    policies: {
      paths: policyPaths,
      rootNamespace: r.string(policies.rootNamespace ?? 'istio-system', 'policies.rootNamespace'),
      defaultNamespace: r.string(policies.defaultNamespace ?? 'default', 'policies.defaultNamespace'),
      watch: r.boolean(policies.watch ?? true, 'policies.watch'),
    },
    identity: {
      trustDomains,
      xfcc: { trustedPeers, trustedCidrs },
      numTrustedProxies: r.integer(identity.numTrustedProxies ?? 0, 'identity.numTrustedProxies', 0, 16),
    },
    workloads: r.array(root.workloads ?? [], 'workloads').map((entry, i) => readWorkload(r, entry, `workloads[${i}]`)),
    response: {
      peerHeader: r.headerName(response.peerHeader ?? 'x-gatehouse-peer', 'response.peerHeader'),
      decisionIdHeader: r.headerName(response.decisionIdHeader ?? 'x-gatehouse-decision-id', 'response.decisionIdHeader'),
      subjectHeader: r.headerName(response.subjectHeader ?? 'x-gatehouse-subject', 'response.subjectHeader'),
      actorsHeader: r.headerName(response.actorsHeader ?? 'x-gatehouse-actors', 'response.actorsHeader'),
    },
    delegation: {
      maxDepth: r.integer(delegation.maxDepth ?? defaultMaxDelegationDepth, 'delegation.maxDepth', 1, delegationLimits.maxDepth),
    },
    limits: {
      maxHeaderCount: r.integer(limits.maxHeaderCount ?? 256, 'limits.maxHeaderCount', 1, 10_000),
      maxHeaderBytes: r.integer(limits.maxHeaderBytes ?? 96 * 1024, 'limits.maxHeaderBytes', 1024, 16 * 1024 * 1024),
      maxPathBytes: r.integer(limits.maxPathBytes ?? 8192, 'limits.maxPathBytes', 64, 1024 * 1024),
    },
    redis: root.redis === undefined ? undefined : readRedis(r, root.redis, baseDir),
    jwt: readJwt(r, root.jwt ?? {}),
    admin: readAdmin(r, root.admin ?? {}),
    telemetry: readTelemetry(r, root.telemetry ?? {}, env),
    log: { level: level as GatehouseConfig['log']['level'] },
    decisionLog: readDecisionLog(r, root.decisionLog ?? {}, baseDir),
    ...(root.apiKeys === undefined ? {} : { apiKeys: readApiKeys(r, root.apiKeys, baseDir, root.redis !== undefined) }),
    ...(root.clientCredentials === undefined ? {} : { clientCredentials: readClientCredentials(r, root.clientCredentials, trustDomains) }),
    ...(kubernetesFrontProxy === undefined ? {} : { kubernetesFrontProxy }),
    drainSeconds: r.integer(root.drainSeconds ?? 10, 'drainSeconds', 0, 600),
  };
}

function readTls(r: FieldReader, value: unknown, baseDir: string): TlsConfig {
  const tls = r.object(value, 'tls', ['certFile', 'keyFile', 'clientCaFile', 'requireClientCert']);
  if (tls.certFile === undefined) r.fail('tls.certFile', 'is required when tls is set');
  if (tls.keyFile === undefined) r.fail('tls.keyFile', 'is required when tls is set');
  const clientCaFile = tls.clientCaFile === undefined ? undefined : path.resolve(baseDir, r.string(tls.clientCaFile, 'tls.clientCaFile'));
  const requireClientCert = r.boolean(tls.requireClientCert ?? clientCaFile !== undefined, 'tls.requireClientCert');
  if (requireClientCert && clientCaFile === undefined) r.fail('tls.clientCaFile', 'is required when requireClientCert is true');
  return {
    certFile: path.resolve(baseDir, r.string(tls.certFile, 'tls.certFile')),
    keyFile: path.resolve(baseDir, r.string(tls.keyFile, 'tls.keyFile')),
    clientCaFile,
    requireClientCert,
  };
}

function readWorkload(r: FieldReader, value: unknown, field: string): WorkloadEntry {
  const entry = r.object(value, field, ['namespace', 'serviceAccount', 'labels', 'service']);
  if (entry.namespace === undefined) r.fail(`${field}.namespace`, 'is required');
  if (entry.serviceAccount === undefined) r.fail(`${field}.serviceAccount`, 'is required');
  const labels = r.object(entry.labels ?? {}, `${field}.labels`, undefined);
  const labelMap: Record<string, string> = {};
  for (const [key, labelValue] of Object.entries(labels)) labelMap[key] = r.string(labelValue, `${field}.labels.${key}`);
  return {
    namespace: r.string(entry.namespace, `${field}.namespace`),
    serviceAccount: r.string(entry.serviceAccount, `${field}.serviceAccount`),
    labels: labelMap,
    service: entry.service === undefined ? undefined : r.string(entry.service, `${field}.service`),
  };
}

/** The port of the admin gRPC listener when enabled without one. */
export const DEFAULT_ADMIN_PORT = 9192;

/** The `redis` section (also read by the companion services' configurations). */
export function readRedis(r: FieldReader, value: unknown, baseDir: string): RedisSettings {
  const redis = r.object(value, 'redis', [
    'url',
    'sentinel',
    'cluster',
    'username',
    'passwordFile',
    'passwordEnv',
    'tls',
    'keyPrefix',
    'commandTimeoutMs',
    'connectTimeoutMs',
    'db',
  ]);
  const topologies = ['url', 'sentinel', 'cluster'].filter((key) => redis[key] !== undefined);
  if (topologies.length !== 1) r.fail('redis', 'set exactly one of url, sentinel, cluster');
  let url: string | undefined;
  if (redis.url !== undefined) {
    url = r.string(redis.url, 'redis.url');
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      r.fail('redis.url', `'${url}' is not a URL`);
    }
    if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') r.fail('redis.url', 'must start with redis:// or rediss://');
    if (parsed.password) r.fail('redis.url', 'must not contain a password: use passwordFile or passwordEnv');
  }
  const sentinel = redis.sentinel === undefined ? undefined : r.object(redis.sentinel, 'redis.sentinel', ['masterName', 'sentinels']);
  const cluster = redis.cluster === undefined ? undefined : r.object(redis.cluster, 'redis.cluster', ['nodes']);
  const tls = redis.tls === undefined ? undefined : r.object(redis.tls, 'redis.tls', ['caFile', 'certFile', 'keyFile', 'servername']);
  const file = (field: string, v: unknown): string | undefined => (v === undefined ? undefined : path.resolve(baseDir, r.string(v, field)));
  return {
    url,
    sentinel: sentinel && {
      masterName: r.string(sentinel.masterName, 'redis.sentinel.masterName'),
      sentinels: readHostPorts(r, sentinel.sentinels, 'redis.sentinel.sentinels'),
    },
    cluster: cluster && { nodes: readHostPorts(r, cluster.nodes, 'redis.cluster.nodes') },
    username: redis.username === undefined ? undefined : r.string(redis.username, 'redis.username'),
    passwordFile: file('redis.passwordFile', redis.passwordFile),
    passwordEnv: redis.passwordEnv === undefined ? undefined : r.string(redis.passwordEnv, 'redis.passwordEnv'),
    tls: tls && {
      caFile: file('redis.tls.caFile', tls.caFile),
      certFile: file('redis.tls.certFile', tls.certFile),
      keyFile: file('redis.tls.keyFile', tls.keyFile),
      servername: tls.servername === undefined ? undefined : r.string(tls.servername, 'redis.tls.servername'),
    },
    keyPrefix: r.string(redis.keyPrefix ?? 'gatehouse:', 'redis.keyPrefix'),
    commandTimeoutMs: r.integer(redis.commandTimeoutMs ?? 50, 'redis.commandTimeoutMs', 1, 60_000),
    connectTimeoutMs: r.integer(redis.connectTimeoutMs ?? 1000, 'redis.connectTimeoutMs', 1, 60_000),
    db: r.integer(redis.db ?? 0, 'redis.db', 0, 15),
  };
}

function readHostPorts(r: FieldReader, value: unknown, field: string): HostPort[] {
  const list = r.array(value, field);
  if (list.length === 0) r.fail(field, 'must name at least one host:port');
  return list.map((item, i) => {
    const text = r.string(item, `${field}[${i}]`);
    const match = /^(.+):(\d{1,5})$/.exec(text);
    if (!match) r.fail(`${field}[${i}]`, `'${text}' is not host:port`);
    return { host: match[1]!.replace(/^\[(.*)\]$/, '$1'), port: r.port(match[2], `${field}[${i}]`) };
  });
}

/** The fields of one issuer's settings (`jwt.defaults`, `jwt.issuers.<issuer>`). */
export const ISSUER_FIELDS = ['discovery', 'algorithms', 'clockSkewSeconds', 'maxTokenAgeSeconds', 'requiredClaims', 'requiredType'];

/** One issuer's settings, `field` naming where they are. */
export function readIssuerSettings(r: FieldReader, value: unknown, field: string): IssuerSettings {
  const issuer = r.object(value, field, ISSUER_FIELDS);
  const algorithms = issuer.algorithms === undefined ? undefined : r.strings(issuer.algorithms, `${field}.algorithms`);
  algorithms?.forEach((algorithm, i) => {
    if (!supportedAlgorithms.has(algorithm)) {
      r.fail(
        `${field}.algorithms[${i}]`,
        `'${algorithm}' is not a supported JWS algorithm (${[...supportedAlgorithms].join(', ')}); 'none' and HMAC are never accepted`,
      );
    }
  });
  if (algorithms?.length === 0) r.fail(`${field}.algorithms`, 'must name at least one algorithm');
  return {
    discovery: issuer.discovery === undefined ? undefined : r.boolean(issuer.discovery, `${field}.discovery`),
    algorithms,
    clockSkewSeconds:
      issuer.clockSkewSeconds === undefined ? undefined : r.integer(issuer.clockSkewSeconds, `${field}.clockSkewSeconds`, 0, 600),
    maxTokenAgeSeconds:
      issuer.maxTokenAgeSeconds === undefined
        ? undefined
        : r.integer(issuer.maxTokenAgeSeconds, `${field}.maxTokenAgeSeconds`, 1, 31_536_000),
    requiredClaims: issuer.requiredClaims === undefined ? undefined : r.strings(issuer.requiredClaims, `${field}.requiredClaims`),
    requiredType: issuer.requiredType === undefined ? undefined : r.string(issuer.requiredType, `${field}.requiredType`),
  };
}

function readJwt(r: FieldReader, value: unknown): JwtSettings {
  const jwt = r.object(value, 'jwt', ['maxTokenBytes', 'defaults', 'issuers', 'jwks', 'cache', 'revocation']);
  const jwks = r.object(jwt.jwks ?? {}, 'jwt.jwks', [
    'fetchTimeoutMs',
    'checkWaitMs',
    'refreshIntervalSeconds',
    'unknownKidCooldownSeconds',
    'maxStaleSeconds',
  ]);
  const cache = r.object(jwt.cache ?? {}, 'jwt.cache', ['l1MaxEntries', 'l1MaxBytes', 'maxTtlSeconds', 'negativeTtlSeconds']);
  const revocation = r.object(jwt.revocation ?? {}, 'jwt.revocation', [
    'maxCachedAgeWhileDisconnectedSeconds',
    'subjectRevocationTtlSeconds',
  ]);
  const issuers: Record<string, IssuerSettings> = {};
  for (const [issuer, settings] of Object.entries(r.object(jwt.issuers ?? {}, 'jwt.issuers', undefined))) {
    issuers[issuer] = readIssuerSettings(r, settings, `jwt.issuers.${issuer}`);
  }
  return {
    maxTokenBytes: r.integer(jwt.maxTokenBytes ?? 16 * 1024, 'jwt.maxTokenBytes', 256, 1024 * 1024),
    defaults: readIssuerSettings(r, jwt.defaults ?? {}, 'jwt.defaults'),
    issuers,
    jwks: {
      fetchTimeoutMs: r.integer(jwks.fetchTimeoutMs ?? 2000, 'jwt.jwks.fetchTimeoutMs', 10, 60_000),
      checkWaitMs: r.integer(jwks.checkWaitMs ?? 200, 'jwt.jwks.checkWaitMs', 0, 60_000),
      refreshIntervalSeconds: r.integer(jwks.refreshIntervalSeconds ?? 300, 'jwt.jwks.refreshIntervalSeconds', 1, 86_400),
      unknownKidCooldownSeconds: r.integer(jwks.unknownKidCooldownSeconds ?? 30, 'jwt.jwks.unknownKidCooldownSeconds', 0, 3600),
      maxStaleSeconds: r.integer(jwks.maxStaleSeconds ?? 86_400, 'jwt.jwks.maxStaleSeconds', 0, 30 * 86_400),
    },
    cache: {
      l1MaxEntries: r.integer(cache.l1MaxEntries ?? 100_000, 'jwt.cache.l1MaxEntries', 1, 10_000_000),
      l1MaxBytes: r.integer(cache.l1MaxBytes ?? 64 * 1024 * 1024, 'jwt.cache.l1MaxBytes', 1024, 16 * 1024 * 1024 * 1024),
      maxTtlSeconds: r.integer(cache.maxTtlSeconds ?? 300, 'jwt.cache.maxTtlSeconds', 1, 86_400),
      negativeTtlSeconds: r.integer(cache.negativeTtlSeconds ?? 5, 'jwt.cache.negativeTtlSeconds', 0, 300),
    },
    revocation: {
      maxCachedAgeWhileDisconnectedSeconds: r.integer(
        revocation.maxCachedAgeWhileDisconnectedSeconds ?? 5,
        'jwt.revocation.maxCachedAgeWhileDisconnectedSeconds',
        0,
        3600,
      ),
      subjectRevocationTtlSeconds: r.integer(
        revocation.subjectRevocationTtlSeconds ?? 86_400,
        'jwt.revocation.subjectRevocationTtlSeconds',
        60,
        30 * 86_400,
      ),
    },
  };
}

function readAdmin(r: FieldReader, value: unknown): AdminSettings {
  const admin = r.object(value, 'admin', ['enabled', 'host', 'port']);
  return {
    enabled: r.boolean(admin.enabled ?? false, 'admin.enabled'),
    host: r.string(admin.host ?? '127.0.0.1', 'admin.host'),
    port: r.port(admin.port ?? DEFAULT_ADMIN_PORT, 'admin.port'),
  };
}

/** The admin HTTP port when neither the configuration nor `$OTEL_EXPORTER_PROMETHEUS_PORT` names one (the OpenTelemetry Prometheus exporter's). */
export const DEFAULT_ADMIN_HTTP_PORT = 9464;

/**
 * The `telemetry` section. `$OTEL_EXPORTER_PROMETHEUS_HOST` and `_PORT`, the
 * OpenTelemetry Prometheus exporter's variables, override the admin HTTP
 * port's host and port (as `$PORT` overrides `listen.port`).
 */
function readTelemetry(r: FieldReader, value: unknown, env: NodeJS.ProcessEnv): TelemetrySettings {
  const telemetry = r.object(value, 'telemetry', ['adminHttp']);
  const adminHttp = r.object(telemetry.adminHttp ?? {}, 'telemetry.adminHttp', ['enabled', 'host', 'port']);
  const fromEnv = (name: string): string | undefined => (env[name] === undefined || env[name] === '' ? undefined : env[name]);
  const envHost = fromEnv('OTEL_EXPORTER_PROMETHEUS_HOST');
  const envPort = fromEnv('OTEL_EXPORTER_PROMETHEUS_PORT');
  return {
    adminHttp: {
      enabled: r.boolean(adminHttp.enabled ?? true, 'telemetry.adminHttp.enabled'),
      host: envHost ?? r.string(adminHttp.host ?? '0.0.0.0', 'telemetry.adminHttp.host'),
      port:
        envPort !== undefined
          ? r.port(envPort, '$OTEL_EXPORTER_PROMETHEUS_PORT')
          : r.port(adminHttp.port ?? DEFAULT_ADMIN_HTTP_PORT, 'telemetry.adminHttp.port'),
    },
  };
}

function readDecisionLog(r: FieldReader, value: unknown, baseDir: string): DecisionLogSettings {
  const field = 'decisionLog';
  const settings = r.object(value, field, ['enabled', 'destination', 'sample', 'headers', 'includeQuery', 'claims', 'redact']);
  const sample = r.object(settings.sample ?? {}, `${field}.sample`, ['allow', 'deny', 'divergence']);
  const fraction = (v: unknown, name: string): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) r.fail(name, `must be a number from 0 to 1, got ${describe(v)}`);
    return v;
  };
  const neverLogged = (names: string[], list: string, what: string): string[] =>
    names.map((name, i) => {
      const reason = neverLoggedReason(name);
      if (reason !== undefined) r.fail(`${field}.${list}[${i}]`, `'${name}' ${reason}; ${what} like it are never logged`);
      return name;
    });
  const headers = r.strings(settings.headers ?? [], `${field}.headers`).map((name, i) => {
    const lower = name.toLowerCase();
    if (!HEADER_NAME.test(lower)) r.fail(`${field}.headers[${i}]`, `'${name}' is not an HTTP header name`);
    return lower;
  });
  const destination = r.string(settings.destination ?? 'stdout', `${field}.destination`);
  return {
    enabled: r.boolean(settings.enabled ?? false, `${field}.enabled`),
    destination: destination === 'stdout' ? 'stdout' : { file: path.resolve(baseDir, destination) },
    sample: {
      allow: fraction(sample.allow ?? 1, `${field}.sample.allow`),
      deny: fraction(sample.deny ?? 1, `${field}.sample.deny`),
      divergence: fraction(sample.divergence ?? 1, `${field}.sample.divergence`),
    },
    headers: neverLogged(headers, 'headers', 'headers'),
    includeQuery: r.boolean(settings.includeQuery ?? false, `${field}.includeQuery`),
    claims: neverLogged(r.strings(settings.claims ?? [], `${field}.claims`), 'claims', 'claims'),
    redact: r.strings(settings.redact ?? [], `${field}.redact`),
  };
}

function isCidr(text: string): boolean {
  const [address, bits, ...rest] = text.split('/');
  if (rest.length > 0 || address === undefined) return false;
  const family = isIP(address);
  if (family === 0) return false;
  if (bits === undefined) return true;
  if (!/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

/** Reads typed values out of parsed YAML, failing with the field's path. */
export class FieldReader {
  constructor(private readonly file: string) {}

  fail(field: string, problem: string): never {
    throw new ValidationError(this.file, undefined, field, problem);
  }

  object(value: unknown, field: string, allowed: readonly string[] | undefined): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.fail(field || '(top level)', `must be a mapping, got ${describe(value)}`);
    }
    const record = value as Record<string, unknown>;
    if (allowed) {
      for (const key of Object.keys(record)) {
        if (!allowed.includes(key)) this.fail(field ? `${field}.${key}` : key, `unknown field (expected one of: ${allowed.join(', ')})`);
      }
    }
    return record;
  }

  array(value: unknown, field: string): unknown[] {
    if (!Array.isArray(value)) this.fail(field, `must be a list, got ${describe(value)}`);
    return value;
  }

  string(value: unknown, field: string): string {
    if (typeof value !== 'string' || value === '') this.fail(field, `must be a non-empty string, got ${describe(value)}`);
    return value;
  }

  strings(value: unknown, field: string): string[] {
    return this.array(value, field).map((item, i) => this.string(item, `${field}[${i}]`));
  }

  boolean(value: unknown, field: string): boolean {
    if (typeof value !== 'boolean') this.fail(field, `must be true or false, got ${describe(value)}`);
    return value;
  }

  integer(value: unknown, field: string, min: number, max: number): number {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      this.fail(field, `must be a whole number from ${min} to ${max}, got ${describe(value)}`);
    }
    return value;
  }

  port(value: unknown, field: string): number {
    const number = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
    return this.integer(number, field, 0, 65535);
  }

  headerName(value: unknown, field: string): string {
    const name = this.string(value, field);
    if (!HEADER_NAME.test(name)) this.fail(field, `'${name}' is not a lower-case HTTP header name`);
    return name;
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `'${value.length > 40 ? `${value.slice(0, 40)}…` : value}'`;
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${value}`;
  return typeof value;
}
