/**
 * The client certificate of the connection a gRPC call arrived on (plain
 * gRPC clients over mTLS are identified by it), for a Check by its HTTP/2
 * session, for a grpc-js call (Explain) by the call. grpc-js's public
 * `getAuthContext()` rebuilds the certificate as a JavaScript object on every
 * call, and an X509Certificate had to be parsed from it again: together a
 * large share of a Check over mTLS. A connection's certificate cannot change
 * after its handshake, so it is read once per TLS connection and kept with it.
 */
import { X509Certificate } from 'node:crypto';
import type { Http2Session } from 'node:http2';
import { TLSSocket } from 'node:tls';
import type * as grpc from '@grpc/grpc-js';

const byConnection = new WeakMap<TLSSocket, X509Certificate | null>();
const bySession = new WeakMap<Http2Session, X509Certificate | null>();

/** The verified client certificate of an HTTP/2 connection, or undefined (no TLS, not verified, none presented). */
export function sessionCertificate(session: Http2Session | undefined): X509Certificate | undefined {
  if (session === undefined) return undefined;
  let certificate = bySession.get(session);
  if (certificate === undefined) {
    const socket = session.socket;
    certificate = socket instanceof TLSSocket && socket.authorized ? (socket.getPeerX509Certificate() ?? null) : null;
    bySession.set(session, certificate);
  }
  return certificate ?? undefined;
}

/** The verified client certificate of the call's connection, or undefined (no TLS, not verified, none presented). */
export function connectionCertificate(call: grpc.ServerUnaryCall<unknown, unknown>): X509Certificate | undefined {
  const socket = connectionOf(call);
  if (socket === undefined) return fromAuthContext(call);
  // As getAuthContext(): a connection whose certificate the CA did not verify has none.
  if (!socket.authorized) return undefined;
  let certificate = byConnection.get(socket);
  if (certificate === undefined) {
    certificate = socket.getPeerX509Certificate() ?? null;
    byConnection.set(socket, certificate);
  }
  return certificate ?? undefined;
}

/**
 * The TLS socket under a grpc-js server call. grpc-js does not expose it, so
 * this follows its call objects (`call` → `nextCall`… → `stream.session.socket`)
 * and gives up, falling back to the public API, when the shape is not there.
 */
function connectionOf(call: grpc.ServerUnaryCall<unknown, unknown>): TLSSocket | undefined {
  let inner: unknown = (call as unknown as { call?: unknown }).call;
  for (let hops = 0; inner !== undefined && inner !== null && hops < 8; hops++) {
    const stream = (inner as { stream?: { session?: { socket?: unknown } } }).stream;
    if (stream !== undefined) {
      const socket = stream.session?.socket;
      return socket instanceof TLSSocket ? socket : undefined;
    }
    inner = (inner as { nextCall?: unknown }).nextCall;
  }
  return undefined;
}

function fromAuthContext(call: grpc.ServerUnaryCall<unknown, unknown>): X509Certificate | undefined {
  const raw = call.getAuthContext()?.sslPeerCertificate?.raw;
  if (!raw) return undefined;
  try {
    return new X509Certificate(raw);
  } catch {
    return undefined;
  }
}

/** Whether calls are read through their connection (the fast path); false means every call uses getAuthContext(). Tests. */
export function readsConnection(call: grpc.ServerUnaryCall<unknown, unknown>): boolean {
  return connectionOf(call) !== undefined;
}
