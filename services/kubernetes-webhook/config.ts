/**
 * The Kubernetes webhook's configuration: one YAML file, validated as
 * strictly as gatehouse.yaml (unknown fields are errors naming the field;
 * relative paths are resolved against the file's folder). The JWT
 * authenticators, break-glass tokens and `redis` are read by the readers
 * their own modules own.
 */
import path from 'node:path';
import type { RedisSettings } from '../../gateway/config/config.js';
import { parseConfigYaml, readConfigText, readJwksSettings, type JwksSettings } from '../../gateway/config/config-file.js';
import { FieldReader, readRedis } from '../../gateway/config/load.js';
import { readJwtAuthenticators, type JwtAuthenticator } from '../../gateway/kubernetes/index.js';
import { defaultPolicyNamespace, defaultRootNamespace } from '../../gateway/policy/index.js';
import { readBreakGlassTokens, type BreakGlassToken } from './break-glass-tokens.js';
import { HEALTH_PATH, READY_PATH } from './https-listener.js';

export interface KubernetesWebhookConfig {
  /** The file this configuration came from. */
  readonly source: string;
  readonly listen: { readonly host: string; readonly httpsPort: number; readonly grpcPort: number };
  readonly tls: {
    readonly certFile: string;
    readonly keyFile: string;
    /** CA of the client certificates kube-apiserver (and gRPC callers) present. */
    readonly clientCaFile: string;
    /** Subject CNs, RFC 4514 subjects, DNS or URI SANs allowed to ask; empty: any certificate the CA verifies. */
    readonly allowedClientNames: readonly string[];
  };
  /** HTTPS paths of the two webhooks. */
  readonly paths: { readonly authorize: string; readonly authenticate: string };
  readonly policies: {
    /** Files or folders holding the KubernetesAccessPolicy documents (other kinds in them are not read here). */
    readonly paths: readonly string[];
    readonly rootNamespace: string;
    readonly defaultNamespace: string;
    /** Reload when the files change. */
    readonly watch: boolean;
  };
  readonly authentication: {
    readonly jwt: readonly JwtAuthenticator[];
    /** The verified-token cache (L1 in process; L2 in Redis when configured). */
    readonly cache: { readonly l1MaxEntries: number; readonly maxTtlSeconds: number };
  };
  /** What works when the identity provider does not: static tokens, and subjects every SubjectAccessReview allows. */
  readonly breakGlass: {
    readonly tokens: readonly BreakGlassToken[];
    /** More tokens, read at start from this file (a mounted Secret). */
    readonly tokensFile?: string;
    readonly users: readonly string[];
    readonly groups: readonly string[];
  };
  readonly jwks: JwksSettings;
  readonly limits: { readonly maxBodyBytes: number; readonly maxTokenBytes: number };
  readonly redis?: RedisSettings;
  readonly log: { readonly level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' };
  /** Seconds reviews in flight get to finish on SIGTERM. */
  readonly drainSeconds: number;
}

export const KUBERNETES_WEBHOOK_DEFAULTS = {
  httpsPort: 8443,
  grpcPort: 8444,
  authorizePath: '/authorize',
  authenticatePath: '/authenticate',
  l1MaxEntries: 100_000,
  maxTtlSeconds: 300,
  maxBodyBytes: 128 * 1024,
  maxTokenBytes: 16 * 1024,
} as const;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const ROOT_FIELDS = [
  'listen',
  'tls',
  'paths',
  'policies',
  'authentication',
  'breakGlass',
  'jwks',
  'limits',
  'redis',
  'log',
  'drainSeconds',
];

/**
 * Loads and validates the configuration file.
 *
 * @throws ValidationError naming the file and the field.
 * @example
 * const config = await loadKubernetesWebhookConfig('/etc/gatehouse/kubernetes-webhook.yaml');
 */
export async function loadKubernetesWebhookConfig(file: string): Promise<KubernetesWebhookConfig> {
  return parseKubernetesWebhookConfig(await readConfigText(file), file);
}

/** Parses configuration text; relative paths are resolved against `file`'s folder. */
export function parseKubernetesWebhookConfig(text: string, file: string): KubernetesWebhookConfig {
  const r = new FieldReader(file);
  const baseDir = path.dirname(path.resolve(file));
  const resolve = (value: unknown, field: string): string => path.resolve(baseDir, r.string(value, field));
  const root = r.object(parseConfigYaml(text, file), '', ROOT_FIELDS);
  const listen = r.object(root.listen ?? {}, 'listen', ['host', 'httpsPort', 'grpcPort']);
  if (root.tls === undefined) r.fail('tls', 'is required: kube-apiserver calls webhooks over HTTPS with a client certificate');
  const tls = r.object(root.tls, 'tls', ['certFile', 'keyFile', 'clientCaFile', 'allowedClientNames']);
  for (const field of ['certFile', 'keyFile', 'clientCaFile']) if (tls[field] === undefined) r.fail(`tls.${field}`, 'is required');
  const paths = r.object(root.paths ?? {}, 'paths', ['authorize', 'authenticate']);
  const policies = r.object(root.policies ?? {}, 'policies', ['paths', 'rootNamespace', 'defaultNamespace', 'watch']);
  const authentication = r.object(root.authentication ?? {}, 'authentication', ['jwt', 'cache']);
  const cache = r.object(authentication.cache ?? {}, 'authentication.cache', ['l1MaxEntries', 'maxTtlSeconds']);
  const breakGlass = r.object(root.breakGlass ?? {}, 'breakGlass', ['tokens', 'tokensFile', 'users', 'groups']);
  const limits = r.object(root.limits ?? {}, 'limits', ['maxBodyBytes', 'maxTokenBytes']);
  const log = r.object(root.log ?? {}, 'log', ['level']);
  const level = r.string(log.level ?? 'info', 'log.level');
  if (!(LOG_LEVELS as readonly string[]).includes(level)) r.fail('log.level', `must be one of ${LOG_LEVELS.join(', ')}`);

  const httpsPort = r.port(listen.httpsPort ?? KUBERNETES_WEBHOOK_DEFAULTS.httpsPort, 'listen.httpsPort');
  const grpcPort = r.port(listen.grpcPort ?? KUBERNETES_WEBHOOK_DEFAULTS.grpcPort, 'listen.grpcPort');
  if (httpsPort === grpcPort && httpsPort !== 0) r.fail('listen.grpcPort', `must differ from listen.httpsPort (${httpsPort})`);
  const authorize = readPath(r, paths.authorize ?? KUBERNETES_WEBHOOK_DEFAULTS.authorizePath, 'paths.authorize');
  const authenticate = readPath(r, paths.authenticate ?? KUBERNETES_WEBHOOK_DEFAULTS.authenticatePath, 'paths.authenticate');
  if (authorize === authenticate) r.fail('paths.authenticate', `must differ from paths.authorize ('${authorize}')`);

  return {
    source: file,
    listen: {
      host: r.string(listen.host ?? '0.0.0.0', 'listen.host'),
      httpsPort,
      grpcPort,
    },
    tls: {
      certFile: resolve(tls.certFile, 'tls.certFile'),
      keyFile: resolve(tls.keyFile, 'tls.keyFile'),
      clientCaFile: resolve(tls.clientCaFile, 'tls.clientCaFile'),
      allowedClientNames: r.strings(tls.allowedClientNames ?? [], 'tls.allowedClientNames'),
    },
    paths: { authorize, authenticate },
    policies: {
      paths: r.strings(policies.paths ?? [], 'policies.paths').map((p, i) => resolve(p, `policies.paths[${i}]`)),
      rootNamespace: r.string(policies.rootNamespace ?? defaultRootNamespace, 'policies.rootNamespace'),
      defaultNamespace: r.string(policies.defaultNamespace ?? defaultPolicyNamespace, 'policies.defaultNamespace'),
      watch: r.boolean(policies.watch ?? true, 'policies.watch'),
    },
    authentication: {
      jwt: readJwtAuthenticators(r, authentication.jwt ?? [], 'authentication.jwt'),
      cache: {
        l1MaxEntries: r.integer(
          cache.l1MaxEntries ?? KUBERNETES_WEBHOOK_DEFAULTS.l1MaxEntries,
          'authentication.cache.l1MaxEntries',
          1,
          10_000_000,
        ),
        maxTtlSeconds: r.integer(
          cache.maxTtlSeconds ?? KUBERNETES_WEBHOOK_DEFAULTS.maxTtlSeconds,
          'authentication.cache.maxTtlSeconds',
          1,
          86_400,
        ),
      },
    },
    breakGlass: {
      tokens: readBreakGlassTokens(r, breakGlass.tokens ?? [], 'breakGlass.tokens'),
      ...(breakGlass.tokensFile === undefined ? {} : { tokensFile: resolve(breakGlass.tokensFile, 'breakGlass.tokensFile') }),
      users: r.strings(breakGlass.users ?? [], 'breakGlass.users'),
      groups: r.strings(breakGlass.groups ?? [], 'breakGlass.groups'),
    },
    jwks: readJwksSettings(r, root.jwks, 'jwks'),
    limits: {
      maxBodyBytes: r.integer(
        limits.maxBodyBytes ?? KUBERNETES_WEBHOOK_DEFAULTS.maxBodyBytes,
        'limits.maxBodyBytes',
        1024,
        4 * 1024 * 1024,
      ),
      maxTokenBytes: r.integer(limits.maxTokenBytes ?? KUBERNETES_WEBHOOK_DEFAULTS.maxTokenBytes, 'limits.maxTokenBytes', 256, 1024 * 1024),
    },
    ...(root.redis === undefined ? {} : { redis: readRedis(r, root.redis, baseDir) }),
    log: { level: level as KubernetesWebhookConfig['log']['level'] },
    drainSeconds: r.integer(root.drainSeconds ?? 10, 'drainSeconds', 0, 600),
  };
}

/** A webhook path: absolute, of [A-Za-z0-9._~-/], not a probe path. */
function readPath(r: FieldReader, value: unknown, field: string): string {
  const text = r.string(value, field);
  if (!/^\/[A-Za-z0-9._~\-/]*$/.test(text)) r.fail(field, `'${text}' must be an absolute path of [A-Za-z0-9._~-/]`);
  if (text === HEALTH_PATH || text === READY_PATH) r.fail(field, `'${text}' is the probes' path`);
  return text;
}
