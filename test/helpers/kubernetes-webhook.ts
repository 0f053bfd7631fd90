/**
 * The Kubernetes webhook service as kube-apiserver meets it, built by code:
 * the request bodies of the Kubernetes webhook documentation in both API
 * versions; a PKI with the service's certificate and kube-apiserver's client
 * certificate (and certificates that must be refused); a real JWKS server
 * as the users' identity provider; KubernetesAccessPolicy files and the
 * YAML configuration; the service started in process; and clients that
 * call it as kube-apiserver does (HTTPS with a client certificate) and as
 * gRPC callers do (mTLS).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { request as httpsRequest, type Agent } from 'node:https';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { JWTPayload } from 'jose';
import { createLogger, type Logger } from '../../gateway/log.js';
import {
  KUBERNETES_REVIEW_SERVICE,
  parseKubernetesWebhookConfig,
  startKubernetesWebhook,
  type KubernetesWebhookConfig,
  type RunningKubernetesWebhook,
} from '../../services/kubernetes-webhook/index.js';
import { CLI } from './gatehouse.js';
import { createCa, issueCert, type IssuedCert, type TestCa } from './certs.js';
import { connect, type TestClient } from './grpc-client.js';
import { startJwksServer, type JwksServer } from './jwks-server.js';
import { freePort } from './redis.js';
import { epochSeconds, generateTestKey, jwksOf, signToken, type TestKey } from './tokens.js';

export type SarVersion = 'v1' | 'v1beta1';

/** A SubjectAccessReview body of `version` with `spec` as given (groups spelled as the version spells them). */
export function sarBody(version: SarVersion, spec: Record<string, unknown>): string {
  return JSON.stringify({ apiVersion: `authorization.k8s.io/${version}`, kind: 'SubjectAccessReview', spec });
}

/** A TokenReview body of `version`. */
export function tokenReviewBody(version: SarVersion, spec: Record<string, unknown>): string {
  return JSON.stringify({ apiVersion: `authentication.k8s.io/${version}`, kind: 'TokenReview', spec });
}

interface SarDocument {
  readonly apiVersion: string;
  readonly kind: 'SubjectAccessReview';
  readonly spec: Record<string, unknown>;
}

/**
 * The SubjectAccessReview requests of the Kubernetes "Webhook Mode" page:
 * the resource request, the non-resource request and the selector request.
 * The page shows them as v1beta1, whose groups field is `group`; v1 spells it `groups`.
 */
export function documentedSubjectAccessReviews(version: SarVersion): {
  resource: SarDocument;
  nonResource: SarDocument;
  selectors: SarDocument;
} {
  const groups = { [version === 'v1beta1' ? 'group' : 'groups']: ['group1', 'group2'] };
  const document = (spec: Record<string, unknown>): SarDocument => ({
    apiVersion: `authorization.k8s.io/${version}`,
    kind: 'SubjectAccessReview',
    spec: { ...spec, user: 'jane', ...groups },
  });
  return {
    resource: document({
      resourceAttributes: { namespace: 'kittensandponies', verb: 'get', group: 'unicorn.example.org', resource: 'pods' },
    }),
    nonResource: document({ nonResourceAttributes: { path: '/debug', verb: 'get' } }),
    selectors: document({
      resourceAttributes: {
        verb: 'list',
        group: '',
        resource: 'pods',
        fieldSelector: { requirements: [{ key: 'spec.nodeName', operator: 'In', values: ['mynode'] }] },
        labelSelector: { requirements: [{ key: 'example.com/mykey', operator: 'In', values: ['myvalue'] }] },
      },
    }),
  };
}

/**
 * The TokenReview request of the Kubernetes "Authenticating" page (webhook
 * token authentication), with `token` in place of the page's elided one.
 */
export function documentedTokenReview(version: SarVersion, token: string): Record<string, unknown> {
  return {
    apiVersion: `authentication.k8s.io/${version}`,
    kind: 'TokenReview',
    spec: { token, audiences: ['https://myserver.example.com', 'https://myserver.internal.example.com'] },
  };
}

