/**
 * The security table of the gateway: one test per attack, each asserting
 * what Envoy receives (gRPC status, HTTP status of the denied response) and
 * Gatehouse's stable reason code. Everything is real and started once for
 * the table: one `gatehouse serve` over mTLS (mesh certificates with SPIFFE
 * IDs), the identity provider's JWKS server and an attacker's, and Redis for
 * revocations and API keys. The rows are listed with what Gatehouse does in
 * docs/security.md; the webhook and token-exchange rows are in
 * service-attacks.test.ts.
 */
import { createHash } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import * as grpc from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { RedisApiKeyStore } from '../../gateway/identity/api-key-redis-store.js';
import { newApiKey } from '../helpers/api-keys.js';
import { createMeshPki, meshIds, type IssuedCert, type MeshPki } from '../helpers/certs.js';
import { runCli } from '../helpers/cli.js';
import { startGatehouse, writeFixture, type RunningGatehouse } from '../helpers/gatehouse.js';
import { connect, fromStruct, type TestClient } from '../helpers/grpc-client.js';
import { startJwksServer, type JwksServer } from '../helpers/jwks-server.js';
import { freePort, redisUrlForTests, uniquePrefix, type TestRedis } from '../helpers/redis.js';
import {
  epochSeconds,
  generateTestKey,
  jwksOf,
  publicKeyAsHmacSecret,
  signToken,
  unsignedToken,
  type SignOptions,
  type TestKey,
} from '../helpers/tokens.js';

const AUTHZ = 'envoy.service.auth.v3.Authorization';
const ADMIN = 'gatehouse.admin.v1.AdminService';
const HOST = 'todos.default.svc';
const INGRESS = 'spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account';
const KUBE_PROXY = 'spiffe://cluster.local/ns/kube-system/sa/kube-apiserver-proxy';
const FRONT_PROXY = { 'gatehouse.dev/front-proxy': 'kubernetes' };
const GRPC_PERMISSION_DENIED = 7;
const GRPC_INVALID_ARGUMENT = 3;
const GRPC_UNAUTHENTICATED = 16;

interface Header {
  header: { key: string; value: string };
}
interface CheckResponse {
  status: { code?: number };
  ok_response?: { headers: Header[]; headers_to_remove?: string[] };
  denied_response?: { status: { code: string }; body: string; headers: Header[] };
  dynamic_metadata?: unknown;
}

/** What Envoy is told about a denial: gRPC status, HTTP status (by its enum name), reason code and text. */
interface Denial {
  grpc: number | undefined;
  http: string;
  code: string;
  reason: string;
}

const policies = (issuer: string, jwksUri: string) => ({
  'authn.yaml': `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: todos-jwt, namespace: default }
spec:
  selector: { matchLabels: { app: todos } }
  jwtRules: [{ issuer: "${issuer}", jwksUri: "${jwksUri}", audiences: [todos] }]
`,
  // The reminder may only GET /todos… on the todos host; users (tokens) and API keys may call anything but /admin.
  'allow.yaml': `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: todos-allow, namespace: default }
spec:
  selector: { matchLabels: { app: todos } }
  action: ALLOW
  rules:
    - from: [{ source: { principals: [cluster.local/ns/default/sa/reminder] } }]
      to: [{ operation: { hosts: [${HOST}], methods: [GET], paths: ["/todos", "/todos/*"] } }]
    - from: [{ source: { requestPrincipals: ["${issuer}/*", "gatehouse.dev/api-key/*"] } }]
`,
  'deny-admin.yaml': `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: todos-admin-deny, namespace: default }
spec:
  selector: { matchLabels: { app: todos } }
  action: DENY
  rules:
    - to: [{ operation: { paths: ["/admin*"] } }]
`,
  'delegation.yaml': `apiVersion: gatehouse.dev/v1alpha1
kind: DelegationPolicy
metadata: { name: share-for-users, namespace: default }
spec:
  selector: { matchLabels: { app: todos } }
  rules:
    - { actors: ["${meshIds.share}", "${meshIds.reminder}"], subjects: ["${issuer}/*"], audiences: [todos] }
`,
});

