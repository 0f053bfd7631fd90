/**
 * The response stage: turns a Decision into what the client and the upstream
 * should see, independent of Envoy's message shapes (gateway/envoy/encode.ts
 * does that last step).
 */
import type { GatehouseConfig } from '../config/config.js';
import { DecisionCode } from '../errors.js';
import { ApiKeyErrorCode } from '../identity/api-key.js';
import { TokenErrorCode } from '../identity/issuer-rule.js';
import type { Decision } from '../policy/decision.js';
import type { CheckInput } from '../request/model.js';

/** A header to set; `append: false` overwrites whatever the client sent. */
export interface HeaderToSet {
  readonly name: string;
  readonly value: string;
  readonly append: boolean;
}

/** What the proxy should do with the request. Plain data. */
export interface ResponsePlan {
  readonly allowed: boolean;
  /** HTTP status for a denial; 200 on allow. */
  readonly httpStatus: number;
  /** gRPC status code for CheckResponse.status: 0 OK, 7 PERMISSION_DENIED, 16 UNAUTHENTICATED, ... */
  readonly grpcCode: number;
  /** Headers for the upstream request (allow only). */
  readonly upstreamHeaders: readonly HeaderToSet[];
  /** Request headers the upstream must not see (allow only). */
  readonly upstreamHeadersToRemove: readonly string[];
  /** Headers on the response to the client (denial headers, or added to the upstream's response on allow). */
  readonly clientHeaders: readonly HeaderToSet[];
  /** JSON body of a denial. */
  readonly body?: string;
  /** Dynamic metadata for Envoy's access logs and later filters. */
  readonly metadata: Readonly<Record<string, unknown>>;
}

const GRPC_OK = 0;
const GRPC_INVALID_ARGUMENT = 3;
const GRPC_PERMISSION_DENIED = 7;
const GRPC_UNAVAILABLE = 14;
const GRPC_INTERNAL = 13;
const GRPC_UNAUTHENTICATED = 16;

/** HTTP and gRPC status for each decision code. */
const STATUS: Record<Exclude<DecisionCode, TokenErrorCode | ApiKeyErrorCode>, { http: number; grpc: number }> = {
  [DecisionCode.Allowed]: { http: 200, grpc: GRPC_OK },
  [DecisionCode.PolicyDenied]: { http: 403, grpc: GRPC_PERMISSION_DENIED },
  [DecisionCode.NoAllowMatch]: { http: 403, grpc: GRPC_PERMISSION_DENIED },
  [DecisionCode.WorkloadUnresolved]: { http: 403, grpc: GRPC_PERMISSION_DENIED },
  [DecisionCode.InvalidPeerIdentity]: { http: 403, grpc: GRPC_PERMISSION_DENIED },
  [DecisionCode.PolicyError]: { http: 403, grpc: GRPC_PERMISSION_DENIED },
  [DecisionCode.BadRequest]: { http: 400, grpc: GRPC_INVALID_ARGUMENT },
  [DecisionCode.Internal]: { http: 500, grpc: GRPC_INTERNAL },
  [DecisionCode.Unavailable]: { http: 503, grpc: GRPC_UNAVAILABLE },
  // The token is valid; what it asks for (someone acting for its subject) is not acceptable.
  [DecisionCode.DelegationTooDeep]: { http: 403, grpc: GRPC_PERMISSION_DENIED },
  [DecisionCode.DelegationCycle]: { http: 403, grpc: GRPC_PERMISSION_DENIED },
  [DecisionCode.DelegationMalformed]: { http: 403, grpc: GRPC_PERMISSION_DENIED },
  [DecisionCode.DelegationActorNotCaller]: { http: 403, grpc: GRPC_PERMISSION_DENIED },
  [DecisionCode.DelegationNotPermitted]: { http: 403, grpc: GRPC_PERMISSION_DENIED },
  [DecisionCode.DelegationMayActMismatch]: { http: 403, grpc: GRPC_PERMISSION_DENIED },
  [DecisionCode.KubernetesTokenRequired]: { http: 401, grpc: GRPC_UNAUTHENTICATED },
  [DecisionCode.KubernetesUserUnmapped]: { http: 401, grpc: GRPC_UNAUTHENTICATED },
  [DecisionCode.ImpersonationNotAllowed]: { http: 403, grpc: GRPC_PERMISSION_DENIED },
  // kube-apiserver answers such Impersonate-* headers with 400 Bad Request.
  [DecisionCode.ImpersonationInvalid]: { http: 400, grpc: GRPC_INVALID_ARGUMENT },
};

/** The HTTP status a decision code maps to. */
export function httpStatusOf(code: DecisionCode): number {
  return statusOf(code).http;
}

/**
 * A failed request authentication (token or API key) is 401 UNAUTHENTICATED,
 * except an API-key store that could not be read or a key set still being
 * fetched: those say nothing about the credential, so the caller is told to
 * retry (503). Everything else is in the table.
 */
function statusOf(code: DecisionCode): { http: number; grpc: number } {
  if (isRetryableAuthentication(code)) return STATUS[DecisionCode.Unavailable];
  if (isTokenError(code) || isApiKeyError(code)) return { http: 401, grpc: GRPC_UNAUTHENTICATED };
  return STATUS[code] ?? STATUS[DecisionCode.Internal];
}