/** The audience the identity provider's tokens carry for the cluster. */
export const CLUSTER_AUDIENCE = 'kubernetes';
/** The subject CN of kube-apiserver's webhook client certificate. */
export const APISERVER_NAME = 'kube-apiserver-webhook-client';
/** The break-glass token of {@link BREAK_GLASS_YAML}; only its SHA-256 is configured. */
export const BREAK_GLASS_TOKEN = 'break-glass-0f4c1e9a7d2b6c83';

/** A `breakGlass` section: one token for `oncall-admin` (group `sre`), and the `emergency` group. */
export const BREAK_GLASS_YAML = [
  'breakGlass:',
  '  tokens:',
  `    - { name: oncall, sha256: "${createHash('sha256').update(BREAK_GLASS_TOKEN).digest('hex')}", user: { username: oncall-admin, groups: [sre] } }`,
  '  groups: [emergency]',
].join('\n');

export interface WebhookEnvironment {
  readonly ca: TestCa;
  /** The service's certificate: DNS `localhost`, IP `127.0.0.1`. */
  readonly server: IssuedCert;
  /** kube-apiserver's client certificate: `CN=kube-apiserver-webhook-client`. */
  readonly apiserver: IssuedCert;
  /** Another client of the same CA (`CN=some-workload`, DNS `workload.example`). */
  readonly stranger: IssuedCert;
  /** `CN=kube-apiserver-webhook-client` from a CA the service does not trust. */
  readonly foreign: IssuedCert;
  /** The users' identity provider. */
  readonly idp: JwksServer;
  readonly idpKey: TestKey;
  readonly dir: string;
  close(): Promise<void>;
}

/** PKI, identity provider and a temporary folder, shared by the services of one test file. */
export async function createWebhookEnvironment(): Promise<WebhookEnvironment> {
  const [ca, otherCa, idpKey] = await Promise.all([createCa('Cluster CA'), createCa('Somebody Else'), generateTestKey('ES256')]);
  const [server, apiserver, stranger, foreign] = await Promise.all([
    issueCert(ca, { dns: ['localhost'], ips: ['127.0.0.1'], serverAuth: true }),
    issueCert(ca, { commonName: APISERVER_NAME, clientAuth: true }),
    issueCert(ca, { commonName: 'some-workload', dns: ['workload.example'], clientAuth: true }),
    issueCert(otherCa, { commonName: APISERVER_NAME, clientAuth: true }),
  ]);
  const idp = await startJwksServer(jwksOf(idpKey));
  const dir = await mkdtemp(path.join(tmpdir(), 'kubernetes-webhook-test-'));
  await Promise.all([
    writeFile(path.join(dir, 'server.crt'), server.certPem),
    writeFile(path.join(dir, 'server.key'), server.keyPem),
    writeFile(path.join(dir, 'ca.crt'), ca.certPem),
  ]);
  return { ca, server, apiserver, stranger, foreign, idp, idpKey, dir, close: () => idp.close() };
}

/** A KubernetesAccessPolicy in namespace default, `spec` given as YAML lines (indented for `spec:`). */
export function accessPolicy(name: string, spec: string): string {
  return [
    'apiVersion: gatehouse.dev/v1alpha1',
    'kind: KubernetesAccessPolicy',
    `metadata: { name: ${name}, namespace: default }`,
    'spec:',
    spec,
    '',
  ].join('\n');
}

export interface WebhookYamlOptions {
  readonly httpsPort: number;
  readonly grpcPort: number;
  readonly policiesDir: string;
  /** `tls.allowedClientNames`. */
  readonly allowedClientNames?: readonly string[];
  /** Extra YAML appended (breakGlass, limits, redis, paths…). */
  readonly extra?: string;
  readonly logLevel?: string;
}

/**
 * The configuration: the environment's certificates, its identity provider
 * as the one JWT authenticator (username `oidc:<sub>`, groups from `groups`),
 * the policy folder.
 */
