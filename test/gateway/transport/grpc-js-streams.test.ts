/**
 * The one place that reaches into grpc-js's private API: it must find the
 * stream handler of this grpc-js version (a failure here after an upgrade
 * names the module to adapt), refuse to start without it, and serve a
 * stream through it. Health, Explain and reflection over the shared port
 * are covered by listener.test.ts and test/gateway/server.test.ts.
 */
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { grpcJsStreamHandler, startListener } from '../../../gateway/transport/index.js';
import { connect } from '../../helpers/grpc-client.js';
import { loadPackageDefinition } from '../../../gateway/envoy/descriptors.js';

test('the installed grpc-js has the stream handler the adapter calls', (t) => {
  t.notThrows(() => grpcJsStreamHandler(new grpc.Server()));
});

test('a grpc-js without it: start-up fails naming the module to adapt', (t) => {
  const server = new grpc.Server();
  Object.defineProperty(server, '_streamHandler', { value: undefined });
  const error = t.throws(() => grpcJsStreamHandler(server));
  t.regex(error.message, /_streamHandler/);
  t.regex(error.message, /grpc-js-streams\.ts/);
});

test('a grpc-js server bound to no port serves the streams handed to it', async (t) => {
  const server = new grpc.Server();
  const definition = loadPackageDefinition()['grpc.health.v1.Health'] as grpc.ServiceDefinition;
  server.addService(definition, {
    Check: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, { status: 'SERVING' }),
  });
  const listener = await startListener({
    host: '127.0.0.1',
    port: 0,
    methods: new Map(),
    fallback: grpcJsStreamHandler(server),
    maxReceiveBytes: 1024,
  });
  t.teardown(() => listener.drain(1000));
  const health = connect('grpc.health.v1.Health', `127.0.0.1:${listener.port}`);
  t.teardown(() => health.close());
  t.deepEqual(await health.call('Check', {}), { status: 'SERVING' });
});
