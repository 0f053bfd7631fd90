/**
 * The `apiKeys` and `clientCredentials` sections of gatehouse.yaml:
 * defaults, and every refusal naming its field.
 */
import test from 'ava';
import { parseConfig } from '../../../gateway/config/load.js';
import { ValidationError } from '../../../gateway/errors.js';

const REDIS = 'redis: { url: "redis://127.0.0.1:6379" }\n';

test('apiKeys defaults: Redis store, x-api-key, no query parameter, the default issuer', (t) => {
  const config = parseConfig(`${REDIS}apiKeys: {}\n`, '/etc/gh/gatehouse.yaml');
  t.deepEqual(config.apiKeys, {
    watch: true,
    issuer: 'gatehouse.dev/api-key',
    headers: [{ name: 'x-api-key', prefix: '' }],
    cache: { maxEntries: 10_000, maxTtlSeconds: 60 },
    revocationTtlSeconds: 604_800,
  });
  t.is(parseConfig('', 'c.yaml').apiKeys, undefined);
});

test('apiKeys with a key file, headers, a query parameter and an issuer', (t) => {
  const config = parseConfig(
    [
      'apiKeys:',
      '  file: ./api-keys/keys.yaml',
      '  issuer: keys.example.com',
      '  headers: [{ name: x-api-key }, { name: authorization, prefix: "ApiKey " }]',
      '  queryParameter: api_key',
      '  cache: { maxEntries: 100, maxTtlSeconds: 30 }',
      '',
    ].join('\n'),
    '/etc/gh/gatehouse.yaml',
  );
  t.is(config.apiKeys?.file, '/etc/gh/api-keys/keys.yaml');
  t.deepEqual(config.apiKeys?.headers, [
    { name: 'x-api-key', prefix: '' },
    { name: 'authorization', prefix: 'ApiKey ' },
  ]);
  t.is(config.apiKeys?.queryParameter, 'api_key');
  t.is(config.apiKeys?.issuer, 'keys.example.com');
});

const refusedApiKeys: [string, string, RegExp][] = [
  ['no redis and no file', 'apiKeys: {}', /apiKeys: keys are kept in Redis unless apiKeys\.file/],
  [
    'authorization without a scheme',
    `${REDIS}apiKeys: { headers: [{ name: authorization }] }`,
    /apiKeys\.headers\[0\]\.prefix: authorization carries other credentials/,
  ],
  ['an upper-case header name', `${REDIS}apiKeys: { headers: [{ name: X-Api-Key }] }`, /apiKeys\.headers\[0\]\.name/],
  ['no headers', `${REDIS}apiKeys: { headers: [] }`, /apiKeys\.headers: must name at least one header/],
  ['a header twice', `${REDIS}apiKeys: { headers: [{ name: x-api-key }, { name: x-api-key }] }`, /apiKeys\.headers\[1\]: header x-api-key/],
  ['an odd query parameter', `${REDIS}apiKeys: { queryParameter: "api key" }`, /apiKeys\.queryParameter/],
  ['an issuer ending in /', `${REDIS}apiKeys: { issuer: "keys.example.com/" }`, /apiKeys\.issuer/],
  ['an unknown field', `${REDIS}apiKeys: { store: redis }`, /apiKeys\.store: unknown field/],
  ['a cache TTL of a day', `${REDIS}apiKeys: { cache: { maxTtlSeconds: 86400 } }`, /apiKeys\.cache\.maxTtlSeconds/],
];
for (const [name, text, message] of refusedApiKeys) {
  test(`apiKeys refused: ${name}`, (t) => {
    const error = t.throws(() => parseConfig(`${text}\n`, 'c.yaml'), { instanceOf: ValidationError });
    t.regex(error?.message ?? '', message);
  });
}

test('clientCredentials: claim defaults to client_id, spiffe:// is optional', (t) => {
  const config = parseConfig(
    [
      'identity: { trustDomains: [cluster.local] }',
      'clientCredentials:',
      '  - { issuer: "https://login.example.com", clientId: reminder, subject: svc-reminder, principal: cluster.local/ns/default/sa/reminder }',
      '  - { issuer: "https://login.example.com", clientId: share, claim: sub, principal: "spiffe://cluster.local/ns/default/sa/share" }',
      '',
    ].join('\n'),
    'c.yaml',
  );
  t.deepEqual(config.clientCredentials, [
    {
      issuer: 'https://login.example.com',
      clientId: 'reminder',
      claim: 'client_id',
      subject: 'svc-reminder',
      principal: 'cluster.local/ns/default/sa/reminder',
    },
    { issuer: 'https://login.example.com', clientId: 'share', claim: 'sub', principal: 'cluster.local/ns/default/sa/share' },
  ]);
});

const entry = (fields: string) => `clientCredentials: [{ issuer: "https://idp", clientId: c, ${fields} }]`;
const refusedMappings: [string, string, RegExp][] = [
  [
    'client_id without subject',
    entry('principal: cluster.local/ns/a/sa/b'),
    /clientCredentials\[0\]\.subject: is required with claim client_id/,
  ],
  [
    'azp without subject',
    entry('claim: azp, principal: cluster.local/ns/a/sa/b'),
    /clientCredentials\[0\]\.subject: is required with claim azp/,
  ],
  [
    'an unknown claim',
    entry('claim: cid, principal: cluster.local/ns/a/sa/b'),
    /clientCredentials\[0\]\.claim: must be one of client_id, azp, sub/,
  ],
  [
    'a principal that is not a SPIFFE ID',
    entry('claim: sub, principal: "Cluster Local/x"'),
    /clientCredentials\[0\]\.principal: .* is not a SPIFFE ID/,
  ],
  [
    'a principal outside the trust domains',
    `identity: { trustDomains: [cluster.local] }\n${entry('claim: sub, principal: other.domain/ns/a/sa/b')}`,
    /clientCredentials\[0\]\.principal: trust domain other\.domain/,
  ],
  [
    'the same client twice',
    'clientCredentials: [{ issuer: i, clientId: c, claim: sub, principal: td/a }, { issuer: i, clientId: c, claim: sub, principal: td/b }]',
    /clientCredentials\[1\]: maps the same sub/,
  ],
  ['not a list', 'clientCredentials: {}', /clientCredentials: must be a list/],
];
for (const [name, text, message] of refusedMappings) {
  test(`clientCredentials refused: ${name}`, (t) => {
    const error = t.throws(() => parseConfig(`${text}\n`, 'c.yaml'), { instanceOf: ValidationError });
    t.regex(error?.message ?? '', message);
  });
}
