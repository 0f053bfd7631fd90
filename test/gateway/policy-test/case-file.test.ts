/**
 * The case-file parser: what a valid file becomes, and one row per invalid
 * file, each error naming the file, the case and the field.
 */
import test from 'ava';
import { ValidationError } from '../../../gateway/errors.js';
import { parseCaseFile } from '../../../gateway/policy-test/index.js';

const REMINDER = 'spiffe://cluster.local/ns/default/sa/reminder';
const SHARE = 'spiffe://cluster.local/ns/default/sa/share';

test('a short-form request, an auth and a full expectation', (t) => {
  const { cases } = parseCaseFile(
    `cases:
  - name: alice via share
    request: { source_principal: ${SHARE}, method: DELETE, path: /todos/1 }
    auth:
      principal: https://idp.example.com/alice
      claims: { groups: [admins], aud: [todos, share], azp: web }
      actors: [${SHARE}, spiffe://cluster.local/ns/default/sa/web]
    expect:
      allowed: false
      code: NO_ALLOW_MATCH
      httpStatus: 403
      policy: default/p
      rule: 2
      audited: [default/audit]
      shadow: { allowed: true, diverged: true }
`,
    'cases.yaml',
  );
  t.is(cases.length, 1);
  const [only] = cases;
  t.is(only?.index, 0);
  t.is(only?.name, 'alice via share');
  t.like(only?.request, { attributes: { source: { principal: SHARE }, request: { http: { method: 'DELETE', path: '/todos/1' } } } });
  t.deepEqual(only?.auth, {
    principal: 'https://idp.example.com/alice',
    claims: {
      groups: ['admins'],
      aud: ['todos', 'share'],
      azp: 'web',
      iss: 'https://idp.example.com',
      sub: 'alice',
      act: { sub: SHARE, act: { sub: 'spiffe://cluster.local/ns/default/sa/web' } },
    },
    audiences: ['todos', 'share'],
    presenter: 'web',
  });
  t.deepEqual(only?.expect, {
    allowed: false,
    code: 'NO_ALLOW_MATCH',
    httpStatus: 403,
    policy: 'default/p',
    rule: 2,
    audited: ['default/audit'],
    shadow: { allowed: true, diverged: true },
  });
});

test('the principal may come from claims.iss and claims.sub; a full CheckRequest passes through', (t) => {
  const { cases } = parseCaseFile(
    JSON.stringify({
      cases: [
        {
          name: 'full',
          request: { attributes: { source: { principal: REMINDER } } },
          auth: { claims: { iss: 'https://idp', sub: 'bob' } },
          expect: { allowed: true },
        },
      ],
    }),
    'cases.json',
  );
  t.is(cases[0]?.auth?.principal, 'https://idp/bob');
  t.deepEqual(cases[0]?.auth?.audiences, []);
  t.deepEqual(cases[0]?.request, { attributes: { source: { principal: REMINDER } } });
});

