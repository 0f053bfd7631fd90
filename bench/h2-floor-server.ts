/**
 * A latency floor: the HTTP/2 stack Gatehouse answers Check on (node:http2),
 * with nothing on top. Every POST is read to its end and answered with gRPC
 * status 0 and an empty CheckResponse (an OK with no headers to add). No
 * decoding, no decision, no per-call object of Gatehouse's: what is left of
 * a latency here is Node's HTTP/2 stack, its garbage collector, the loopback
 * and the machine. Listens on 127.0.0.1:$PORT.
 */
import http2 from 'node:http2';
import { grpcFrame } from './fixed-request.js';

const EMPTY_RESPONSE = grpcFrame(Buffer.alloc(0));
const RESPONSE_HEADERS = { ':status': 200, 'content-type': 'application/grpc' };
const OK_TRAILERS = { 'grpc-status': '0' };

const server = http2.createServer({ settings: { maxConcurrentStreams: 2 ** 32 - 1 } });
server.on('stream', (stream) => {
  stream.on('data', () => undefined);
  stream.once('end', () => {
    stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers(OK_TRAILERS));
    stream.end(EMPTY_RESPONSE);
  });
  stream.on('error', () => undefined); // a client reset: nothing to answer
});
server.on('sessionError', () => undefined);
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ msg: 'serving', port: process.env.PORT })}\n`);
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
