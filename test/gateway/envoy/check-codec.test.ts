import { randomUUID } from 'node:crypto';
import test from 'ava';
import fc from 'fast-check';
import type { CheckOutcome } from '../../../gateway/authorizer.js';
import { parseConfig } from '../../../gateway/config/load.js';
import { CheckCodec } from '../../../gateway/envoy/check-codec.js';
import { loadProtobufRoot } from '../../../gateway/envoy/descriptors.js';
import { encodeCheckResponse } from '../../../gateway/envoy/encode.js';
import { DecisionCode } from '../../../gateway/errors.js';
import type { Decision } from '../../../gateway/policy/index.js';
import { planResponse } from '../../../gateway/response/plan.js';
import { checkInput } from '../../helpers/check-input.js';

const config = parseConfig('{}', 'gatehouse.yaml');
const root = loadProtobufRoot();
const responseType = root.lookupType('envoy.service.auth.v3.CheckResponse');
const newCodec = () => new CheckCodec(root.lookupType('envoy.service.auth.v3.CheckRequest'), responseType, config);

const allow: Decision = {
  allowed: true,
  code: DecisionCode.Allowed,
  reason: 'allowed by default/todos-users',
  policy: 'default/todos-users',
  rule: 0,
  audited: [],
  trace: [],
};
const deny: Decision = { allowed: false, code: DecisionCode.NoAllowMatch, reason: 'no ALLOW policy matched', audited: [], trace: [] };

/** What protobufjs encodes for the outcome with nothing reused: the reference every rendering must equal byte for byte. */
function reference(outcome: CheckOutcome): Buffer {
  const plan = planResponse(outcome.decision, outcome.decisionId, outcome.input, config, outcome.authentication);
  return Buffer.from(responseType.encode(responseType.fromObject(encodeCheckResponse(plan))).finish());
}

interface Shape {
  readonly decision: Decision;
  readonly principal?: string;
  readonly peer?: string;
  readonly actors?: readonly string[];
  readonly removed: readonly string[];
}

function outcomeOf(shape: Shape, decisionId = randomUUID()): CheckOutcome {
  const input = checkInput({
    decisionId,
    ...(shape.peer === undefined ? {} : { principal: shape.peer }),
    ...(shape.principal === undefined
      ? {}
      : {
          auth: {
            principal: shape.principal,
            claims: { sub: 'x' },
            ...(shape.actors === undefined
              ? {}
              : { delegation: { actor: shape.actors[0] as string, actors: [...shape.actors], depth: shape.actors.length } }),
          },
        }),
  });
  return {
    decisionId,
    decision: shape.decision,
    input,
    httpStatus: shape.decision.allowed ? 200 : 403,
    ...(shape.principal === undefined ? {} : { authentication: { upstreamHeaders: [], upstreamHeadersToRemove: [...shape.removed] } }),
  };
}

test('a rendered response equals the one encoded from scratch, whatever the principal (property)', (t) => {
  const codec = newCodec();
  fc.assert(
    fc.property(
      fc.record({
        decision: fc.constantFrom(allow, deny),
        // Long principals move length prefixes across varint sizes; unicode checks byte lengths.
        principal: fc.option(
          fc.oneof(
            fc.string({ maxLength: 40 }),
            fc.string({ unit: 'binary', maxLength: 40 }),
            fc.string({ minLength: 100, maxLength: 400 }),
          ),
          { nil: undefined },
        ),
        peer: fc.option(fc.constantFrom('cluster.local/ns/default/sa/reminder', 'cluster.local/ns/default/sa/share'), { nil: undefined }),
        actors: fc.option(fc.constantFrom(['spiffe://cluster.local/ns/default/sa/share'], ['a', 'b']), { nil: undefined }),
        removed: fc.constantFrom([], ['authorization']),
      }),
      (shape) => {
        const outcome = outcomeOf(shape);
        t.deepEqual(codec.encodeResponse(outcome), reference(outcome));
      },
    ),
    { numRuns: 400 },
  );
});

test('every user of a route shares one template', (t) => {
  const codec = newCodec();
  for (let user = 0; user < 500; user++) {
    const outcome = outcomeOf({ decision: allow, principal: `https://idp.example.com/user-${user}`, removed: ['authorization'] });
    t.deepEqual(codec.encodeResponse(outcome), reference(outcome));
  }
  t.is(codec.templateCount, 1);
});

test('the principal placeholder never reaches a response, and responses never mix users', (t) => {
  const codec = newCodec();
  const alice = codec.encodeResponse(outcomeOf({ decision: allow, principal: 'https://idp/alice', removed: [] }));
  const bob = codec.encodeResponse(outcomeOf({ decision: allow, principal: 'https://idp/bob', removed: [] }));
  t.true(alice.includes('https://idp/alice'));
  t.false(alice.includes('principal-'));
  t.true(bob.includes('https://idp/bob'));
  t.false(bob.includes('alice'));
});