let pki: MeshPki;
let idp: JwksServer;
let attacker: JwksServer;
let rsa: TestKey;
let evil: TestKey;
let redis: TestRedis;
let redisClient: Redis;
let keyPrefix: string;
let apiKeys: RedisApiKeyStore;
let configFile: string;
let gatehouse: RunningGatehouse;
let admin: TestClient;
const peers = new Map<IssuedCert, TestClient>();

test.before(async () => {
  [pki, rsa, evil] = await Promise.all([createMeshPki(), generateTestKey('RS256'), generateTestKey('RS256', 'attacker-key')]);
  [idp, attacker, redis] = await Promise.all([startJwksServer(jwksOf(rsa)), startJwksServer(jwksOf(evil)), redisUrlForTests()]);
  keyPrefix = uniquePrefix('security');
  redisClient = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  apiKeys = new RedisApiKeyStore(redisClient, keyPrefix);
  const adminPort = await freePort();
  ({ configFile } = await writeFixture({
    config: `
policies: { paths: [./policies] }
tls: { certFile: tls/server.crt, keyFile: tls/server.key, clientCaFile: tls/ca.crt, requireClientCert: true }
identity:
  trustDomains: [cluster.local]
  xfcc: { trustedPeers: ["${INGRESS}"] }
workloads:
  - { namespace: default, serviceAccount: todos, labels: { app: todos } }
  - { namespace: kube-system, serviceAccount: kube-apiserver-proxy }
jwt: { jwks: { refreshIntervalSeconds: 3600 } }
delegation: { maxDepth: 2 }
redis: { url: "${redis.url}", keyPrefix: "${keyPrefix}", commandTimeoutMs: 1000 }
admin: { enabled: true, port: ${adminPort} }
apiKeys: { headers: [{ name: x-api-key }, { name: authorization, prefix: "ApiKey " }] }
kubernetesFrontProxy:
  selector: { contextExtensions: { "gatehouse.dev/front-proxy": kubernetes } }
  jwt:
    - issuer: { url: "${idp.url}", audiences: [kubernetes], jwksUri: "${idp.jwksUri}" }
      claimMappings:
        username: { claim: sub, prefix: "oidc:" }
        groups: { claim: groups, prefix: "oidc:" }
`,
    policies: policies(idp.url, idp.jwksUri),
    files: { 'tls/server.crt': pki.server.certPem, 'tls/server.key': pki.server.keyPem, 'tls/ca.crt': pki.ca.certPem },
  }));
  gatehouse = await startGatehouse({ configFile });
  admin = connect(ADMIN, `127.0.0.1:${adminPort}`);
});

test.after.always(async () => {
  for (const client of peers.values()) client.close();
  admin?.close();
  redisClient?.disconnect();
  await gatehouse?.stop();
  await Promise.all([idp?.close(), attacker?.close(), redis?.stop()]);
});

/** A gRPC client on Gatehouse's mTLS port holding a workload's certificate: the calling peer. */
function peer(cert: IssuedCert): TestClient {
  let client = peers.get(cert);
  if (!client) {
    const credentials = grpc.credentials.createSsl(Buffer.from(pki.ca.certPem), Buffer.from(cert.keyPem), Buffer.from(cert.certPem));
    client = connect(AUTHZ, `localhost:${gatehouse.port}`, credentials);
    peers.set(cert, client);
  }
  return client;
}

interface CheckOptions {
  /** The calling peer; the reminder by default. */
  from?: IssuedCert;
  method?: string;
  path?: string;
  host?: string;
  headers?: Record<string, string>;
  /** Envoy's `header_map` form, where a header may repeat. */
  headerList?: { key: string; value: string }[];
  destination?: string;
  contextExtensions?: Record<string, string>;
}

