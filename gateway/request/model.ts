/**
 * The normalized request model. Built once per Check at the edge
 * (gateway/envoy/decode.ts), then read by every later stage: identity,
 * policy, response. Nothing after the edge looks at Envoy's message shapes.
 */

/** A SPIFFE ID that passed validation (https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md). */
export interface SpiffeId {
  /** The full ID, e.g. `spiffe://cluster.local/ns/default/sa/reminder`. */
  readonly uri: string;
  /** Lower-case trust domain, e.g. `cluster.local`. */
  readonly trustDomain: string;
  /** The path, starting with `/`, or `` for a trust-domain ID. */
  readonly path: string;
  /** Path segments, without empty ones. */
  readonly segments: readonly string[];
  /** Istio's `/ns/<namespace>/sa/<serviceaccount>` reading of the path, when it has that shape. */
  readonly namespace?: string;
  readonly serviceAccount?: string;
}

/** The subject alternative names and subject of an X.509 certificate. */
export interface CertificateIdentity {
  readonly uriSans: readonly string[];
  readonly dnsSans: readonly string[];
  readonly emailSans: readonly string[];
  readonly ipSans: readonly string[];
  readonly subject: string;
  /** SHA-256 of the DER, lower-case hex: RFC 8705's `x5t#S256` is its base64url form. */
  readonly sha256: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** Where a peer identity came from, strongest first. */
export type IdentitySource =
  | 'connection' // the certificate of the TLS connection to Gatehouse itself
  | 'certificate' // `source.certificate` sent by Envoy (include_peer_certificate)
  | 'principal' // `source.principal` reported by Envoy
  | 'xfcc'; // x-forwarded-client-cert set by a trusted hop

/** A workload identity: who is on the other end of a connection. */
export interface PeerIdentity {
  /**
   * The principal as policies see it: the SPIFFE ID without `spiffe://`
   * (`cluster.local/ns/default/sa/reminder`), or the raw principal Envoy
   * sent when it is not a SPIFFE ID.
   */
  readonly principal: string;
  readonly spiffe?: SpiffeId;
  readonly certificate?: CertificateIdentity;
  readonly source: IdentitySource;
}

/** One end of the connection. */
export interface Endpoint {
  /** IP address without port, or undefined when Envoy sent none (pipe, missing). */
  readonly ip?: string;
  readonly port?: number;
  /** Labels Envoy reported for the peer (usually empty in an Istio set-up). */
  readonly labels: Readonly<Record<string, string>>;
  /** Envoy's `service` attribute for the peer, if any. */
  readonly service?: string;
}

/** The HTTP request being authorized. */
export interface HttpRequestModel {
  readonly method: string;
  /** Host or :authority, lower-cased. */
  readonly host: string;
  /** The path as the client sent it, without query or fragment; not decoded. */
  readonly rawPath: string;
  /** The path after Istio's default (BASE) normalization: what `paths` rules match. */
  readonly path: string;
  /** The query string without the leading `?`, or ``. */
  readonly query: string;
  readonly scheme: string;
  readonly protocol: string;
  /** Lower-case header names; repeated headers joined with `,` as Envoy does. */
  readonly headers: ReadonlyMap<string, string>;
  /** Envoy's request id, when sent. */
  readonly id?: string;
}

/** The workload being called: whose policies apply. */
export interface WorkloadRef {
  readonly namespace?: string;
  readonly serviceAccount?: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Service name, for `targetRefs` of kind Service. */
  readonly service?: string;
  /** Gateway name, for `targetRefs` of kind Gateway. */
  readonly gateway?: string;
}

/**
 * What the request authentication stage learned about the end user or
 * calling service. Filled by the JWT or the API-key stage; absent for
 * requests without either.
 */
export interface RequestAuth {
  /** `iss/sub`. */
  readonly principal: string;
  readonly audiences: readonly string[];
  /** `azp`. */
  readonly presenter?: string;
  readonly claims: Readonly<Record<string, unknown>>;
  /** What established this identity (`request.auth.credential`); absent means `jwt`. */
  readonly credential?: RequestCredential;
  /**
   * The service a client-credentials token was mapped to (gatehouse.yaml
   * `clientCredentials`). Source fields of policies (`principals`,
   * `namespaces`, `serviceAccounts`) see it only when the request has no
   * peer identity: it never stands in for, nor beside, an mTLS peer.
   */
  readonly mappedPrincipal?: SpiffeId;
  /**
   * RFC 8693 delegation, when the token carries `act`: the current actor
   * (the outermost `act`'s `sub`) first, then the prior actors, innermost
   * last. Absent for a token without `act`.
   */
  readonly delegation?: Delegation;
}

/**
 * `jwt`: an end-user or service token; `client-credentials`: a token that a
 * `clientCredentials` mapping names as a service; `api-key`: a Gatehouse API key.
 */
export type RequestCredential = 'jwt' | 'client-credentials' | 'api-key';

/** Who acts for the subject of a token, verified against the calling peer. */
export interface Delegation {
  /** The current actor: the service on the other end of this connection. */
  readonly actor: string;
  /** Every actor, current first: `actors[0] === actor`. */
  readonly actors: readonly string[];
  /** Number of actors in the chain (1 for a direct on-behalf-of call). */
  readonly depth: number;
}

/** Everything a decision is made from. Plain data, no methods. */
export interface CheckInput {
  /** Unique id of this decision, echoed in logs, response body and dynamic metadata. */
  readonly decisionId: string;
  readonly source: Endpoint;
  readonly destination: Endpoint;
  /** The caller's workload identity, when one was established. */
  readonly peer?: PeerIdentity;
  /** The destination's workload identity as Envoy reported it. */
  readonly destinationPeer?: PeerIdentity;
  /** The original client IP (Istio's `remote.ip`): X-Forwarded-For under the trusted-hop count, else the source IP. */
  readonly remoteIp?: string;
  readonly request: HttpRequestModel;
  readonly workload: WorkloadRef;
  readonly contextExtensions: Readonly<Record<string, string>>;
  /** TLS SNI of the downstream connection. */
  readonly sni?: string;
  readonly auth?: RequestAuth;
}
