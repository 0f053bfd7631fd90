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
import { DecisionCode } from './errors.js';
import type { Decision } from './policy/decision.js';
import { evaluate, type CompiledPolicySet } from './policy/index.js';
import type { CheckInput } from './request/model.js';
import { httpStatusOf } from './response/plan.js';

/** Everything known about one Check after it was decided. */
export interface CheckOutcome {
  readonly decisionId: string;
  readonly decision: Decision;
  /** Absent when the request could not be decoded. */
  readonly input?: CheckInput;
  /** The HTTP status the client gets: 200 on allow. */
  readonly httpStatus: number;
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
  ) {
    this.context = createDecodeContext(config);
  }

  /**
   * Decides one CheckRequest.
   *
   * @example
   * const { decision } = authorizer.check(call.request, peerCertificate);
   */
  check(raw: RawCheckRequest | undefined, connectionCertificate?: X509Certificate): CheckOutcome {
    let decisionId = 'unassigned';
    try {
      const decoded = decodeCheckRequest(raw, connectionCertificate ? { ...this.context, connectionCertificate } : this.context);
      if (!decoded.ok) {
        decisionId = decoded.decisionId;
        return outcome(decisionId, denial(decoded.code, decoded.reason), undefined);
      }
      decisionId = decoded.input.decisionId;
      return outcome(decisionId, evaluate(this.policies.current(), decoded.input), decoded.input);
    } catch {
      // Nothing here is expected to throw; if it does, the answer is still a denial.
      return outcome(decisionId, denial(DecisionCode.Internal, 'internal error while deciding'), undefined);
    }
  }
}

function outcome(decisionId: string, decision: Decision, input: CheckInput | undefined): CheckOutcome {
  return { decisionId, decision, input, httpStatus: decision.allowed ? 200 : httpStatusOf(decision.code) };
}
