/**
 * The real server in process for the transport tests, plus a raw
 * `node:http2` client that sends exactly the bytes a test chooses, and an
 * authenticator a test can hold Checks at (to have one in flight).
 */
import http2 from 'node:http2';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AuthenticationResult, Authenticator } from '../../gateway/authorizer.js';
import { parseConfig } from '../../gateway/config/load.js';
import { loadProtobufRoot } from '../../gateway/envoy/descriptors.js';
import { createLogger } from '../../gateway/log.js';
import { compilePolicySet, parsePolicyDocuments } from '../../gateway/policy/index.js';
import { startServer, type RunningServer } from '../../gateway/server.js';
import type { MeshPki } from './certs.js';

export const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';
export const REMINDER = 'spiffe://cluster.local/ns/default/sa/reminder';
export const TODOS = 'spiffe://cluster.local/ns/default/sa/todos';

/** The reminder may GET /todos; nothing else is allowed. */
const POLICY = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: todos-viewer-allow, namespace: default }
spec:
  action: ALLOW
  rules:
    - from: [{ source: { principals: [cluster.local/ns/default/sa/reminder] } }]
      to: [{ operation: { methods: [GET] } }]
`;

/**
 * Starts the server on a free loopback port: h2c, or mTLS with the mesh's
 * certificates (a client certificate required).
 */
export async function startTestServer(options: { pki?: MeshPki; authenticator?: Authenticator } = {}): Promise<RunningServer> {
  let yaml = 'listen: { host: 127.0.0.1, port: 0 }\ndrainSeconds: 5\nidentity: { trustDomains: [cluster.local] }\n';
  if (options.pki !== undefined) {
    const dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-transport-'));
    await Promise.all([
      writeFile(path.join(dir, 'server.crt'), options.pki.server.certPem),
      writeFile(path.join(dir, 'server.key'), options.pki.server.keyPem),
      writeFile(path.join(dir, 'ca.crt'), options.pki.ca.certPem),
    ]);
    yaml += `tls: { certFile: ${dir}/server.crt, keyFile: ${dir}/server.key, clientCaFile: ${dir}/ca.crt, requireClientCert: true }\n`;
  }
  const config = parseConfig(yaml, 'test.yaml');
  const set = compilePolicySet(parsePolicyDocuments([{ file: 'todos.yaml', text: POLICY }]));
  return startServer({
    config,
    policies: { current: () => set },
    log: createLogger('silent'),
    ...(options.authenticator === undefined ? {} : { authenticator: options.authenticator }),
  });
}

/** A CheckRequest for GET /todos on the todo workload, as a plain object (grpc-js clients) or encoded; `null`: no source principal. */
export function checkRequest(source: string | null = REMINDER): Record<string, unknown> {
  return {
    attributes: {
      source: {
        ...(source === null ? {} : { principal: source }),
        address: { socket_address: { address: '10.0.0.7', port_value: 1 } },
      },
      destination: { principal: TODOS },
      request: { http: { id: 'req-1', method: 'GET', path: '/todos', host: 'todos' } },
    },
  };
}

const root = loadProtobufRoot();
const requestType = root.lookupType('envoy.service.auth.v3.CheckRequest');
const responseType = root.lookupType('envoy.service.auth.v3.CheckResponse');

export function encodeCheckRequest(request = checkRequest()): Buffer {
  return Buffer.from(requestType.encode(requestType.fromObject(request)).finish());
}

/** The gRPC status code inside a CheckResponse (7 for a denial, 0 or absent for an allow). */
export function checkResponseCode(message: Buffer): number {
  const response = responseType.toObject(responseType.decode(message)) as { status?: { code?: number } };
  return response.status?.code ?? 0;
}

/** One length-prefixed gRPC message. */
export function frame(message: Buffer, compressed = false, declaredLength = message.length): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = compressed ? 1 : 0;
  prefix.writeUInt32BE(declaredLength, 1);
  return Buffer.concat([prefix, message]);
}

export interface RawAnswer {
  /** HTTP status. */
  readonly status: number;
  /** From the trailers, or from the headers of a trailers-only response. */
  readonly grpcStatus?: number;
  readonly grpcMessage?: string;
  readonly headers: http2.IncomingHttpHeaders;
  readonly trailers: http2.IncomingHttpHeaders;
  /** The response body as received (still framed). */
  readonly body: Buffer;
}

/**
 * Sends one request on `session` with the given headers (over gRPC's
 * defaults) and body, and reads the whole answer.
 */
export function rawCall(session: http2.ClientHttp2Session, body: Buffer, headers: http2.OutgoingHttpHeaders = {}): Promise<RawAnswer> {
  const request = session.request(
    { ':method': 'POST', ':path': CHECK_PATH, 'content-type': 'application/grpc', te: 'trailers', ...headers },
    // A GET would end the stream at once; these requests end it themselves.
    { endStream: false },
  );
  return readAnswer(request, () => request.end(body));
}

/** Reads the answer of `request` after `send` wrote to it. */
export function readAnswer(request: http2.ClientHttp2Stream, send: () => void): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    let responseHeaders: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    request.on('response', (received) => (responseHeaders = received));
    request.on('trailers', (received: http2.IncomingHttpHeaders) => (trailers = received));
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('error', reject);
    request.on('end', () => {
      const statusText = trailers['grpc-status'] ?? responseHeaders['grpc-status'];
      const message = trailers['grpc-message'] ?? responseHeaders['grpc-message'];
      resolve({
        status: Number(responseHeaders[':status']),
        ...(statusText === undefined ? {} : { grpcStatus: Number(statusText) }),
        ...(message === undefined ? {} : { grpcMessage: decodeURIComponent(String(message)) }),
        headers: responseHeaders,
        trailers,
        body: Buffer.concat(chunks),
      });
      // A request the server answered before reading all of it: nothing more to send.
      if (!request.closed) request.close();
    });
    send();
  });
}

/** An h2c connection to the server. */
export function connectRaw(port: number): http2.ClientHttp2Session {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  return session;
}

/** Authenticates nobody; while held, every Check waits in it until released. */
export class HoldingAuthenticator implements Authenticator {
  private held = false;
  private readonly waiting: (() => void)[] = [];
  private entered: (() => void)[] = [];

  hold(): void {
    this.held = true;
  }

  /** Lets every waiting Check (and later ones) through. */
  release(): void {
    this.held = false;
    for (const resume of this.waiting.splice(0)) resume();
  }

  /** Resolves once a Check is waiting here. */
  checkWaiting(): Promise<void> {
    if (this.waiting.length > 0) return Promise.resolve();
    return new Promise((resolve) => this.entered.push(resolve));
  }

  authenticate(): Promise<AuthenticationResult> {
    if (!this.held) return Promise.resolve(ANONYMOUS);
    return new Promise((resolve) => {
      this.waiting.push(() => resolve(ANONYMOUS));
      for (const notify of this.entered.splice(0)) notify();
    });
  }
}

const ANONYMOUS: AuthenticationResult = { kind: 'anonymous' };
