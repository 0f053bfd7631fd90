/**
 * Gatehouse's own configuration: where to listen, TLS, where the policies
 * are, whom to trust for forwarded identities, and how workloads are named.
 * Parsed once at start-up from YAML into types that cannot be invalid.
 */
import type { KubernetesFrontProxySettings } from '../kubernetes/front-proxy-config.js';

/** TLS for Gatehouse's own listener. Paths are resolved against the config file. */
export interface TlsConfig {
  readonly certFile: string;
  readonly keyFile: string;
  /** CA bundle that client certificates must chain to. */
  readonly clientCaFile?: string;
  /** Refuse connections without a valid client certificate (mTLS). Default true when clientCaFile is set. */
  readonly requireClientCert: boolean;
}

/** A workload Gatehouse should know by its service account, for policies with `selector` or `targetRefs`. */
export interface WorkloadEntry {
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly service?: string;
}

/** Where Redis is and how to reach it. Secrets are read from files or the environment, never inline. */
export interface RedisSettings {
  /** Standalone: `redis://` or `rediss://` URL (without a password). */
  readonly url?: string;
  readonly sentinel?: { readonly masterName: string; readonly sentinels: readonly HostPort[] };
  readonly cluster?: { readonly nodes: readonly HostPort[] };
  readonly username?: string;
  /** File holding the password (e.g. a mounted Kubernetes Secret). */
  readonly passwordFile?: string;
  /** Environment variable holding the password. */
  readonly passwordEnv?: string;
  readonly tls?: { readonly caFile?: string; readonly certFile?: string; readonly keyFile?: string; readonly servername?: string };
  readonly keyPrefix: string;
  readonly commandTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly db: number;
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Gatehouse's extensions for an issuer; the Istio RequestAuthentication documents cannot say these. */
export interface IssuerSettings {
  readonly discovery?: boolean;
  readonly algorithms?: readonly string[];
  readonly clockSkewSeconds?: number;
  readonly maxTokenAgeSeconds?: number;
  readonly requiredClaims?: readonly string[];
  readonly requiredType?: string;
}

export interface JwtSettings {
  readonly maxTokenBytes: number;
  /** Applied to every issuer, under `issuers.<issuer>`. */
  readonly defaults: IssuerSettings;
  readonly issuers: Readonly<Record<string, IssuerSettings>>;
  readonly jwks: {
    readonly fetchTimeoutMs: number;
    /** How long a Check waits for a key-set fetch it needs; the fetch itself goes on up to `fetchTimeoutMs`. */
    readonly checkWaitMs: number;
    readonly refreshIntervalSeconds: number;
    readonly unknownKidCooldownSeconds: number;
    readonly maxStaleSeconds: number;
  };
  readonly cache: {
    readonly l1MaxEntries: number;
    readonly l1MaxBytes: number;
    readonly maxTtlSeconds: number;
    readonly negativeTtlSeconds: number;
  };
  readonly revocation: {
    /** While the revocation feed is down, cached verdicts older than this are not served. */
    readonly maxCachedAgeWhileDisconnectedSeconds: number;
    /** How long a "all tokens of this subject issued before T" revocation is kept. */
    readonly subjectRevocationTtlSeconds: number;
  };
}

/** The admin gRPC listener (revocation). Off the Check port, loopback by default. */
export interface AdminSettings {
  readonly enabled: boolean;
  readonly host: string;
  readonly port: number;
}

/**
 * Telemetry (docs/telemetry.md). Traces and OTLP metrics follow the standard
 * `OTEL_*` environment variables; this is the admin HTTP port: `/metrics`
 * (Prometheus), `/healthz`, `/readyz` and `/config`.
 */
export interface TelemetrySettings {
  readonly adminHttp: { readonly enabled: boolean; readonly host: string; readonly port: number };
}

/** One JSON line per decision (docs/decision-logs.md). */
export interface DecisionLogSettings {
  readonly enabled: boolean;
  /** `stdout`, beside the other logs, or the path of a file to append to. */
  readonly destination: 'stdout' | { readonly file: string };
  /** Fractions (0 to 1) of allowed, denied and shadow-divergent decisions that are written. */
  readonly sample: { readonly allow: number; readonly deny: number; readonly divergence: number };
  /** Lower-case names of the request headers whose values are recorded; never credentials. */
  readonly headers: readonly string[];
  /** Record the query string; off by default (queries carry personal data and tokens). */
  readonly includeQuery: boolean;
  /** Claims of an accepted token to record; none by default. */
  readonly claims: readonly string[];
  /** Field, header, parameter, context extension or claim names whose values are replaced by `[redacted]`. */
  readonly redact: readonly string[];
}

/** API keys as service credentials (docs/api-keys.md). */
export interface ApiKeySettings {
  /** The key file (e.g. a mounted Kubernetes Secret); absent: keys are in Redis, under `redis.keyPrefix`. */
  readonly file?: string;
  /** Reload the key file when it changes. */
  readonly watch: boolean;
  /** The request principal of a key is `<issuer>/<principal>`. */
  readonly issuer: string;
  /** Where keys are read, in order; lower-case names, `prefix` an auth scheme such as `ApiKey ` or empty. */
  readonly headers: readonly { readonly name: string; readonly prefix: string }[];
  /** The one query parameter a key may come in; absent: a key in the query is refused. */
  readonly queryParameter?: string;
  readonly cache: { readonly maxEntries: number; readonly maxTtlSeconds: number };
  /** How long `gatehouse api-key revoke` keeps a revocation of a key without `notAfter` on every replica. */
  readonly revocationTtlSeconds: number;
}

/** A client-credentials token that names a service (docs/client-credentials.md). */
export interface ClientCredentialSettings {
  readonly issuer: string;
  readonly clientId: string;
  readonly claim: 'client_id' | 'azp' | 'sub';
  /** The token's `sub`; required unless `claim` is `sub`. */
  readonly subject?: string;
  /** The service principal without `spiffe://`, e.g. `cluster.local/ns/default/sa/reminder`. */
  readonly principal: string;
}

export interface GatehouseConfig {
  /** The file this configuration came from, or `<built-in>`. */
  readonly source: string;
  readonly listen: { readonly host: string; readonly port: number };
  readonly tls?: TlsConfig;
  readonly policies: {
    readonly paths: readonly string[];
    readonly rootNamespace: string;
    readonly defaultNamespace: string;
    /** Reload the policy set when its files change. */
    readonly watch: boolean;
  };
  readonly identity: {
    /** When non-empty, SPIFFE IDs from other trust domains are rejected. */
    readonly trustDomains: readonly string[];
    readonly xfcc: { readonly trustedPeers: readonly string[]; readonly trustedCidrs: readonly string[] };
    /** Hops in front of the mesh whose X-Forwarded-For entries are believed, for `remote.ip`. */
    readonly numTrustedProxies: number;
  };
  readonly workloads: readonly WorkloadEntry[];
  readonly response: {
    /** Upstream header carrying the verified peer principal (`spiffe://…`). */
    readonly peerHeader: string;
    /** Upstream header carrying the decision id. */
    readonly decisionIdHeader: string;
    /** Upstream header carrying the subject (`iss/sub`) of a delegated token. */
    readonly subjectHeader: string;
    /** Upstream header carrying a delegated token's actors, current first, comma-separated. */
    readonly actorsHeader: string;
  };
  /** RFC 8693 delegation (tokens with `act`), see docs/delegation.md. */
  readonly delegation: {
    /** The longest actor chain accepted; DelegationPolicy rules may only lower it. */
    readonly maxDepth: number;
  };
  readonly limits: {
    readonly maxHeaderCount: number;
    readonly maxHeaderBytes: number;
    readonly maxPathBytes: number;
  };
  /** Shared state between replicas; absent: each replica caches on its own and revocation is local. */
  readonly redis?: RedisSettings;
  readonly jwt: JwtSettings;
  readonly admin: AdminSettings;
  readonly telemetry: TelemetrySettings;
  /** The Kubernetes front proxy (docs/kubernetes-front-proxy.md); absent: off. */
  readonly kubernetesFrontProxy?: KubernetesFrontProxySettings;
  readonly log: { readonly level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' };
  readonly decisionLog: DecisionLogSettings;
  /** API keys; absent: requests' API keys are not read. */
  readonly apiKeys?: ApiKeySettings;
  /** Client-credentials tokens mapped to service principals; absent or empty: none. */
  readonly clientCredentials?: readonly ClientCredentialSettings[];
  /** Seconds that in-flight Checks get to finish on SIGTERM before the server closes. */
  readonly drainSeconds: number;
}

/** The port Gatehouse listens on when neither `$PORT` nor the config says otherwise. */
export const DEFAULT_PORT = 9191;
