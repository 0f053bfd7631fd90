/**
 * A real identity provider's key endpoints on 127.0.0.1: `/jwks.json` and
 * `/.well-known/openid-configuration`, over plain HTTP. Tests switch what it
 * does (serve, fail with 500, hang, send garbage or an oversized body),
 * rotate its keys, and count the requests it got.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JSONWebKeySet } from 'jose';

export type JwksServerMode = 'serve' | 'fail' | 'hang' | 'garbage' | 'not-a-key-set' | 'huge';

export interface JwksServer {
  /** `http://127.0.0.1:<port>`: also the issuer its discovery document names. */
  readonly url: string;
  readonly jwksUri: string;
  /** Requests by path. */
  readonly requests: Map<string, number>;
  /** All requests. */
  readonly requestCount: number;
  /** Requests for the JWKS. */
  readonly jwksRequestCount: number;
  mode: JwksServerMode;
  /** What `/jwks.json` serves in mode `serve`; assign to rotate keys. */
  jwks: JSONWebKeySet;
  /** Delay before answering, in milliseconds. */
  delayMs: number;
  close(): Promise<void>;
}

/**
 * Starts a server; close it in `t.teardown`.
 *
 * @example
 * const idp = await startJwksServer(jwksOf(rsa));
 * t.teardown(() => idp.close());
 */
export async function startJwksServer(jwks: JSONWebKeySet): Promise<JwksServer> {
  const requests = new Map<string, number>();
  const hanging = new Set<ServerResponse>();
  let url = '';
  const state = {
    mode: 'serve' as JwksServerMode,
    jwks,
    delayMs: 0,
  };

  const answer = (request: IncomingMessage, response: ServerResponse): void => {
    const path = new URL(request.url ?? '/', url).pathname;
    if (state.mode === 'hang') {
      hanging.add(response);
      return;
    }
    if (state.mode === 'fail') {
      response.writeHead(500, { 'content-type': 'text/plain' }).end('internal error');
      return;
    }
    if (state.mode === 'garbage') {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"keys": [ this is not json');
      return;
    }
    if (state.mode === 'not-a-key-set') {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"issuer": "nope"}');
      return;
    }
    if (state.mode === 'huge') {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(`{"keys": [], "padding": "${'x'.repeat(2 * 1024 * 1024)}"}`);
      return;
    }
    if (path === '/jwks.json') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(state.jwks));
    } else if (path === '/.well-known/openid-configuration') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: url, jwks_uri: `${url}/jwks.json` }));
    } else {
      response.writeHead(404).end();
    }
  };

  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    requests.set(path, (requests.get(path) ?? 0) + 1);
    if (state.delayMs > 0) setTimeout(() => answer(request, response), state.delayMs);
    else answer(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    jwksUri: `${url}/jwks.json`,
    requests,
    get requestCount() {
      return [...requests.values()].reduce((sum, count) => sum + count, 0);
    },
    get jwksRequestCount() {
      return requests.get('/jwks.json') ?? 0;
    },
    get mode() {
      return state.mode;
    },
    set mode(mode: JwksServerMode) {
      state.mode = mode;
    },
    get jwks() {
      return state.jwks;
    },
    set jwks(next: JSONWebKeySet) {
      state.jwks = next;
    },
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(ms: number) {
      state.delayMs = ms;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const response of hanging) response.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
