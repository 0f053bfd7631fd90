/**
 * Telemetry (docs/telemetry.md): Check counters kept on the hot path, the
 * admin HTTP port, and the OpenTelemetry SDK loaded on demand. Other folders
 * use only what is exported here; the SDK's modules are imported lazily by
 * the classes below, never statically, so that start-up never loads them.
 *
 * @example
 * const telemetry = new GatewayTelemetry({ environment: readTelemetryEnvironment(process.env), prometheus: true, log });
 */
export { startAdminHttp, ADMIN_HTTP_PATHS } from './admin-http.js';
export type { AdminHttpOptions, RunningAdminHttp } from './admin-http.js';
export { CheckTelemetry, MAX_PENDING_SPANS } from './check-telemetry.js';
export type { CheckSpanRecorder, CheckTelemetryOptions } from './check-telemetry.js';
export { CheckCounters, CHECK_DURATION_BOUNDARIES_SECONDS, DELEGATION_DEPTH_BOUNDARIES } from './check-counters.js';
export type { DecisionCount } from './check-counters.js';
export { FixedHistogram } from './fixed-histogram.js';
export type { HistogramSnapshot } from './fixed-histogram.js';
export { GatewayTelemetry, SDK_LOAD_DELAY_MS } from './gateway-telemetry.js';
export type { GatewayStatsSources, GatewayTelemetryOptions } from './gateway-telemetry.js';
export { readTelemetryEnvironment } from './otel-environment.js';
export type { OtlpProtocol, TelemetryEnvironment, TraceSampling } from './otel-environment.js';
export { redactedConfig } from './redacted-config.js';
export { startServiceTelemetry } from './service-telemetry.js';
export type { ServiceTelemetryOptions } from './service-telemetry.js';
export type { TelemetrySdk } from './sdk.js';