/** A Check as Envoy sends it for a request to the todo service. */
function check(options: CheckOptions = {}): Promise<CheckResponse> {
  return peer(options.from ?? pki.reminder).call<CheckResponse>('Check', {
    attributes: {
      source: { address: { socket_address: { address: '10.0.0.7', port_value: 43210 } } },
      destination: { principal: options.destination ?? meshIds.todos },
      ...(options.contextExtensions ? { context_extensions: options.contextExtensions } : {}),
      request: {
        http: {
          method: options.method ?? 'GET',
          path: options.path ?? '/todos',
          host: options.host ?? HOST,
          headers: options.headers ?? {},
          ...(options.headerList ? { header_map: { headers: options.headerList } } : {}),
        },
      },
    },
  });
}

/** A Check carrying `token` as a bearer token. */
function checkToken(token: string, options: CheckOptions = {}): Promise<CheckResponse> {
  return check({ ...options, headers: { authorization: `Bearer ${token}`, ...options.headers } });
}

function denial(response: CheckResponse): Denial {
  if (!response.denied_response) throw new Error(`expected a denial, got an allow: ${JSON.stringify(response.ok_response)}`);
  const { code, reason } = JSON.parse(response.denied_response.body) as { code: string; reason: string };
  return { grpc: response.status.code, http: response.denied_response.status.code, code, reason };
}

/** The denial a row expects; `reason` is matched against the reason text when given. */
interface ExpectedDenial {
  grpc: number;
  http: string;
  code: string;
  reason?: RegExp;
}

/** Asserts a denial with its statuses and code; a 401 also carries a `www-authenticate` challenge. */
function assertDenied(t: ExecutionContext, response: CheckResponse, expected: ExpectedDenial) {
  const got = denial(response);
  t.like(got, { grpc: expected.grpc, http: expected.http, code: expected.code }, got.reason);
  if (expected.reason) t.regex(got.reason, expected.reason);
  if (expected.http === 'Unauthorized') {
    const challenge = response.denied_response?.headers.find((h) => h.header.key === 'www-authenticate');
    t.regex(challenge?.header.value ?? '', /^(Bearer|ApiKey) realm="gatehouse"/);
  }
}

const unauthorized = (code: string, reason?: RegExp): ExpectedDenial => ({
  grpc: GRPC_UNAUTHENTICATED,
  http: 'Unauthorized',
  code,
  ...(reason ? { reason } : {}),
});
const forbidden = (code: string, reason?: RegExp): ExpectedDenial => ({
  grpc: GRPC_PERMISSION_DENIED,
  http: 'Forbidden',
  code,
  ...(reason ? { reason } : {}),
});
const badRequest = (reason: RegExp): ExpectedDenial => ({ grpc: GRPC_INVALID_ARGUMENT, http: 'BadRequest', code: 'BAD_REQUEST', reason });

function claims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const now = epochSeconds();
  return { iss: idp.url, sub: 'alice', aud: 'todos', iat: now, exp: now + 300, jti: uniquePrefix('jti'), ...extra };
}

function token(extra: Record<string, unknown> = {}, options: SignOptions = {}): Promise<string> {
  return signToken(claims(extra), rsa, options);
}

/** A token whose `act` chain names `actors`, the current actor first (RFC 8693 §4.1). */
function delegatedToken(actors: readonly string[]): Promise<string> {
  let act: Record<string, unknown> | undefined;
  for (const actor of [...actors].reverse()) act = act === undefined ? { sub: actor } : { sub: actor, act };
  return token({ act });
}

/** `cnf.x5t#S256` of a certificate (RFC 8705 §3.1). */
function thumbprint(cert: IssuedCert): string {
  return createHash('sha256').update(cert.der).digest('base64url');
}

/** Asserts the identity provider was only asked for its key set: the kid named no file and no URL. */
function assertOnlyKeySetFetched(t: ExecutionContext) {
  t.deepEqual(
    [...idp.requests.keys()].filter((path) => path !== '/jwks.json' && path !== '/.well-known/openid-configuration'),
    [],
  );
}

