/**
 * The caller's W3C trace context (`traceparent`, `tracestate`) as it arrives
 * on the companion services' listeners, so their spans continue the
 * caller's trace (kube-apiserver and OpenTelemetry clients send it).
 * Only these two values are taken, and only when well-sized; they carry no
 * personal data.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type * as grpc from '@grpc/grpc-js';

export interface TraceContext {
  readonly traceparent?: string;
  readonly tracestate?: string;
}

/** W3C Trace Context: traceparent is 55 characters in version 00; tracestate at most 32 members (512 characters is the usual bound). */
const MAX_TRACEPARENT = 128;
const MAX_TRACESTATE = 512;

/** From an HTTP request's headers. */
export function traceContextOfHeaders(headers: IncomingHttpHeaders): TraceContext {
  return traceContextOf(first(headers.traceparent), first(headers.tracestate));
}

/** From a gRPC call's metadata. */
export function traceContextOfMetadata(metadata: grpc.Metadata): TraceContext {
  const value = (key: string): string | undefined => {
    const [entry] = metadata.get(key);
    return typeof entry === 'string' ? entry : undefined;
  };
  return traceContextOf(value('traceparent'), value('tracestate'));
}

function traceContextOf(traceparent: string | undefined, tracestate: string | undefined): TraceContext {
  if (traceparent === undefined || traceparent.length > MAX_TRACEPARENT) return {};
  return tracestate === undefined || tracestate.length > MAX_TRACESTATE ? { traceparent } : { traceparent, tracestate };
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
