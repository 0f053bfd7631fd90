/**
 * The connection certificate of a gRPC call, read once per TLS connection.
 * A real grpc-js server over real mTLS: the handler reports what it saw.
 */
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { connectionCertificate, readsConnection } from '../../gateway/connection-certificate.js';
import { createCa, issueCert } from '../helpers/certs.js';

const method: grpc.MethodDefinition<Buffer, Buffer> = {
  path: '/test.Echo/Who',
  requestStream: false,
  responseStream: false,
  requestSerialize: (value) => value,
  requestDeserialize: (value) => value,
  responseSerialize: (value) => value,
  responseDeserialize: (value) => value,
};

test('every call on a connection sees its client certificate, read through the connection, the same object each time', async (t) => {
  const ca = await createCa('Connection CA');
  const [server, client] = await Promise.all([
    issueCert(ca, { dns: ['localhost'], ips: ['127.0.0.1'], serverAuth: true }),
    issueCert(ca, { uris: ['spiffe://cluster.local/ns/default/sa/reminder'], clientAuth: true }),
  ]);
  const seen: { fast: boolean; certificate: ReturnType<typeof connectionCertificate> }[] = [];
  const grpcServer = new grpc.Server();
  grpcServer.addService(
    { Who: method },
    {
      Who: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        const certificate = connectionCertificate(call);
        seen.push({ fast: readsConnection(call), certificate });
        callback(null, Buffer.from(certificate?.subjectAltName ?? 'none'));
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    grpcServer.bindAsync(
      '127.0.0.1:0',
      grpc.ServerCredentials.createSsl(
        Buffer.from(ca.certPem),
        [{ private_key: Buffer.from(server.keyPem), cert_chain: Buffer.from(server.certPem) }],
        true,
      ),
      (error, bound) => (error ? reject(error) : resolve(bound)),
    ),
  );
  t.teardown(() => grpcServer.forceShutdown());
  const Client = grpc.makeGenericClientConstructor({ Who: method }, 'Echo');
  const stub = new Client(
    `localhost:${port}`,
    grpc.credentials.createSsl(Buffer.from(ca.certPem), Buffer.from(client.keyPem), Buffer.from(client.certPem)),
  ) as unknown as { Who(request: Buffer, callback: (error: grpc.ServiceError | null, response?: Buffer) => void): void; close(): void };
  t.teardown(() => stub.close());
  const ask = () =>
    new Promise<string>((resolve, reject) =>
      stub.Who(Buffer.alloc(0), (error, response) => (error ? reject(error) : resolve(String(response)))),
    );

  t.is(await ask(), 'URI:spiffe://cluster.local/ns/default/sa/reminder');
  t.is(await ask(), 'URI:spiffe://cluster.local/ns/default/sa/reminder');
  // If a grpc-js upgrade hides the connection, calls still work through getAuthContext(), but slowly: fail loudly here.
  t.true(
    seen.every((call) => call.fast),
    'calls are read through their connection',
  );
  t.is(seen[0]?.certificate, seen[1]?.certificate, 'one certificate object per connection');
});