test('baseline: the same gateway allows the legitimate requests the attacks imitate', async (t) => {
  t.is((await check()).status.code ?? 0, 0, 'the reminder reads /todos');
  t.is((await checkToken(await token())).status.code ?? 0, 0, 'a valid token');
  t.is((await checkToken(await token({ cnf: { 'x5t#S256': thumbprint(pki.share) } }), { from: pki.share })).status.code ?? 0, 0);
  t.is((await checkToken(await delegatedToken([meshIds.reminder]))).status.code ?? 0, 0, 'the reminder acting for alice');
  const { key, record } = newApiKey({ scopes: ['todos:read'] });
  await apiKeys.create(record);
  t.is((await check({ headers: { 'x-api-key': key } })).status.code ?? 0, 0, 'a valid API key');
});

// JWT

test('JWT alg none: an unsigned token is refused before any key lookup', async (t) => {
  assertDenied(t, await checkToken(unsignedToken(claims())), unauthorized('TOKEN_ALGORITHM_NOT_ALLOWED', /"none" is not allowed/));
});

test("JWT algorithm confusion: HS256 signed with the issuer's RSA public key as HMAC secret", async (t) => {
  const forged = await signToken(claims(), await publicKeyAsHmacSecret(rsa), { alg: 'HS256', kid: rsa.kid });
  assertDenied(t, await checkToken(forged), unauthorized('TOKEN_ALGORITHM_NOT_ALLOWED', /"HS256" is not allowed/));
});

test('JWT kid path traversal: kid "../../etc/passwd" reads no file and fetches nothing', async (t) => {
  const response = await checkToken(await token({}, { kid: '../../etc/passwd' }));
  assertDenied(t, response, unauthorized('TOKEN_NO_MATCHING_KEY'));
  t.false(JSON.stringify(response).includes('root:'), 'no file content in the answer');
  assertOnlyKeySetFetched(t);
});

test('JWT kid injection: quotes, SQL or a URL in the kid are only a key id that matches nothing', async (t) => {
  for (const kid of [`' OR '1'='1`, `"; DROP TABLE keys; --`, `${rsa.kid}' --`, attacker.jwksUri]) {
    assertDenied(t, await checkToken(await token({}, { kid })), unauthorized('TOKEN_NO_MATCHING_KEY'));
  }
  assertOnlyKeySetFetched(t);
  t.is(attacker.requestCount, 0, 'a kid that is a URL is not fetched');
});

test('JWT unknown kid: a key the issuer does not publish', async (t) => {
  assertDenied(t, await checkToken(await signToken(claims(), evil)), unauthorized('TOKEN_NO_MATCHING_KEY'));
});

test("JWT jku and x5u: headers pointing at the attacker's key server are never fetched", async (t) => {
  const forged = await signToken(claims(), evil, { header: { jku: attacker.jwksUri, x5u: `${attacker.url}/cert.pem` } });
  assertDenied(t, await checkToken(forged), unauthorized('TOKEN_NO_MATCHING_KEY'));
  // The attacker's key with the issuer's kid: the attacker's server is still not asked, the signature fails.
  const borrowedKid = await signToken(claims(), evil, { kid: rsa.kid, header: { jku: attacker.jwksUri } });
  assertDenied(t, await checkToken(borrowedKid), unauthorized('TOKEN_BAD_SIGNATURE'));
  t.is(attacker.requestCount, 0);
});

test('JWT expired', async (t) => {
  const now = epochSeconds();
  assertDenied(t, await checkToken(await token({ iat: now - 7200, exp: now - 3600 })), unauthorized('TOKEN_EXPIRED', /"exp"/));
});

test('JWT not yet valid (nbf an hour ahead)', async (t) => {
  assertDenied(t, await checkToken(await token({ nbf: epochSeconds() + 3600 })), unauthorized('TOKEN_NOT_YET_VALID', /"nbf"/));
});

test('JWT issued in the far future (iat a day ahead, to outlive its exp checks)', async (t) => {
  const future = epochSeconds() + 86_400;
  assertDenied(t, await checkToken(await token({ iat: future, exp: future + 300 })), unauthorized('TOKEN_ISSUED_IN_FUTURE', /"iat"/));
});

test('JWT wrong audience: a token minted for another service', async (t) => {
  assertDenied(t, await checkToken(await token({ aud: 'reminders' })), unauthorized('TOKEN_WRONG_AUDIENCE', /todos/));
});

