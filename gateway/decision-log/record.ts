/**
 * The decision record: one JSON object per decision, written as one log line
 * (docs/decision-logs.md). Plain data built from a CheckOutcome; the metrics
 * layer and `gatehouse test --from-log` read the same shape.
 */
import type { CheckOutcome } from '../authorizer.js';
import type { ShortCheckRequest } from '../envoy/short-form.js';
import type { CheckInput } from '../request/model.js';
import { neverLoggedReason, redactQuery, REDACTED, scrubTokens, scrubValue } from './redaction.js';

/** The request in the short form of gateway/envoy/short-form.ts, so a record can be replayed. */
export type RecordedRequest = Omit<ShortCheckRequest, 'destination_port'> & {
  /** A number, or `[redacted]`. */
  destination_port?: number | string;
};

/** The candidate outcome when shadow policies apply (gateway/policy/shadow.ts). */
export interface RecordedShadow {
  readonly allowed: boolean;
  readonly code: string;
  readonly policy?: string;
  readonly rule?: number;
  readonly diverged: boolean;
  /** The shadow policies that apply to the workload. */
  readonly policies: readonly string[];
}

/** One decision. Optional fields are absent, not null; a redacted field holds `[redacted]`. */
export interface DecisionRecord {
  /** The id Envoy also gets in dynamic metadata (`decision_id`) and the response headers. */
  readonly decision_id: string;
  readonly allowed: boolean;
  readonly http_status: number;
  readonly code: string;
  readonly reason: string;
  readonly policy?: string;
  readonly rule?: number;
  readonly audited: readonly string[];
  readonly workload?: { readonly namespace?: string; readonly service_account?: string } | string;
  readonly peer?: { readonly principal: string; readonly source: string } | string;
  /** `iss/sub` of an accepted token. */
  readonly request_principal?: string;
  /** The actor chain of a delegated token, current actor first. */
  readonly actors?: readonly string[] | string;
  /** Allow-listed claims of an accepted token. */
  readonly claims?: Readonly<Record<string, unknown>> | string;
  /** Absent when the CheckRequest could not be decoded. */
  readonly request?: RecordedRequest;
  readonly latency_ms: number;
  readonly shadow?: RecordedShadow;
}

/** What goes into a record beyond the decision itself (gatehouse.yaml `decisionLog`). */
export interface RecordShape {
  /** Lower-case header names whose values are recorded. Names that carry credentials are ignored. */
  readonly headers: readonly string[];
  /** Record the query string (secret-looking parameters redacted). */
  readonly includeQuery: boolean;
  /** Claims of an accepted token to record. */
  readonly claims: readonly string[];
  /** Field, header, parameter, context extension or claim names whose values are replaced by `[redacted]`. */
  readonly redact: readonly string[];
}

/** Record fields that identify the decision itself and are never redacted. */
const DECISION_FIELDS = new Set(['decision_id', 'allowed', 'http_status', 'code', 'policy', 'rule', 'latency_ms', 'shadow']);
const REQUEST_FIELDS = new Set([
  'method',
  'host',
  'path',
  'source_principal',
  'destination_principal',
  'source_address',
  'destination_port',
]);

/**
 * Builds records for one configuration; the shape is checked and indexed
 * once, so building a record does no set-up.
 *
 * @example
 * const builder = new DecisionRecordBuilder({ headers: ['x-request-id'], includeQuery: false, claims: [], redact: [] });
 * log.info(builder.build(outcome, 0.42), 'decision');
 */
export class DecisionRecordBuilder {
  private readonly headers: readonly string[];
  private readonly claims: readonly string[];
  private readonly redact: ReadonlySet<string>;
  private readonly redactedTopFields: readonly string[];
  private readonly redactedRequestFields: readonly string[];

  constructor(private readonly shape: RecordShape) {
    // Whatever the allow-list says, credentials are never recorded (the configuration refuses them too).
    this.headers = shape.headers.map((name) => name.toLowerCase()).filter((name) => neverLoggedReason(name) === undefined);
    this.claims = shape.claims.filter((name) => neverLoggedReason(name) === undefined);
    this.redact = new Set(shape.redact.map((name) => name.toLowerCase()));
    this.redactedTopFields = [...this.redact].filter((name) => !DECISION_FIELDS.has(name));
    this.redactedRequestFields = [...this.redact].filter((name) => REQUEST_FIELDS.has(name));
  }

