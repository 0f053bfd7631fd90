/**
 * The webhook's configuration file: defaults, paths resolved against the
 * file's folder, and one row per mistake with the field its error names.
 */
import path from 'node:path';
import test from 'ava';
import { ValidationError } from '../../../gateway/errors.js';
import { KUBERNETES_WEBHOOK_DEFAULTS, parseKubernetesWebhookConfig } from '../../../services/kubernetes-webhook/index.js';

const file = '/etc/gatehouse/kubernetes-webhook.yaml';
const tls = 'tls: { certFile: tls/server.crt, keyFile: tls/server.key, clientCaFile: /etc/kubernetes/pki/ca.crt }';
const digest = 'a'.repeat(64);

test('a configuration of only its certificates gets the defaults', (t) => {
  const config = parseKubernetesWebhookConfig(tls, file);
  t.deepEqual(config.listen, { host: '0.0.0.0', httpsPort: 8443, grpcPort: 8444 });
  t.deepEqual(config.tls, {
    certFile: '/etc/gatehouse/tls/server.crt',
    keyFile: '/etc/gatehouse/tls/server.key',
    clientCaFile: '/etc/kubernetes/pki/ca.crt',
    allowedClientNames: [],
  });
  t.deepEqual(config.paths, { authorize: '/authorize', authenticate: '/authenticate' });
  t.deepEqual(config.policies, { paths: [], rootNamespace: 'istio-system', defaultNamespace: 'default', watch: true });
  t.deepEqual(config.authentication, { jwt: [], cache: { l1MaxEntries: 100_000, maxTtlSeconds: 300 } });
  t.deepEqual(config.breakGlass, { tokens: [], users: [], groups: [] });
  t.deepEqual(config.limits, { maxBodyBytes: KUBERNETES_WEBHOOK_DEFAULTS.maxBodyBytes, maxTokenBytes: 16 * 1024 });
  t.is(config.redis, undefined);
  t.is(config.log.level, 'info');
  t.is(config.drainSeconds, 10);
  t.is(config.source, file);
});

test('every section, relative paths resolved against the file', (t) => {
  const config = parseKubernetesWebhookConfig(
    [
      'listen: { host: 127.0.0.1, httpsPort: 9443, grpcPort: "9444" }',
      'tls: { certFile: a.crt, keyFile: a.key, clientCaFile: ca.crt, allowedClientNames: [kube-apiserver, "CN=kube-apiserver,O=system:masters"] }',
      'paths: { authorize: /v1/authorize, authenticate: /v1/authenticate }',
      'policies: { paths: [policies, /srv/shared], rootNamespace: gatehouse, defaultNamespace: apps, watch: false }',
      'authentication:',
      '  jwt:',
      '    - issuer: { url: "https://login.example.com", audiences: [kubernetes] }',
      '      claimMappings: { username: { claim: email, prefix: "" }, groups: { claim: groups, prefix: "oidc:" } }',
      '  cache: { l1MaxEntries: 5000, maxTtlSeconds: 60 }',
      'breakGlass:',
      `  tokens: [{ name: oncall, sha256: "${digest}", user: { username: oncall-admin, groups: [sre] } }]`,
      '  tokensFile: secrets/break-glass.yaml',
      '  users: [root]',
      '  groups: [emergency]',
      'jwks: { fetchTimeoutMs: 500, refreshIntervalSeconds: 60, unknownKidCooldownSeconds: 5, maxStaleSeconds: 3600 }',
      'limits: { maxBodyBytes: 65536, maxTokenBytes: 8192 }',
      'redis: { url: "redis://redis:6379", keyPrefix: "webhook:" }',
      'log: { level: debug }',
      'drainSeconds: 3',
    ].join('\n'),
    file,
  );
  t.deepEqual(config.listen, { host: '127.0.0.1', httpsPort: 9443, grpcPort: 9444 });
  t.deepEqual(config.tls.allowedClientNames, ['kube-apiserver', 'CN=kube-apiserver,O=system:masters']);
  t.is(config.tls.clientCaFile, '/etc/gatehouse/ca.crt');
  t.deepEqual(config.paths, { authorize: '/v1/authorize', authenticate: '/v1/authenticate' });
  t.deepEqual(config.policies, {
    paths: ['/etc/gatehouse/policies', '/srv/shared'],
    rootNamespace: 'gatehouse',
    defaultNamespace: 'apps',
    watch: false,
  });
  t.is(config.authentication.jwt.length, 1);
  t.is(config.authentication.jwt[0]?.issuer.url, 'https://login.example.com');
  t.deepEqual(config.authentication.cache, { l1MaxEntries: 5000, maxTtlSeconds: 60 });
  t.is(config.breakGlass.tokens[0]?.name, 'oncall');
  t.is(config.breakGlass.tokensFile, path.join('/etc/gatehouse', 'secrets/break-glass.yaml'));
  t.deepEqual([config.breakGlass.users, config.breakGlass.groups], [['root'], ['emergency']]);
  t.deepEqual(config.jwks, { fetchTimeoutMs: 500, refreshIntervalSeconds: 60, unknownKidCooldownSeconds: 5, maxStaleSeconds: 3600 });
  t.deepEqual(config.limits, { maxBodyBytes: 65536, maxTokenBytes: 8192 });
  t.like(config.redis, { url: 'redis://redis:6379', keyPrefix: 'webhook:' });
  t.is(config.log.level, 'debug');
  t.is(config.drainSeconds, 3);
});