test('JWT wrong issuer: a token of an issuer the workload does not trust', async (t) => {
  assertDenied(t, await checkToken(await token({ iss: attacker.url })), unauthorized('TOKEN_UNKNOWN_ISSUER'));
});

test('JWT revoked token replayed: revoked by jti through the admin service and Redis, then presented again', async (t) => {
  const jti = uniquePrefix('revoked');
  const replayed = await token({ jti });
  t.is((await checkToken(replayed)).status.code ?? 0, 0, 'accepted (and cached) before the revocation');
  const answer = await admin.call<{ shared: boolean }>('RevokeToken', { jti, expires_at: epochSeconds() + 300 });
  t.true(answer.shared, 'the revocation reached Redis');
  t.is(await redisClient.exists(`${keyPrefix}revoked:jti:${jti}`), 1);
  assertDenied(t, await checkToken(replayed), unauthorized('TOKEN_REVOKED'));
});

test('JWT oversized token (over the 16 KiB default)', async (t) => {
  assertDenied(t, await checkToken(await token({ padding: 'x'.repeat(20_000) })), unauthorized('TOKEN_TOO_LARGE', /16384 bytes/));
});

test('JWT unknown crit: a critical header extension Gatehouse does not understand', async (t) => {
  const critical = await token({}, { crit: ['x-must-understand'], header: { 'x-must-understand': true } });
  assertDenied(t, await checkToken(critical), unauthorized('TOKEN_UNKNOWN_CRITICAL_HEADER'));
});

test("JWT certificate-bound token (cnf.x5t#S256) presented by a different peer's certificate", async (t) => {
  // The token is bound to the share service's certificate; the reminder stole it.
  const bound = await token({ cnf: { 'x5t#S256': thumbprint(pki.share) } });
  assertDenied(t, await checkToken(bound), unauthorized('TOKEN_CERTIFICATE_BINDING_MISMATCH', /different client certificate/));
});

// Delegation

test('delegation chain deeper than delegation.maxDepth', async (t) => {
  const deep = await delegatedToken([meshIds.reminder, meshIds.share, meshIds.todos]);
  assertDenied(t, await checkToken(deep), forbidden('DELEGATION_TOO_DEEP'));
});

test("delegation spoofed actor: the token's current actor is not the calling peer", async (t) => {
  // The reminder presents a token that says the share service is acting for alice.
  assertDenied(t, await checkToken(await delegatedToken([meshIds.share])), forbidden('DELEGATION_ACTOR_NOT_CALLER'));
});

// Peers

test('XFCC forged by an untrusted hop never becomes the identity', async (t) => {
  // The todos service (not a trusted hop) claims, in the header, to forward the reminder's certificate.
  const response = await check({
    from: pki.todos,
    headers: { 'x-forwarded-client-cert': `By=${meshIds.todos};URI=${meshIds.reminder}` },
  });
  assertDenied(t, response, forbidden('NO_ALLOW_MATCH'));
  t.like(fromStruct(response.dynamic_metadata).peer, { principal: 'cluster.local/ns/default/sa/todos', source: 'connection' });
});

// Paths and headers: policies see the path normalized as Envoy's default (BASE) does (docs/policies.md):
// dot segments removed (also %2e%2e), %2F kept encoded and so not a separator, `\` is `/`, `//` kept,
// paths and methods case-sensitive, `;` an ordinary character. A DENY on `/admin*` (a prefix, not
// `/admin/*`) also covers `/admin%2F…` and `/admin;…`; everything else is outside the ALLOW list.

test('path traversal with .. reaches the DENY on /admin*', async (t) => {
  assertDenied(t, await check({ path: '/todos/../admin/users' }), forbidden('POLICY_DENIED', /todos-admin-deny/));
  assertDenied(t, await check({ path: '/todos\\..\\admin/users' }), forbidden('POLICY_DENIED', /todos-admin-deny/));
});

test('path traversal with percent-encoded dots (%2e%2e)', async (t) => {
  assertDenied(t, await check({ path: '/todos/%2e%2e/admin/users' }), forbidden('POLICY_DENIED', /todos-admin-deny/));
  assertDenied(t, await check({ path: '/todos/%2E./admin' }), forbidden('POLICY_DENIED', /todos-admin-deny/));
});

