/**
 * The Check hot path's wire encoding. Every Check is decoded and answered
 * here, so two things proto-loader would do generically are done once:
 *
 * - Requests are decoded to protobufjs message objects without the
 *   `toObject` conversion pass (decode.ts reads plain fields; absent fields
 *   read as the proto3 defaults, which it treats as absent).
 * - Responses that differ only in their decision id and request principal
 *   are encoded once into a template (wire-template.ts); each Check renders
 *   it with its own id (a UUID, always 36 ASCII bytes, stamped in place) and
 *   principal (any length: the enclosing length prefixes are rewritten).
 *   So one template serves every user of a route, not one per user.
 */
import { randomUUID } from 'node:crypto';
import type protobuf from 'protobufjs';
import type { CheckOutcome } from '../authorizer.js';
import type { GatehouseConfig } from '../config/config.js';
import { planResponse } from '../response/plan.js';
import type { RawCheckRequest } from './check-request.js';
import { encodeCheckResponse } from './encode.js';
import { BoundedMemo } from '../bounded-memo.js';
import { WireTemplate } from './wire-template.js';

const UUID_LENGTH = 36;
const MAX_TEMPLATES = 1024;

/** Decodes CheckRequests and encodes CheckResponses for one configuration. */
export class CheckCodec {
  /** Bounded: a full cache starts over (distinct outcomes are few; hostile input cannot grow it). */
  private readonly templates = new BoundedMemo<string, WireTemplate>(MAX_TEMPLATES);
  /** Stand in for the decision id and the request principal in templates; random, so no request can forge them. */
  private readonly idMarker = randomUUID();
  private readonly principalMarker = `principal-${randomUUID()}`;

  constructor(
    private readonly requestType: protobuf.Type,
    private readonly responseType: protobuf.Type,
    private readonly config: Pick<GatehouseConfig, 'response'>,
  ) {}

  /** Distinct response templates held (bounded by MAX_TEMPLATES). */
  get templateCount(): number {
    return this.templates.size;
  }

  /** Decodes a serialized CheckRequest (throws on malformed protobuf, as any deserializer does). */
  decodeRequest(bytes: Buffer): RawCheckRequest {
    return this.requestType.decode(bytes) as unknown as RawCheckRequest;
  }

  /** Encodes the CheckResponse for an outcome. */
  encodeResponse(outcome: CheckOutcome): Buffer {
    // Claim headers differ per user: such responses are encoded whole rather than filling the memo.
    if (outcome.decisionId.length !== UUID_LENGTH || (outcome.authentication?.upstreamHeaders.length ?? 0) > 0) {
      return this.encode(outcome, outcome.decisionId);
    }
    const principal = outcome.input?.auth?.principal;
    const key = templateKey(outcome);
    let template = this.templates.get(key);
    if (!template) {
      const stand = principal === undefined ? outcome : withPrincipal(outcome, this.principalMarker);
      const holes = principal === undefined ? [] : [this.principalMarker];
      template = this.templates.remember(
        key,
        WireTemplate.compile(this.responseType, this.encode(stand, this.idMarker), holes, this.idMarker),
      );
    }
    return template.render(principal === undefined ? NO_VALUES : [principal], outcome.decisionId);
  }

  private encode(outcome: CheckOutcome, decisionId: string): Buffer {
    const plan = planResponse(outcome.decision, decisionId, outcome.input, this.config, outcome.authentication);
    return Buffer.from(this.responseType.encode(this.responseType.fromObject(encodeCheckResponse(plan))).finish());
  }
}

const NO_VALUES: readonly string[] = [];

/** The outcome with another request principal (an outcome with `input.auth`). */
function withPrincipal(outcome: CheckOutcome, principal: string): CheckOutcome {
  const input = outcome.input as NonNullable<CheckOutcome['input']>;
  return { ...outcome, input: { ...input, auth: { ...(input.auth as NonNullable<typeof input.auth>), principal } } };
}

/** Everything a response depends on except the decision id and the request principal's value. */
function templateKey({ decision, input, authentication }: CheckOutcome): string {
  const peer = input?.peer;
  const audited = decision.audited.length === 0 ? '' : decision.audited.join(',');
  const removed = authentication === undefined ? '' : authentication.upstreamHeadersToRemove.join(',');
  // The actor chain is in the upstream headers and the metadata: two chains must never share a template.
  const actors = input?.auth?.delegation === undefined ? '' : JSON.stringify(input.auth.delegation.actors);
  return `${decision.code}\u0000${decision.allowed}\u0000${decision.policy ?? ''}\u0000${decision.rule ?? ''}\u0000${audited}\u0000${peer?.principal ?? ''}\u0000${peer?.source ?? ''}\u0000${peer?.spiffe?.uri ?? ''}\u0000${input?.auth === undefined ? '' : 'auth'}\u0000${actors}\u0000${removed}\u0000${decision.reason}`;
}
