/**
 * The decision record, one row per rule: what a record holds for an outcome
 * and a configuration, what is redacted, and what is never written whatever
 * the configuration says.
 */
import test, { type ExecutionContext } from 'ava';
import type { CheckOutcome } from '../../../gateway/authorizer.js';
import {
  DecisionRecordBuilder,
  REDACTED,
  scrubTokens,
  type DecisionRecord,
  type RecordShape,
} from '../../../gateway/decision-log/index.js';
import { DecisionCode } from '../../../gateway/errors.js';
import type { Decision } from '../../../gateway/policy/index.js';
import { checkInput, type CheckInputShortForm } from '../../helpers/check-input.js';

const JWT = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz';
const REMINDER = 'cluster.local/ns/default/sa/reminder';
const SHARE = 'spiffe://cluster.local/ns/default/sa/share';

const allowed: Decision = {
  allowed: true,
  code: DecisionCode.Allowed,
  reason: 'ALLOW policy default/todos-viewer-allow rule 0 matched',
  policy: 'default/todos-viewer-allow',
  rule: 0,
  audited: [],
  trace: [],
};

const plainShape: RecordShape = { headers: [], includeQuery: false, claims: [], redact: [] };

function outcome(input: CheckInputShortForm, decision: Decision = allowed, extra: Partial<CheckOutcome> = {}): CheckOutcome {
  return {
    decisionId: 'd-1',
    decision,
    input: checkInput({ decisionId: 'd-1', ...input }),
    httpStatus: decision.allowed ? 200 : 403,
    ...extra,
  };
}

interface Row {
  readonly name: string;
  readonly shape?: Partial<RecordShape>;
  readonly outcome: CheckOutcome;
  readonly check: (t: ExecutionContext, record: DecisionRecord, line: string) => void;
}

const aliceClaims = { iss: 'https://idp.example.com', sub: 'alice', groups: ['admins'], email: 'alice@example.com', sid: 'x' };

