/**
 * deploy/envoy/envoy.yaml and deploy/kubernetes-front-proxy/envoy.yaml
 * against Envoy's own bootstrap proto: every field, every `typed_config`
 * resolved by its type URL, strictly (a typo anywhere fails), plus what
 * Gatehouse needs from them (ext_authz over gRPC with mTLS, failing closed;
 * for the front proxy, the client certificate kube-apiserver trusts and the
 * context extension gatehouse.yaml selects).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { parse } from 'yaml';
import { parseConfig } from '../../gateway/config/load.js';
import { EnvoyConfigChecker, loadEnvoyProtos } from '../helpers/envoy-config.js';

const BOOTSTRAP = 'envoy.config.bootstrap.v3.Bootstrap';
const BOOTSTRAP_FILE = fileURLToPath(new URL('../../../deploy/envoy/envoy.yaml', import.meta.url));
const EXT_AUTHZ_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';
const UPSTREAM_TLS_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

type Json = Record<string, unknown>;

const bootstrap = parse(readFileSync(BOOTSTRAP_FILE, 'utf8')) as Json;
const checkerPromise = loadEnvoyProtos().then((root) => new EnvoyConfigChecker(root));

/** The value at a path of keys and list indexes. */
function at(value: unknown, ...path: (string | number)[]): unknown {
  return path.reduce<unknown>((current, key) => (current as Record<string | number, unknown> | undefined)?.[key], value);
}

const listener = at(bootstrap, 'static_resources', 'listeners', 0) as Json;
const manager = at(listener, 'filter_chains', 0, 'filters', 0, 'typed_config') as Json;
const httpFilters = manager.http_filters as Json[];
const clusters = at(bootstrap, 'static_resources', 'clusters') as Json[];

test('deploy/envoy/envoy.yaml is a valid Envoy bootstrap, typed_config included', async (t) => {
  const checker = await checkerPromise;
  t.deepEqual(checker.check(BOOTSTRAP, bootstrap), []);
});

test('the ext_authz filter asks Gatehouse over gRPC (v3), sends the peer certificate and fails closed', (t) => {
  const extAuthz = httpFilters.find((filter) => filter.name === 'envoy.filters.http.ext_authz');
  t.truthy(extAuthz, 'ext_authz filter present');
  const config = extAuthz!.typed_config as Json;
  t.is(config['@type'], EXT_AUTHZ_TYPE);
  t.is(config.transport_api_version, 'V3');
  t.is(config.include_peer_certificate, true);
  t.is(config.failure_mode_allow, false);
  t.deepEqual(config.status_on_error, { code: 'ServiceUnavailable' });
  t.regex(String(at(config, 'grpc_service', 'timeout')), /^\d+(\.\d+)?s$/);
  t.is(at(config, 'grpc_service', 'envoy_grpc', 'cluster_name'), 'gatehouse');
  t.is(httpFilters.at(-1)?.name, 'envoy.filters.http.router', 'the router is the last filter');
});

test('the path Gatehouse decides on is the one the upstream gets: normalized, slashes merged, escaped slashes decoded', (t) => {
  t.is(manager.normalize_path, true);
  t.is(manager.merge_slashes, true);
  t.is(manager.path_with_escaped_slashes_action, 'UNESCAPE_AND_REDIRECT');
});

