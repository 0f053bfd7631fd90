import test from 'ava';
import { DEMO_CONFIG_PATH, loadConfig, parseConfig } from '../../../gateway/config/load.js';
import { DEFAULT_PORT } from '../../../gateway/config/config.js';
import { ValidationError } from '../../../gateway/errors.js';

test('an empty file gives the documented defaults', (t) => {
  const config = parseConfig('', '/etc/gatehouse/gatehouse.yaml');
  t.is(config.listen.port, DEFAULT_PORT);
  t.is(config.policies.rootNamespace, 'istio-system');
  t.is(config.policies.defaultNamespace, 'default');
  t.is(config.response.peerHeader, 'x-gatehouse-peer');
  t.is(config.response.subjectHeader, 'x-gatehouse-subject');
  t.is(config.response.actorsHeader, 'x-gatehouse-actors');
  t.is(config.delegation.maxDepth, 3);
  t.is(config.jwt.jwks.checkWaitMs, 200, 'below the 0.25 s ext_authz timeout of deploy/');
  t.is(config.tls, undefined);
});

test('the delegation section and its header names', (t) => {
  const config = parseConfig('delegation: { maxDepth: 5 }\nresponse: { subjectHeader: x-on-behalf-of, actorsHeader: x-acting }', 'c.yaml');
  t.is(config.delegation.maxDepth, 5);
  t.is(config.response.subjectHeader, 'x-on-behalf-of');
  t.is(config.response.actorsHeader, 'x-acting');
});

test('$PORT overrides listen.port', (t) => {
  t.is(parseConfig('listen: { port: 1234 }', 'c.yaml', { PORT: '8080' }).listen.port, 8080);
  t.is(parseConfig('listen: { port: 1234 }', 'c.yaml', { PORT: '' }).listen.port, 1234);
});

test('relative paths resolve against the config file folder', (t) => {
  const config = parseConfig('policies: { paths: [./policies, /abs] }\ntls: { certFile: a.crt, keyFile: a.key }', '/etc/gh/config.yaml');
  t.deepEqual(config.policies.paths, ['/etc/gh/policies', '/abs']);
  t.is(config.tls?.certFile, '/etc/gh/a.crt');
  t.false(config.tls?.requireClientCert);
});

test('the demo configuration loads', async (t) => {
  const config = await loadConfig(DEMO_CONFIG_PATH, {});
  t.true(config.policies.paths[0]!.endsWith('deploy/examples/todo/policies'));
  t.is(config.workloads.length, 3);
});

const invalid: [name: string, yaml: string, field: string, env?: NodeJS.ProcessEnv][] = [
  ['unknown top-level field', 'listne: {}', 'listne'],
  ['unknown nested field', 'policies: { path: [a] }', 'policies.path'],
  ['port out of range', 'listen: { port: 70000 }', 'listen.port'],
  ['port of the wrong type', 'listen: { port: "http" }', 'listen.port'],
  ['$PORT not a number', '', '$PORT', { PORT: 'eighty' }],
  ['paths not a list', 'policies: { paths: ./p }', 'policies.paths'],
  ['watch not a boolean', 'policies: { watch: "yes" }', 'policies.watch'],
  ['mTLS without a CA', 'tls: { certFile: a, keyFile: b, requireClientCert: true }', 'tls.clientCaFile'],
  ['tls without a key', 'tls: { certFile: a }', 'tls.keyFile'],
  ['bad CIDR', 'identity: { xfcc: { trustedCidrs: ["10.0.0.0/33"] } }', 'identity.xfcc.trustedCidrs[0]'],
  ['workload without service account', 'workloads: [{ namespace: default }]', 'workloads[0].serviceAccount'],
  ['label value not a string', 'workloads: [{ namespace: d, serviceAccount: s, labels: { app: [1] } }]', 'workloads[0].labels.app'],
  ['upper-case header name', 'response: { peerHeader: X-Peer }', 'response.peerHeader'],
  ['upper-case actors header', 'response: { actorsHeader: X-Actors }', 'response.actorsHeader'],
  ['delegation depth of zero', 'delegation: { maxDepth: 0 }', 'delegation.maxDepth'],
  ['delegation depth above the hard limit', 'delegation: { maxDepth: 17 }', 'delegation.maxDepth'],
  ['unknown delegation field', 'delegation: { depth: 2 }', 'delegation.depth'],
  ['unknown log level', 'log: { level: loud }', 'log.level'],
  ['top level is a list', '- a', '(top level)'],
  ['two Redis topologies', 'redis: { url: "redis://a:6379", cluster: { nodes: ["b:6379"] } }', 'redis'],
  ['password inside the Redis URL', 'redis: { url: "redis://:secret@a:6379" }', 'redis.url'],
  ['Redis URL with another scheme', 'redis: { url: "http://a:6379" }', 'redis.url'],
  ['cluster node without a port', 'redis: { cluster: { nodes: ["b"] } }', 'redis.cluster.nodes[0]'],
  ['command timeout of zero', 'redis: { url: "redis://a", commandTimeoutMs: 0 }', 'redis.commandTimeoutMs'],
  ['alg none for an issuer', 'jwt: { issuers: { "https://idp": { algorithms: [none] } } }', 'jwt.issuers.https://idp.algorithms[0]'],
  ['HMAC for an issuer', 'jwt: { defaults: { algorithms: [HS256] } }', 'jwt.defaults.algorithms[0]'],
  ['empty algorithm list', 'jwt: { defaults: { algorithms: [] } }', 'jwt.defaults.algorithms'],
  ['unknown issuer setting', 'jwt: { defaults: { leeway: 5 } }', 'jwt.defaults.leeway'],
  ['cache TTL of zero', 'jwt: { cache: { maxTtlSeconds: 0 } }', 'jwt.cache.maxTtlSeconds'],
  ['negative key-fetch wait', 'jwt: { jwks: { checkWaitMs: -1 } }', 'jwt.jwks.checkWaitMs'],
  ['key-fetch wait past a minute', 'jwt: { jwks: { checkWaitMs: 60001 } }', 'jwt.jwks.checkWaitMs'],
  ['admin port out of range', 'admin: { port: 99999 }', 'admin.port'],
  ['malformed trusted XFCC peer', 'identity: { xfcc: { trustedPeers: ["spiffe://Bad.Domain/x"] } }', 'identity'],
  ['malformed trust domain', 'identity: { trustDomains: ["Not A Domain"] }', 'identity'],
];

