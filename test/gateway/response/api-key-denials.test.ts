/**
 * What a refused API key looks like to the client: the status and challenge
 * of every `APIKEY_…` code.
 */
import test from 'ava';
import { parseConfig } from '../../../gateway/config/load.js';
import { ApiKeyErrorCode } from '../../../gateway/identity/api-key.js';
import { planResponse } from '../../../gateway/response/plan.js';
import { checkInput } from '../../helpers/check-input.js';

const config = parseConfig('', 'c.yaml');

for (const code of Object.values(ApiKeyErrorCode)) {
  const unavailable = code === ApiKeyErrorCode.StoreUnavailable;
  test(`${code}: ${unavailable ? '503 UNAVAILABLE, no challenge' : '401 UNAUTHENTICATED with an ApiKey challenge'}`, (t) => {
    const plan = planResponse({ allowed: false, code, reason: 'r', audited: [], trace: [] }, 'id', checkInput(), config);
    t.false(plan.allowed);
    t.is(plan.httpStatus, unavailable ? 503 : 401);
    t.is(plan.grpcCode, unavailable ? 14 : 16);
    const challenge = plan.clientHeaders.find((header) => header.name === 'www-authenticate')?.value;
    t.is(challenge, unavailable ? undefined : `ApiKey realm="gatehouse", error="invalid_key", error_description="${code}"`);
    t.is((JSON.parse(plan.body ?? '{}') as { code: string }).code, code);
  });
}
