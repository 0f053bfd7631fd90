/**
 * The gateway's part of the SDK, loaded on demand by gateway-telemetry.ts:
 * starts the SDK with the Check histograms as a metric producer, registers
 * the gateway's instruments (the event loop's delay among them), and hands
 * the tracer and its root sampling to the Check telemetry.
 */
import { millisToHrTime } from '@opentelemetry/core';
import type { CheckTelemetry } from './check-telemetry.js';
import { CheckSpans } from './check-spans.js';
import { registerEventLoopDelayMetric } from './event-loop-delay.js';
import { checkHistograms, registerGatewayMetrics } from './gateway-metrics.js';
import type { GatewayStatsSources, GatewayTelemetryOptions } from './gateway-telemetry.js';
import { histogramProducer } from './histogram-producer.js';
import { startTelemetrySdk, type TelemetrySdk } from './sdk.js';

export interface GatewaySdkOptions extends GatewayTelemetryOptions {
  readonly checks: CheckTelemetry;
  readonly sources: GatewayStatsSources;
  /** When counting began (ms since the epoch): the start of the cumulative histograms. */
  readonly startedAt: number;
}

/** The service name of the gateway's telemetry unless `OTEL_SERVICE_NAME` says otherwise. */
export const GATEWAY_SERVICE_NAME = 'gatehouse';

export async function startGatewaySdk(options: GatewaySdkOptions): Promise<TelemetrySdk> {
  const { checks, sources } = options;
  const histograms = checkHistograms(checks.counters);
  const sdk = await startTelemetrySdk({
    serviceName: GATEWAY_SERVICE_NAME,
    environment: options.environment,
    prometheusHandler: options.prometheus,
    metricProducers: (resource) => [histogramProducer(resource, histograms, millisToHrTime(options.startedAt))],
    log: options.log,
  });
  registerGatewayMetrics(sdk.meter, { ...sources, checks: checks.counters });
  registerEventLoopDelayMetric(sdk.meter);
  if (sdk.tracer !== undefined) checks.attachSpans(new CheckSpans(sdk.tracer, sdk.rootSampling));
  return sdk;
}
