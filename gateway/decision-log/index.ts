/**
 * Decision logs: one JSON line per decision (docs/decision-logs.md).
 * Other folders use only what is exported here.
 *
 * @example
 * const decisions = createDecisionLogger(config.decisionLog, log);
 * decisions?.write(outcome, latencyMs);
 */
export { createDecisionLogger, DecisionLogger, DECISION_MESSAGE } from './decision-logger.js';
export type { DecisionLogStats } from './decision-logger.js';
export { DecisionRecordBuilder } from './record.js';
export type { DecisionRecord, RecordedRequest, RecordedShadow, RecordShape } from './record.js';
export { DecisionSampler } from './sampler.js';
export type { SampleRates } from './sampler.js';
export { neverLoggedReason, REDACTED, scrubTokens } from './redaction.js';
