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
  t.deepEqual(plan.upstreamHeadersToRemove, ['x-gatehouse-subject', 'x-gatehouse-actors']);
  const encoded = encodeCheckResponse(plan) as { status: { code: number }; ok_response: { headers: { append: { value: boolean } }[] } };
  t.is(encoded.status.code, 0);
  t.true(
    encoded.ok_response.headers.every((h) => h.append.value === false),
    'append is explicit',
  );
});

test('an allow without a peer strips any peer header the client sent', (t) => {
  const plan = planResponse(allow, 'id-2', checkInput({}), config);
  t.deepEqual(plan.upstreamHeadersToRemove, ['x-gatehouse-peer', 'x-gatehouse-subject', 'x-gatehouse-actors']);
});

test('a delegated allow carries the subject and the actor chain upstream and in the metadata', (t) => {
  const share = 'spiffe://cluster.local/ns/default/sa/share';
  const web = 'spiffe://cluster.local/ns/default/sa/web';
  const input = checkInput({
    principal: share,
    auth: { claims: { iss: 'https://idp', sub: 'bob' }, delegation: { actor: share, actors: [share, web], depth: 2 } },
  });
  const plan = planResponse(allow, 'id-4', input, config);
  t.deepEqual(plan.upstreamHeaders.slice(2), [
    { name: 'x-gatehouse-subject', value: 'https://idp/bob', append: false },
    { name: 'x-gatehouse-actors', value: `${share},${web}`, append: false },
  ]);
  t.deepEqual(plan.upstreamHeadersToRemove, []);
  t.deepEqual(plan.metadata.delegation, { actor: share, actors: [share, web], depth: 2 });
});

test('a token without act sets the subject and strips any actors header the client sent', (t) => {
  const input = checkInput({ auth: { claims: { iss: 'https://idp', sub: 'bob' } } });
  const plan = planResponse(allow, 'id-5', input, config);
  t.deepEqual(plan.upstreamHeaders.at(-1), { name: 'x-gatehouse-subject', value: 'https://idp/bob', append: false });
  t.deepEqual(plan.upstreamHeadersToRemove, ['x-gatehouse-peer', 'x-gatehouse-actors']);
  t.is(plan.metadata.delegation, undefined);
});

const statuses: [DecisionCode, number, number, string][] = [
  [DecisionCode.PolicyDenied, 403, 7, 'Forbidden'],
  [DecisionCode.NoAllowMatch, 403, 7, 'Forbidden'],
  [DecisionCode.InvalidPeerIdentity, 403, 7, 'Forbidden'],
  [DecisionCode.BadRequest, 400, 3, 'BadRequest'],
  [DecisionCode.Internal, 500, 13, 'InternalServerError'],
  [DecisionCode.Unavailable, 503, 14, 'ServiceUnavailable'],
  [DecisionCode.DelegationTooDeep, 403, 7, 'Forbidden'],
  [DecisionCode.DelegationCycle, 403, 7, 'Forbidden'],
  [DecisionCode.DelegationMalformed, 403, 7, 'Forbidden'],
  [DecisionCode.DelegationActorNotCaller, 403, 7, 'Forbidden'],
  [DecisionCode.DelegationNotPermitted, 403, 7, 'Forbidden'],
  [DecisionCode.DelegationMayActMismatch, 403, 7, 'Forbidden'],
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
