/**
 * Draining as a load balancer sees it: Watch streams flip to NOT_SERVING
 * before the server stops taking calls.
 */
import test from 'ava';
import type * as grpc from '@grpc/grpc-js';
import { parseConfig } from '../../gateway/config/load.js';
import { createLogger } from '../../gateway/log.js';
import { compilePolicySet, parsePolicyDocuments } from '../../gateway/policy/index.js';
import { startServer } from '../../gateway/server.js';
import { connect } from '../helpers/grpc-client.js';

test('Watch reports SERVING, then NOT_SERVING when the server drains', async (t) => {
  const config = parseConfig('listen: { host: 127.0.0.1, port: 0 }\ndrainSeconds: 2\n', 'test.yaml');
  const set = compilePolicySet(parsePolicyDocuments([]));
  const server = await startServer({ config, policies: { current: () => set }, log: createLogger('silent') });
  const health = connect('grpc.health.v1.Health', `127.0.0.1:${server.port}`);
  t.teardown(() => health.close());

  const watch = (health.raw as unknown as { Watch(request: unknown): grpc.ClientReadableStream<{ status: string }> }).Watch({
    service: 'envoy.service.auth.v3.Authorization',
  });
  const statuses: string[] = [];
  const ended = new Promise<void>((resolve) => {
    watch.on('data', (message: { status: string }) => {
      statuses.push(message.status);
      if (statuses.length === 1) void server.drain();
    });
    watch.on('end', resolve);
    watch.on('error', () => resolve());
  });
  await ended;
  t.deepEqual(statuses, ['SERVING', 'NOT_SERVING']);
  t.is(server.health.get(''), 'NOT_SERVING');
  await server.drain();
});
