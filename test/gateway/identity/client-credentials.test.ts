/**
 * Client-credentials tokens mapped to service principals, and what policies
 * see of them and of API keys: the mapping table, then the policy table
 * (compiled policies, evaluated) for the rule that a mapping stands in for
 * the peer only when there is none.
 */
import test from 'ava';
import { stringify } from 'yaml';
import { parseSpiffeId } from '../../../gateway/identity/spiffe-id.js';
import { ClientCredentialMap, type ClientCredentialMapping } from '../../../gateway/identity/client-credentials.js';
import { compilePolicySet, evaluate, parsePolicyDocuments } from '../../../gateway/policy/index.js';
import type { CheckInput, RequestAuth, SpiffeId } from '../../../gateway/request/model.js';
import { checkInput } from '../../helpers/check-input.js';

const IDP = 'https://login.example.com';
const REMINDER = 'cluster.local/ns/default/sa/reminder';
const TODOS = 'cluster.local/ns/default/sa/todos';

function spiffe(principal: string): SpiffeId {
  const parsed = parseSpiffeId(`spiffe://${principal}`);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.id;
}

function tokenAuth(claims: Record<string, unknown>, extra: Partial<RequestAuth> = {}): RequestAuth {
  return { principal: `${String(claims.iss)}/${String(claims.sub)}`, audiences: [], claims, ...extra };
}

const map = new ClientCredentialMap([
  { issuer: IDP, clientId: 'reminder-client', claim: 'sub', principal: spiffe(REMINDER) },
  {
    issuer: IDP,
    clientId: 'share-client',
    claim: 'client_id',
    subject: 'service-account-share',
    principal: spiffe('cluster.local/ns/default/sa/share'),
  },
  { issuer: 'https://kc.example/realms/todo', clientId: 'todos-client', claim: 'azp', subject: '3c1f0d4e', principal: spiffe(TODOS) },
] satisfies ClientCredentialMapping[]);

const mappings: [string, Record<string, unknown>, string | undefined][] = [
  ['sub names the client', { iss: IDP, sub: 'reminder-client' }, REMINDER],
  [
    'client_id and the client’s own sub',
    { iss: IDP, sub: 'service-account-share', client_id: 'share-client' },
    'cluster.local/ns/default/sa/share',
  ],
  ['a user token through the same client (same client_id, a user’s sub)', { iss: IDP, sub: 'alice', client_id: 'share-client' }, undefined],
  ['azp and the client’s own sub', { iss: 'https://kc.example/realms/todo', sub: '3c1f0d4e', azp: 'todos-client' }, TODOS],
  ['a user token with the same azp', { iss: 'https://kc.example/realms/todo', sub: 'bob', azp: 'todos-client' }, undefined],
  ['another issuer with the same sub', { iss: 'https://evil.example', sub: 'reminder-client' }, undefined],
  ['a claim of another type', { iss: IDP, sub: 'service-account-share', client_id: ['share-client'] }, undefined],
];
for (const [name, claims, expected] of mappings) {
  test(`mapping: ${name}`, (t) => {
    const auth = map.apply(tokenAuth(claims));
    t.is(auth.mappedPrincipal?.uri, expected === undefined ? undefined : `spiffe://${expected}`);
    t.is(auth.credential, expected === undefined ? undefined : 'client-credentials');
  });
}

test('mapping: a token with an actor chain is someone acting for the client, never mapped', (t) => {
  const auth = map.apply(tokenAuth({ iss: IDP, sub: 'reminder-client' }, { delegation: { actor: TODOS, actors: [TODOS], depth: 1 } }));
  t.is(auth.mappedPrincipal, undefined);
});

test('mapping: an API key is never mapped', (t) => {
  const auth = map.apply(tokenAuth({ iss: IDP, sub: 'reminder-client' }, { credential: 'api-key' }));
  t.is(auth.mappedPrincipal, undefined);
});

// The policy table.

const policies = stringify({
  apiVersion: 'security.istio.io/v1',
  kind: 'AuthorizationPolicy',
  metadata: { name: 'p', namespace: 'default' },
  spec: { action: 'ALLOW', rules: [] },
});

function decide(rule: Record<string, unknown>, input: CheckInput): boolean {
  const text = policies.replace('rules: []', stringify({ rules: [rule] }).trimEnd());
  return evaluate(compilePolicySet(parsePolicyDocuments([{ file: 'p.yaml', text }])), input).allowed;
}

