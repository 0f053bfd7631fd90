/**
 * The service's configuration is validated as strictly as gatehouse.yaml:
 * one row per mistake, each naming the field.
 */
import test from 'ava';
import { ValidationError } from '../../../gateway/errors.js';
import { parseTokenExchangeConfig } from '../../../services/token-exchange/index.js';

const valid = `
listen: { httpsPort: 8443, grpcPort: 8444 }
tls: { certFile: tls/tls.crt, keyFile: tls/tls.key, clientCaFile: tls/ca.crt }
issuer: https://token-exchange.gatehouse.svc:8443
signing: { keysDir: keys, activeKid: "2026-05" }
subjectIssuers:
  - { issuer: https://login.example.com, jwksUri: https://login.example.com/jwks.json, audiences: [share], algorithms: [ES256] }
delegation: { paths: [policies] }
`;

test('a valid configuration: defaults applied, paths resolved against the file', (t) => {
  const config = parseTokenExchangeConfig(valid, '/etc/te/config.yaml');
  t.is(config.tls.certFile, '/etc/te/tls/tls.crt');
  t.is(config.signing.keysDir, '/etc/te/keys');
  t.deepEqual(config.delegation.paths, ['/etc/te/policies']);
  t.is(config.tokenPath, '/token');
  t.is(config.tokens.ttlSeconds, 300);
  t.is(config.tokens.cacheMarginSeconds, 30);
  t.deepEqual(config.subjectIssuers[0]?.settings.algorithms, ['ES256']);
  t.deepEqual(config.actorIssuers, []);
  t.is(config.redis, undefined);
});

const invalid: [name: string, change: (text: string) => string, field: string][] = [
  ['unknown top-level field', (text) => `${text}\nfoo: 1\n`, 'foo'],
  ['tls missing', (text) => text.replace(/^tls:.*$/m, ''), 'tls'],
  ['client CA missing', (text) => text.replace(', clientCaFile: tls/ca.crt', ''), 'tls.clientCaFile'],
  ['issuer over http', (text) => text.replace('issuer: https://token-exchange', 'issuer: http://token-exchange'), 'issuer'],
  ['issuer with a path', (text) => text.replace('svc:8443', 'svc:8443/te'), 'issuer'],
  ['active kid missing', (text) => text.replace(', activeKid: "2026-05"', ''), 'signing.activeKid'],
  ['no subject issuers', (text) => text.replace(/subjectIssuers:\n.*\n/, 'subjectIssuers: []\n'), 'subjectIssuers'],
  ['issuer without a key source', (text) => text.replace('jwksUri: https://login.example.com/jwks.json, ', ''), 'subjectIssuers[0]'],
  ['HMAC for an issuer', (text) => text.replace('[ES256]', '[HS256]'), 'subjectIssuers[0].algorithms[0]'],
  ['unknown issuer field', (text) => text.replace('audiences: [share]', 'audience: [share]'), 'subjectIssuers[0].audience'],
  ['ttl too short', (text) => `${text}tokens: { ttlSeconds: 1 }\n`, 'tokens.ttlSeconds'],
  ['cache margin as long as the ttl', (text) => `${text}tokens: { ttlSeconds: 60, cacheMarginSeconds: 60 }\n`, 'tokens.cacheMarginSeconds'],
  ['token path under .well-known', (text) => `${text}tokenPath: /.well-known/token\n`, 'tokenPath'],
  ['redis with a password in the URL', (text) => `${text}redis: { url: "redis://:secret@redis:6379" }\n`, 'redis.url'],
  [
    'delegation depth beyond the limit',
    (text) => text.replace('paths: [policies]', 'paths: [policies], maxDepth: 99'),
    'delegation.maxDepth',
  ],
];

for (const [name, change, field] of invalid) {
  test(`invalid: ${name} → ${field}`, (t) => {
    const error = t.throws(() => parseTokenExchangeConfig(change(valid), '/etc/te/config.yaml'), { instanceOf: ValidationError });
    t.is(error?.field, field, error?.message);
  });
}
