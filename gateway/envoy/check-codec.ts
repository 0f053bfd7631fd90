/**
 * The Check hot path's wire encoding. Every Check is decoded and answered
 * here, so two things proto-loader would do generically are done once:
 *
 * - Requests are decoded to protobufjs message objects without the
 *   `toObject` conversion pass (decode.ts reads plain fields; absent fields
 *   read as the proto3 defaults, which it treats as absent).
 * - Responses that differ only in their decision id are encoded once into a
 *   template; each Check copies the template and writes its own id at the
 *   recorded offsets. The decision id is a UUID, always 36 ASCII bytes, so
 *   the template's length and field lengths never change.
 */
import { randomUUID } from 'node:crypto';
import type protobuf from 'protobufjs';
import type { CheckOutcome } from '../authorizer.js';
import type { GatehouseConfig } from '../config/config.js';
import { planResponse } from '../response/plan.js';
import type { RawCheckRequest } from './check-request.js';
import { encodeCheckResponse } from './encode.js';
import { BoundedMemo } from '../bounded-memo.js';

interface Template {
  readonly bytes: Buffer;
  readonly idOffsets: readonly number[];
}

const UUID_LENGTH = 36;
const MAX_TEMPLATES = 1024;

/** Decodes CheckRequests and encodes CheckResponses for one configuration. */
export class CheckCodec {
  /** Bounded: a full cache starts over (distinct outcomes are few; hostile input cannot grow it). */
  private readonly templates = new BoundedMemo<string, Template>(MAX_TEMPLATES);
  /** Stands in for the decision id in templates; random, so no request can forge it. */
  private readonly marker = randomUUID();

  constructor(
    private readonly requestType: protobuf.Type,
    private readonly responseType: protobuf.Type,
    private readonly config: Pick<GatehouseConfig, 'response'>,
  ) {}

  /** Decodes a serialized CheckRequest (throws on malformed protobuf, as any deserializer does). */
  decodeRequest(bytes: Buffer): RawCheckRequest {
    return this.requestType.decode(bytes) as unknown as RawCheckRequest;
  }

  /** Encodes the CheckResponse for an outcome. */
  encodeResponse(outcome: CheckOutcome): Buffer {
    // Claim headers differ per user: such responses are encoded whole rather than filling the memo.
    if (outcome.decisionId.length !== UUID_LENGTH || (outcome.authentication?.upstreamHeaders.length ?? 0) > 0) {
      return this.encodeFresh(outcome, outcome.decisionId).bytes;
    }
    const key = templateKey(outcome);
    let template = this.templates.get(key);
    if (!template) {
      template = this.templates.remember(key, this.encodeFresh(outcome, this.marker));
    }
    const bytes = Buffer.from(template.bytes);
    for (const offset of template.idOffsets) bytes.write(outcome.decisionId, offset, UUID_LENGTH, 'latin1');
    return bytes;
  }

  private encodeFresh(outcome: CheckOutcome, decisionId: string): Template {
    const plan = planResponse(outcome.decision, decisionId, outcome.input, this.config, outcome.authentication);
    const message = this.responseType.fromObject(encodeCheckResponse(plan));
    const bytes = Buffer.from(this.responseType.encode(message).finish());
    const idOffsets: number[] = [];
    for (let at = bytes.indexOf(decisionId, 0, 'latin1'); at !== -1; at = bytes.indexOf(decisionId, at + 1, 'latin1')) idOffsets.push(at);
    return { bytes, idOffsets };
  }
}

/** Everything a response depends on except the decision id. */
function templateKey({ decision, input, authentication }: CheckOutcome): string {
  const peer = input?.peer;
  const audited = decision.audited.length === 0 ? '' : decision.audited.join(',');
  const removed = authentication === undefined ? '' : authentication.upstreamHeadersToRemove.join(',');
  // The actor chain is in the upstream headers and the metadata: two chains must never share a template.
  const actors = input?.auth?.delegation === undefined ? '' : JSON.stringify(input.auth.delegation.actors);
  return `${decision.code}\u0000${decision.allowed}\u0000${decision.policy ?? ''}\u0000${decision.rule ?? ''}\u0000${audited}\u0000${peer?.principal ?? ''}\u0000${peer?.source ?? ''}\u0000${peer?.spiffe?.uri ?? ''}\u0000${input?.auth?.principal ?? ''}\u0000${actors}\u0000${removed}\u0000${decision.reason}`;
}