test('path with an encoded slash (%2f): not a separator, so /todos%2f..%2fadmin is outside the ALLOW list', async (t) => {
  assertDenied(t, await check({ path: '/todos%2f..%2fadmin' }), forbidden('NO_ALLOW_MATCH'));
  assertDenied(t, await check({ path: '/admin%2fusers' }), forbidden('POLICY_DENIED', /todos-admin-deny/));
});

test('path with double slashes: //admin is kept, not merged, and matches no ALLOW rule', async (t) => {
  assertDenied(t, await check({ path: '//admin/users' }), forbidden('NO_ALLOW_MATCH'));
});

test('path case: /ADMIN is a different path, outside the ALLOW list', async (t) => {
  assertDenied(t, await check({ path: '/ADMIN/users' }), forbidden('NO_ALLOW_MATCH'));
  assertDenied(t, await check({ path: '/TODOS' }), forbidden('NO_ALLOW_MATCH'));
});

test('path ;parameters: an ordinary character, so /admin;x=1 is still under /admin*', async (t) => {
  assertDenied(t, await check({ path: '/admin;jsessionid=1/users' }), forbidden('POLICY_DENIED'));
  assertDenied(t, await check({ path: '/todos;/../admin' }), forbidden('POLICY_DENIED'));
});

test('path that does not normalize (control characters, raw non-ASCII) is a bad request', async (t) => {
  assertDenied(t, await check({ path: '/todos/%zz' }), badRequest(/invalid percent-encoding/));
  assertDenied(t, await check({ path: '/tоdos' }), badRequest(/path/));
});

test('method case: methods are case-sensitive, so "get" is not the allowed GET', async (t) => {
  assertDenied(t, await check({ method: 'get' }), forbidden('NO_ALLOW_MATCH'));
});

test('duplicate authorization headers carrying two tokens are ambiguous', async (t) => {
  // A valid token and the attacker's: which one a later hop reads would be anybody's guess.
  const [mine, theirs] = await Promise.all([token(), token({ sub: 'mallory' })]);
  const twice = await check({
    headerList: [
      { key: 'authorization', value: `Bearer ${mine}` },
      { key: 'authorization', value: `Bearer ${theirs}` },
    ],
  });
  assertDenied(t, twice, unauthorized('TOKEN_AMBIGUOUS'));
  // Header names are case-insensitive: `Authorization` and `authorization` are the same header.
  const mixedCase = await check({ headers: { Authorization: `Bearer ${mine}`, authorization: `Bearer ${theirs}` } });
  assertDenied(t, mixedCase, unauthorized('TOKEN_AMBIGUOUS'));
});

test('duplicate x-api-key headers carrying two keys are ambiguous', async (t) => {
  const [a, b] = [newApiKey({ scopes: ['todos:read'] }), newApiKey({ scopes: ['todos:read'] })];
  await Promise.all([apiKeys.create(a.record), apiKeys.create(b.record)]);
  const twice = await check({
    headerList: [
      { key: 'x-api-key', value: a.key },
      { key: 'X-Api-Key', value: b.key },
    ],
  });
  assertDenied(t, twice, unauthorized('APIKEY_AMBIGUOUS'));
});

test('Unicode look-alike host: a Cyrillic "о" in the allowed host is refused, its punycode form matches nothing', async (t) => {
  // Hosts must be printable ASCII; an IDN arrives as punycode and is compared as is.
  assertDenied(t, await check({ host: 'tоdos.default.svc' }), badRequest(/host/));
  assertDenied(t, await check({ host: 'xn--tdos-5cd.default.svc' }), forbidden('NO_ALLOW_MATCH'));
});

// API keys

test('API key unknown: a well-formed key no store holds', async (t) => {
  assertDenied(t, await check({ headers: { 'x-api-key': `ghk_0123456789abcdef_${'B'.repeat(43)}` } }), unauthorized('APIKEY_INVALID'));
});

