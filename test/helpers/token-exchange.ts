/**
 * A token-exchange service under test, built by code: the mesh PKI (server
 * and client SVIDs), a real JWKS server as the subject tokens' identity
 * provider, a folder of signing keys, DelegationPolicy files and the YAML
 * configuration; plus clients that speak to it as its users do (HTTPS form
 * posts with or without a client certificate, gRPC over TLS).
 */
import { generateKeyPairSync } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyResult } from 'jose';
import { createLogger, type Logger } from '../../gateway/log.js';
import {
  parseTokenExchangeConfig,
  startTokenExchange,
  type RunningTokenExchange,
  type TokenExchangeConfig,
} from '../../services/token-exchange/index.js';
import { createMeshPki, type IssuedCert, type MeshPki } from './certs.js';
import { connect, type TestClient } from './grpc-client.js';
import { startJwksServer, type JwksServer } from './jwks-server.js';
import { freePort } from './redis.js';
import { epochSeconds, generateTestKey, jwksOf, signToken, type TestKey } from './tokens.js';

export const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const JWT_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

/** Writes a signing key file: `<kid>.pem` (PKCS#8) for ES256, `<kid>.json` (private JWK) for EdDSA. */
export async function writeSigningKey(dir: string, kid: string, alg: 'ES256' | 'EdDSA'): Promise<void> {
  await mkdir(dir, { recursive: true });
  if (alg === 'ES256') {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await writeFile(path.join(dir, `${kid}.pem`), privateKey.export({ format: 'pem', type: 'pkcs8' }));
  } else {
    const { privateKey } = generateKeyPairSync('ed25519');
    await writeFile(path.join(dir, `${kid}.json`), JSON.stringify({ ...privateKey.export({ format: 'jwk' }), kid }));
  }
}

/** A DelegationPolicy in the root namespace: `actors` may act for subjects matching `subjects` towards `audiences`. */
export function delegationPolicy(
  name: string,
  actors: readonly string[],
  subjects: readonly string[],
  audiences: readonly string[],
): string {
  return [
    'apiVersion: gatehouse.dev/v1alpha1',
    'kind: DelegationPolicy',
    `metadata: { name: ${name}, namespace: istio-system }`,
    'spec:',
    '  rules:',
    `  - actors: ${JSON.stringify(actors)}`,
    `    subjects: ${JSON.stringify(subjects)}`,
    `    audiences: ${JSON.stringify(audiences)}`,
    '',
  ].join('\n');
}

export interface Environment {
  readonly pki: MeshPki;
  /** The subject tokens' identity provider. */
  readonly idp: JwksServer;
  readonly idpKey: TestKey;
  /** The actor tokens' issuer (e.g. a Kubernetes API server). */
  readonly actorIdp: JwksServer;
  readonly actorKey: TestKey;
  readonly dir: string;
  close(): Promise<void>;
}

/** PKI, two identity providers and a temporary folder, shared by the services of one test file. */
export async function createEnvironment(): Promise<Environment> {
  const [pki, idpKey, actorKey] = await Promise.all([createMeshPki(), generateTestKey('ES256'), generateTestKey('RS256')]);
  const [idp, actorIdp] = await Promise.all([startJwksServer(jwksOf(idpKey)), startJwksServer(jwksOf(actorKey))]);
  const dir = await mkdtemp(path.join(tmpdir(), 'token-exchange-test-'));
  await Promise.all([
    writeFile(path.join(dir, 'server.crt'), pki.server.certPem),
    writeFile(path.join(dir, 'server.key'), pki.server.keyPem),
    writeFile(path.join(dir, 'ca.crt'), pki.ca.certPem),
  ]);
  return { pki, idp, idpKey, actorIdp, actorKey, dir, close: async () => void (await Promise.all([idp.close(), actorIdp.close()])) };
}

export interface ServiceOptions {
  /** Folder of signing keys (created with one ES256 key `k1` when absent). */
  readonly keysDir?: string;
  readonly activeKid?: string;
  /** DelegationPolicy YAML files (file name → text). */
  readonly policies?: Record<string, string>;
  /** Extra YAML appended to the configuration (redis, tokens, limits, more subject issuers…). */
  readonly extra?: string;
  /** Extra subjectIssuers entries, as YAML list items. */
  readonly subjectIssuers?: string;
  /** `issuer`; by default the listener's own URL. Replicas of one deployment share it. */
  readonly issuer?: string;
  readonly log?: Logger;
  /** Listener ports; free ones by default. */
  readonly httpsPort?: number;
  readonly grpcPort?: number;
}

export interface TestService {
  readonly service: RunningTokenExchange;
  readonly config: TokenExchangeConfig;
  readonly issuer: string;
  /** `https://127.0.0.1:<port>`: where the HTTPS listener is. */
  readonly baseUrl: string;
  readonly tokenUrl: string;
  readonly keysDir: string;
}

