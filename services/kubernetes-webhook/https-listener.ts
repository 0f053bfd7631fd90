/**
 * The HTTPS listener kube-apiserver calls: POST `authorizePath` with a
 * SubjectAccessReview, POST `authenticatePath` with a TokenReview, each
 * answered with the same object and its `status` filled; `/healthz` and
 * `/readyz` for probes. Client certificates are requested and verified
 * against the configured CA; the review paths refuse a request without a
 * verified one (401) or whose holder is not allowed (403), while the probe
 * paths answer anyone, since kubelet probes present no certificate.
 * Errors are Kubernetes `Status` objects whose message names the field.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../../gateway/log.js';
import { closeHttpsServer } from '../shared/listeners.js';
import { readRequestBody } from '../shared/request-body.js';
import { traceContextOfHeaders } from '../shared/trace-context.js';
import { isAllowedClient } from './client-names.js';
import { ReviewInputError } from './review-input.js';
import type { Reviews } from './reviews.js';
import { parseSubjectAccessReview, subjectAccessReviewResponse } from './subject-access-review-json.js';
import { parseTokenReview, tokenReviewResponse } from './token-review-json.js';

export const HEALTH_PATH = '/healthz';
export const READY_PATH = '/readyz';

/** Time limits of one request; a connection idle between requests is kept for `KEEP_ALIVE_MS`. */
const HEADERS_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;
const KEEP_ALIVE_MS = 60_000;

export interface HttpsListenerOptions {
  readonly host: string;
  readonly port: number;
  /** PEM contents. */
  readonly tls: { readonly cert: Buffer; readonly key: Buffer; readonly clientCa: Buffer };
  /** Client certificate names allowed to ask (see client-names.ts); empty: any verified certificate. */
  readonly allowedClientNames: readonly string[];
  readonly authorizePath: string;
  readonly authenticatePath: string;
  readonly maxBodyBytes: number;
  readonly maxTokenBytes: number;
  readonly reviews: Reviews;
  /** False while draining: `/readyz` answers 503. */
  readonly serving: () => boolean;
  readonly log: Logger;
}

export interface RunningHttpsListener {
  readonly port: number;
  /** Stops accepting, lets requests in flight finish for up to `graceMs`, then closes every connection. */
  close(graceMs: number): Promise<void>;
}

/** A refusal: HTTP status, Kubernetes `Status.reason`, message, and the field at fault when there is one. */
interface Refusal {
  readonly status: number;
  readonly reason: string;
  readonly message: string;
  readonly field?: string;
}

/**
 * @example
 * const https = await startHttpsListener({ host: '0.0.0.0', port: 8443, tls, allowedClientNames: [], authorizePath: '/authorize', … });
 */
export async function startHttpsListener(options: HttpsListenerOptions): Promise<RunningHttpsListener> {
  const server: Server = createServer(
    {
      cert: options.tls.cert,
      key: options.tls.key,
      ca: options.tls.clientCa,
      requestCert: true,
      // Checked per request: the review paths need a verified certificate, the probe paths none.
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    },
    (request, response) =>
      void handle(options, request, response).catch((error: unknown) => {
        options.log.error({ err: error instanceof Error ? error.message : String(error) }, 'review failed');
        sendStatus(response, { status: 500, reason: 'InternalError', message: 'the review could not be answered' });
      }),
  );
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: (graceMs) => closeHttpsServer(server, graceMs),
  };
}

async function handle(options: HttpsListenerOptions, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const path = new URL(request.url ?? '/', 'https://kubernetes-webhook.invalid').pathname;
  const kind = path === options.authorizePath ? 'authorize' : path === options.authenticatePath ? 'authenticate' : undefined;
  if (kind === undefined) {
    request.resume();
    probe(options, path, request.method ?? 'GET', response);
    return;
  }
  const refusal = checkRequest(options, request);
  if (refusal !== undefined) {
    // The body of a refused request is discarded, and the connection closed after the answer.
    if (!request.readableEnded) response.setHeader('connection', 'close');
    if (refusal.status === 405) response.setHeader('allow', 'POST');
    request.resume();
    return refuse(options, response, kind, refusal);
  }
  const body = await readBody(request, options.maxBodyBytes);
  if (!body.ok) {
    response.setHeader('connection', 'close');
    return refuse(options, response, kind, body.refusal);
  }
  try {
    if (kind === 'authorize') {
      const parsed = parseSubjectAccessReview(body.text);
      const verdict = options.reviews.subjectAccessReview(parsed.review, 'https', traceContextOfHeaders(request.headers));
      sendJson(response, 200, subjectAccessReviewResponse(parsed, verdict));
    } else {
      const parsed = parseTokenReview(body.text, options.maxTokenBytes);
      const verdict = await options.reviews.tokenReview(parsed.request, 'https', traceContextOfHeaders(request.headers));
      sendJson(response, 200, tokenReviewResponse(parsed.envelope, verdict));
    }
  } catch (error) {
    if (!(error instanceof ReviewInputError)) throw error;
    refuse(options, response, kind, { status: 400, reason: 'BadRequest', message: error.message, field: error.field });
  }
}

