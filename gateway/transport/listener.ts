/**
 * The gRPC port on `node:http2`: h2c with prior knowledge (what Envoy and
 * Knative send) or TLS with ALPN h2, optionally requiring a verified client
 * certificate. Paths with a unary method of their own are answered by
 * unary-call.ts; every other stream goes to the fallback (grpc-js).
 *
 * Sessions are tracked here so that draining can send each one GOAWAY, let
 * the calls in flight finish, and cut what is left after the grace period.
 */
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { TlsConfig } from '../config/config.js';
import { serveUnary, type UnaryMethod } from './unary-call.js';
import type { StreamHandler } from './grpc-js-streams.js';

export interface ListenerOptions {
  readonly host: string;
  /** 0 picks a free port; RunningListener.port tells which. */
  readonly port: number;
  /** Absent: h2c. */
  readonly tls?: TlsConfig;
  /** Path (`/package.Service/Method`) → the unary method answering it here. */
  readonly methods: ReadonlyMap<string, UnaryMethod>;
  /** Serves every stream whose path is not in `methods`. */
  readonly fallback: StreamHandler;
  /** Largest request message of the methods here, in bytes. */
  readonly maxReceiveBytes: number;
}

export interface RunningListener {
  readonly port: number;
  /**
   * Stops accepting connections, sends GOAWAY to every open one and waits
   * for their calls to finish; after `graceMs`, closes what is left.
   * Resolves 'drained' or 'timed out'.
   */
  drain(graceMs: number): Promise<'drained' | 'timed out'>;
}

/**
 * HTTP/2 settings. Envoy multiplexes its Checks over a few long-lived
 * connections, so streams per connection are not bounded (as grpc-js, the
 * HTTP/2 default of 2^32-1): a bound would queue Checks inside Envoy. The
 * header list limit is Node's default of 64 KiB, as grpc-js accepts:
 * ext_authz sends the request's headers inside the CheckRequest message, not
 * as HTTP/2 headers. Session memory (nghttp2's buffers for one connection,
 * not the messages this code holds) is bounded at 64 MB, well above what
 * small Check answers need (grpc-js lifts the bound entirely); a peer that
 * fills it gets ENHANCE_YOUR_CALM on new streams.
 */
const HTTP2_OPTIONS: http2.ServerOptions = {
  maxSessionMemory: 64, // megabytes
  settings: { maxConcurrentStreams: 2 ** 32 - 1, maxHeaderListSize: 64 * 1024 },
};

/**
 * Binds the port and resolves once it listens.
 *
 * @example
 * const listener = await startListener({ host: '0.0.0.0', port: 9191, methods, fallback, maxReceiveBytes: 4 << 20 });
 * await listener.drain(10_000);
 */
export async function startListener(options: ListenerOptions): Promise<RunningListener> {
  const server = options.tls === undefined ? http2.createServer(HTTP2_OPTIONS) : http2.createSecureServer(secureOptions(options.tls));
  const sessions = new Set<http2.ServerHttp2Session>();
  /** Set once draining: called when the last session has closed. */
  let sessionsClosed: (() => void) | undefined;

  server.on('session', (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    // A connection whose handshake finished after the drain began is drained too.
    if (sessionsClosed !== undefined) session.close();
    // A broken connection emits 'error' before 'close'; it concerns that connection only.
    session.on('error', ignore);
    session.once('close', () => {
      sessions.delete(session);
      if (sessions.size === 0) sessionsClosed?.();
    });
  });
  // A refused TLS handshake (no or an unverified client certificate) or a peer that is not HTTP/2: that socket only.
  server.on('tlsClientError', ignore);
  server.on('sessionError', ignore);

  const { methods, fallback } = options;
  const unaryOptions = { maxReceiveBytes: options.maxReceiveBytes };
  server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    const method = methods.get(headers[http2.constants.HTTP2_HEADER_PATH] as string);
    if (method === undefined) fallback(stream, headers);
    else serveUnary(stream, headers, method, unaryOptions);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // After listening, an error of the listening socket has nowhere to go but the log of the process.
  server.on('error', ignore);

  let draining: Promise<'drained' | 'timed out'> | undefined;
  const drain = (graceMs: number): Promise<'drained' | 'timed out'> => {
    draining ??= new Promise((resolve) => {
      const force = setTimeout(() => {
        for (const session of sessions) session.destroy();
        resolve('timed out');
      }, graceMs);
      force.unref();
      sessionsClosed = () => {
        clearTimeout(force);
        resolve('drained');
      };
      server.close();
      // GOAWAY: the client opens no new streams here; the ones open run to their end.
      for (const session of sessions) session.close();
      if (sessions.size === 0) sessionsClosed();
    });
    return draining;
  };
  return { port: (server.address() as AddressInfo).port, drain };
}

/**
 * TLS as the server has always served it: the client certificate is asked
 * for only when it is required, and then the handshake fails without one
 * that `clientCaFile` verifies.
 */
function secureOptions(tls: TlsConfig): http2.SecureServerOptions {
  return {
    ...HTTP2_OPTIONS,
    cert: readFileSync(tls.certFile),
    key: readFileSync(tls.keyFile),
    ...(tls.clientCaFile === undefined ? {} : { ca: readFileSync(tls.clientCaFile) }),
    requestCert: tls.requireClientCert,
    rejectUnauthorized: true,
    ALPNProtocols: ['h2'],
  };
}

function ignore(): void {}