export function webhookYaml(env: WebhookEnvironment, options: WebhookYamlOptions): string {
  return [
    `listen: { host: 127.0.0.1, httpsPort: ${options.httpsPort}, grpcPort: ${options.grpcPort} }`,
    'tls:',
    `  certFile: ${env.dir}/server.crt`,
    `  keyFile: ${env.dir}/server.key`,
    `  clientCaFile: ${env.dir}/ca.crt`,
    ...(options.allowedClientNames ? [`  allowedClientNames: ${JSON.stringify(options.allowedClientNames)}`] : []),
    `policies: { paths: [${options.policiesDir}] }`,
    'authentication:',
    '  jwt:',
    `    - issuer: { url: "${env.idp.url}", audiences: [${CLUSTER_AUDIENCE}], jwksUri: "${env.idp.jwksUri}" }`,
    '      claimMappings:',
    '        username: { claim: sub, prefix: "oidc:" }',
    '        groups: { claim: groups, prefix: "" }',
    // Generous: a loaded test machine can take seconds to answer a key set request.
    'jwks: { fetchTimeoutMs: 10000 }',
    `log: { level: ${options.logLevel ?? 'silent'} }`,
    'drainSeconds: 1',
    options.extra ?? '',
  ].join('\n');
}

export interface WebhookOptions {
  /** KubernetesAccessPolicy files (file name → text). */
  readonly policies?: Record<string, string>;
  readonly allowedClientNames?: readonly string[];
  readonly extra?: string;
  readonly log?: Logger;
}

export interface TestWebhook {
  readonly service: RunningKubernetesWebhook;
  readonly config: KubernetesWebhookConfig;
  /** `https://127.0.0.1:<port>`. */
  readonly baseUrl: string;
  readonly policiesDir: string;
}

/** Starts the service in process on free loopback ports; close it with `service.close()`. */
export async function startWebhook(env: WebhookEnvironment, options: WebhookOptions = {}): Promise<TestWebhook> {
  const base = await mkdtemp(path.join(env.dir, 'service-'));
  const policiesDir = path.join(base, 'policies');
  await mkdir(policiesDir);
  for (const [name, text] of Object.entries(options.policies ?? {})) await writeFile(path.join(policiesDir, name), text);
  const [httpsPort, grpcPort] = [await freePort(), await freePort()];
  const yaml = webhookYaml(env, {
    httpsPort,
    grpcPort,
    policiesDir,
    ...(options.allowedClientNames ? { allowedClientNames: options.allowedClientNames } : {}),
    ...(options.extra ? { extra: options.extra } : {}),
  });
  const configFile = path.join(base, 'kubernetes-webhook.yaml');
  await writeFile(configFile, yaml);
  const config = parseKubernetesWebhookConfig(yaml, configFile);
  const service = await startKubernetesWebhook(config, { log: options.log ?? createLogger('silent') });
  return { service, config, baseUrl: `https://127.0.0.1:${service.httpsPort}`, policiesDir };
}

/** A token of the identity provider for the cluster (audience `kubernetes`). */
export function userToken(env: WebhookEnvironment, claims: JWTPayload = {}): Promise<string> {
  const now = epochSeconds();
  return signToken(
    { iss: env.idp.url, sub: 'alice', aud: CLUSTER_AUDIENCE, groups: ['todo-devs'], iat: now, exp: now + 600, ...claims },
    env.idpKey,
  );
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  /** The parsed JSON body, or `{ text }` when it is not JSON. */
  readonly body: Record<string, unknown>;
}

export interface CallOptions {
  /** The client certificate; none when absent. */
  readonly client?: IssuedCert;
  readonly method?: string;
  readonly contentType?: string;
  /** Reuse connections, as kube-apiserver does. */
  readonly agent?: Agent;
  /** More request headers (e.g. `traceparent`). */
  readonly headers?: Record<string, string>;
}

/**
 * Calls the service over HTTPS as kube-apiserver does: trusting the cluster
 * CA, presenting `client` (kube-apiserver's certificate by default: pass
 * `client: undefined` explicitly for none), POSTing JSON.
 */
