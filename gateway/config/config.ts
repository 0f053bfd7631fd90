/**
 * Gatehouse's own configuration: where to listen, TLS, where the policies
 * are, whom to trust for forwarded identities, and how workloads are named.
 * Parsed once at start-up from YAML into types that cannot be invalid.
 */

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
  };
  readonly limits: {
    readonly maxHeaderCount: number;
    readonly maxHeaderBytes: number;
    readonly maxPathBytes: number;
  };
  readonly log: { readonly level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' };
  /** Seconds that in-flight Checks get to finish on SIGTERM before the server closes. */
  readonly drainSeconds: number;
}

/** The port Gatehouse listens on when neither `$PORT` nor the config says otherwise. */
export const DEFAULT_PORT = 9191;
