/**
 * The fuzz run of bench/fuzz.ts in small: a few thousand random and mutated
 * CheckRequests against a spawned gateway over real gRPC. It must stay up
 * and healthy, answer each with a well-formed CheckResponse or a clean gRPC
 * error, and allow only what its one allow rule matches.
 */
import test from 'ava';
import { startGatehouse } from '../helpers/gatehouse.js';
import { createFuzzMaterial, crashLines, fuzzConfigYaml, fuzzPolicyFiles, healthStatus, runFuzz } from '../helpers/fuzz-check-requests.js';

const requests = Number(process.env.FUZZ_REQUESTS ?? 3000);

test('random and mutated Checks: no crash, well-formed answers, no allow outside the allow rule', async (t) => {
  const material = await createFuzzMaterial();
  const gatehouse = await startGatehouse({ config: fuzzConfigYaml, policies: fuzzPolicyFiles(material.jwks) });
  t.teardown(() => gatehouse.stop());
  let stderr = '';
  gatehouse.process.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));

  const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
  const tally = await runFuzz(gatehouse.port, { requests, seed, concurrency: 16, material });
  t.log(`seed ${seed}: ${[...tally.outcomes].map(([outcome, n]) => `${outcome} ${n}`).join(', ')}`);

  t.deepEqual(tally.violations, [], `seed ${seed}`);
  t.is(tally.requests, requests);
  t.true(tally.allows > 0, 'some requests had the allowed shape and were allowed: the oracle was exercised');
  const policyDenials = [...tally.outcomes].filter(([outcome]) => / (POLICY_DENIED|NO_ALLOW_MATCH)$/.test(outcome));
  t.true(policyDenials.length === 2, 'requests reached both the DENY policy and the lack of a matching ALLOW, not only decoding');
  t.is(gatehouse.process.exitCode, null, 'the gateway is still running');
  t.is(await healthStatus(gatehouse.port), 'SERVING');
  t.deepEqual(crashLines(stderr), []);
});
