/**
 * Decision log → case file: which lines become cases, which are skipped and
 * why, and that the file written is a valid case file.
 */
import test from 'ava';
import { casesFromDecisionLog, parseCaseFile, renderCaseFile } from '../../../gateway/policy-test/index.js';

const SHARE = 'spiffe://cluster.local/ns/default/sa/share';
const TODOS = 'spiffe://cluster.local/ns/default/sa/todos';
const request = { method: 'GET', host: 'todos.default.svc', path: '/todos', source_principal: SHARE, destination_principal: TODOS };

const decision = (id: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    level: 'info',
    msg: 'decision',
    decision_id: id,
    allowed: true,
    code: 'ALLOWED',
    policy: 'default/p',
    rule: 0,
    request,
    ...extra,
  });

const log = [
  JSON.stringify({ level: 'info', msg: 'serving', port: 9191 }),
  'not json at all',
  decision('plain'),
  decision('user', {
    request_principal: 'https://idp.example.com/alice',
    actors: [SHARE],
    claims: { groups: ['admins'] },
    allowed: false,
    code: 'NO_ALLOW_MATCH',
    policy: undefined,
    rule: undefined,
  }),
  decision('undecodable', { request: undefined, allowed: false, code: 'BAD_REQUEST' }),
  decision('expired', { allowed: false, code: 'TOKEN_EXPIRED' }),
  decision('delegation', { allowed: false, code: 'DELEGATION_NOT_PERMITTED' }),
  decision('redacted', { request: { ...request, path: '[redacted]' } }),
  decision('plain'),
  '',
].join('\n');

test('one case per replayable decision, named by its id, expecting the logged outcome', (t) => {
  const converted = casesFromDecisionLog(log);
  t.deepEqual(converted.cases, [
    { name: 'plain', request, expect: { allowed: true, code: 'ALLOWED', policy: 'default/p', rule: 0 } },
    {
      name: 'user',
      request,
      auth: { principal: 'https://idp.example.com/alice', claims: { groups: ['admins'] }, actors: [SHARE] },
      expect: { allowed: false, code: 'NO_ALLOW_MATCH' },
    },
  ]);
});

test('decisions a case cannot reproduce are skipped with line and reason; other lines are passed over', (t) => {
  const { skipped } = casesFromDecisionLog(log);
  t.deepEqual(
    skipped.map(({ line, decisionId }) => [line, decisionId]),
    [
      [5, 'undecodable'],
      [6, 'expired'],
      [7, 'delegation'],
      [8, 'redacted'],
      [9, 'plain'],
    ],
  );
  t.regex(skipped[0]?.reason ?? '', /could not be read/);
  t.regex(skipped[1]?.reason ?? '', /request authentication \(TOKEN_EXPIRED\)/);
  t.regex(skipped[3]?.reason ?? '', /redacted/);
  t.regex(skipped[4]?.reason ?? '', /logged before/);
});

test('the file written parses as a case file, with a comment per case', (t) => {
  const text = renderCaseFile(casesFromDecisionLog(log), 'decisions.jsonl');
  t.regex(text, /^# Recorded from decisions\.jsonl/);
  t.regex(text, /# GET todos\.default\.svc\/todos from spiffe:\/\/cluster\.local\/ns\/default\/sa\/share: ALLOW ALLOWED/);
  t.regex(text, /for https:\/\/idp\.example\.com\/alice: DENY NO_ALLOW_MATCH/);
  const parsed = parseCaseFile(text, 'recorded.yaml');
  t.deepEqual(
    parsed.cases.map((c) => c.name),
    ['plain', 'user'],
  );
  t.deepEqual(parsed.cases[1]?.auth?.claims.act, { sub: SHARE });
});