/** The liveness and readiness paths; anything else is not found. */
function probe(options: HttpsListenerOptions, path: string, method: string, response: ServerResponse): void {
  if (path !== HEALTH_PATH && path !== READY_PATH) {
    sendStatus(response, { status: 404, reason: 'NotFound', message: `no such path: ${path}` });
    return;
  }
  if (method !== 'GET' && method !== 'HEAD') {
    response.setHeader('allow', 'GET, HEAD');
    sendStatus(response, { status: 405, reason: 'MethodNotAllowed', message: `${path} answers GET and HEAD` });
    return;
  }
  // Liveness stays up while draining; readiness goes down so no new reviews are sent here.
  const ready = path === HEALTH_PATH || options.serving();
  const text = ready ? 'ok' : 'draining';
  response.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8', 'content-length': text.length });
  response.end(method === 'HEAD' ? undefined : text);
}

/** Method, client certificate and content type of a review request; undefined when all are right. */
function checkRequest(options: HttpsListenerOptions, request: IncomingMessage): Refusal | undefined {
  if (request.method !== 'POST') return { status: 405, reason: 'MethodNotAllowed', message: 'reviews are sent with POST' };
  const refused = connectionRefusal(options, request.socket as TLSSocket);
  if (refused !== undefined) return refused;
  if (!isJson(request.headers['content-type'])) {
    return { status: 415, reason: 'UnsupportedMediaType', message: 'the body must be application/json' };
  }
  return undefined;
}

/**
 * Whether a connection's client certificate may ask for reviews. It cannot
 * change once the handshake is done, so it is judged once per connection:
 * reading the peer certificate on every review was the largest single cost of
 * a keep-alive SubjectAccessReview (measured: about 17 % of the CPU).
 */
const connectionVerdicts = new WeakMap<TLSSocket, Refusal | null>();

function connectionRefusal(options: HttpsListenerOptions, socket: TLSSocket): Refusal | undefined {
  let verdict = connectionVerdicts.get(socket);
  if (verdict === undefined) {
    verdict = certificateRefusal(options, socket) ?? null;
    connectionVerdicts.set(socket, verdict);
  }
  return verdict ?? undefined;
}

function certificateRefusal(options: HttpsListenerOptions, socket: TLSSocket): Refusal | undefined {
  if (!socket.authorized) {
    const presented = Object.keys(socket.getPeerCertificate()).length > 0;
    const why = socket.authorizationError instanceof Error ? socket.authorizationError.message : String(socket.authorizationError);
    const message = presented ? `the client certificate is not trusted (${why})` : 'a client certificate is required';
    return { status: 401, reason: 'Unauthorized', message };
  }
  if (options.allowedClientNames.length > 0 && !isAllowedClient(socket.getPeerCertificate(), options.allowedClientNames)) {
    return { status: 403, reason: 'Forbidden', message: 'the client certificate is not one allowed to ask for reviews' };
  }
  return undefined;
}

/** `application/json`, with parameters (`; charset=utf-8`) or not. */
function isJson(contentType: string | undefined): boolean {
  return contentType !== undefined && contentType.split(';', 1)[0]!.trim().toLowerCase() === 'application/json';
}

type Body = { readonly ok: true; readonly text: string } | { readonly ok: false; readonly refusal: Refusal };

const utf8 = new TextDecoder('utf-8', { fatal: true });

async function readBody(request: IncomingMessage, maxBytes: number): Promise<Body> {
  const body = await readRequestBody(request, maxBytes);
  if (!body.ok) {
    return body.problem === 'too-large'
      ? { ok: false, refusal: { status: 413, reason: 'RequestEntityTooLarge', message: `the body is larger than ${maxBytes} bytes` } }
      : { ok: false, refusal: { status: 400, reason: 'BadRequest', message: 'the body could not be read' } };
  }
  try {
    return { ok: true, text: utf8.decode(body.bytes) };
  } catch {
    return { ok: false, refusal: { status: 400, reason: 'BadRequest', message: 'the body is not UTF-8' } };
  }
}

function refuse(options: HttpsListenerOptions, response: ServerResponse, kind: string, refusal: Refusal): void {
  options.log.info({ via: 'https', review: kind, status: refusal.status, field: refusal.field, reason: refusal.message }, 'review refused');
  sendStatus(response, refusal);
}

/** A Kubernetes `Status` (what client-go reads out of an error response); `details.causes` names the field. */
function sendStatus(response: ServerResponse, refusal: Refusal): void {
  sendJson(response, refusal.status, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: refusal.message,
    reason: refusal.reason,
    ...(refusal.field === undefined || refusal.field === ''
      ? {}
      : { details: { causes: [{ reason: 'FieldValueInvalid', field: refusal.field, message: refusal.message }] } }),
    code: refusal.status,
  });
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  if (response.headersSent) return;
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  response.end(text);
}
