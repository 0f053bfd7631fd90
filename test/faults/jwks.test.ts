/**
 * The identity provider's key endpoint failing (HTTP 500, then garbage) or
 * hanging while tokens are verified under load, and the provider has just
 * published a new key. docs/request-authentication.md ("Keys (JWKS)"): the
 * last good set keeps serving, so tokens of the known key are allowed
 * throughout; a token naming the new key triggers a refetch at most once per
 * cooldown, and while fetches fail it is TOKEN_NO_MATCHING_KEY (the set it
 * has holds no such key), or TOKEN_KEYS_PENDING (503, retry) while a fetch
 * it needs outlasts `checkWaitMs`. Once the endpoint answers again, the next
 * refetch finds the key: recovery within the cooldown plus one fetch.
 */
import test, { type ExecutionContext } from 'ava';
import type { JwksServerMode } from '../helpers/jwks-server.js';
import { ALLOW, describeRecords, startCheckLoad, type CheckRecord, type LoadCase } from './check-load.js';
import { delay } from './eventually.js';
import { metricTotal } from './metrics.js';
import { startTokenGateway, tokenRequest } from './token-gateway.js';

const FETCH_TIMEOUT_MS = 500;
const UNKNOWN_KID_COOLDOWN_MS = 1000;
/** Time for the machine to schedule what follows a recovery; generous for a loaded 2-core CI runner. */
const SCHEDULING_ALLOWANCE_MS = 3000;
const NO_MATCHING_KEY = 'Unauthorized TOKEN_NO_MATCHING_KEY';
const KEYS_PENDING = 'ServiceUnavailable TOKEN_KEYS_PENDING';
/** How long a Check waits for a fetch it needs (`jwt.jwks.checkWaitMs`'s default). */
const CHECK_WAIT_MS = 200;

async function keySetFault(t: ExecutionContext, faults: readonly JwksServerMode[]): Promise<readonly CheckRecord[]> {
  const gateway = await startTokenGateway({
    config: `jwt: { jwks: { fetchTimeoutMs: ${FETCH_TIMEOUT_MS}, refreshIntervalSeconds: 3600, unknownKidCooldownSeconds: ${UNKNOWN_KID_COOLDOWN_MS / 1000} } }\n`,
    rotatedTokens: 1500,
  });
  t.teardown(() => gateway.close());
  const { idp } = gateway;
  const newKey: LoadCase = {
    name: 'token of the new key',
    // Each token once, so none is a cache hit; past the last one the request has no token and its decision is wrong.
    request: () => tokenRequest(gateway.rotatedTokens.shift()),
    expected: (phase) =>
      phase === 'endpoint back'
        ? [NO_MATCHING_KEY, KEYS_PENDING, ALLOW]
        : phase === 'new key fetched'
          ? [ALLOW]
          : [NO_MATCHING_KEY, KEYS_PENDING],
  };
  const load = startCheckLoad({
    address: gateway.gatehouse.address,
    cases: [...gateway.steady, newKey],
    deadlineMs: FETCH_TIMEOUT_MS * 10,
    phase: 'before',
  });
  await load.firstAnswer((entry) => entry.kind === 'reused token', 10_000);

  const requestsBefore = idp.jwksRequestCount;
  load.phase = 'endpoint failing';
  gateway.publishNewKey();
  for (const mode of faults) {
    idp.mode = mode;
    await delay(UNKNOWN_KID_COOLDOWN_MS * 1.5);
  }
  t.true(idp.jwksRequestCount > requestsBefore, 'the gateway tried to fetch the new key while the endpoint failed');

  idp.mode = 'serve';
  const backAt = performance.now();
  load.phase = 'endpoint back';
  const recovered = await load.firstAnswer(
    (entry) => entry.kind === newKey.name && entry.decision === ALLOW,
    UNKNOWN_KID_COOLDOWN_MS + FETCH_TIMEOUT_MS + 10_000,
  );
  load.phase = 'new key fetched';
  await delay(300);
  const { records, failed, wrong } = await load.stop();

  t.deepEqual(describeRecords(failed), '', `${failed.length} of ${records.length} Checks failed`);
  t.deepEqual(describeRecords(wrong), '', `${wrong.length} of ${records.length} Checks got a wrong decision`);
  const duringFault = records.filter((entry) => entry.sentPhase === 'endpoint failing');
  t.true(duringFault.some((entry) => entry.kind === newKey.name && entry.decision === NO_MATCHING_KEY));
  t.true(
    duringFault.some((entry) => entry.kind === 'fresh token' && entry.decision === ALLOW),
    'new tokens of the known key verified',
  );
  const recoveryMs = recovered.answeredAt - backAt;
  t.true(
    recoveryMs <= UNKNOWN_KID_COOLDOWN_MS + FETCH_TIMEOUT_MS + SCHEDULING_ALLOWANCE_MS,
    `the new key was first used ${recoveryMs.toFixed(0)} ms after the endpoint came back`,
  );
  t.true(gateway.gatehouse.logs.some((line) => line.msg === 'key set fetch failed'));
  t.true(
    (await metricTotal(await gateway.gatehouse.adminHttpUrl(), 'gatehouse_jwks_fetch_errors_total')) > 0,
    'failed fetches are counted',
  );
  t.log(`${records.length} Checks; new key used ${recoveryMs.toFixed(0)} ms after the endpoint came back`);
  return records;
}

test('key endpoint answering 500 and then garbage under load: no failed or wrong Check; the new key is used within a cooldown of its return', async (t) => {
  await keySetFault(t, ['fail', 'garbage']);
});

test('key endpoint hanging under load: no failed or wrong Check; known keys never wait, a new key waits checkWaitMs and is told to retry', async (t) => {
  const records = await keySetFault(t, ['hang']);
  const latencies = (kind: string) =>
    records
      .filter((entry) => entry.sentPhase === 'endpoint failing' && entry.kind === kind)
      .map((entry) => entry.answeredAt - entry.sentAt)
      .sort((a, b) => a - b);
  const median = (values: readonly number[]) => values[Math.floor(values.length / 2)] ?? Number.NaN;
  // A known key's token never waits for the hanging fetch; a token of the new key that joins it waits at most checkWaitMs and is
  // told to retry, rather than waiting until the fetch times out.
  t.true(median(latencies('reused token')) < FETCH_TIMEOUT_MS, `median ${median(latencies('reused token')).toFixed(0)} ms`);
  const pending = records
    .filter((entry) => entry.sentPhase === 'endpoint failing' && entry.decision === KEYS_PENDING)
    .map((entry) => entry.answeredAt - entry.sentAt)
    .sort((a, b) => a - b);
  t.true(pending.length > 0, 'Checks that joined the hanging fetch were told to retry');
  t.true(
    median(pending) >= CHECK_WAIT_MS * 0.9 && median(pending) < FETCH_TIMEOUT_MS,
    `TOKEN_KEYS_PENDING after a median ${median(pending).toFixed(0)} ms (checkWaitMs ${CHECK_WAIT_MS}, fetch timeout ${FETCH_TIMEOUT_MS})`,
  );
});
