/**
 * gatehouse.yaml `decisionLog`: defaults, every field, and errors naming the field.
 */
import path from 'node:path';
import test from 'ava';
import { parseConfig } from '../../../gateway/config/load.js';
import { ValidationError } from '../../../gateway/errors.js';

const FILE = '/etc/gatehouse/gatehouse.yaml';

test('decision logs are off by default, and sample everything once on', (t) => {
  t.deepEqual(parseConfig('', FILE).decisionLog, {
    enabled: false,
    destination: 'stdout',
    sample: { allow: 1, deny: 1, divergence: 1 },
    headers: [],
    includeQuery: false,
    claims: [],
    redact: [],
  });
});

test('every field is read; header names are lower-cased; a file destination is resolved against the config folder', (t) => {
  const config = parseConfig(
    `decisionLog:
  enabled: true
  destination: logs/decisions.jsonl
  sample: { allow: 0.01, deny: 0.5, divergence: 1 }
  headers: [X-Request-Id, x-tenant]
  includeQuery: true
  claims: [groups]
  redact: [email, x-tenant]
`,
    FILE,
  );
  t.deepEqual(config.decisionLog, {
    enabled: true,
    destination: { file: path.resolve('/etc/gatehouse/logs/decisions.jsonl') },
    sample: { allow: 0.01, deny: 0.5, divergence: 1 },
    headers: ['x-request-id', 'x-tenant'],
    includeQuery: true,
    claims: ['groups'],
    redact: ['email', 'x-tenant'],
  });
});

const errors: [name: string, yaml: string, field: string, problem: RegExp][] = [
  ['an unknown field', 'decisionLog: { enable: true }', 'decisionLog.enable', /unknown field/],
  ['a sample rate above 1', 'decisionLog: { sample: { allow: 2 } }', 'decisionLog.sample.allow', /number from 0 to 1/],
  ['a sample rate that is a string', 'decisionLog: { sample: { deny: "10%" } }', 'decisionLog.sample.deny', /number from 0 to 1/],
  ['an unknown sample kind', 'decisionLog: { sample: { error: 1 } }', 'decisionLog.sample.error', /unknown field/],
  [
    'the authorization header',
    'decisionLog: { headers: [x-request-id, Authorization] }',
    'decisionLog.headers[1]',
    /carries credentials; headers like it are never logged/,
  ],
  ['the cookie header', 'decisionLog: { headers: [cookie] }', 'decisionLog.headers[0]', /never logged/],
  ['the proxy-authorization header', 'decisionLog: { headers: [proxy-authorization] }', 'decisionLog.headers[0]', /never logged/],
  ['a header named like a secret', 'decisionLog: { headers: [x-api-key] }', 'decisionLog.headers[0]', /secret/],
  ['a claim named like a token', 'decisionLog: { claims: [groups, refresh_token] }', 'decisionLog.claims[1]', /never logged/],
  ['a header name with a space', 'decisionLog: { headers: ["x request"] }', 'decisionLog.headers[0]', /not an HTTP header name/],
  ['enabled that is not a boolean', 'decisionLog: { enabled: yes please }', 'decisionLog.enabled', /true or false/],
];
for (const [name, yaml, field, problem] of errors) {
  test(`decisionLog refuses ${name}, naming the field`, (t) => {
    const error = t.throws(() => parseConfig(yaml, FILE), { instanceOf: ValidationError });
    t.is(error?.field, field);
    t.regex(error?.problem ?? '', problem);
  });
}
