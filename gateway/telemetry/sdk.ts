/**
 * The OpenTelemetry SDK as Gatehouse uses it, loaded on demand (never on the
 * cold path): a meter provider with a Prometheus reader (its request handler
 * serves `/metrics`; no server of its own unless asked) and, when the
 * environment says so, an OTLP reader; a tracer provider with a batching
 * OTLP exporter when spans are exported, whose sampler records every root
 * span it is asked for: the code making a span decides a root span first,
 * with `rootSampling` (sampling.ts). Nothing is registered globally.
 *
 * The resource is `service.name` (overridden by `OTEL_SERVICE_NAME` or
 * `OTEL_RESOURCE_ATTRIBUTES`) and the SDK's own attributes. OpenTelemetry's
 * diagnostics (a failing export) go to the log at `warn`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { diag, DiagLogLevel, type DiagLogger, type Meter, type Tracer } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { defaultResource, detectResources, envDetector, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import {
  MeterProvider,
  PeriodicExportingMetricReader,
  type IMetricReader,
  type MetricProducer,
  type PushMetricExporter,
} from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { Logger } from '../log.js';
import type { OtlpProtocol, TelemetryEnvironment } from './otel-environment.js';
import { rootSamplingProbability, tracerProviderSampler } from './sampling.js';

/** The instrumentation scope of every meter and tracer. */
export const INSTRUMENTATION_SCOPE = 'gatehouse';

export interface TelemetrySdkOptions {
  /** `service.name`, unless the environment names another. */
  readonly serviceName: string;
  readonly environment: TelemetryEnvironment;
  /** A Prometheus reader whose handler serves `/metrics` on a server of the caller's (the gateway's admin HTTP port). */
  readonly prometheusHandler: boolean;
  /** The Prometheus exporter's own server on `$OTEL_EXPORTER_PROMETHEUS_HOST:$OTEL_EXPORTER_PROMETHEUS_PORT` (default port 9464). */
  readonly prometheusServer?: boolean;
  /** Metrics made outside the SDK's instruments (the Check histograms), read by every reader. */
  readonly metricProducers?: (resource: Resource) => MetricProducer[];
  readonly log: Logger;
}

export interface TelemetrySdk {
  readonly resource: Resource;
  readonly meter: Meter;
  /** Present when spans are exported. Every root span it starts is sampled: start one only if `shouldStartSpan` says so. */
  readonly tracer?: Tracer;
  /** The probability that a root span is sampled (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`); 0 without a tracer. */
  readonly rootSampling: number;
  /** Serves the Prometheus text format; present with `prometheusHandler`. */
  readonly metricsHandler?: (request: IncomingMessage, response: ServerResponse) => void;
  /** Exports what is pending and stops; resolves within `graceMs` whatever the collector does. */
  shutdown(graceMs?: number): Promise<void>;
}

const DEFAULT_SHUTDOWN_GRACE_MS = 2000;

/**
 * @example
 * const sdk = await startTelemetrySdk({ serviceName: 'gatehouse', environment, prometheusHandler: true, log });
 * sdk.meter.createObservableCounter('gatehouse.policy.reloads').addCallback((result) => result.observe(store.stats().reloads));
 */
export async function startTelemetrySdk(options: TelemetrySdkOptions): Promise<TelemetrySdk> {
  const { environment, log } = options;
  diag.setLogger(diagnosticsTo(log), DiagLogLevel.WARN);
  const resource = defaultResource()
    .merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName }))
    .merge(detectResources({ detectors: [envDetector] }));
  const producers = (): MetricProducer[] => options.metricProducers?.(resource) ?? [];

  const readers: IMetricReader[] = [];
  let prometheus: PrometheusExporter | undefined;
  if (options.prometheusHandler || options.prometheusServer) {
    prometheus = new PrometheusExporter({
      preventServerStart: !options.prometheusServer,
      withoutScopeInfo: true,
      metricProducers: producers(),
    });
    readers.push(prometheus);
  }
  if (environment.metrics) {
    readers.push(
      new PeriodicExportingMetricReader({
        exporter: await otlpMetricExporter(environment.metrics.protocol),
        exportIntervalMillis: environment.metrics.intervalMs,
        exportTimeoutMillis: Math.min(environment.metrics.timeoutMs, environment.metrics.intervalMs),
        metricProducers: producers(),
      }),
    );
  }
  const meterProvider = new MeterProvider({ resource, readers });

  let tracerProvider: BasicTracerProvider | undefined;
  if (environment.traces) {
    // BatchSpanProcessor reads OTEL_BSP_*.
    const processor = new BatchSpanProcessor(await otlpSpanExporter(environment.traces.protocol));
    const sampler = tracerProviderSampler(environment.traces.sampling);
    tracerProvider = new BasicTracerProvider({ resource, sampler, spanProcessors: [processor] });
  }

  const handler = prometheus;
  return {
    resource,
    meter: meterProvider.getMeter(INSTRUMENTATION_SCOPE),
    ...(tracerProvider ? { tracer: tracerProvider.getTracer(INSTRUMENTATION_SCOPE) } : {}),
    rootSampling: environment.traces ? rootSamplingProbability(environment.traces.sampling) : 0,
    ...(handler && options.prometheusHandler
      ? { metricsHandler: (request: IncomingMessage, response: ServerResponse) => handler.getMetricsRequestHandler(request, response) }
      : {}),
    shutdown: async (graceMs = DEFAULT_SHUTDOWN_GRACE_MS) => {
      const stopping = Promise.allSettled([tracerProvider?.shutdown(), meterProvider.shutdown()]);
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
      await Promise.race([stopping, grace]);
      clearTimeout(timer);
    },
  };
}

/**
 * Each protocol's exporter is its own chunk of the bundle, loaded only when
 * configured. The packages are CommonJS: their exports are read from
 * `default` (module.exports), which both Node and the bundle provide.
 */
async function otlpSpanExporter(protocol: OtlpProtocol): Promise<SpanExporter> {
  if (protocol === 'http/json') return new (await import('@opentelemetry/exporter-trace-otlp-http')).default.OTLPTraceExporter();
  return new (await import('@opentelemetry/exporter-trace-otlp-proto')).default.OTLPTraceExporter();
}

async function otlpMetricExporter(protocol: OtlpProtocol): Promise<PushMetricExporter> {
  if (protocol === 'http/json') return new (await import('@opentelemetry/exporter-metrics-otlp-http')).default.OTLPMetricExporter();
  return new (await import('@opentelemetry/exporter-metrics-otlp-proto')).default.OTLPMetricExporter();
}

/** The same diagnostic is logged at most once per this period: a failing export would otherwise log per batch, a misuse per span. */
const DIAGNOSTIC_INTERVAL_MS = 60_000;

/** OpenTelemetry's diagnostics as log lines: the message and the errors' messages, nothing else of what they carry. */
function diagnosticsTo(log: Logger): DiagLogger {
  const lastLogged = new Map<string, number>();
  const write =
    (level: 'warn' | 'info' | 'debug') =>
    (message: string, ...args: unknown[]): void => {
      const now = Date.now();
      if (now - (lastLogged.get(message) ?? -Infinity) < DIAGNOSTIC_INTERVAL_MS) return;
      if (lastLogged.size >= 256) lastLogged.clear();
      lastLogged.set(message, now);
      const errors = args.filter((arg): arg is Error => arg instanceof Error).map((error) => error.message);
      log[level]({ component: 'opentelemetry', ...(errors.length > 0 ? { errors } : {}) }, message);
    };
  return { error: write('warn'), warn: write('warn'), info: write('info'), debug: write('debug'), verbose: write('debug') };
}
