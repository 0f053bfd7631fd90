/**
 * One unary gRPC call on one HTTP/2 stream, read and answered by hand as
 * the gRPC-over-HTTP/2 protocol describes it (PROTOCOL-HTTP2.md): a POST
 * whose body is exactly one length-prefixed message (a 1-byte compressed
 * flag, a 4-byte big-endian length, the bytes), answered with headers, one
 * DATA frame holding the framed response, and `grpc-status` trailers.
 *
 * Only identity encoding is accepted: a compressed request is refused with
 * UNIMPLEMENTED and `grpc-accept-encoding: identity`, which tells the
 * client to send it uncompressed.
 *
 * `grpc-timeout` is not read. A Check never waits longer than the
 * configured JWKS and Redis timeouts, and the client enforces its own
 * deadline (cancelling the stream, after which the answer is dropped here).
 *
 * Every failure ends the call with a gRPC status, never with a response
 * message, and nothing here throws into the stream's or the session's
 * event loop: a stream the client reset or that closed first is left alone.
 */
import { constants as http2, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { status as GrpcStatus } from '@grpc/grpc-js';

/** Bytes before a message: the compressed flag and the length. */
const PREFIX_BYTES = 5;

/** The answer of a unary call; every method of it does nothing once the call is answered or the stream is gone. */
export interface UnaryResponder {
  /** The stream the call arrived on (its session is the connection). */
  readonly stream: ServerHttp2Stream;
  /** Answers with a response message and status OK. */
  respond(message: Buffer): void;
  /** Answers with a status other than OK (a trailers-only response). */
  fail(code: GrpcStatus, message: string): void;
}

/**
 * The method behind a path: given the request message, it answers through
 * the responder, now or later. Throwing (or rejecting) ends the call with
 * INTERNAL.
 */
export type UnaryMethod = (request: Buffer, responder: UnaryResponder) => void | Promise<void>;

export interface UnaryCallOptions {
  /** Largest request message accepted, in bytes; a larger one ends the call with RESOURCE_EXHAUSTED. */
  readonly maxReceiveBytes: number;
}

/**
 * Reads the unary call on `stream` and hands its request message to `method`.
 *
 * @example
 * server.on('stream', (stream, headers) => serveUnary(stream, headers, check, { maxReceiveBytes: 4 << 20 }));
 */
export function serveUnary(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, method: UnaryMethod, options: UnaryCallOptions): void {
  // A reset or a broken connection emits 'error'; without a listener it would be thrown.
  stream.on('error', ignore);
  const call = new UnaryCall(stream);
  const contentType = headers[http2.HTTP2_HEADER_CONTENT_TYPE];
  if (typeof contentType !== 'string' || !contentType.startsWith('application/grpc')) {
    // As grpc-js: not a gRPC request at all, so an HTTP status rather than a gRPC one.
    call.refuseMediaType();
    return;
  }
  if (headers[http2.HTTP2_HEADER_METHOD] !== 'POST') {
    call.fail(GrpcStatus.UNIMPLEMENTED, `HTTP method ${String(headers[http2.HTTP2_HEADER_METHOD])}: gRPC calls are POST`);
    return;
  }
  const encoding = headers['grpc-encoding'];
  if (encoding !== undefined && encoding !== 'identity') {
    call.fail(GrpcStatus.UNIMPLEMENTED, `request compressed with unsupported encoding "${String(encoding)}"`, ACCEPT_IDENTITY);
    return;
  }
  call.read(method, options.maxReceiveBytes);
}

const ACCEPT_IDENTITY = { 'grpc-accept-encoding': 'identity' };

class UnaryCall implements UnaryResponder {
  private answered = false;

  constructor(readonly stream: ServerHttp2Stream) {}

  /** Collects the body; on its end, checks it holds exactly one message and calls `method` with it. */
  read(method: UnaryMethod, maxReceiveBytes: number): void {
    const chunks: Buffer[] = [];
    let received = 0;
    // The message length once the prefix has arrived; -1 before.
    let expected = -1;
    this.stream.on('data', (chunk: Buffer) => {
      // After an early answer the rest of the body is discarded unread.
      if (this.answered) return;
      chunks.push(chunk);
      received += chunk.length;
      if (expected < 0 && received >= PREFIX_BYTES) {
        const prefix = chunks[0]!.length >= PREFIX_BYTES ? chunks[0]! : Buffer.concat(chunks, received);
        if (prefix[0] !== 0) {
          this.fail(GrpcStatus.INTERNAL, 'request message flagged as compressed without a grpc-encoding');
          return;
        }
        expected = prefix.readUInt32BE(1);
        if (expected > maxReceiveBytes) {
          this.fail(GrpcStatus.RESOURCE_EXHAUSTED, `request message larger than ${maxReceiveBytes} bytes (${expected})`);
          return;
        }
      }
      if (expected >= 0 && received > PREFIX_BYTES + expected) {
        this.fail(GrpcStatus.INTERNAL, 'more than one request message on a unary call');
      }
    });
    this.stream.on('end', () => {
      if (this.answered) return;
      if (received === 0) {
        this.fail(GrpcStatus.INTERNAL, 'no request message on a unary call');
        return;
      }
      if (expected < 0 || received < PREFIX_BYTES + expected) {
        this.fail(GrpcStatus.INTERNAL, 'request message cut short');
        return;
      }
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received);
      this.invoke(method, body.subarray(PREFIX_BYTES));
    });
  }

  respond(message: Buffer): void {
    if (!this.answerable()) return;
    const framed = Buffer.allocUnsafe(PREFIX_BYTES + message.length);
    framed[0] = 0;
    framed.writeUInt32BE(message.length, 1);
    message.copy(framed, PREFIX_BYTES);
    try {
      this.stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
      this.stream.once('wantTrailers', () => this.sendTrailers());
      this.stream.end(framed);
    } catch {
      // The stream went away between the check and the write: nobody is waiting for the answer.
    }
  }

  fail(code: GrpcStatus, message: string, headers: Record<string, string> = {}): void {
    if (!this.answerable()) return;
    try {
      this.stream.respond(
        { ...RESPONSE_HEADERS, ...headers, 'grpc-status': String(code), 'grpc-message': percentEncode(message) },
        { endStream: true },
      );
    } catch {
      // As in respond(): the stream is gone.
    }
    this.discardBody();
  }

  /** HTTP 415, for a request that is not gRPC. */
  refuseMediaType(): void {
    if (!this.answerable()) return;
    try {
      this.stream.respond({ [http2.HTTP2_HEADER_STATUS]: http2.HTTP_STATUS_UNSUPPORTED_MEDIA_TYPE }, { endStream: true });
    } catch {
      // As in respond(): the stream is gone.
    }
    this.discardBody();
  }

  private invoke(method: UnaryMethod, request: Buffer): void {
    const failed = (error: unknown): void =>
      this.fail(GrpcStatus.INTERNAL, error instanceof Error ? error.message : 'the method failed without an error');
    try {
      const pending = method(request, this);
      if (pending !== undefined) pending.catch(failed);
    } catch (error) {
      failed(error);
    }
  }

  /** Whether an answer can still be sent, marking the call answered. */
  private answerable(): boolean {
    if (this.answered) return false;
    this.answered = true;
    return !this.stream.destroyed && !this.stream.closed;
  }

  private sendTrailers(): void {
    try {
      this.stream.sendTrailers(OK_TRAILERS);
    } catch {
      // The client reset the stream after the response message was queued.
    }
  }

  /** Lets a body the call will not read flow away, so the stream can end. */
  private discardBody(): void {
    if (!this.stream.destroyed) this.stream.resume();
  }
}

const RESPONSE_HEADERS = { [http2.HTTP2_HEADER_STATUS]: http2.HTTP_STATUS_OK, [http2.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc' };
const OK_TRAILERS = { 'grpc-status': '0' };

/**
 * `grpc-message` encoding: bytes outside printable ASCII, and '%' itself,
 * as %XX of their UTF-8 bytes; everything else as is.
 */
export function percentEncode(text: string): string {
  let encoded = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    encoded +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return encoded;
}

function ignore(): void {}
