/**
 * Baseline for the throughput benchmark: an ext_authz server on grpc-js that
 * answers every Check with OK and decides nothing. Same descriptor set, same
 * grpc-js, same process model as Gatehouse, so the difference is Gatehouse's
 * own work. Listens on 127.0.0.1:$PORT.
 */
import * as grpc from '@grpc/grpc-js';
import { loadPackageDefinition } from '../gateway/envoy/descriptors.js';
import { AUTHORIZATION_SERVICE } from './fixed-request.js';

const OK = { status: { code: 0 }, ok_response: {} };

const server = new grpc.Server();
server.addService(loadPackageDefinition()[AUTHORIZATION_SERVICE] as grpc.ServiceDefinition, {
  Check: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => callback(null, OK),
});
server.bindAsync(`127.0.0.1:${process.env.PORT ?? '0'}`, grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  process.stdout.write(`${JSON.stringify({ msg: 'serving', port })}\n`);
});
process.once('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