/** Authentication that said nothing about the credential: a 503 the client may retry. */
function isRetryableAuthentication(code: DecisionCode): boolean {
  return code === ApiKeyErrorCode.StoreUnavailable || code === TokenErrorCode.KeysPending;
}

function isTokenError(code: DecisionCode): code is TokenErrorCode {
  return code.startsWith('TOKEN_');
}

function isApiKeyError(code: DecisionCode): code is ApiKeyErrorCode {
  return code.startsWith('APIKEY_');
}

/**
 * What request authentication adds to an allowed request: claim headers
 * (`outputClaimToHeaders`, `outputPayloadToHeader`) and the token's own
 * header to remove (unless `forwardOriginalToken`).
 */
export interface AuthenticationEffects {
  readonly upstreamHeaders: readonly HeaderToSet[];
  readonly upstreamHeadersToRemove: readonly string[];
}

/**
 * Plans the response for a decision. `input` is absent when the request could
 * not be decoded.
 */
export function planResponse(
  decision: Decision,
  decisionId: string,
  input: CheckInput | undefined,
  config: Pick<GatehouseConfig, 'response'>,
  authentication?: AuthenticationEffects,
): ResponsePlan {
  const status = statusOf(decision.code);
  const metadata: Record<string, unknown> = {
    decision_id: decisionId,
    allowed: decision.allowed,
    code: decision.code,
  };
  if (decision.policy) metadata.policy = decision.policy;
  if (decision.rule !== undefined) metadata.rule = decision.rule;
  if (decision.audited.length > 0) metadata.audited = [...decision.audited];
  if (input?.peer) metadata.peer = { principal: input.peer.principal, source: input.peer.source };
  if (input?.auth) metadata.request_principal = input.auth.principal;
  const delegation = input?.auth?.delegation;
  if (delegation) metadata.delegation = { actor: delegation.actor, actors: [...delegation.actors], depth: delegation.depth };

  const { peerHeader, decisionIdHeader, subjectHeader, actorsHeader } = config.response;
  if (decision.allowed && status.grpc === GRPC_OK) {
    const upstreamHeaders: HeaderToSet[] = [{ name: decisionIdHeader, value: decisionId, append: false }];
    const upstreamHeadersToRemove: string[] = [];
    // The upstream trusts this header, so a client must never be able to set it.
    if (input?.peer?.spiffe) upstreamHeaders.push({ name: peerHeader, value: input.peer.spiffe.uri, append: false });
    else if (input?.peer) upstreamHeaders.push({ name: peerHeader, value: input.peer.principal, append: false });
    else upstreamHeadersToRemove.push(peerHeader);
    // Who the call is for, and who acts for them (RFC 8693): set by Gatehouse alone, or removed.
    if (input?.auth) upstreamHeaders.push({ name: subjectHeader, value: input.auth.principal, append: false });
    else upstreamHeadersToRemove.push(subjectHeader);
    if (delegation) upstreamHeaders.push({ name: actorsHeader, value: delegation.actors.join(','), append: false });
    else upstreamHeadersToRemove.push(actorsHeader);
    if (authentication) {
      upstreamHeaders.push(...authentication.upstreamHeaders);
      upstreamHeadersToRemove.push(...authentication.upstreamHeadersToRemove);
    }
    return {
      allowed: true,
      httpStatus: 200,
      grpcCode: GRPC_OK,
      upstreamHeaders,
      upstreamHeadersToRemove,
      clientHeaders: [],
      metadata,
    };
  }

  const body = JSON.stringify({ code: decision.code, reason: decision.reason, decision_id: decisionId });
  return {
    allowed: false,
    httpStatus: status.http,
    grpcCode: status.grpc === GRPC_OK ? GRPC_PERMISSION_DENIED : status.grpc,
    upstreamHeaders: [],
    upstreamHeadersToRemove: [],
    clientHeaders: [
      { name: 'content-type', value: 'application/json', append: false },
      { name: decisionIdHeader, value: decisionId, append: false },
      // RFC 6750 §3: a failed bearer token gets a challenge naming the error, never the token (an API key: the same, in its own scheme).
      ...(status.http === 401
        ? [
            {
              name: 'www-authenticate',
              value: isApiKeyError(decision.code)
                ? `ApiKey realm="gatehouse", error="invalid_key", error_description="${decision.code}"`
                : decision.code === DecisionCode.KubernetesTokenRequired
                  ? // RFC 6750 §3.1: a request without credentials gets a challenge without an error code.
                    'Bearer realm="gatehouse"'
                  : `Bearer realm="gatehouse", error="invalid_token", error_description="${decision.code}"`,
              append: false,
            },
          ]
        : []),
      // RFC 9110 §10.2.3: the credential could not be judged yet (a key set being fetched, a key store down); ask again shortly.
      ...(isRetryableAuthentication(decision.code) ? [{ name: 'retry-after', value: '1', append: false }] : []),
    ],
    body,
    metadata,
  };
}