const mappedToken = map.apply(tokenAuth({ iss: IDP, sub: 'reminder-client' }));
const unmappedToken = tokenAuth({ iss: IDP, sub: 'alice' });
const apiKey: RequestAuth = {
  principal: `gatehouse.dev/api-key/${REMINDER}`,
  audiences: [],
  claims: { iss: 'gatehouse.dev/api-key', sub: REMINDER, scope: ['todos:read'] },
  credential: 'api-key',
};
const request = (peer: string | undefined, auth: RequestAuth | undefined): CheckInput => ({
  ...checkInput(peer === undefined ? {} : { principal: peer }),
  ...(auth === undefined ? {} : { auth }),
});
const principals = { from: [{ source: { principals: [REMINDER] } }] };
const credential = (value: string) => ({ when: [{ key: 'request.auth.credential', values: [value] }] });

const rows: [string, Record<string, unknown>, CheckInput, boolean][] = [
  ['principals: the mapped token, no peer', principals, request(undefined, mappedToken), true],
  ['principals: the mapped token from another mTLS peer (the peer wins)', principals, request(TODOS, mappedToken), false],
  ['principals: the mapped token from the same peer', principals, request(REMINDER, mappedToken), true],
  ['principals: an unmapped token, no peer', principals, request(undefined, unmappedToken), false],
  ['principals: an API key naming the same principal, no peer', principals, request(undefined, apiKey), false],
  [
    'notPrincipals: the mapped token from another peer is that peer',
    { from: [{ source: { notPrincipals: [REMINDER] } }] },
    request(TODOS, mappedToken),
    true,
  ],
  ['namespaces: the mapped token, no peer', { from: [{ source: { namespaces: ['default'] } }] }, request(undefined, mappedToken), true],
  [
    'serviceAccounts: the mapped token, no peer',
    { from: [{ source: { serviceAccounts: ['default/reminder'] } }] },
    request(undefined, mappedToken),
    true,
  ],
  [
    'source.principal: the mapped token, no peer',
    { when: [{ key: 'source.principal', values: [REMINDER] }] },
    request(undefined, mappedToken),
    true,
  ],
  [
    'source.principal: the mapped token from another peer',
    { when: [{ key: 'source.principal', values: [REMINDER] }] },
    request(TODOS, mappedToken),
    false,
  ],
  [
    'requestPrincipals still see iss/sub of the mapped token',
    { from: [{ source: { requestPrincipals: [`${IDP}/reminder-client`] } }] },
    request(undefined, mappedToken),
    true,
  ],
  ['credential client-credentials: the mapped token', credential('client-credentials'), request(REMINDER, mappedToken), true],
  ['credential client-credentials: an unmapped token', credential('client-credentials'), request(undefined, unmappedToken), false],
  ['credential jwt: an unmapped token', credential('jwt'), request(undefined, unmappedToken), true],
  ['credential api-key: an API key', credential('api-key'), request(undefined, apiKey), true],
  ['credential api-key: an mTLS peer without credential', credential('api-key'), request(REMINDER, undefined), false],
  [
    'credential notValues: an mTLS peer without credential',
    { when: [{ key: 'request.auth.credential', notValues: ['*'] }] },
    request(REMINDER, undefined),
    true,
  ],
  [
    'requestPrincipals: an API key',
    { from: [{ source: { requestPrincipals: [`gatehouse.dev/api-key/${REMINDER}`] } }] },
    request(undefined, apiKey),
    true,
  ],
  [
    'claims[scope]: an API key’s scopes',
    { when: [{ key: 'request.auth.claims[scope]', values: ['todos:read'] }] },
    request(undefined, apiKey),
    true,
  ],
  [
    'CEL: source and auth.credential of a mapped token',
    {
      when: [
        {
          key: 'gatehouse.cel',
          values: [`source.principal == '${REMINDER}' && source.serviceAccount == 'reminder' && auth.credential == 'client-credentials'`],
        },
      ],
    },
    request(undefined, mappedToken),
    true,
  ],
  [
    'CEL: the peer, not the mapping, from another peer',
    { when: [{ key: 'gatehouse.cel', values: [`source.principal == '${TODOS}'`] }] },
    request(TODOS, mappedToken),
    true,
  ],
  [
    'CEL: auth.credential of an API key',
    { when: [{ key: 'gatehouse.cel', values: ["auth.credential == 'api-key'"] }] },
    request(undefined, apiKey),
    true,
  ],
  [
    'CEL: auth.credential of a plain token is jwt',
    { when: [{ key: 'gatehouse.cel', values: ["auth.credential == 'jwt'"] }] },
    request(undefined, unmappedToken),
    true,
  ],
];
for (const [name, rule, input, allowed] of rows) {
  test(`policy: ${name} → ${allowed ? 'match' : 'no match'}`, (t) => {
    t.is(decide(rule, input), allowed);
  });
}
