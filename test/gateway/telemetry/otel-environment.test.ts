import test from 'ava';
import { readTelemetryEnvironment, type TelemetryEnvironment } from '../../../gateway/telemetry/index.js';

const ENDPOINT = 'http://collector:4318';
const metrics = { protocol: 'http/protobuf', intervalMs: 60_000, timeoutMs: 30_000 } as const;

const rows: { name: string; env: NodeJS.ProcessEnv; expected: TelemetryEnvironment }[] = [
  { name: 'no variable: nothing exported', env: {}, expected: { prometheus: false } },
  {
    name: 'an endpoint alone: traces and metrics over OTLP, http/protobuf',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT },
    expected: { traces: { protocol: 'http/protobuf' }, metrics, prometheus: false },
  },
  {
    name: 'a signal endpoint turns on that signal only',
    env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${ENDPOINT}/v1/traces` },
    expected: { traces: { protocol: 'http/protobuf' }, prometheus: false },
  },
  {
    name: 'exporter none turns a signal off whatever the endpoint',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none' },
    expected: { prometheus: false },
  },
  {
    name: 'exporter otlp without an endpoint: the exporters use their default (localhost:4318)',
    env: { OTEL_TRACES_EXPORTER: 'otlp' },
    expected: { traces: { protocol: 'http/protobuf' }, prometheus: false },
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
];

for (const row of refused) {
  test(`OTEL environment refused: ${row.name}`, (t) => {
    t.throws(() => readTelemetryEnvironment(row.env), { message: row.message });
  });
}