export function callWebhook(
  env: WebhookEnvironment,
  url: string,
  body?: string | Buffer,
  options: CallOptions = { client: env.apiserver },
): Promise<HttpAnswer> {
  const method = options.method ?? (body === undefined ? 'GET' : 'POST');
  const headers: Record<string, string> =
    body === undefined
      ? {}
      : { 'content-type': options.contentType ?? 'application/json', 'content-length': String(Buffer.byteLength(body)) };
  Object.assign(headers, options.headers);
  const client = options.client;
  return new Promise((resolve, reject) => {
    const request = httpsRequest(
      url,
      {
        method,
        headers,
        ca: env.ca.certPem,
        agent: options.agent ?? false,
        ...(client ? { cert: client.certPem, key: client.keyPem } : {}),
      },
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
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

/** A gRPC client of KubernetesReviewService over mTLS (no client certificate when `client` is null). */
export function reviewClient(env: WebhookEnvironment, port: number, client: IssuedCert | null = env.apiserver): TestClient {
  const credentials = grpc.credentials.createSsl(
    Buffer.from(env.ca.certPem),
    client ? Buffer.from(client.keyPem) : null,
    client ? Buffer.from(client.certPem) : null,
  );
  return connect(KUBERNETES_REVIEW_SERVICE, `127.0.0.1:${port}`, credentials);
}

/** The services a server lists through grpc.reflection.v1, asked over mTLS as a tool like grpcurl would. */
export async function reflectedServices(env: WebhookEnvironment, port: number): Promise<string[]> {
  const protoPath = createRequire(import.meta.url).resolve('@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto');
  const loaded = grpc.loadPackageDefinition(protoLoader.loadSync(protoPath, { keepCase: true }));
  const v1 = ((loaded.grpc as grpc.GrpcObject).reflection as grpc.GrpcObject).v1 as grpc.GrpcObject;
  const Reflection = v1.ServerReflection as grpc.ServiceClientConstructor;
  const credentials = grpc.credentials.createSsl(
    Buffer.from(env.ca.certPem),
    Buffer.from(env.apiserver.keyPem),
    Buffer.from(env.apiserver.certPem),
  );
  const client = new Reflection(`127.0.0.1:${port}`, credentials);
  type Answer = { list_services_response?: { service: { name: string }[] } };
  try {
    const stream = (client as unknown as { ServerReflectionInfo(): grpc.ClientDuplexStream<unknown, Answer> }).ServerReflectionInfo();
    const answer = await new Promise<Answer>((resolve, reject) => {
      stream.on('data', resolve);
      stream.on('error', reject);
      stream.write({ list_services: '' });
    });
    stream.end();
    return (answer.list_services_response?.service ?? []).map((service) => service.name);
  } finally {
    client.close();
  }
}

export interface WebhookProcess {
  readonly process: ChildProcess;
  readonly httpsPort: number;
  readonly grpcPort: number;
  /** `https://127.0.0.1:<httpsPort>`. */
  readonly baseUrl: string;
  readonly policiesDir: string;
  /** The JSON log lines written so far. */
  readonly logs: Record<string, unknown>[];
  /** stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/**
 * `gatehouse kubernetes-webhook serve` as it ships (the bundled CLI) in its
 * own process, with {@link webhookYaml}'s configuration at log level info;
 * resolves once it logs that it is serving.
 *
 * @example
 * const webhook = await spawnWebhook(env, { policies: { 'a.yaml': accessPolicy('a', spec) } });
 * t.teardown(() => webhook.stop());
 */
export async function spawnWebhook(env: WebhookEnvironment, options: Omit<WebhookOptions, 'log'> = {}): Promise<WebhookProcess> {
  const base = await mkdtemp(path.join(env.dir, 'process-'));
  const policiesDir = path.join(base, 'policies');
  await mkdir(policiesDir);
  for (const [name, text] of Object.entries(options.policies ?? {})) await writeFile(path.join(policiesDir, name), text);
  const [httpsPort, grpcPort] = [await freePort(), await freePort()];
  const configFile = path.join(base, 'kubernetes-webhook.yaml');
  await writeFile(
    configFile,
    webhookYaml(env, {
      httpsPort,
      grpcPort,
      policiesDir,
      logLevel: 'debug',
      ...(options.allowedClientNames ? { allowedClientNames: options.allowedClientNames } : {}),
      ...(options.extra ? { extra: options.extra } : {}),
    }),
  );
  const child = spawn(process.execPath, [CLI, 'kubernetes-webhook', 'serve', '--config', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const logs: Record<string, unknown>[] = [];
  child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the webhook did not start:\n${text}`));
    }, 15_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      text += `${line}\n`;
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        return;
      }
      if (logs.at(-1)?.msg !== 'kubernetes webhook serving') return;
      clearTimeout(timer);
      resolve();
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the webhook exited with ${code} before serving:\n${text}`));
    });
  });
  return {
    process: child,
    httpsPort,
    grpcPort,
    baseUrl: `https://127.0.0.1:${httpsPort}`,
    policiesDir,
    logs,
    output: () => text,
    exited,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
