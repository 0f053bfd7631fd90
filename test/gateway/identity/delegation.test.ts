/**
 * RFC 8693 actor chains: reading `act` (depth, cycle, malformed), binding the
 * current actor to the calling peer, and the whole stage with may_act and
 * DelegationPolicies. One row per case.
 */
import test from 'ava';
import { actorBoundToPeer, readActorChain, verifyDelegationChain, type VerifiedToken } from '../../../gateway/identity/index.js';
import { compileDelegationPolicies, parseDelegationPolicies } from '../../../gateway/policy/index.js';
import { checkInput } from '../../helpers/check-input.js';

const SHARE = 'spiffe://cluster.local/ns/default/sa/share';
const WEB = 'spiffe://cluster.local/ns/default/sa/web';
const REMINDER = 'spiffe://cluster.local/ns/default/sa/reminder';

interface ChainRow {
  readonly name: string;
  readonly claims: Record<string, unknown>;
  readonly maxDepth?: number;
  /** The actors read, or the refusal code. */
  readonly expect: readonly string[] | string;
}

const chainRows: ChainRow[] = [
  { name: 'no act: not delegated', claims: { sub: 'bob' }, expect: [] },
  { name: 'one actor', claims: { sub: 'bob', act: { sub: SHARE } }, expect: [SHARE] },
  { name: 'outermost act is the current actor', claims: { sub: 'bob', act: { sub: SHARE, act: { sub: WEB } } }, expect: [SHARE, WEB] },
  {
    name: 'other members of act are ignored',
    claims: { sub: 'bob', act: { sub: SHARE, iss: 'https://sts', client_id: 'x' } },
    expect: [SHARE],
  },
  {
    name: 'exactly the maximum depth',
    claims: { act: { sub: 'a', act: { sub: 'b', act: { sub: 'c' } } } },
    maxDepth: 3,
    expect: ['a', 'b', 'c'],
  },
  {
    name: 'one deeper than the maximum',
    claims: { act: { sub: 'a', act: { sub: 'b', act: { sub: 'c' } } } },
    maxDepth: 2,
    expect: 'DELEGATION_TOO_DEEP',
  },
  { name: 'same actor twice', claims: { act: { sub: 'a', act: { sub: 'b', act: { sub: 'a' } } } }, expect: 'DELEGATION_CYCLE' },
  { name: 'actor acting for itself directly', claims: { act: { sub: 'a', act: { sub: 'a' } } }, expect: 'DELEGATION_CYCLE' },
  { name: 'act is a string', claims: { act: SHARE }, expect: 'DELEGATION_MALFORMED' },
  { name: 'act is null', claims: { act: null }, expect: 'DELEGATION_MALFORMED' },
  { name: 'act is a list', claims: { act: [{ sub: SHARE }] }, expect: 'DELEGATION_MALFORMED' },
  { name: 'act without sub', claims: { act: { client_id: 'share' } }, expect: 'DELEGATION_MALFORMED' },
  { name: 'act with an empty sub', claims: { act: { sub: '' } }, expect: 'DELEGATION_MALFORMED' },
  { name: 'act with a numeric sub', claims: { act: { sub: 7 } }, expect: 'DELEGATION_MALFORMED' },
  { name: 'a nested act that is malformed', claims: { act: { sub: SHARE, act: 'web' } }, expect: 'DELEGATION_MALFORMED' },
  { name: 'an oversized actor', claims: { act: { sub: `spiffe://x/${'a'.repeat(3000)}` } }, expect: 'DELEGATION_MALFORMED' },
];

for (const row of chainRows) {
  test(`actor chain: ${row.name}`, (t) => {
    const result = readActorChain(row.claims, row.maxDepth ?? 3);
    if (typeof row.expect === 'string') {
      t.false(result.ok);
      t.is(result.ok ? undefined : (result.code as string), row.expect);
      return;
    }
    t.true(result.ok, result.ok ? undefined : result.reason);
    const delegation = result.ok ? result.delegation : undefined;
    if (row.expect.length === 0) return t.is(delegation, undefined);
    t.deepEqual(delegation, { actor: row.expect[0], actors: row.expect, depth: row.expect.length });
  });
}

test('a hostile chain thousands deep is refused after maxDepth + 1 actors', (t) => {
  let act: Record<string, unknown> = { sub: 'a0' };
  for (let i = 1; i < 5000; i++) act = { sub: `a${i}`, act };
  const result = readActorChain({ act }, 3);
  t.is(result.ok ? undefined : result.code, 'DELEGATION_TOO_DEEP');
});

