/**
 * The admin HTTP port: `/metrics` (Prometheus text format), `/healthz` (the
 * process is alive), `/readyz` (deciding Checks: serving, policies loaded,
 * not draining) and `/config` (the loaded configuration, redacted). Read
 * only: nothing here changes the gateway, and nothing it answers carries a
 * secret or personal data, so it may listen on every interface for
 * Prometheus and the kubelet (docs/telemetry.md). Revocation stays on the
 * loopback gRPC admin listener.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';

export const ADMIN_HTTP_PATHS = { metrics: '/metrics', health: '/healthz', ready: '/readyz', config: '/config' } as const;

/** Time limits of one request; an idle keep-alive connection is closed after `KEEP_ALIVE_MS`. */
const HEADERS_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;
const KEEP_ALIVE_MS = 10_000;

export interface AdminHttpOptions {
  readonly host: string;
  readonly port: number;
  /** Whether Checks are being decided: `/readyz` answers 503 otherwise (draining). */
  readonly ready: () => boolean;
  /** The body of `/config`: a redacted view of the configuration (redacted-config.ts). */
  readonly configView: () => unknown;
  /** Serves `/metrics`; absent: 404. */
  readonly metrics?: (request: IncomingMessage, response: ServerResponse) => void;
  readonly log: Logger;
}

export interface RunningAdminHttp {
  readonly port: number;
  /** Stops listening and closes every connection. */
  close(): Promise<void>;
}

/**
 * Resolves once listening; rejects when the port cannot be bound.
 *
 * @example
 * const adminHttp = await startAdminHttp({ host: '0.0.0.0', port: 9464, ready: () => server.health.get('') === 'SERVING', configView, metrics, log });
 */
export async function startAdminHttp(options: AdminHttpOptions): Promise<RunningAdminHttp> {
  const server = createServer(
    { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, keepAliveTimeout: KEEP_ALIVE_MS },
    (request, response) => handle(options, request, response),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host, port: options.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  options.log.info({ port, host: options.host }, 'admin http serving');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function handle(options: AdminHttpOptions, request: IncomingMessage, response: ServerResponse): void {
  const path = (request.url ?? '/').split('?')[0];
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
    return;
  }
  switch (path) {
    case ADMIN_HTTP_PATHS.health:
      text(response, 200, 'ok\n');
      return;
    case ADMIN_HTTP_PATHS.ready:
      if (options.ready()) text(response, 200, 'ready\n');
      else text(response, 503, 'not ready: draining\n');
      return;
    case ADMIN_HTTP_PATHS.config:
      response
        .writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' })
        .end(`${JSON.stringify(options.configView(), null, 2)}\n`);
      return;
    case ADMIN_HTTP_PATHS.metrics:
      if (options.metrics) {
        options.metrics(request, response);
        return;
      }
      break;
  }
  text(response, 404, 'not found\n');
}

function text(response: ServerResponse, status: number, body: string): void {
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }).end(body);
}
