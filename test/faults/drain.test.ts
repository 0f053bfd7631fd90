/**
 * SIGTERM under load (a rollout or a scale-in): the gateway reports
 * NOT_SERVING at once (gRPC health and /readyz), answers every Check it has
 * started (here one waiting on a slow key fetch), refuses new ones so Envoy
 * sends them to another replica, and exits 0 within `drainSeconds`.
 */
import type * as grpc from '@grpc/grpc-js';
import { status as grpcStatus } from '@grpc/grpc-js';
import test from 'ava';
import { connect } from '../helpers/grpc-client.js';
import { checkOnce, describeRecords, startCheckLoad } from './check-load.js';
import { delay, eventually } from './eventually.js';
import { startTokenGateway, tokenRequest } from './token-gateway.js';

const DRAIN_SECONDS = 10;
/** How long the identity provider takes to answer while the gateway drains: the Check waiting on it is in flight that long. */
const KEY_FETCH_DELAY_MS = 1000;
/** Time for the machine to schedule what follows a recovery; generous for a loaded 2-core CI runner. */
const SCHEDULING_ALLOWANCE_MS = 3000;

test('SIGTERM under load: NOT_SERVING at once, the Check in flight is answered, no answer is wrong, exit 0 within drainSeconds', async (t) => {
  const gateway = await startTokenGateway({
    config: `drainSeconds: ${DRAIN_SECONDS}\njwt: { jwks: { unknownKidCooldownSeconds: 0, checkWaitMs: 10000 } }\n`,
    rotatedTokens: 1,
  });
  t.teardown(() => gateway.close());
  const { gatehouse, idp } = gateway;
  const admin = await gatehouse.adminHttpUrl();
  t.is((await fetch(`${admin}/readyz`)).status, 200);

  const health = connect('grpc.health.v1.Health', gatehouse.address);
  const probe = connect('envoy.service.auth.v3.Authorization', gatehouse.address);
  t.teardown(() => {
    health.close();
    probe.close();
  });
  const statuses: string[] = [];
  const watch = (health.raw as unknown as { Watch(request: unknown): grpc.ClientReadableStream<{ status: string }> }).Watch({
    service: '',
  });
  watch.on('data', (message: { status: string }) => statuses.push(message.status));
  watch.on('error', () => undefined);

  const load = startCheckLoad({ address: gatehouse.address, cases: gateway.steady, phase: 'serving' });
  await delay(500);
  // A token of a key the set does not have makes its Check wait for a fetch the provider answers slowly.
  idp.delayMs = KEY_FETCH_DELAY_MS;
  const fetchesBefore = idp.jwksRequestCount;
  const inFlight = checkOnce(probe, tokenRequest(gateway.rotatedTokens[0]), DRAIN_SECONDS * 1000);
  await eventually(() => idp.jwksRequestCount > fetchesBefore, 5000);

  gatehouse.process.kill('SIGTERM');
  const terminatedAt = performance.now();
  load.phase = 'draining';
  const notReadyAt = await eventually(async () => (await fetch(`${admin}/readyz`)).status === 503, DRAIN_SECONDS * 1000);
  const exitCode = await gatehouse.exited;
  const exitedAt = performance.now();
  const { records, failed, wrong } = await load.stop();

  t.deepEqual(await inFlight, { decision: 'Unauthorized TOKEN_NO_MATCHING_KEY' }, 'the Check in flight at SIGTERM was answered');
  t.is(exitCode, 0);
  t.deepEqual(statuses, ['SERVING', 'NOT_SERVING']);
  t.true(notReadyAt - terminatedAt <= SCHEDULING_ALLOWANCE_MS, `/readyz 503 ${(notReadyAt - terminatedAt).toFixed(0)} ms after SIGTERM`);
  t.true(
    exitedAt - terminatedAt <= DRAIN_SECONDS * 1000 + SCHEDULING_ALLOWANCE_MS,
    `exited ${(exitedAt - terminatedAt).toFixed(0)} ms after SIGTERM`,
  );
  t.deepEqual(describeRecords(wrong), '', `${wrong.length} of ${records.length} Checks got a wrong decision`);
  // A Check the gateway had not started when it began draining is refused unanswered: Envoy retries it on another replica.
  const notRefused = failed.filter((entry) => entry.error?.code !== grpcStatus.UNAVAILABLE || entry.sentPhase !== 'draining');
  t.deepEqual(describeRecords(notRefused), '', 'every failed Check was refused after the drain began');
  t.true(records.some((entry) => entry.sentPhase === 'serving' && entry.right));
  t.log(
    `${records.length} Checks, ${failed.length} refused after SIGTERM; exited ${(exitedAt - terminatedAt).toFixed(0)} ms after SIGTERM`,
  );
});