const thumbprintHex = 'ab'.repeat(32);
const thumbprint = Buffer.from(thumbprintHex, 'hex').toString('base64url');
const peerOf = (principal: string, withCertificate = false) => {
  const peer = checkInput({ principal }).peer!;
  return withCertificate
    ? {
        ...peer,
        certificate: {
          uriSans: [principal],
          dnsSans: [],
          emailSans: [],
          ipSans: [],
          subject: '',
          sha256: thumbprintHex,
          notBefore: new Date(0),
          notAfter: new Date(0),
        },
      }
    : peer;
};

const bindingRows: {
  name: string;
  actor: string;
  peer: ReturnType<typeof peerOf> | undefined;
  claims?: Record<string, unknown>;
  expect: string | false;
}[] = [
  { name: 'the actor is the caller’s SPIFFE ID', actor: SHARE, peer: peerOf(SHARE), expect: 'spiffe' },
  { name: 'another service presents the token', actor: SHARE, peer: peerOf(REMINDER), expect: false },
  { name: 'no peer identity at all', actor: SHARE, peer: undefined, expect: false },
  {
    name: 'a client-id actor with cnf bound to the caller’s certificate',
    actor: 'share-client',
    peer: peerOf(SHARE, true),
    claims: { cnf: { 'x5t#S256': thumbprint } },
    expect: 'certificate',
  },
  {
    name: 'a client-id actor with cnf bound to another certificate',
    actor: 'share-client',
    peer: peerOf(SHARE, true),
    claims: { cnf: { 'x5t#S256': Buffer.alloc(32).toString('base64url') } },
    expect: false,
  },
  { name: 'a client-id actor without cnf', actor: 'share-client', peer: peerOf(SHARE, true), expect: false },
  {
    name: 'a SPIFFE actor naming someone else is refused even with a matching cnf',
    actor: SHARE,
    peer: peerOf(REMINDER, true),
    claims: { cnf: { 'x5t#S256': thumbprint } },
    expect: false,
  },
];

for (const row of bindingRows) {
  test(`actor binding: ${row.name}`, (t) => {
    const result = actorBoundToPeer(row.actor, row.peer, row.claims ?? {});
    t.is(result.ok ? (result.via as string) : false, row.expect);
  });
}

const policies = compileDelegationPolicies(
  parseDelegationPolicies([
    {
      file: 'd.yaml',
      text: `
apiVersion: gatehouse.dev/v1alpha1
kind: DelegationPolicy
metadata: {name: share, namespace: default}
spec:
  selector: {matchLabels: {app: todos}}
  rules:
  - actors: ["${SHARE}"]
    subjects: ["https://idp/*"]
    audiences: [todos]
    to: [{operation: {methods: [GET]}}]
`,
    },
  ]),
);

function token(claims: Record<string, unknown>): VerifiedToken {
  return { principal: 'https://idp/bob', issuer: 'https://idp', subject: 'bob', audiences: ['todos'], claims, algorithm: 'ES256' };
}
const todosCall = { workload: { labels: { app: 'todos' } }, method: 'GET' };

const stageRows: { name: string; principal?: string; claims: Record<string, unknown>; method?: string; expect: string }[] = [
  { name: 'a token without act passes untouched', principal: REMINDER, claims: { sub: 'bob' }, expect: 'none' },
  { name: 'share acting for Bob', principal: SHARE, claims: { act: { sub: SHARE } }, expect: SHARE },
  { name: 'the same token from reminder', principal: REMINDER, claims: { act: { sub: SHARE } }, expect: 'DELEGATION_ACTOR_NOT_CALLER' },
  {
    name: 'a write is outside the rule',
    principal: SHARE,
    claims: { act: { sub: SHARE } },
    method: 'POST',
    expect: 'DELEGATION_NOT_PERMITTED',
  },
  { name: 'may_act naming share', principal: SHARE, claims: { act: { sub: SHARE }, may_act: { sub: SHARE } }, expect: SHARE },
  {
    name: 'may_act naming someone else',
    principal: SHARE,
    claims: { act: { sub: SHARE }, may_act: { sub: WEB } },
    expect: 'DELEGATION_MAY_ACT_MISMATCH',
  },
  { name: 'a malformed may_act', principal: SHARE, claims: { act: { sub: SHARE }, may_act: null }, expect: 'DELEGATION_MAY_ACT_MISMATCH' },
  {
    name: 'a cycle is refused before binding',
    principal: SHARE,
    claims: { act: { sub: SHARE, act: { sub: SHARE } } },
    expect: 'DELEGATION_CYCLE',
  },
];

for (const row of stageRows) {
  test(`delegation stage: ${row.name}`, (t) => {
    const input = checkInput({ ...todosCall, ...(row.principal ? { principal: row.principal } : {}), method: row.method ?? 'GET' });
    const outcome = verifyDelegationChain(input, token(row.claims), policies);
    t.is(outcome.ok ? (outcome.delegation?.actor ?? 'none') : outcome.code, row.expect, outcome.ok ? undefined : outcome.reason);
  });
}
