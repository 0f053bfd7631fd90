import test from 'ava';
import { readTelemetryEnvironment, type TelemetryEnvironment, type TraceSampling } from '../../../gateway/telemetry/index.js';

const ENDPOINT = 'http://collector:4318';
const metrics = { protocol: 'http/protobuf', intervalMs: 60_000, timeoutMs: 30_000 } as const;
const traces = { protocol: 'http/protobuf', sampling: { name: 'parentbased_always_on' } } as const;

const rows: { name: string; env: NodeJS.ProcessEnv; expected: TelemetryEnvironment }[] = [
  { name: 'no variable: nothing exported', env: {}, expected: { prometheus: false } },
  {
    name: 'an endpoint alone: traces and metrics over OTLP, http/protobuf',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT },
    expected: { traces, metrics, prometheus: false },
  },
  {
    name: 'a signal endpoint turns on that signal only',
    env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${ENDPOINT}/v1/traces` },
    expected: { traces, prometheus: false },
  },
  {
    name: 'exporter none turns a signal off whatever the endpoint',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none' },
    expected: { prometheus: false },
  },
  {
    name: 'exporter otlp without an endpoint: the exporters use their default (localhost:4318)',
    env: { OTEL_TRACES_EXPORTER: 'otlp' },
    expected: { traces, prometheus: false },
  },
  {
    name: 'prometheus in the metrics exporters, with otlp; protocol and interval per signal',
    env: {
      OTEL_METRICS_EXPORTER: 'prometheus, otlp',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/json',
      OTEL_METRIC_EXPORT_INTERVAL: '5000',
    },
    expected: { metrics: { ...metrics, protocol: 'http/json', intervalMs: 5000 }, prometheus: true },
  },
  {
    name: 'OTEL_SDK_DISABLED wins',
    env: { OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_METRICS_EXPORTER: 'prometheus' },
    expected: { prometheus: false },
  },
];

const samplers: { name: string; env: NodeJS.ProcessEnv; expected: TraceSampling }[] = [
  { name: 'unset: parentbased_always_on', env: {}, expected: { name: 'parentbased_always_on' } },
  { name: 'always_on', env: { OTEL_TRACES_SAMPLER: 'always_on' }, expected: { name: 'always_on' } },
  { name: 'always_off', env: { OTEL_TRACES_SAMPLER: 'always_off' }, expected: { name: 'always_off' } },
  { name: 'parentbased_always_off', env: { OTEL_TRACES_SAMPLER: 'parentbased_always_off' }, expected: { name: 'parentbased_always_off' } },
  {
    name: 'parentbased_always_on, whatever the argument',
    env: { OTEL_TRACES_SAMPLER: 'parentbased_always_on', OTEL_TRACES_SAMPLER_ARG: 'ignored' },
    expected: { name: 'parentbased_always_on' },
  },
  {
    name: 'traceidratio with its ratio',
    env: { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' },
    expected: { name: 'traceidratio', ratio: 0.25 },
  },
  {
    name: 'parentbased_traceidratio, any case, ratio 0',
    env: { OTEL_TRACES_SAMPLER: 'ParentBased_TraceIdRatio', OTEL_TRACES_SAMPLER_ARG: '0' },
    expected: { name: 'parentbased_traceidratio', ratio: 0 },
  },
  {
    name: 'a ratio sampler without an argument: ratio 1',
    env: { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio' },
    expected: { name: 'parentbased_traceidratio', ratio: 1 },
  },
  {
    name: 'ratio 1, the upper bound',
    env: { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '1' },
    expected: { name: 'traceidratio', ratio: 1 },
  },
];

for (const row of samplers) {
  test(`OTEL sampler: ${row.name}`, (t) => {
    t.deepEqual(readTelemetryEnvironment({ OTEL_TRACES_EXPORTER: 'otlp', ...row.env }).traces?.sampling, row.expected);
  });
}

for (const row of rows) {
  test(`OTEL environment: ${row.name}`, (t) => {
    t.deepEqual(readTelemetryEnvironment(row.env), row.expected);
  });
}

const refused: { name: string; env: NodeJS.ProcessEnv; message: RegExp }[] = [
  {
    name: 'an exporter Gatehouse does not ship',
    env: { OTEL_TRACES_EXPORTER: 'zipkin' },
    message: /\$OTEL_TRACES_EXPORTER: 'zipkin' is not supported/,
  },
  {
    name: 'OTLP over gRPC',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
    message: /\$OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' is not supported \(supported: http\/protobuf, http\/json\)/,
  },
  {
    name: 'an interval that is not a number',
    env: { OTEL_METRICS_EXPORTER: 'otlp', OTEL_METRIC_EXPORT_INTERVAL: 'soon' },
    message: /\$OTEL_METRIC_EXPORT_INTERVAL: must be a whole number of milliseconds/,
  },
  {
    name: 'a sampler that is not one of the built-in ones',
    env: { OTEL_TRACES_EXPORTER: 'otlp', OTEL_TRACES_SAMPLER: 'jaeger_remote' },
    message: /\$OTEL_TRACES_SAMPLER: 'jaeger_remote' is not supported \(supported: always_on, always_off, traceidratio, /,
  },
  {
    name: 'a ratio above 1',
    env: { OTEL_TRACES_EXPORTER: 'otlp', OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '1.5' },
    message: /\$OTEL_TRACES_SAMPLER_ARG: must be a number from 0 to 1, got '1.5'/,
  },
  {
    name: 'a negative ratio',
    env: { OTEL_TRACES_EXPORTER: 'otlp', OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '-0.1' },
    message: /\$OTEL_TRACES_SAMPLER_ARG: must be a number from 0 to 1, got '-0.1'/,
  },
  {
    name: 'a ratio that is not a number',
    env: { OTEL_TRACES_EXPORTER: 'otlp', OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '1%' },
    message: /\$OTEL_TRACES_SAMPLER_ARG: must be a number from 0 to 1, got '1%'/,
  },
];

for (const row of refused) {
  test(`OTEL environment refused: ${row.name}`, (t) => {
    t.throws(() => readTelemetryEnvironment(row.env), { message: row.message });
  });
}
