import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import test from 'ava';
import { identityFromX509 } from '../../../gateway/identity/index.js';
import { createMeshPki, meshIds, type IssuedCert, type MeshPki } from '../../helpers/certs.js';

let pki: MeshPki;
test.before(async () => {
  pki = await createMeshPki();
});

/** Starts a TLS server requiring a client certificate, connects with `client`, and returns what each side saw. */
async function handshake(client: IssuedCert): Promise<{ serverSaw: tls.TLSSocket; clientSocket: tls.TLSSocket }> {
  const server = tls.createServer({
    key: pki.server.keyPem,
    cert: pki.server.certPem,
    ca: pki.ca.certPem,
    requestCert: true,
    rejectUnauthorized: true,
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const accepted = once(server, 'secureConnection') as Promise<[tls.TLSSocket]>;
  const clientSocket = tls.connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    key: client.keyPem,
    cert: client.certPem,
    ca: pki.ca.certPem,
  });
  await once(clientSocket, 'secureConnect');
  const [serverSaw] = await accepted;
  server.close();
  return { serverSaw, clientSocket };
}

test('mTLS over loopback with the mesh PKI, and the server reads the client SVID', async (t) => {
  const { serverSaw, clientSocket } = await handshake(pki.reminder);
  t.true(clientSocket.authorized, String(clientSocket.authorizationError));
  t.true(serverSaw.authorized, String(serverSaw.authorizationError));

  const peerCert = serverSaw.getPeerX509Certificate();
  if (!peerCert) return t.fail('no peer certificate');
  const identity = identityFromX509(peerCert);
  if (!identity.ok) return t.fail(identity.reason);
  t.is(identity.spiffe?.uri, meshIds.reminder);

  const serverCert = clientSocket.getPeerX509Certificate();
  if (!serverCert) return t.fail('no server certificate');
  t.true(serverCert.checkHost('localhost') === 'localhost');
  t.true(serverCert.checkIP('127.0.0.1') === '127.0.0.1');
  const serverIdentity = identityFromX509(serverCert);
  t.true(serverIdentity.ok && serverIdentity.spiffe?.uri === meshIds.gatehouse);

  clientSocket.destroy();
  serverSaw.destroy();
});

test('the hostname check passes for 127.0.0.1 without SNI', async (t) => {
  const server = tls.createServer({ key: pki.server.keyPem, cert: pki.server.certPem });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const socket = tls.connect({ host: '127.0.0.1', port, ca: pki.ca.certPem });
  await once(socket, 'secureConnect');
  t.true(socket.authorized, String(socket.authorizationError));
  socket.destroy();
  server.close();
});

test('a certificate with two URI SANs still handshakes but is no identity', async (t) => {
  const { serverSaw, clientSocket } = await handshake(pki.twoUris);
  const peerCert = serverSaw.getPeerX509Certificate();
  if (!peerCert) return t.fail('no peer certificate');
  t.deepEqual(identityFromX509(peerCert), {
    ok: false,
    reason: 'certificate has 2 URI SANs; an X.509-SVID must have exactly one',
  });
  clientSocket.destroy();
  serverSaw.destroy();
});