/** Starts a service on free loopback ports; close it with `service.close()`. */
export async function startService(env: Environment, options: ServiceOptions = {}): Promise<TestService> {
  const base = await mkdtemp(path.join(env.dir, 'service-'));
  const keysDir = options.keysDir ?? path.join(base, 'keys');
  if (options.keysDir === undefined) await writeSigningKey(keysDir, 'k1', 'ES256');
  const policiesDir = path.join(base, 'policies');
  await mkdir(policiesDir);
  for (const [name, text] of Object.entries(options.policies ?? {})) await writeFile(path.join(policiesDir, name), text);
  const httpsPort = options.httpsPort ?? (await freePort());
  const grpcPort = options.grpcPort ?? (await freePort());
  const baseUrl = `https://127.0.0.1:${httpsPort}`;
  const issuer = options.issuer ?? baseUrl;
  const yaml = [
    `listen: { host: 127.0.0.1, httpsPort: ${httpsPort}, grpcPort: ${grpcPort} }`,
    `tls: { certFile: ${env.dir}/server.crt, keyFile: ${env.dir}/server.key, clientCaFile: ${env.dir}/ca.crt }`,
    `issuer: ${issuer}`,
    `signing: { keysDir: ${keysDir}, activeKid: ${options.activeKid ?? 'k1'} }`,
    'subjectIssuers:',
    `  - { issuer: "${env.idp.url}", jwksUri: "${env.idp.jwksUri}", audiences: [share] }`,
    ...(options.subjectIssuers === undefined ? [] : [options.subjectIssuers]),
    'actorIssuers:',
    `  - { issuer: "${env.actorIdp.url}", jwksUri: "${env.actorIdp.jwksUri}", audiences: [token-exchange] }`,
    `delegation: { paths: [${policiesDir}] }`,
    'log: { level: silent }',
    options.extra ?? '',
  ].join('\n');
  const configFile = path.join(base, 'token-exchange.yaml');
  await writeFile(configFile, yaml);
  const config = parseTokenExchangeConfig(yaml, configFile);
  const service = await startTokenExchange(config, { log: options.log ?? createLogger('silent') });
  return { service, config, issuer, baseUrl, tokenUrl: `${baseUrl}/token`, keysDir };
}

/** A user token of the identity provider, for the share service. */
export function userToken(env: Environment, claims: JWTPayload = {}): Promise<string> {
  const now = epochSeconds();
  return signToken(
    { iss: env.idp.url, sub: 'bob', aud: 'share', scope: 'todos:read todos:write', iat: now, exp: now + 600, ...claims },
    env.idpKey,
  );
}

/** An actor token of the actor issuer (a Kubernetes-style service account token). */
export function actorToken(env: Environment, sub = 'system:serviceaccount:default:share', claims: JWTPayload = {}): Promise<string> {
  const now = epochSeconds();
  return signToken({ iss: env.actorIdp.url, sub, aud: 'token-exchange', iat: now, exp: now + 600, ...claims }, env.actorKey);
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Record<string, unknown>;
}

export interface PostOptions {
  /** The client certificate; none when absent. */
  readonly client?: IssuedCert;
  readonly contentType?: string;
  /** A raw body instead of the form. */
  readonly body?: string | Buffer;
  /** More request headers (e.g. `traceparent`). */
  readonly headers?: Record<string, string>;
}

/** POSTs `form` to `url` over HTTPS, trusting the mesh CA. */
export function postForm(
  env: Environment,
  url: string,
  form: Record<string, string | string[]>,
  options: PostOptions = {},
): Promise<HttpAnswer> {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(form)) for (const item of Array.isArray(value) ? value : [value]) params.append(name, item);
  const body = options.body ?? params.toString();
  return httpsCall(
    env,
    url,
    'POST',
    body,
    {
      'content-type': options.contentType ?? 'application/x-www-form-urlencoded',
      'content-length': String(Buffer.byteLength(body)),
      ...options.headers,
    },
    options.client,
  );
}

/** GETs JSON over HTTPS. */
export function getJson(env: Environment, url: string): Promise<HttpAnswer> {
  return httpsCall(env, url, 'GET', undefined, {});
}

function httpsCall(
  env: Environment,
  url: string,
  method: string,
  body: string | Buffer | undefined,
  headers: Record<string, string>,
  client?: IssuedCert,
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(
      url,
      { method, headers, ca: env.pki.ca.certPem, agent: false, ...(client ? { cert: client.certPem, key: client.keyPem } : {}) },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: Record<string, unknown>;
          try {
            parsed = JSON.parse(text) as Record<string, unknown>;
          } catch {
            parsed = { text };
          }
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: parsed });
        });
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

/** A gRPC client of TokenExchangeService, with or without a client certificate. */
export function grpcClient(env: Environment, port: number, client?: IssuedCert): TestClient {
  const credentials = grpc.credentials.createSsl(
    Buffer.from(env.pki.ca.certPem),
    client ? Buffer.from(client.keyPem) : null,
    client ? Buffer.from(client.certPem) : null,
  );
  return connect('gatehouse.tokenexchange.v1.TokenExchangeService', `127.0.0.1:${port}`, credentials);
}

/** The service's published JWKS, fetched over HTTPS from `baseUrl`. */
export async function publishedJwks(env: Environment, baseUrl: string): Promise<JSONWebKeySet> {
  const answer = await getJson(env, `${baseUrl}/.well-known/jwks.json`);
  return answer.body as unknown as JSONWebKeySet;
}

/**
 * Verifies a minted token with the keys the service publishes, as a gateway
 * would; the keys come from `baseUrl` (default: the issuer itself).
 */
export async function verifyMinted(
  env: Environment,
  issuer: string,
  token: string,
  audience: string,
  baseUrl = issuer,
): Promise<JWTVerifyResult> {
  return jwtVerify(token, createLocalJWKSet(await publishedJwks(env, baseUrl)), { issuer, audience, typ: 'at+jwt' });
}