const ok = '{ method: GET }';
const rows: [name: string, text: string, field: string, problem: RegExp][] = [
  ['an empty file', '', '(top level)', /must be a mapping/],
  ['YAML that does not parse', 'cases: [', '', /invalid YAML/],
  ['an unknown top-level field', 'case: []', 'case', /unknown field/],
  ['no cases', 'cases: []', 'cases', /at least one case/],
  ['cases that are not a list', 'cases: { a: 1 }', 'cases', /must be a list/],
  ['a case that is not a mapping', 'cases: [hello]', 'cases[0]', /must be a mapping/],
  ['a case without a name', `cases: [{ request: ${ok}, expect: { allowed: true } }]`, 'cases[0].name', /non-empty string/],
  [
    'a duplicate name',
    `cases: [{ name: a, request: ${ok}, expect: { allowed: true } }, { name: a, request: ${ok}, expect: { allowed: true } }]`,
    'cases[1].name',
    /also the name of cases\[0\]/,
  ],
  ['a case without a request', 'cases: [{ name: a, expect: { allowed: true } }]', 'cases[0].request', /is required/],
  [
    'an unknown short-form field',
    'cases: [{ name: a, request: { sourc_principal: x }, expect: { allowed: true } }]',
    'cases[0].request',
    /unknown field 'sourc_principal'/,
  ],
  [
    'a bad destination port',
    'cases: [{ name: a, request: { destination_port: 0 }, expect: { allowed: true } }]',
    'cases[0].request',
    /destination_port/,
  ],
  ['a case without expect', `cases: [{ name: a, request: ${ok} }]`, 'cases[0].expect', /is required/],
  ['an unknown case field', `cases: [{ name: a, request: ${ok}, expect: { allowed: true }, auht: {} }]`, 'cases[0].auht', /unknown field/],
  ['expect without allowed', `cases: [{ name: a, request: ${ok}, expect: { code: ALLOWED } }]`, 'cases[0].expect.allowed', /is required/],
  [
    'allowed that is a string',
    `cases: [{ name: a, request: ${ok}, expect: { allowed: "yes" } }]`,
    'cases[0].expect.allowed',
    /true or false/,
  ],
  ['a misspelt expect field', `cases: [{ name: a, request: ${ok}, expect: { allowd: true } }]`, 'cases[0].expect.allowd', /unknown field/],
  [
    'an unknown code',
    `cases: [{ name: a, request: ${ok}, expect: { allowed: false, code: DENIED } }]`,
    'cases[0].expect.code',
    /not a decision code/,
  ],
  [
    'an HTTP status out of range',
    `cases: [{ name: a, request: ${ok}, expect: { allowed: false, httpStatus: 99 } }]`,
    'cases[0].expect.httpStatus',
    /200 to 599/,
  ],
  [
    'a policy without namespace',
    `cases: [{ name: a, request: ${ok}, expect: { allowed: true, policy: viewer } }]`,
    'cases[0].expect.policy',
    /namespace\/name/,
  ],
  ['a negative rule', `cases: [{ name: a, request: ${ok}, expect: { allowed: true, rule: -1 } }]`, 'cases[0].expect.rule', /whole number/],
  [
    'an audited entry that is not a name',
    `cases: [{ name: a, request: ${ok}, expect: { allowed: true, audited: [1] } }]`,
    'cases[0].expect.audited[0]',
    /non-empty string/,
  ],
  [
    'an unknown shadow field',
    `cases: [{ name: a, request: ${ok}, expect: { allowed: true, shadow: { divergd: true } } }]`,
    'cases[0].expect.shadow.divergd',
    /unknown field/,
  ],
  [
    'auth without a principal',
    `cases: [{ name: a, request: ${ok}, auth: { claims: { sub: x } }, expect: { allowed: true } }]`,
    'cases[0].auth.principal',
    /required unless claims.iss and claims.sub/,
  ],
  [
    'auth claims that are a list',
    `cases: [{ name: a, request: ${ok}, auth: { principal: p/x, claims: [] }, expect: { allowed: true } }]`,
    'cases[0].auth.claims',
    /must be a mapping/,
  ],
  [
    'an unknown auth field',
    `cases: [{ name: a, request: ${ok}, auth: { principal: p/x, token: abc }, expect: { allowed: true } }]`,
    'cases[0].auth.token',
    /unknown field/,
  ],
  [
    'actors and claims.act together',
    `cases: [{ name: a, request: ${ok}, auth: { principal: p/x, actors: [s], claims: { act: { sub: s } } }, expect: { allowed: true } }]`,
    'cases[0].auth.actors',
    /not both/,
  ],
  [
    'an empty actor chain',
    `cases: [{ name: a, request: ${ok}, auth: { principal: p/x, actors: [] }, expect: { allowed: true } }]`,
    'cases[0].auth.actors',
    /at least the current actor/,
  ],
  [
    'an actor that is not a string',
    `cases: [{ name: a, request: ${ok}, auth: { principal: p/x, actors: [1] }, expect: { allowed: true } }]`,
    'cases[0].auth.actors[0]',
    /non-empty string/,
  ],
  [
    'audiences that are not a list',
    `cases: [{ name: a, request: ${ok}, auth: { principal: p/x, audiences: todos }, expect: { allowed: true } }]`,
    'cases[0].auth.audiences',
    /must be a list/,
  ],
];

for (const [name, text, field, problem] of rows) {
  test(`refuses ${name}, naming the field`, (t) => {
    const error = t.throws(() => parseCaseFile(text, 'tests/cases.yaml'), { instanceOf: ValidationError });
    t.is(error?.file, 'tests/cases.yaml');
    t.is(error?.field, field);
    t.regex(error?.problem ?? '', problem);
    if (field !== '') t.true(error?.message.startsWith(`tests/cases.yaml ${field}: `), error?.message);
  });
}