for (const [name, yaml, field, env] of invalid) {
  test(`rejects: ${name}`, (t) => {
    const error = t.throws(() => parseConfig(yaml, 'cfg.yaml', env ?? {}), { instanceOf: ValidationError });
    t.is(error?.field, field);
    t.true(error?.message.startsWith(`cfg.yaml ${field}:`), error?.message);
  });
}

test('rejects broken YAML and duplicate keys with the file name', (t) => {
  t.throws(() => parseConfig('listen: {', 'cfg.yaml'), { message: /^cfg\.yaml: not valid YAML/ });
  t.throws(() => parseConfig('log: {}\nlog: {}', 'cfg.yaml'), { message: /^cfg\.yaml: not valid YAML/ });
});

test('a missing file is a clear error', async (t) => {
  await t.throwsAsync(loadConfig('/nonexistent/gatehouse.yaml'), { message: /cannot read the file: ENOENT/ });
});

test('redis, jwt and admin sections: defaults and files resolved against the config folder', (t) => {
  const config = parseConfig(
    `
redis:
  sentinel: { masterName: mymaster, sentinels: ["10.0.0.1:26379", "[::1]:26380"] }
  passwordFile: secrets/redis-password
  tls: { caFile: tls/ca.crt }
jwt:
  defaults: { algorithms: [ES256], clockSkewSeconds: 10 }
  issuers: { "https://idp.example": { requiredType: at+jwt, maxTokenAgeSeconds: 3600 } }
admin: { enabled: true }
`,
    '/etc/gh/gatehouse.yaml',
  );
  t.deepEqual(config.redis?.sentinel, {
    masterName: 'mymaster',
    sentinels: [
      { host: '10.0.0.1', port: 26379 },
      { host: '::1', port: 26380 },
    ],
  });
  t.is(config.redis?.passwordFile, '/etc/gh/secrets/redis-password');
  t.is(config.redis?.tls?.caFile, '/etc/gh/tls/ca.crt');
  t.is(config.redis?.keyPrefix, 'gatehouse:');
  t.is(config.redis?.commandTimeoutMs, 50);
  t.deepEqual(config.jwt.defaults.algorithms, ['ES256']);
  t.is(config.jwt.issuers['https://idp.example']?.requiredType, 'at+jwt');
  t.is(config.jwt.cache.maxTtlSeconds, 300);
  t.deepEqual(config.admin, { enabled: true, host: '127.0.0.1', port: 9192 });
  t.is(parseConfig('', 'c.yaml').redis, undefined, 'no Redis unless configured');
});
