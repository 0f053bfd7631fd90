/**
 * The gRPC port: Check answered directly on `node:http2`, every other
 * method by grpc-js on the same port (docs/transport.md says why).
 */
export { startListener, type ListenerOptions, type RunningListener } from './listener.js';
export { grpcJsStreamHandler, type StreamHandler } from './grpc-js-streams.js';
export type { UnaryMethod, UnaryResponder } from './unary-call.js';
