/**
 * Telemetry of the companion services (token exchange, Kubernetes webhook):
 * the SDK is started only when the OTEL_* variables ask for an exporter
 * (OTLP traces or metrics, or `OTEL_METRICS_EXPORTER=prometheus`, served by
 * the exporter's own server on `$OTEL_EXPORTER_PROMETHEUS_PORT`, 9464 by
 * default); otherwise nothing is loaded and no span is ever made. The
 * services have no admin HTTP port of their own: their health answers on
 * their HTTPS listener.
 */
import type { Logger } from '../log.js';
import { readTelemetryEnvironment } from './otel-environment.js';
import type { TelemetrySdk } from './sdk.js';

export interface ServiceTelemetryOptions {
  /** `service.name` unless `OTEL_SERVICE_NAME` says otherwise. */
  readonly serviceName: string;
  readonly env: NodeJS.ProcessEnv;
  readonly log: Logger;
}

/**
 * @throws ValidationError for an OTEL_* variable Gatehouse does not support.
 * @example
 * const sdk = await startServiceTelemetry({ serviceName: 'gatehouse-token-exchange', env: process.env, log });
 * if (sdk) … // register instruments, make spans
 */
export async function startServiceTelemetry(options: ServiceTelemetryOptions): Promise<TelemetrySdk | undefined> {
  const environment = readTelemetryEnvironment(options.env);
  if (environment.traces === undefined && environment.metrics === undefined && !environment.prometheus) return undefined;
  const { startTelemetrySdk } = await import('./sdk.js');
  const sdk = await startTelemetrySdk({
    serviceName: options.serviceName,
    environment,
    prometheusHandler: false,
    prometheusServer: environment.prometheus,
    log: options.log,
  });
  options.log.info(
    { otlpMetrics: environment.metrics !== undefined, otlpTraces: environment.traces !== undefined, prometheus: environment.prometheus },
    'telemetry started',
  );
  return sdk;
}
