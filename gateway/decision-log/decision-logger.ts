/**
 * Writes decision records: sample first, then build, then one JSON line. A
 * decision that is not sampled costs one comparison (and a random draw when
 * its rate is between 0 and 1); nothing is built for it.
 */
import { openSync } from 'node:fs';
import { pino } from 'pino';
import type { CheckOutcome } from '../authorizer.js';
import type { DecisionLogSettings } from '../config/config.js';
import { createLogger, type Logger } from '../log.js';
import { DecisionRecordBuilder } from './record.js';
import { DecisionSampler } from './sampler.js';

/** Counters a metrics layer can read. */
export interface DecisionLogStats {
  /** Records written. */
  readonly written: number;
  /** Decisions left out by sampling. */
  readonly sampledOut: number;
}

/** The message of every decision line: how to tell them from the other log lines. */
export const DECISION_MESSAGE = 'decision';

// A third line of defence, after the builder's allow-list and the configuration's refusal.
const RECORD_REDACTIONS = [
  'request.headers.authorization',
  'request.headers["proxy-authorization"]',
  'request.headers.cookie',
  'request.headers["set-cookie"]',
];

/**
 * Writes one line per sampled decision.
 *
 * @example
 * const decisions = createDecisionLogger(config.decisionLog, log);
 * decisions?.write(outcome, performance.now() - started);
 */
export class DecisionLogger {
  private written = 0;
  private sampledOut = 0;

  constructor(
    private readonly sink: Logger,
    private readonly builder: DecisionRecordBuilder,
    private readonly sampler: DecisionSampler,
  ) {}

  /** Writes the decision when it is sampled. Never throws: a failing log must not fail a Check. */
  write(outcome: CheckOutcome, latencyMs: number): void {
    if (!this.sampler.sampled(outcome)) {
      this.sampledOut += 1;
      return;
    }
    try {
      this.sink.info(this.builder.build(outcome, latencyMs), DECISION_MESSAGE);
      this.written += 1;
    } catch {
      // Nothing here is expected to throw; the decision was already answered.
    }
  }

  stats(): DecisionLogStats {
    return { written: this.written, sampledOut: this.sampledOut };
  }

  /** Writes out buffered lines (a file destination); call before exiting. */
  flush(): Promise<void> {
    return new Promise((resolve) => this.sink.flush(() => resolve()));
  }
}

/** An append-only, asynchronously written file; opened synchronously so a bad path fails now. */
function fileStream(file: string): NodeJS.WritableStream {
  // pino's own destination is a stream in all but its declared type.
  return pino.destination({ dest: openSync(file, 'a'), sync: false }) as unknown as NodeJS.WritableStream;
}

/**
 * The decision logger the settings ask for, or undefined when decision logs
 * are off. `stdout` shares the process logger's stream (a child with its own
 * level, so `log.level: warn` does not silence decisions); a file is opened
 * here, so an unwritable path fails start-up.
 *
 * @throws Error when the destination file cannot be opened.
 */
export function createDecisionLogger(settings: DecisionLogSettings, log: Logger, random?: () => number): DecisionLogger | undefined {
  if (!settings.enabled) return undefined;
  const parent = settings.destination === 'stdout' ? log : createLogger('info', fileStream(settings.destination.file));
  const sink = parent.child({}, { level: 'info', redact: { paths: RECORD_REDACTIONS, censor: '[redacted]' } });
  return new DecisionLogger(sink, new DecisionRecordBuilder(settings), new DecisionSampler(settings.sample, random));
}
