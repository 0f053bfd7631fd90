/**
 * The SDK side of telemetry, for modules that are themselves loaded only
 * once telemetry is on (the companion services' instrumentation): import
 * this statically from such a module, never from code on the start-up path
 * (index.ts is that path's surface).
 */
export { registerSharedStateMetrics } from './gateway-metrics.js';
export type { SharedStateMetricSources } from './gateway-metrics.js';
export { shouldStartSpan } from './sampling.js';
export { INSTRUMENTATION_SCOPE } from './sdk.js';
export type { TelemetrySdk } from './sdk.js';