const rows: Row[] = [
  {
    name: 'the decision, workload, peer and short-form request',
    outcome: outcome({
      principal: REMINDER,
      method: 'GET',
      path: '/todos',
      query: 'due=24h',
      host: 'todos.default.svc',
      destinationPort: 8080,
      workload: { namespace: 'default', serviceAccount: 'todos', labels: { app: 'todos' } },
    }),
    check: (t, record) => {
      const expected: DecisionRecord = {
        decision_id: 'd-1',
        allowed: true,
        http_status: 200,
        code: 'ALLOWED',
        reason: allowed.reason,
        policy: 'default/todos-viewer-allow',
        rule: 0,
        audited: [],
        workload: { namespace: 'default', service_account: 'todos' },
        peer: { principal: REMINDER, source: 'connection' },
        request: {
          method: 'GET',
          host: 'todos.default.svc',
          path: '/todos',
          source_principal: `spiffe://${REMINDER}`,
          source_address: '10.0.0.1',
          destination_port: 8080,
        },
        latency_ms: 1.235,
      };
      t.deepEqual(record, expected);
    },
  },
  {
    name: 'the query is left out by default',
    outcome: outcome({ path: '/todos', query: 'due=24h&email=alice@example.com' }),
    check: (t, record) => t.deepEqual(record.request?.path, '/todos'),
  },
  {
    name: 'includeQuery records it, with secret-looking parameters redacted',
    shape: { includeQuery: true },
    outcome: outcome({ path: '/todos', query: 'due=24h&access_token=abc123&Api-Key=k&code=xyz&x=1' }),
    check: (t, record) =>
      t.deepEqual(record.request?.path, `/todos?due=24h&access_token=${REDACTED}&Api-Key=${REDACTED}&code=${REDACTED}&x=1`),
  },
  {
    name: 'includeQuery with a redacted parameter name',
    shape: { includeQuery: true, redact: ['email'] },
    outcome: outcome({ path: '/todos', query: 'email=alice%40example.com&due=24h' }),
    check: (t, record) => t.deepEqual(record.request?.path, `/todos?email=${REDACTED}&due=24h`),
  },
  {
    name: 'a token in the path is scrubbed',
    outcome: outcome({ path: `/callback/${JWT}`, rawPath: `/callback/${JWT}` }),
    check: (t, record) => t.deepEqual(record.request?.path, `/callback/${REDACTED}`),
  },
  {
    name: 'only allow-listed headers are recorded',
    shape: { headers: ['x-request-id', 'x-tenant'] },
    outcome: outcome({ headers: { 'x-request-id': 'abc', 'x-other': 'no', 'user-agent': 'curl' } }),
    check: (t, record) => t.deepEqual(record.request?.headers, { 'x-request-id': 'abc' }),
  },
  {
    name: 'no headers section when no allow-listed header is present',
    shape: { headers: ['x-request-id'] },
    outcome: outcome({ headers: { 'x-other': 'no' } }),
    check: (t, record) => t.deepEqual(record.request && 'headers' in record.request, false),
  },
  {
    name: 'authorization, cookie and proxy-authorization are never recorded, whatever the allow-list says',
    shape: { headers: ['authorization', 'Cookie', 'proxy-authorization', 'set-cookie', 'x-api-key', 'x-auth-token', 'x-request-id'] },
    outcome: outcome({
      headers: {
        authorization: `Bearer ${JWT}`,
        cookie: 'session=s3cr3t-cookie',
        'proxy-authorization': 'Basic dXNlcjpwYXNz',
        'set-cookie': 'id=s3cr3t-set',
        'x-api-key': 's3cr3t-key',
        'x-auth-token': 's3cr3t-token',
        'x-request-id': 'abc',
      },
    }),
    check: (t, record, line) => {
      t.deepEqual(record.request?.headers, { 'x-request-id': 'abc' });
      for (const secret of [JWT, 's3cr3t', 'dXNlcjpwYXNz', 'Bearer']) t.deepEqual(line.includes(secret), false, secret);
    },
  },
  {
    name: 'a token-shaped value in an allow-listed header is scrubbed; a header named like a token is left out',
    shape: { headers: ['x-forwarded-token-less', 'x-debug'] },
    outcome: outcome({ headers: { 'x-debug': `user=alice; jwt=${JWT}`, 'x-forwarded-token-less': 'Bearer opaque-value' } }),
    check: (t, record) => t.deepEqual(record.request?.headers, { 'x-debug': `user=alice; jwt=${REDACTED}` }),
  },
  {
    name: 'a redacted header keeps its name and hides its value',
    shape: { headers: ['x-user-email'], redact: ['X-User-Email'] },
    outcome: outcome({ headers: { 'x-user-email': 'alice@example.com' } }),
    check: (t, record) => t.deepEqual(record.request?.headers, { 'x-user-email': REDACTED }),
  },
  {
    name: 'context extensions are recorded, redactable by name',
    shape: { redact: ['tenant'] },
    outcome: outcome({ contextExtensions: { namespace: 'default', tenant: 'acme' } }),
    check: (t, record) => t.deepEqual(record.request?.context_extensions, { namespace: 'default', tenant: REDACTED }),
  },
  {
    name: 'the request principal, and no claims unless allow-listed',
    outcome: outcome({ auth: { claims: aliceClaims } }),
    check: (t, record, line) => {
      t.deepEqual(record.request_principal, 'https://idp.example.com/alice');
      t.deepEqual('claims' in record, false);
      t.deepEqual(line.includes('alice@example.com'), false);
    },
  },
  {
    name: 'allow-listed claims are recorded, redacted ones hidden',
    shape: { claims: ['groups', 'email', 'missing'], redact: ['email'] },
    outcome: outcome({ auth: { claims: aliceClaims } }),
    check: (t, record) => t.deepEqual(record.claims, { groups: ['admins'], email: REDACTED }),
  },
  {
    name: 'the actor chain of a delegated token, current actor first',
    outcome: outcome({
      principal: SHARE,
      auth: { claims: aliceClaims, delegation: { actor: SHARE, actors: [SHARE, 'spiffe://cluster.local/ns/default/sa/web'], depth: 2 } },
    }),
    check: (t, record) => t.deepEqual(record.actors, [SHARE, 'spiffe://cluster.local/ns/default/sa/web']),
  },
  {
    name: 'record fields are redactable by name; the decision itself is not',
    shape: { redact: ['request_principal', 'source_principal', 'peer', 'code', 'decision_id'] },
    outcome: outcome({ principal: REMINDER, auth: { claims: aliceClaims } }),
    check: (t, record) => {
      t.deepEqual(record.request_principal, REDACTED);
      t.deepEqual(record.peer, REDACTED);
      t.deepEqual(record.request?.source_principal, REDACTED);
      t.deepEqual(record.code, 'ALLOWED');
      t.deepEqual(record.decision_id, 'd-1');
    },
  },
  {
    name: 'a request that could not be decoded has no request section',
    outcome: {
      decisionId: 'd-2',
      decision: { allowed: false, code: DecisionCode.BadRequest, reason: 'no attributes', audited: [], trace: [] },
      httpStatus: 400,
    },
    check: (t, record) => {
      t.deepEqual(record.request, undefined);
      t.deepEqual(record.http_status, 400);
      t.deepEqual(record.allowed, false);
    },
  },
  {
    name: 'the shadow outcome when shadow policies apply',
    outcome: outcome({}, allowed, {
      shadow: {
        decision: { ...allowed, allowed: false, code: DecisionCode.PolicyDenied, policy: 'default/new-deny', rule: 2 },
        policies: ['default/new-deny'],
        diverged: true,
        divergedBy: ['default/new-deny'],
      },
    }),
    check: (t, record) =>
      t.deepEqual(record.shadow, {
        allowed: false,
        code: 'POLICY_DENIED',
        policy: 'default/new-deny',
        rule: 2,
        diverged: true,
        policies: ['default/new-deny'],
      }),
  },
];

for (const row of rows) {
  test(`record: ${row.name}`, (t) => {
    const builder = new DecisionRecordBuilder({ ...plainShape, ...row.shape });
    const record = builder.build(row.outcome, 1.23456);
    row.check(t, record, JSON.stringify(record));
  });
}

const scrubRows: [name: string, text: string, expected: string][] = [
  ['a JWS', `a ${JWT} b`, `a ${REDACTED} b`],
  ['a five-part JWE', 'eyJhbGciOiJkaXIifQ.a.b.c.d', REDACTED],
  ['a bearer credential', 'Bearer opaque123', REDACTED],
  ['basic credentials', 'Basic dXNlcjpwYXNz', REDACTED],
  ['an API key in a path', '/hooks/ghk_0123456789abcdef_c2VjcmV0LXNlY3JldC1zZWNyZXQ', `/hooks/${REDACTED}`],
  ['an ApiKey credential', 'ApiKey opaque-key', REDACTED],
  ['ordinary text', '/todos/1?due=24h', '/todos/1?due=24h'],
];
for (const [name, text, expected] of scrubRows) {
  test(`scrubTokens: ${name}`, (t) => {
    t.is(scrubTokens(text), expected);
  });
}
