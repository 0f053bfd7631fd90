import test from 'ava';
import { parseConfig } from '../../../gateway/config/load.js';
import { encodeCheckResponse } from '../../../gateway/envoy/encode.js';
import { DecisionCode } from '../../../gateway/errors.js';
import type { Decision } from '../../../gateway/policy/decision.js';
import { planResponse } from '../../../gateway/response/plan.js';
import { checkInput } from '../../helpers/check-input.js';

const config = parseConfig('', 'c.yaml');
const allow: Decision = {
  allowed: true,
  code: DecisionCode.Allowed,
  reason: 'ok',
  policy: 'default/a',
  rule: 0,
  audited: ['default/audit'],
  trace: [],
};

test('an allow sets the verified peer and decision id upstream, overwriting client values', (t) => {
  const input = checkInput({ principal: 'cluster.local/ns/default/sa/reminder' });
  const plan = planResponse(allow, 'id-1', input, config);
  t.true(plan.allowed);
  t.deepEqual(plan.upstreamHeaders, [
    { name: 'x-gatehouse-decision-id', value: 'id-1', append: false },
    { name: 'x-gatehouse-peer', value: 'spiffe://cluster.local/ns/default/sa/reminder', append: false },
  ]);
  t.deepEqual(plan.upstreamHeadersToRemove, []);
  const encoded = encodeCheckResponse(plan) as { status: { code: number }; ok_response: { headers: { append: { value: boolean } }[] } };
  t.is(encoded.status.code, 0);
  t.true(
    encoded.ok_response.headers.every((h) => h.append.value === false),
    'append is explicit',
  );
});

test('an allow without a peer strips any peer header the client sent', (t) => {
  const plan = planResponse(allow, 'id-2', checkInput({}), config);
  t.deepEqual(plan.upstreamHeadersToRemove, ['x-gatehouse-peer']);
});

const statuses: [DecisionCode, number, number, string][] = [
  [DecisionCode.PolicyDenied, 403, 7, 'Forbidden'],
  [DecisionCode.NoAllowMatch, 403, 7, 'Forbidden'],
  [DecisionCode.InvalidPeerIdentity, 403, 7, 'Forbidden'],
  [DecisionCode.BadRequest, 400, 3, 'BadRequest'],
  [DecisionCode.Internal, 500, 13, 'InternalServerError'],
  [DecisionCode.Unavailable, 503, 14, 'ServiceUnavailable'],
];

for (const [code, http, grpc, name] of statuses) {
  test(`${code} is a denial with HTTP ${http}`, (t) => {
    const plan = planResponse({ allowed: false, code, reason: 'because', audited: [], trace: [] }, 'id-3', undefined, config);
    t.false(plan.allowed);
    t.is(plan.httpStatus, http);
    t.is(plan.grpcCode, grpc);
    t.deepEqual(JSON.parse(plan.body!), { code, reason: 'because', decision_id: 'id-3' });
    const encoded = encodeCheckResponse(plan) as { denied_response: { status: { code: string } }; ok_response?: unknown };
    t.is(encoded.denied_response.status.code, name);
    t.is(encoded.ok_response, undefined);
  });
}

test('a decision flagged allowed with a non-OK code is still a denial', (t) => {
  const plan = planResponse(
    { allowed: true, code: DecisionCode.Internal, reason: 'confused', audited: [], trace: [] },
    'id-4',
    undefined,
    config,
  );
  t.false(plan.allowed);
});
