import test from 'ava';
import { parseConfig } from '../../../gateway/config/load.js';
import { redactedConfig } from '../../../gateway/telemetry/index.js';

const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl';

const rows: { name: string; value: unknown; expected: unknown }[] = [
  {
    name: 'settings and file paths are shown',
    value: { passwordFile: '/run/s/p', keyFile: '/k', passwordEnv: 'REDIS_PASSWORD', keyPrefix: 'g:' },
    expected: { passwordFile: '/run/s/p', keyFile: '/k', passwordEnv: 'REDIS_PASSWORD', keyPrefix: 'g:' },
  },
  {
    name: 'secret-named fields are replaced',
    value: { password: 'p', clientSecret: 's', apiKey: 'a', token: 't', key: 'k', privateKey: 'x' },
    expected: {
      password: '[redacted]',
      clientSecret: '[redacted]',
      apiKey: '[redacted]',
      token: '[redacted]',
      key: '[redacted]',
      privateKey: '[redacted]',
    },
  },
  {
    name: 'a password in a URL is replaced',
    value: { url: 'redis://user:hunter2@redis:6379' },
    expected: { url: 'redis://user:[redacted]@redis:6379' },
  },
  { name: 'token-shaped text is replaced', value: { note: `Bearer ${TOKEN}` }, expected: { note: '[redacted]' } },
  { name: 'binary values are replaced', value: { ca: Buffer.from('pem') }, expected: { ca: '[redacted]' } },
  {
    name: 'numbers, booleans, lists and nesting are kept; undefined fields are left out',
    value: { a: [1, true, { b: 'c' }], d: undefined },
    expected: { a: [1, true, { b: 'c' }] },
  },
];

for (const row of rows) {
  test(`redacted configuration: ${row.name}`, (t) => {
    t.deepEqual(redactedConfig(row.value), row.expected);
  });
}

test('redacted configuration: the whole gateway configuration round-trips through JSON with its paths', (t) => {
  const config = parseConfig(
    'redis: { url: "redis://redis:6379", passwordFile: secrets/redis, username: gatehouse }\ntls: { certFile: tls/crt, keyFile: tls/key }\n',
    '/etc/gatehouse/gatehouse.yaml',
  );
  const view = JSON.parse(JSON.stringify(redactedConfig(config))) as Record<string, Record<string, unknown>>;
  t.like(view.redis, { url: 'redis://redis:6379', passwordFile: '/etc/gatehouse/secrets/redis', username: 'gatehouse' });
  t.like(view.tls, { certFile: '/etc/gatehouse/tls/crt', keyFile: '/etc/gatehouse/tls/key' });
  t.like(view.telemetry, { adminHttp: { enabled: true, host: '0.0.0.0', port: 9464 } });
});