  /** The record of one decision; `latencyMs` is the time the Check took. */
  build(outcome: CheckOutcome, latencyMs: number): DecisionRecord {
    const { decision, input, shadow } = outcome;
    const record: Record<string, unknown> = {
      decision_id: outcome.decisionId,
      allowed: decision.allowed,
      http_status: outcome.httpStatus,
      code: decision.code,
      reason: decision.reason,
    };
    if (decision.policy !== undefined) record.policy = decision.policy;
    if (decision.rule !== undefined) record.rule = decision.rule;
    record.audited = decision.audited;
    if (input !== undefined) {
      const { workload, peer, auth } = input;
      record.workload = {
        ...(workload.namespace === undefined ? {} : { namespace: workload.namespace }),
        ...(workload.serviceAccount === undefined ? {} : { service_account: workload.serviceAccount }),
      };
      if (peer !== undefined) record.peer = { principal: peer.principal, source: peer.source };
      if (auth !== undefined) {
        record.request_principal = auth.principal;
        if (auth.delegation !== undefined) record.actors = auth.delegation.actors;
        const claims = this.recordedClaims(auth.claims);
        if (claims !== undefined) record.claims = claims;
      }
      record.request = this.recordedRequest(input);
    }
    record.latency_ms = Math.round(latencyMs * 1000) / 1000;
    if (shadow !== undefined) {
      const candidate = shadow.decision;
      record.shadow = {
        allowed: candidate.allowed,
        code: candidate.code,
        ...(candidate.policy === undefined ? {} : { policy: candidate.policy }),
        ...(candidate.rule === undefined ? {} : { rule: candidate.rule }),
        diverged: shadow.diverged,
        policies: shadow.policies,
      };
    }
    for (const field of this.redactedTopFields) if (field in record) record[field] = REDACTED;
    return record as unknown as DecisionRecord;
  }

  private recordedRequest(input: CheckInput): RecordedRequest {
    const { request, peer, destinationPeer } = input;
    const recorded: Record<string, unknown> = { method: request.method, host: request.host };
    const path =
      this.shape.includeQuery && request.query !== '' ? `${request.rawPath}?${redactQuery(request.query, this.redact)}` : request.rawPath;
    recorded.path = scrubTokens(path);
    if (peer !== undefined) recorded.source_principal = peer.spiffe?.uri ?? peer.principal;
    if (input.source.ip !== undefined) recorded.source_address = input.source.ip;
    if (destinationPeer !== undefined) recorded.destination_principal = destinationPeer.spiffe?.uri ?? destinationPeer.principal;
    if (input.destination.port !== undefined) recorded.destination_port = input.destination.port;
    const headers: Record<string, string> = {};
    let anyHeader = false;
    for (const name of this.headers) {
      const value = request.headers.get(name);
      if (value === undefined) continue;
      headers[name] = this.redact.has(name) ? REDACTED : scrubTokens(value);
      anyHeader = true;
    }
    if (anyHeader) recorded.headers = headers;
    const extensions = Object.entries(input.contextExtensions);
    if (extensions.length > 0) {
      recorded.context_extensions = Object.fromEntries(
        extensions.map(([name, value]) => [name, this.redact.has(name.toLowerCase()) ? REDACTED : scrubTokens(value)]),
      );
    }
    for (const field of this.redactedRequestFields) if (field in recorded) recorded[field] = REDACTED;
    return recorded;
  }

  private recordedClaims(claims: Readonly<Record<string, unknown>>): Record<string, unknown> | undefined {
    let recorded: Record<string, unknown> | undefined;
    for (const name of this.claims) {
      if (!Object.hasOwn(claims, name)) continue;
      recorded ??= {};
      recorded[name] = this.redact.has(name.toLowerCase()) ? REDACTED : scrubValue(claims[name], this.redact);
    }
    return recorded;
  }
}
