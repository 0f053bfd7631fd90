/**
 * The Check pipeline, without any server around it:
 * decode → identify → authorize. The response stage (gateway/response/) and
 * the Envoy encoding (gateway/envoy/) turn the outcome into bytes.
 * It never throws and never allows on an error path.
 */
import type { X509Certificate } from 'node:crypto';
import type { GatehouseConfig } from './config/config.js';
import { createDecodeContext, decodeCheckRequest, type DecodeContext } from './envoy/decode.js';
import type { RawCheckRequest } from './envoy/check-request.js';
import { DecisionCode, type DelegationCode, type FrontProxyCode } from './errors.js';
import type { Decision } from './policy/decision.js';
import { evaluate, evaluateShadow, type CompiledPolicySet, type ShadowOutcome } from './policy/index.js';
import type { CheckInput, RequestAuth } from './request/model.js';
import { httpStatusOf, type AuthenticationEffects } from './response/plan.js';
import type { TokenErrorCode } from './identity/issuer-rule.js';
import type { ApiKeyErrorCode } from './identity/api-key.js';
import type { CacheTier } from './cache/token-cache.js';

/** Everything known about one Check after it was decided. */
export interface CheckOutcome {
  readonly decisionId: string;
  readonly decision: Decision;
  /** Absent when the request could not be decoded. */
  readonly input?: CheckInput;
  /** The HTTP status the client gets: 200 on allow. */
  readonly httpStatus: number;
  /** Headers request authentication adds or removes upstream, when a token was accepted. */
  readonly authentication?: AuthenticationEffects;
  /** What the shadow policies would have decided, when any apply to the workload. Never changes the response. */
  readonly shadow?: ShadowOutcome;
  /** Where the token's verdict came from (the token cache's tier), when a token was looked up: for telemetry. */
  readonly tokenCacheTier?: CacheTier;
}

/** The outcome of request authentication for one Check. */
export type AuthenticationResult =
  /** No credential; `effects` still strip headers a client may not send (the Kubernetes front proxy's pass-through). */
  | { readonly kind: 'anonymous'; readonly effects?: AuthenticationEffects }
  | {
      readonly kind: 'authenticated';
      readonly auth: RequestAuth;
      readonly effects: AuthenticationEffects;
      /** The token cache tier the verdict came from, when a token was looked up. */
      readonly cacheTier?: CacheTier;
    }
  /** A token or API-key failure (401), a valid token whose delegation is refused (403), or a Kubernetes front-proxy refusal. */
  | {
      readonly kind: 'rejected';
      readonly code: TokenErrorCode | ApiKeyErrorCode | DelegationCode | FrontProxyCode;
      readonly reason: string;
      readonly cacheTier?: CacheTier;
    };

/** The request authentication stage, as the authorizer sees it. It never throws. */
export interface Authenticator {
  authenticate(input: CheckInput): Promise<AuthenticationResult>;
}

/** Where the authorizer gets the current policy set; swapped atomically on reload. */
export interface PolicySource {
  current(): CompiledPolicySet;
}

/** Builds a denial that no policy made. */
export function denial(code: DecisionCode, reason: string): Decision {
  return { allowed: false, code, reason, audited: [], trace: [] };
}

/** Decides Checks. Holds no per-request state. */
export class Authorizer {
  private readonly context: Omit<DecodeContext, 'connectionCertificate'>;

  constructor(
    config: GatehouseConfig,
    private readonly policies: PolicySource,
    private readonly authenticator?: Authenticator,
  ) {
    this.context = createDecodeContext(config);
  }

  /**
   * Decides one CheckRequest.
   *
   * @example
   * const { decision } = authorizer.check(call.request, peerCertificate);
   */
  async check(raw: RawCheckRequest | undefined, connectionCertificate?: X509Certificate): Promise<CheckOutcome> {
    let decisionId = 'unassigned';
    try {
      const decoded = decodeCheckRequest(raw, connectionCertificate ? { ...this.context, connectionCertificate } : this.context);
      if (!decoded.ok) {
        decisionId = decoded.decisionId;
        return outcome(decisionId, denial(decoded.code, decoded.reason), undefined);
      }
      let input = decoded.input;
      decisionId = input.decisionId;
      let authentication: AuthenticationEffects | undefined;
      let tier: CacheTier | undefined;
      if (this.authenticator) {
        const result = await this.authenticator.authenticate(input);
        if (result.kind !== 'anonymous') tier = result.cacheTier;
        if (result.kind === 'rejected') return outcome(decisionId, denial(result.code, result.reason), input, undefined, tier);
        if (result.kind === 'authenticated') {
          input = { ...input, auth: result.auth };
          authentication = result.effects;
        } else if (result.effects !== undefined) {
          authentication = result.effects;
        }
      }
      const set = this.policies.current();
      const decision = evaluate(set, input);
      const shadow = evaluateShadow(set, input, decision);
      if (shadow === undefined) return outcome(decisionId, decision, input, authentication, tier);
      return { ...outcome(decisionId, decision, input, authentication, tier), shadow };
    } catch {
      // Nothing here is expected to throw; if it does, the answer is still a denial.
      return outcome(decisionId, denial(DecisionCode.Internal, 'internal error while deciding'), undefined);
    }
  }
}

function outcome(
  decisionId: string,
  decision: Decision,
  input: CheckInput | undefined,
  authentication?: AuthenticationEffects,
  tokenCacheTier?: CacheTier,
): CheckOutcome {
  return { decisionId, decision, input, httpStatus: decision.allowed ? 200 : httpStatusOf(decision.code), authentication, tokenCacheTier };
}
