/**
 * Reads the standard OpenTelemetry environment variables into what
 * Gatehouse exports: spans over OTLP, metrics over OTLP, a Prometheus
 * endpoint. Without them nothing is exported, no span is created and the
 * SDK stays unloaded (the gateway's admin HTTP port aside). The sampler
 * (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`) is read here too: the
 * code making a span decides a root span before creating it (sampling.ts).
 * The exporters themselves read the rest (endpoints, headers, timeouts,
 * compression, certificates).
 *
 * Deliberate differences from the specification: an unset
 * `OTEL_TRACES_EXPORTER` or `OTEL_METRICS_EXPORTER` means `otlp` only when
 * an OTLP endpoint is set, so a replica without any OTEL_* variable exports
 * nothing and pays nothing; a sampler other than the built-in ones, or a
 * ratio outside [0, 1], is refused instead of replaced by the default.
 */
import { ValidationError } from '../errors.js';

/** OTLP over HTTP; `grpc` is not supported. */
export type OtlpProtocol = 'http/protobuf' | 'http/json';

/** The specification's built-in samplers (`OTEL_TRACES_SAMPLER`), the ratio ones with their ratio (`OTEL_TRACES_SAMPLER_ARG`). */
export type TraceSampling =
  | { readonly name: 'always_on' | 'always_off' | 'parentbased_always_on' | 'parentbased_always_off' }
  | { readonly name: 'traceidratio' | 'parentbased_traceidratio'; readonly ratio: number };

export interface TelemetryEnvironment {
  /** Spans are exported over OTLP; absent: no span is ever created. */
  readonly traces?: { readonly protocol: OtlpProtocol; readonly sampling: TraceSampling };
  /** Metrics are pushed over OTLP every `intervalMs`. */
  readonly metrics?: { readonly protocol: OtlpProtocol; readonly intervalMs: number; readonly timeoutMs: number };
  /** `OTEL_METRICS_EXPORTER` names `prometheus`: a `/metrics` endpoint (the gateway has one on its admin HTTP port anyway). */
  readonly prometheus: boolean;
}

const NOTHING: TelemetryEnvironment = { prometheus: false };
const PROTOCOLS: readonly string[] = ['http/protobuf', 'http/json'];
const SAMPLERS: readonly TraceSampling['name'][] = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
];

/**
 * @throws ValidationError naming the variable, for an exporter, protocol or sampler Gatehouse does not support, or a bad value.
 * @example
 * const environment = readTelemetryEnvironment(process.env);
 * if (environment.traces) { … }
 */
export function readTelemetryEnvironment(env: NodeJS.ProcessEnv): TelemetryEnvironment {
  if (value(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return NOTHING;
  const traceExporters = exporterList(env, 'OTEL_TRACES_EXPORTER', ['otlp', 'none']);
  const metricExporters = exporterList(env, 'OTEL_METRICS_EXPORTER', ['otlp', 'prometheus', 'none']);
  const endpointFor = (signal: 'TRACES' | 'METRICS'): boolean =>
    value(env, 'OTEL_EXPORTER_OTLP_ENDPOINT') !== undefined || value(env, `OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`) !== undefined;
  const exportsOtlp = (list: readonly string[] | undefined, signal: 'TRACES' | 'METRICS'): boolean =>
    list === undefined ? endpointFor(signal) : list.includes('otlp');

  return {
    ...(exportsOtlp(traceExporters, 'TRACES') ? { traces: { protocol: protocol(env, 'TRACES'), sampling: sampling(env) } } : {}),
    ...(exportsOtlp(metricExporters, 'METRICS')
      ? {
          metrics: {
            protocol: protocol(env, 'METRICS'),
            intervalMs: milliseconds(env, 'OTEL_METRIC_EXPORT_INTERVAL', 60_000),
            timeoutMs: milliseconds(env, 'OTEL_METRIC_EXPORT_TIMEOUT', 30_000),
          },
        }
      : {}),
    prometheus: metricExporters?.includes('prometheus') ?? false,
  };
}

function value(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const text = env[name]?.trim();
  return text === undefined || text === '' ? undefined : text;
}

function fail(name: string, problem: string): never {
  throw new ValidationError('environment', undefined, `$${name}`, problem);
}

function exporterList(env: NodeJS.ProcessEnv, name: string, supported: readonly string[]): string[] | undefined {
  const text = value(env, name);
  if (text === undefined) return undefined;
  const list = text.split(',').map((entry) => entry.trim().toLowerCase());
  for (const entry of list) {
    if (!supported.includes(entry)) fail(name, `'${entry}' is not supported (supported: ${supported.join(', ')})`);
  }
  return list.includes('none') ? [] : list;
}

function protocol(env: NodeJS.ProcessEnv, signal: 'TRACES' | 'METRICS'): OtlpProtocol {
  const name =
    value(env, `OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`) === undefined
      ? 'OTEL_EXPORTER_OTLP_PROTOCOL'
      : `OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`;
  const text = value(env, name) ?? 'http/protobuf';
  if (!PROTOCOLS.includes(text)) fail(name, `'${text}' is not supported (supported: ${PROTOCOLS.join(', ')})`);
  return text as OtlpProtocol;
}

function sampling(env: NodeJS.ProcessEnv): TraceSampling {
  const name = value(env, 'OTEL_TRACES_SAMPLER')?.toLowerCase() ?? 'parentbased_always_on';
  if (!isSampler(name)) fail('OTEL_TRACES_SAMPLER', `'${name}' is not supported (supported: ${SAMPLERS.join(', ')})`);
  return name === 'traceidratio' || name === 'parentbased_traceidratio' ? { name, ratio: samplerRatio(env) } : { name };
}

function isSampler(name: string): name is TraceSampling['name'] {
  return (SAMPLERS as readonly string[]).includes(name);
}

/** `OTEL_TRACES_SAMPLER_ARG` of a ratio sampler: the probability that a new trace is sampled, 1 when unset. */
function samplerRatio(env: NodeJS.ProcessEnv): number {
  const text = value(env, 'OTEL_TRACES_SAMPLER_ARG');
  if (text === undefined) return 1;
  const ratio = Number(text);
  if (!(ratio >= 0 && ratio <= 1)) fail('OTEL_TRACES_SAMPLER_ARG', `must be a number from 0 to 1, got '${text}'`);
  return ratio;
}

function milliseconds(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const text = value(env, name);
  if (text === undefined) return fallback;
  const number = Number(text);
  if (!Number.isInteger(number) || number < 1 || number > 86_400_000) fail(name, `must be a whole number of milliseconds, got '${text}'`);
  return number;
}
