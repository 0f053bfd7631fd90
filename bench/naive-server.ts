/**
 * Baseline for the cold-start benchmark: the ext_authz server one writes
 * first, parsing Envoy's .proto files with `protoLoader.loadSync` at start
 * (from the `deps/` folder of @grpc/grpc-js-xds) and answering OK.
 * Listens on 127.0.0.1:$PORT.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const require = createRequire(import.meta.url);
const deps = path.join(path.dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');

const definition = protoLoader.loadSync('envoy/service/auth/v3/external_auth.proto', {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: false,
  oneofs: true,
  includeDirs: ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((dir) => path.join(deps, dir)),
});
const service = definition['envoy.service.auth.v3.Authorization'] as grpc.ServiceDefinition;

const server = new grpc.Server();
server.addService(service, {
  Check: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) =>
    callback(null, { status: { code: 0 }, ok_response: {} }),
});
server.bindAsync(`127.0.0.1:${process.env.PORT ?? '0'}`, grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  process.stdout.write(`${JSON.stringify({ msg: 'serving', port })}\n`);
});
process.once('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
