/**
 * Hands single HTTP/2 streams to a grpc-js Server that is bound to no port,
 * so that grpc-js serves every method this transport does not (health,
 * Explain, reflection, UNIMPLEMENTED for unknown paths) on the same port.
 *
 * grpc-js has no public stream-level entry point. Its Server listens with
 * `_streamHandler(extraInterceptors, stream, headers)`, which checks the
 * content type, finds the method's handler and runs the call with the
 * server's options (message size limits included); this module calls it.
 * It is private API, present in grpc-js 1.14 (pinned by package-lock):
 * start-up refuses to serve when it is missing, and
 * test/gateway/transport/grpc-js-streams.test.ts fails with it.
 *
 * On a grpc-js upgrade: find the method its `_setupHandlers` registers for
 * the http2 server's 'stream' event (with channelz off) and follow its new
 * name or signature here, and only here.
 */
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type * as grpc from '@grpc/grpc-js';

/** Serves one stream as grpc-js would on a port it had bound. */
export type StreamHandler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void;

type GrpcJsStreamHandler = (extraInterceptors: readonly unknown[], stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void;

/** Credentials' own interceptors; insecure and TLS credentials have none (TLS is this transport's). */
const NO_INTERCEPTORS: readonly unknown[] = [];

/**
 * The stream handler of a grpc-js server; throws at start-up when this
 * grpc-js version does not have it.
 *
 * @example
 * const fallback = grpcJsStreamHandler(server);
 * http2Server.on('stream', (stream, headers) => fallback(stream, headers));
 */
export function grpcJsStreamHandler(server: grpc.Server): StreamHandler {
  const handler = (server as unknown as { _streamHandler?: unknown })._streamHandler;
  if (typeof handler !== 'function' || handler.length !== 3) {
    throw new Error(
      'this @grpc/grpc-js version has no Server._streamHandler(extraInterceptors, stream, headers); ' +
        'gateway/transport/grpc-js-streams.ts must be adapted to it before health, Explain and reflection can be served',
    );
  }
  const streamHandler = handler as GrpcJsStreamHandler;
  return (stream, headers) => streamHandler.call(server, NO_INTERCEPTORS, stream, headers);
}