const mistakes: [name: string, yaml: string, field: string, problem?: RegExp][] = [
  ['not YAML', 'tls: [', '', /not valid YAML/],
  ['a key given twice', `${tls}\n${tls}`, '', /not valid YAML/],
  ['an unknown top-level field', `${tls}\nissuer: https://x`, 'issuer', /unknown field/],
  ['no tls', 'log: { level: info }', 'tls', /required/],
  ['no client CA', 'tls: { certFile: a, keyFile: b }', 'tls.clientCaFile', /required/],
  ['an unknown tls field', 'tls: { certFile: a, keyFile: b, clientCaFile: c, requireClientCert: false }', 'tls.requireClientCert'],
  [
    'allowed client names that are a string',
    'tls: { certFile: a, keyFile: b, clientCaFile: c, allowedClientNames: apiserver }',
    'tls.allowedClientNames',
  ],
  ['an unknown listen field', `${tls}\nlisten: { port: 1 }`, 'listen.port'],
  ['a port out of range', `${tls}\nlisten: { httpsPort: 70000 }`, 'listen.httpsPort'],
  ['one port for both listeners', `${tls}\nlisten: { httpsPort: 9443, grpcPort: 9443 }`, 'listen.grpcPort', /differ/],
  ['a relative webhook path', `${tls}\npaths: { authorize: authorize }`, 'paths.authorize', /absolute path/],
  ['the same path twice', `${tls}\npaths: { authorize: /review, authenticate: /review }`, 'paths.authenticate', /differ/],
  ['a webhook on a probe path', `${tls}\npaths: { authenticate: /healthz }`, 'paths.authenticate', /probes/],
  ['an unknown paths field', `${tls}\npaths: { token: /token }`, 'paths.token'],
  ['policy paths that are a string', `${tls}\npolicies: { paths: policies }`, 'policies.paths'],
  ['watch that is a string', `${tls}\npolicies: { watch: "yes" }`, 'policies.watch'],
  [
    'a JWT authenticator without claim mappings',
    `${tls}\nauthentication: { jwt: [{ issuer: { url: "https://login.example.com", audiences: [k] } }] }`,
    'authentication.jwt[0].claimMappings',
    /required/,
  ],
  ['an unknown cache field', `${tls}\nauthentication: { cache: { l2: true } }`, 'authentication.cache.l2'],
  ['a cache TTL of zero', `${tls}\nauthentication: { cache: { maxTtlSeconds: 0 } }`, 'authentication.cache.maxTtlSeconds'],
  [
    'a break-glass token with a digest that is not SHA-256',
    `${tls}\nbreakGlass: { tokens: [{ name: a, sha256: abc, user: { username: u } }] }`,
    'breakGlass.tokens[0].sha256',
  ],
  ['break-glass users that are a string', `${tls}\nbreakGlass: { users: root }`, 'breakGlass.users'],
  ['an unknown break-glass field', `${tls}\nbreakGlass: { subjects: [a] }`, 'breakGlass.subjects'],
  ['an unknown jwks field', `${tls}\njwks: { uri: x }`, 'jwks.uri'],
  ['a body limit under 1 KiB', `${tls}\nlimits: { maxBodyBytes: 100 }`, 'limits.maxBodyBytes'],
  ['a token limit over 1 MiB', `${tls}\nlimits: { maxTokenBytes: 2000000 }`, 'limits.maxTokenBytes'],
  ['two Redis topologies', `${tls}\nredis: { url: "redis://a:6379", cluster: { nodes: ["b:6379"] } }`, 'redis'],
  ['a log level that does not exist', `${tls}\nlog: { level: verbose }`, 'log.level'],
  ['a negative drain', `${tls}\ndrainSeconds: -1`, 'drainSeconds'],
];

for (const [name, yaml, field, problem] of mistakes) {
  test(`mistake: ${name} → names '${field || '(file)'}'`, (t) => {
    const error = t.throws(() => parseKubernetesWebhookConfig(yaml, file), { instanceOf: ValidationError });
    t.is(error?.field, field);
    t.is(error?.file, file);
    if (problem) t.regex(error?.problem ?? '', problem);
  });
}