test('the gatehouse cluster speaks HTTP/2 with mTLS and checks gRPC health', (t) => {
  const gatehouse = clusters.find((cluster) => cluster.name === 'gatehouse');
  t.truthy(gatehouse);
  const tls = at(gatehouse, 'transport_socket', 'typed_config') as Json;
  t.is(tls['@type'], UPSTREAM_TLS_TYPE);
  t.is((at(tls, 'common_tls_context', 'tls_certificates') as unknown[]).length, 1, 'Envoy presents a client certificate');
  t.truthy(at(tls, 'common_tls_context', 'validation_context', 'trusted_ca'), 'Gatehouse is verified');
  const options = at(gatehouse, 'typed_extension_protocol_options', 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions');
  t.deepEqual(at(options, 'explicit_http_config'), { http2_protocol_options: {} });
  t.truthy(at(gatehouse, 'health_checks', 0, 'grpc_health_check'));
});

test('every cluster a route or the ext_authz filter names exists', (t) => {
  const names = new Set(clusters.map((cluster) => cluster.name));
  const routes = at(manager, 'route_config', 'virtual_hosts', 0, 'routes') as Json[];
  t.true(routes.length > 0);
  for (const route of routes) t.true(names.has(at(route, 'route', 'cluster')), JSON.stringify(route.match));
  t.true(names.has('gatehouse'));
});

/** Sets `value` at `path` in a copy of the bootstrap (undefined deletes the key). */
function mutated(path: (string | number)[], value: unknown): Json {
  const copy = structuredClone(bootstrap);
  const parent = at(copy, ...path.slice(0, -1)) as Record<string | number, unknown>;
  const key = path.at(-1)!;
  if (value === undefined) delete parent[key];
  else parent[key] = value;
  return copy;
}

const extAuthzPath = [
  'static_resources',
  'listeners',
  0,
  'filter_chains',
  0,
  'filters',
  0,
  'typed_config',
  'http_filters',
  0,
  'typed_config',
];
const upstreamTlsPath = ['static_resources', 'clusters', 0, 'transport_socket', 'typed_config'];

const brokenBootstraps: { name: string; path: (string | number)[]; value: unknown; problem: RegExp }[] = [
  {
    name: 'a misspelt field inside the ext_authz typed_config',
    path: [...extAuthzPath, 'include_peer_certficate'],
    value: true,
    problem:
      /include_peer_certficate: unknown field of \.envoy\.extensions\.filters\.http\.ext_authz\.v3\.ExtAuthz \(did you mean include_peer_certificate\?\)/,
  },
  {
    name: 'a misspelt field inside the UpstreamTlsContext',
    path: [...upstreamTlsPath, 'common_tls_context', 'validation_context', 'trusted_cas'],
    value: { filename: '/ca.crt' },
    problem: /trusted_cas: unknown field of \.envoy\.extensions\.transport_sockets\.tls\.v3\.CertificateValidationContext/,
  },
  {
    name: 'a misspelt top-level field',
    path: ['static_resource'],
    value: {},
    problem: /^static_resource: unknown field of \.envoy\.config\.bootstrap\.v3\.Bootstrap/,
  },
  {
    name: 'a type URL that names no message',
    path: [...extAuthzPath, '@type'],
    value: 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuth',
    problem: /@type: envoy\.extensions\.filters\.http\.ext_authz\.v3\.ExtAuth is not a message/,
  },
  {
    name: 'an unknown enum value',
    path: [...extAuthzPath, 'transport_api_version'],
    value: 'V4',
    problem: /transport_api_version: "V4" is not a value of \.envoy\.config\.core\.v3\.ApiVersion/,
  },
  {
    name: 'a duration without its unit',
    path: [...extAuthzPath, 'grpc_service', 'timeout'],
    value: 250,
    problem: /grpc_service\.timeout: a duration is a string of seconds/,
  },
  {
    name: 'a bool given as a string',
    path: [...extAuthzPath, 'failure_mode_allow'],
    value: 'false',
    problem: /failure_mode_allow: must be true or false/,
  },
  {
    name: 'two members of one oneof',
    path: [...extAuthzPath, 'http_service'],
    value: { server_uri: { uri: 'http://gatehouse', cluster: 'gatehouse', timeout: '1s' } },
    problem: /http_service: oneof services already set by grpc_service/,
  },
  {
    name: 'a cluster without its required name',
    path: ['static_resources', 'clusters', 0, 'name'],
    value: undefined,
    problem: /clusters\[0\]\.name: required by \.envoy\.config\.cluster\.v3\.Cluster/,
  },
  {
    name: 'a port out of range',
    path: [
      'static_resources',
      'clusters',
      0,
      'load_assignment',
      'endpoints',
      0,
      'lb_endpoints',
      0,
      'endpoint',
      'address',
      'socket_address',
      'port_value',
    ],
    value: 70000,
    problem: /port_value: must be lte 65535/,
  },
];

for (const broken of brokenBootstraps) {
  test(`rejected: ${broken.name}`, async (t) => {
    const checker = await checkerPromise;
    const problems = checker.check(BOOTSTRAP, mutated(broken.path, broken.value));
    t.true(
      problems.some((problem) => broken.problem.test(problem)),
      problems.join('\n'),
    );
  });
}

const FRONT_PROXY_FILE = fileURLToPath(new URL('../../../deploy/kubernetes-front-proxy/envoy.yaml', import.meta.url));
const FRONT_PROXY_GATEHOUSE = fileURLToPath(new URL('../../../deploy/kubernetes-front-proxy/gatehouse.yaml', import.meta.url));
const frontProxy = parse(readFileSync(FRONT_PROXY_FILE, 'utf8')) as Json;
const frontProxyManager = at(frontProxy, 'static_resources', 'listeners', 0, 'filter_chains', 0, 'filters', 0, 'typed_config') as Json;
const frontProxyClusters = at(frontProxy, 'static_resources', 'clusters') as Json[];

test('deploy/kubernetes-front-proxy/envoy.yaml is a valid Envoy bootstrap, typed_config included', async (t) => {
  const checker = await checkerPromise;
  t.deepEqual(checker.check(BOOTSTRAP, frontProxy), []);
});

test('the front proxy asks Gatehouse for every route, fails closed, and marks its Checks as gatehouse.yaml selects them', (t) => {
  const filters = frontProxyManager.http_filters as Json[];
  const config = filters.find((filter) => filter.name === 'envoy.filters.http.ext_authz')?.typed_config as Json;
  t.is(config.failure_mode_allow, false);
  t.is(at(config, 'grpc_service', 'envoy_grpc', 'cluster_name'), 'gatehouse');
  t.is(filters.at(-1)?.name, 'envoy.filters.http.router');
  const routes = at(frontProxyManager, 'route_config', 'virtual_hosts', 0, 'routes') as Json[];
  const selector = parseConfig(readFileSync(FRONT_PROXY_GATEHOUSE, 'utf8'), FRONT_PROXY_GATEHOUSE).kubernetesFrontProxy?.selector;
  t.truthy(selector);
  for (const route of routes) {
    t.is(at(route, 'route', 'cluster'), 'kube_apiserver');
    const extensions = at(route, 'typed_per_filter_config', 'envoy.filters.http.ext_authz', 'check_settings', 'context_extensions') as Json;
    for (const [key, value] of Object.entries(selector!.contextExtensions)) t.is(extensions[key], value, key);
  }
});

test('the front proxy normalizes paths before asking Gatehouse and refuses escaped slashes', (t) => {
  t.is(frontProxyManager.normalize_path, true);
  t.is(frontProxyManager.merge_slashes, true);
  t.is(frontProxyManager.path_with_escaped_slashes_action, 'REJECT_REQUEST');
});

test('the apiserver upstream presents the front-proxy client certificate and verifies the apiserver', (t) => {
  const apiserver = frontProxyClusters.find((cluster) => cluster.name === 'kube_apiserver');
  const tls = at(apiserver, 'transport_socket', 'typed_config') as Json;
  t.is(tls['@type'], UPSTREAM_TLS_TYPE);
  t.is((at(tls, 'common_tls_context', 'tls_certificates') as unknown[]).length, 1);
  t.truthy(at(tls, 'common_tls_context', 'validation_context', 'trusted_ca'));
  t.truthy(at(tls, 'common_tls_context', 'validation_context', 'match_typed_subject_alt_names', 0));
  t.truthy(frontProxyClusters.find((cluster) => cluster.name === 'gatehouse'));
});
