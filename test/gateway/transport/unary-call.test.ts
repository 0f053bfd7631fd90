/**
 * The Check fast path byte by byte: a raw `node:http2` client sends
 * well-formed and broken gRPC requests to the real server on h2c, and each
 * row asserts the HTTP status and the gRPC status it gets back.
 */
import test from 'ava';
import type http2 from 'node:http2';
import type { RunningServer } from '../../../gateway/server.js';
import { checkResponseCode, connectRaw, encodeCheckRequest, frame, rawCall } from '../../helpers/transport.js';
import { startTestServer } from '../../helpers/transport.js';

const OK = 0;
const RESOURCE_EXHAUSTED = 8;
const UNIMPLEMENTED = 12;
const INTERNAL = 13;
const MAX_RECEIVE_BYTES = 4 * 1024 * 1024;

let server: RunningServer;
let session: http2.ClientHttp2Session;

test.before(async () => {
  server = await startTestServer();
  session = connectRaw(server.port);
});

test.after.always(async () => {
  session?.close();
  await server?.drain();
});

test('a well-formed Check: 200, application/grpc, one framed CheckResponse, then grpc-status 0 in trailers', async (t) => {
  const answer = await rawCall(session, frame(encodeCheckRequest()));
  t.is(answer.status, 200);
  t.is(answer.headers['content-type'], 'application/grpc');
  t.is(answer.grpcStatus, OK);
  t.is(answer.trailers['grpc-status'], '0', 'status in the trailers, not in a trailers-only response');
  t.is(answer.body[0], 0, 'not compressed');
  t.is(answer.body.readUInt32BE(1), answer.body.length - 5, 'exactly one message');
  t.is(checkResponseCode(answer.body.subarray(5)), OK, 'the reminder may GET /todos');
});

test('content-type other than application/grpc: HTTP 415, as grpc-js answers', async (t) => {
  const answer = await rawCall(session, frame(encodeCheckRequest()), { 'content-type': 'application/json' });
  t.is(answer.status, 415);
  t.is(answer.grpcStatus, undefined);
  t.is(answer.body.length, 0);
});

test('application/grpc+proto is gRPC too', async (t) => {
  const answer = await rawCall(session, frame(encodeCheckRequest()), { 'content-type': 'application/grpc+proto' });
  t.is(answer.grpcStatus, OK);
});

test('grpc-encoding gzip: UNIMPLEMENTED, naming identity as the encoding to use', async (t) => {
  const answer = await rawCall(session, frame(encodeCheckRequest(), true), { 'grpc-encoding': 'gzip' });
  t.is(answer.status, 200);
  t.is(answer.grpcStatus, UNIMPLEMENTED);
  t.is(answer.headers['grpc-accept-encoding'], 'identity');
  t.regex(answer.grpcMessage!, /gzip/);
  t.is(answer.body.length, 0, 'no response message');
});

test('compressed flag without an encoding: INTERNAL', async (t) => {
  const answer = await rawCall(session, frame(encodeCheckRequest(), true));
  t.is(answer.grpcStatus, INTERNAL);
  t.regex(answer.grpcMessage!, /compressed/);
});

test('two messages on the unary call: INTERNAL, no decision', async (t) => {
  const one = frame(encodeCheckRequest());
  const answer = await rawCall(session, Buffer.concat([one, one]));
  t.is(answer.grpcStatus, INTERNAL);
  t.regex(answer.grpcMessage!, /more than one/);
  t.is(answer.body.length, 0);
});

test('a frame whose length says more than was sent: INTERNAL', async (t) => {
  const message = encodeCheckRequest();
  const answer = await rawCall(session, frame(message, false, message.length + 10));
  t.is(answer.grpcStatus, INTERNAL);
  t.regex(answer.grpcMessage!, /cut short/);
});

test('a body shorter than the 5-byte prefix, and no body at all: INTERNAL', async (t) => {
  t.is((await rawCall(session, Buffer.from([0, 0]))).grpcStatus, INTERNAL);
  t.is((await rawCall(session, Buffer.alloc(0))).grpcStatus, INTERNAL);
});

test('a message over the receive limit: RESOURCE_EXHAUSTED, and the connection keeps serving', async (t) => {
  const oversized = frame(Buffer.alloc(MAX_RECEIVE_BYTES + 1, 0x0a));
  const answer = await rawCall(session, oversized);
  t.is(answer.grpcStatus, RESOURCE_EXHAUSTED);
  t.regex(answer.grpcMessage!, /larger than 4194304/);
  t.is((await rawCall(session, frame(encodeCheckRequest()))).grpcStatus, OK);
});

test('a message at the receive limit is read (and, being no CheckRequest, refused as undecodable)', async (t) => {
  const atLimit = frame(Buffer.alloc(MAX_RECEIVE_BYTES, 0xff));
  const answer = await rawCall(session, atLimit);
  t.is(answer.grpcStatus, INTERNAL);
});

test('bytes that are no protobuf message: INTERNAL, never an allow', async (t) => {
  const answer = await rawCall(session, frame(Buffer.from([0xff, 0xff, 0xff, 0xff])));
  t.is(answer.grpcStatus, INTERNAL);
  t.is(answer.body.length, 0);
});

test('a GET: UNIMPLEMENTED, gRPC calls are POST', async (t) => {
  const answer = await rawCall(session, Buffer.alloc(0), { ':method': 'GET' });
  t.is(answer.grpcStatus, UNIMPLEMENTED);
  t.regex(answer.grpcMessage!, /POST/);
});

test('grpc-message is percent-encoded outside printable ASCII', async (t) => {
  const answer = await rawCall(session, frame(encodeCheckRequest(), true), { 'grpc-encoding': 'zstd%é' });
  t.is(answer.grpcStatus, UNIMPLEMENTED);
  t.true(String(answer.headers['grpc-message']).includes('zstd%25%C3%A9'));
  t.regex(answer.grpcMessage!, /zstd%é/);
});
