/**
 * The server's one call into telemetry per Check, made after the response
 * is sent: counted in memory at once, and turned into a span when tracing is
 * exported. The tracing SDK is loaded after start-up; the Checks answered
 * before it arrives are kept (a bounded few) and become spans then.
 */
import type { CheckOutcome } from '../authorizer.js';
import { CheckCounters } from './check-counters.js';

/** Makes the span of an answered Check (gateway/telemetry/check-spans.ts, loaded with the SDK). */
export interface CheckSpanRecorder {
  /** `startedAt` is a `performance.now()` timestamp; the span ends `latencyMs` later. */
  record(outcome: CheckOutcome, startedAt: number, latencyMs: number): void;
}

export interface CheckTelemetryOptions {
  /** Whether spans are exported (OTEL_* variables); without it no span is ever made. */
  readonly tracing: boolean;
  /** Called once, after the first Check is answered: the moment to load the SDK. */
  readonly onFirstCheck?: () => void;
}

/** Checks held for their spans until the tracing SDK is loaded. */
export const MAX_PENDING_SPANS = 1024;

interface PendingCheck {
  readonly outcome: CheckOutcome;
  readonly startedAt: number;
  readonly latencyMs: number;
}

/**
 * @example
 * const telemetry = new CheckTelemetry({ tracing: false, onFirstCheck: () => void loadSdk() });
 * const server = await startServer({ config, policies, log, telemetry });
 */
export class CheckTelemetry {
  readonly counters = new CheckCounters();
  private spans: CheckSpanRecorder | undefined;
  private pending: PendingCheck[] | undefined;
  private onFirstCheck: (() => void) | undefined;

  constructor(options: CheckTelemetryOptions) {
    this.pending = options.tracing ? [] : undefined;
    this.onFirstCheck = options.onFirstCheck;
  }

  /** Records one answered Check. Never throws: the Check was already answered. */
  answered(outcome: CheckOutcome, startedAt: number, latencyMs: number): void {
    try {
      this.counters.record(outcome, latencyMs);
      if (this.spans !== undefined) this.spans.record(outcome, startedAt, latencyMs);
      else if (this.pending !== undefined && this.pending.length < MAX_PENDING_SPANS) this.pending.push({ outcome, startedAt, latencyMs });
    } catch {
      // Telemetry never fails a Check.
    }
    if (this.onFirstCheck !== undefined) {
      const first = this.onFirstCheck;
      this.onFirstCheck = undefined;
      first();
    }
  }

  /** From now on every Check gets a span; those held so far get theirs now. */
  attachSpans(recorder: CheckSpanRecorder): void {
    this.spans = recorder;
    for (const { outcome, startedAt, latencyMs } of this.pending ?? []) recorder.record(outcome, startedAt, latencyMs);
    this.pending = undefined;
  }
}
