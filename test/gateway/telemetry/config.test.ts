import test from 'ava';
import { parseConfig } from '../../../gateway/config/load.js';

const FILE = '/etc/gatehouse/gatehouse.yaml';

const rows: { name: string; yaml: string; env?: NodeJS.ProcessEnv; expected: { enabled: boolean; host: string; port: number } }[] = [
  { name: 'on by default, every interface, port 9464', yaml: '', expected: { enabled: true, host: '0.0.0.0', port: 9464 } },
  {
    name: 'configured',
    yaml: 'telemetry: { adminHttp: { enabled: true, host: 127.0.0.1, port: 9090 } }',
    expected: { enabled: true, host: '127.0.0.1', port: 9090 },
  },
  { name: 'turned off', yaml: 'telemetry: { adminHttp: { enabled: false } }', expected: { enabled: false, host: '0.0.0.0', port: 9464 } },
  {
    name: 'the Prometheus exporter variables override host and port',
    yaml: 'telemetry: { adminHttp: { port: 9090 } }',
    env: { OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1', OTEL_EXPORTER_PROMETHEUS_PORT: '0' },
    expected: { enabled: true, host: '127.0.0.1', port: 0 },
  },
];

for (const row of rows) {
  test(`telemetry configuration: ${row.name}`, (t) => {
    t.deepEqual(parseConfig(row.yaml, FILE, row.env).telemetry.adminHttp, row.expected);
  });
}

const refused: { name: string; yaml: string; env?: NodeJS.ProcessEnv; message: RegExp }[] = [
  {
    name: 'an unknown field',
    yaml: 'telemetry: { prometheus: true }',
    message: /telemetry\.prometheus: unknown field \(expected one of: adminHttp\)/,
  },
  {
    name: 'an unknown admin HTTP field',
    yaml: 'telemetry: { adminHttp: { path: /m } }',
    message: /telemetry\.adminHttp\.path: unknown field/,
  },
  {
    name: 'a port out of range',
    yaml: 'telemetry: { adminHttp: { port: 70000 } }',
    message: /telemetry\.adminHttp\.port: must be a whole number from 0 to 65535/,
  },
  {
    name: 'a port in the environment that is not one',
    yaml: '',
    env: { OTEL_EXPORTER_PROMETHEUS_PORT: 'metrics' },
    message: /\$OTEL_EXPORTER_PROMETHEUS_PORT: must be a whole number/,
  },
  {
    name: 'enabled that is not a boolean',
    yaml: 'telemetry: { adminHttp: { enabled: "yes" } }',
    message: /telemetry\.adminHttp\.enabled: must be true or false/,
  },
];

for (const row of refused) {
  test(`telemetry configuration refused: ${row.name}`, (t) => {
    t.throws(() => parseConfig(row.yaml, FILE, row.env), { message: row.message });
  });
}
