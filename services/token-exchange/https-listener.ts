/**
 * The HTTPS listener: the RFC 8693 token endpoint, the service's JWKS and
 * its discovery document, and a health path. Client certificates are
 * requested and verified against the configured CA, but optional, so that
 * callers authenticating with an actor token can connect too.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../../gateway/log.js';
import { closeHttpsServer } from '../shared/listeners.js';
import { readRequestBody } from '../shared/request-body.js';
import { traceContextOfHeaders } from '../shared/trace-context.js';
import { openIdConfiguration } from './discovery.js';
import type { TokenExchanger } from './exchange.js';
import { isFormContentType, parseExchangeForm } from './form.js';
import type { SigningKeys } from './signing-keys.js';
import { httpStatusOf, OAuthErrorCode, type ClientConnection, type ExchangeOutcome, type OAuthError } from './types.js';

export const JWKS_PATH = '/.well-known/jwks.json';
export const DISCOVERY_PATH = '/.well-known/openid-configuration';
export const HEALTH_PATH = '/healthz';

export interface HttpsListenerOptions {
  readonly host: string;
  readonly port: number;
  /** PEM contents. */
  readonly tls: { readonly cert: Buffer; readonly key: Buffer; readonly clientCa: Buffer };
  readonly issuer: string;
  readonly tokenPath: string;
  readonly maxBodyBytes: number;
  readonly exchanger: TokenExchanger;
  readonly keys: () => SigningKeys;
  /** False while draining: the health path answers 503. */
  readonly serving: () => boolean;
  readonly log: Logger;
}

export interface RunningHttpsListener {
  readonly port: number;
  /** Stops accepting, lets requests in flight finish for up to `graceMs`, then closes every connection. */
  close(graceMs: number): Promise<void>;
}

/**
 * @example
 * const https = await startHttpsListener({ host: '0.0.0.0', port: 8443, tls, issuer, tokenPath: '/token', maxBodyBytes, exchanger, keys, serving, log });
 */
export async function startHttpsListener(options: HttpsListenerOptions): Promise<RunningHttpsListener> {
  const server: Server = createServer(
    {
      cert: options.tls.cert,
      key: options.tls.key,
      ca: options.tls.clientCa,
      requestCert: true,
      // mTLS is optional per request: an unverified certificate is refused at the token endpoint, none at all may use an actor token.
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    },
    (request, response) => void handle(options, request, response),
  );
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    close: (graceMs) => closeHttpsServer(server, graceMs),
  };
}

async function handle(options: HttpsListenerOptions, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const path = new URL(request.url ?? '/', 'https://token-exchange.invalid').pathname;
  const method = request.method ?? 'GET';
  if (path === options.tokenPath) {
    if (method !== 'POST') {
      response.setHeader('allow', 'POST');
      sendError(response, 405, { error: OAuthErrorCode.InvalidRequest, description: 'the token endpoint accepts POST only' });
      request.resume();
      return;
    }
    await token(options, request, response);
    return;
  }
  if (method !== 'GET' && method !== 'HEAD') {
    sendJson(response, 405, { error: 'method_not_allowed' });
    request.resume();
    return;
  }
  request.resume();
  if (path === JWKS_PATH) {
    sendJson(response, 200, options.keys().jwks, { 'cache-control': 'public, max-age=60', 'content-type': 'application/jwk-set+json' });
  } else if (path === DISCOVERY_PATH) {
    sendJson(response, 200, openIdConfiguration(options.issuer, options.tokenPath, options.keys()), {
      'cache-control': 'public, max-age=300',
    });
  } else if (path === HEALTH_PATH) {
    const serving = options.serving();
    sendJson(response, serving ? 200 : 503, { status: serving ? 'SERVING' : 'NOT_SERVING' });
  } else {
    sendJson(response, 404, { error: 'not_found' });
  }
}

async function token(options: HttpsListenerOptions, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const started = performance.now();
  const refuse = (error: OAuthError): void => {
    sendError(response, httpStatusOf(error.error), error);
    logRefused(options.log, error, started);
  };
  if (!isFormContentType(request.headers['content-type'])) {
    request.resume();
    return refuse({ error: OAuthErrorCode.InvalidRequest, description: 'the body must be application/x-www-form-urlencoded' });
  }
  const body = await readRequestBody(request, options.maxBodyBytes);
  if (!body.ok) {
    // The rest of an oversized body is not read: answer and close the connection.
    response.setHeader('connection', 'close');
    const description =
      body.problem === 'too-large' ? `the body is larger than ${options.maxBodyBytes} bytes` : 'the body could not be read';
    return refuse({ error: OAuthErrorCode.InvalidRequest, description });
  }
  const form = parseExchangeForm(body.bytes.toString('utf8'));
  if (!form.ok) return refuse({ error: OAuthErrorCode.InvalidRequest, description: form.reason });
  const connection = clientConnection(request.socket as TLSSocket);
  if (!connection.ok) return refuse(connection.error);
  const outcome = await options.exchanger.exchange(form.request, connection.value, traceContextOfHeaders(request.headers));
  if (!outcome.ok) return refuse(outcome.error);
  sendJson(response, 200, responseBody(outcome), noStore);
}

/** RFC 8693 §2.2.1's JSON response. */
function responseBody(outcome: Extract<ExchangeOutcome, { ok: true }>): Record<string, unknown> {
  const { response } = outcome;
  return {
    access_token: response.accessToken,
    issued_token_type: response.issuedTokenType,
    token_type: response.tokenType,
    expires_in: response.expiresIn,
    ...(response.scope === undefined ? {} : { scope: response.scope }),
  };
}

type ConnectionResult = { ok: true; value: ClientConnection } | { ok: false; error: OAuthError };

/** A connection's client certificate cannot change after its handshake: it is read once per connection, not per exchange. */
const connections = new WeakMap<TLSSocket, ConnectionResult>();

function clientConnection(socket: TLSSocket): ConnectionResult {
  let result = connections.get(socket);
  if (result === undefined) {
    result = readClientConnection(socket);
    connections.set(socket, result);
  }
  return result;
}

/** The verified client certificate, or none; a certificate the CA did not verify is refused rather than ignored. */
function readClientConnection(socket: TLSSocket): ConnectionResult {
  if (socket.authorized) {
    const certificate = socket.getPeerX509Certificate();
    return { ok: true, value: certificate === undefined ? {} : { certificate } };
  }
  const presented = Object.keys(socket.getPeerCertificate()).length > 0;
  if (!presented) return { ok: true, value: {} };
  const why = socket.authorizationError instanceof Error ? socket.authorizationError.message : String(socket.authorizationError);
  return { ok: false, error: { error: OAuthErrorCode.InvalidClient, description: `the client certificate is not trusted (${why})` } };
}

/** RFC 6749 §5.1: token responses must not be cached. */
const noStore = { 'cache-control': 'no-store', pragma: 'no-cache' };

function sendError(response: ServerResponse, status: number, error: OAuthError): void {
  sendJson(response, status, { error: error.error, error_description: error.description }, noStore);
}

function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (response.headersSent) return;
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  response.end(text);
}

function logRefused(log: Logger, error: OAuthError, started: number): void {
  log.info({ error: error.error, reason: error.description, ms: Math.round(performance.now() - started) }, 'token exchange refused');
}
