/**
 * The port as its users see it: Envoy-like grpc-js clients calling Check
 * over h2c and over mTLS (the caller named by its client certificate),
 * health, Explain and unknown methods answered by grpc-js on the same port,
 * a client giving up on a Check in flight, and a drain with a Check in flight.
 */
import { connect as connectTcp } from 'node:net';
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { createMeshPki, meshIds } from '../../helpers/certs.js';
import { connect } from '../../helpers/grpc-client.js';
import {
  checkRequest,
  checkResponseCode,
  connectRaw,
  encodeCheckRequest,
  frame,
  HoldingAuthenticator,
  rawCall,
  readAnswer,
  REMINDER,
  startTestServer,
  CHECK_PATH,
} from '../../helpers/transport.js';

const AUTHZ = 'envoy.service.auth.v3.Authorization';

interface CheckResponse {
  status: { code?: number };
  ok_response?: { headers: { header: { key: string; value: string } }[] };
}

function upstreamPeer(response: CheckResponse): string | undefined {
  return response.ok_response?.headers.find((h) => h.header.key === 'x-gatehouse-peer')?.header.value;
}

test('a grpc-js client over h2c: allowed and denied Checks, many at once on one connection', async (t) => {
  const server = await startTestServer();
  t.teardown(() => server.drain());
  const authz = connect(AUTHZ, `127.0.0.1:${server.port}`);
  t.teardown(() => authz.close());
  const allowed = await authz.call<CheckResponse>('Check', checkRequest());
  t.is(allowed.status.code ?? 0, 0);
  t.is(upstreamPeer(allowed), REMINDER);
  const denied = await authz.call<CheckResponse>('Check', checkRequest(meshIds.share));
  t.is(denied.status.code, 7);
  const many = await Promise.all(
    Array.from({ length: 50 }, (_, i) => authz.call<CheckResponse>('Check', checkRequest(i % 2 ? REMINDER : meshIds.share))),
  );
  t.deepEqual(
    many.map((response) => response.status.code ?? 0),
    Array.from({ length: 50 }, (_, i) => (i % 2 ? 0 : 7)),
  );
});

test('over mTLS the caller is named by its client certificate; without one the handshake is refused', async (t) => {
  const pki = await createMeshPki();
  const server = await startTestServer({ pki });
  t.teardown(() => server.drain());
  const clientWith = (cert: typeof pki.reminder | undefined) =>
    connect(
      AUTHZ,
      `localhost:${server.port}`,
      grpc.credentials.createSsl(
        Buffer.from(pki.ca.certPem),
        cert ? Buffer.from(cert.keyPem) : null,
        cert ? Buffer.from(cert.certPem) : null,
      ),
    );
  const reminder = clientWith(pki.reminder);
  t.teardown(() => reminder.close());
  // No principal in the request: the connection's certificate is the peer.
  const allowed = await reminder.call<CheckResponse>('Check', checkRequest(null));
  t.is(allowed.status.code ?? 0, 0);
  t.is(upstreamPeer(allowed), meshIds.reminder);
  t.is(upstreamPeer(await reminder.call<CheckResponse>('Check', checkRequest(null))), meshIds.reminder, 'again on the same connection');

  const todos = clientWith(pki.todos);
  t.teardown(() => todos.close());
  t.is((await todos.call<CheckResponse>('Check', checkRequest(null))).status.code, 7);

  const anonymous = clientWith(undefined);
  t.teardown(() => anonymous.close());
  const refused = await t.throwsAsync(anonymous.call('Check', checkRequest(), 2000));
  t.is((refused as grpc.ServiceError).code, grpc.status.UNAVAILABLE);
});

test('health, Explain and an unknown method are served by grpc-js on the Check port', async (t) => {
  const server = await startTestServer();
  t.teardown(() => server.drain());
  const address = `127.0.0.1:${server.port}`;
  const health = connect('grpc.health.v1.Health', address);
  const policy = connect('gatehouse.policy.v1.PolicyService', address);
  t.teardown(() => {
    health.close();
    policy.close();
  });
  t.deepEqual(await health.call('Check', { service: AUTHZ }), { status: 'SERVING' });
  const explained = await policy.call<Record<string, unknown>>('Explain', {
    source_principal: REMINDER,
    destination_principal: meshIds.todos,
    method: 'DELETE',
    path: '/todos/1',
  });
  t.is(explained.code, 'NO_ALLOW_MATCH');

  const session = connectRaw(server.port);
  t.teardown(() => session.close());
  const unknown = await rawCall(session, frame(Buffer.alloc(0)), { ':path': '/nope.Service/Method' });
  t.is(unknown.grpcStatus, grpc.status.UNIMPLEMENTED);
  t.regex(unknown.grpcMessage!, /nope\.Service\/Method/);
});

test('a client that resets its Check before the answer: the answer is dropped and the server keeps serving', async (t) => {
  const holding = new HoldingAuthenticator();
  const server = await startTestServer({ authenticator: holding });
  t.teardown(() => server.drain());
  const session = connectRaw(server.port);
  t.teardown(() => session.close());

  holding.hold();
  const request = session.request({ ':method': 'POST', ':path': CHECK_PATH, 'content-type': 'application/grpc', te: 'trailers' });
  request.on('error', () => undefined);
  request.end(frame(encodeCheckRequest()));
  await holding.checkWaiting();
  await new Promise<void>((resolve) => request.close(0x8 /* CANCEL */, resolve));
  holding.release();

  const answer = await rawCall(session, frame(encodeCheckRequest()));
  t.is(answer.grpcStatus, 0);
  t.is(checkResponseCode(answer.body.subarray(5)), 0);
});

test('drain: the Check in flight is answered over the closing connection, then new connections are refused', async (t) => {
  const holding = new HoldingAuthenticator();
  const server = await startTestServer({ authenticator: holding });
  const session = connectRaw(server.port);
  t.teardown(() => session.close());

  holding.hold();
  const request = session.request({ ':method': 'POST', ':path': CHECK_PATH, 'content-type': 'application/grpc', te: 'trailers' });
  const inFlight = readAnswer(request, () => request.end(frame(encodeCheckRequest())));
  await holding.checkWaiting();

  let drained = false;
  const drain = server.drain().then(() => (drained = true));
  const goaway = new Promise<void>((resolve) => session.once('goaway', () => resolve()));
  await goaway;
  t.is(server.health.get(''), 'NOT_SERVING');
  const refused = await new Promise<string>((resolve) => {
    const socket = connectTcp(server.port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });
  t.is(refused, 'ECONNREFUSED');
  t.false(drained, 'the drain waits for the Check in flight');

  holding.release();
  const answer = await inFlight;
  t.is(answer.grpcStatus, 0);
  t.is(checkResponseCode(answer.body.subarray(5)), 0);
  await drain;
  t.true(drained);
});