test('API key expired', async (t) => {
  const { key, record } = newApiKey({ scopes: ['todos:read'], notBefore: Date.now() - 7_200_000, notAfter: Date.now() - 3_600_000 });
  await apiKeys.create(record);
  assertDenied(t, await check({ headers: { 'x-api-key': key } }), unauthorized('APIKEY_EXPIRED'));
});

test('API key revoked with `gatehouse api-key revoke`, then presented again', async (t) => {
  const { key, record } = newApiKey({ scopes: ['todos:read'] });
  await apiKeys.create(record);
  t.is((await check({ headers: { 'x-api-key': key } })).status.code ?? 0, 0, 'accepted (and cached) before the revocation');
  const revoked = await runCli(['api-key', 'revoke', record.id, '-c', configFile]);
  t.is(revoked.code, 0, revoked.stderr);
  assertDenied(t, await eventuallyDenied(() => check({ headers: { 'x-api-key': key } }), 'APIKEY_REVOKED'), unauthorized('APIKEY_REVOKED'));
});

test('API key malformed', async (t) => {
  assertDenied(t, await check({ headers: { 'x-api-key': "hunter2' OR 1=1" } }), unauthorized('APIKEY_MALFORMED'));
});

test('API key in the query string, where apiKeys.queryParameter does not allow it', async (t) => {
  const { key, record } = newApiKey({ scopes: ['todos:read'] });
  await apiKeys.create(record);
  assertDenied(t, await check({ path: `/todos?api_key=${key}` }), unauthorized('APIKEY_IN_QUERY'));
});

// Kubernetes front proxy

/** A Check for kubectl's traffic to kube-apiserver, as the front proxy's selector picks it. */
function kubectl(headers: Record<string, string>): Promise<CheckResponse> {
  return check({
    destination: KUBE_PROXY,
    contextExtensions: FRONT_PROXY,
    host: 'kubernetes.example.com',
    path: '/api/v1/namespaces/default/pods',
    headers,
  });
}

function kubernetesToken(): Promise<string> {
  return token({ aud: 'kubernetes', groups: ['devs'] });
}

test('front proxy: spoofed X-Remote-User and X-Remote-Group are overwritten or removed, never trusted', async (t) => {
  const spoofed = { 'x-remote-user': 'system:admin', 'x-remote-group': 'system:masters', 'x-remote-extra-scopes': 'all' };
  assertDenied(t, await kubectl(spoofed), unauthorized('KUBERNETES_TOKEN_REQUIRED'));
  const response = await kubectl({ ...spoofed, authorization: `Bearer ${await kubernetesToken()}` });
  const sent = (response.ok_response?.headers ?? []).map((h) => `${h.header.key}: ${h.header.value}`);
  t.true(sent.includes('x-remote-user: oidc:alice'), sent.join('\n'));
  t.true(sent.includes('x-remote-group: oidc:devs'), sent.join('\n'));
  t.false(sent.some((line) => line.includes('system:')));
  t.true(response.ok_response?.headers_to_remove?.includes('x-remote-extra-scopes'));
});

test('front proxy: Impersonate-* headers without a policy allowing them', async (t) => {
  const bearer = `Bearer ${await kubernetesToken()}`;
  assertDenied(
    t,
    await kubectl({ authorization: bearer, 'impersonate-user': 'system:admin' }),
    forbidden('IMPERSONATION_NOT_ALLOWED', /system:admin/),
  );
  const groupOnly = await kubectl({ authorization: bearer, 'impersonate-group': 'system:masters' });
  assertDenied(t, groupOnly, { grpc: GRPC_INVALID_ARGUMENT, http: 'BadRequest', code: 'IMPERSONATION_INVALID' });
});

/** Asks until the denial's code is `code` (a revocation reaches the gateway asynchronously), for at most 5 s. */
async function eventuallyDenied(ask: () => Promise<CheckResponse>, code: string): Promise<CheckResponse> {
  const deadline = Date.now() + 5000;
  let response = await ask();
  while (Date.now() < deadline && (!response.denied_response || denial(response).code !== code)) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    response = await ask();
  }
  return response;
}
