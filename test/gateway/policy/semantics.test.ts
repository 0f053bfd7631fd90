/**
 * Istio AuthorizationPolicy semantics, one row per rule: policies + request
 * → expected decision.
 */
import test from 'ava';
import { stringify } from 'yaml';
import { DecisionCode } from '../../../gateway/errors.js';
import { compilePolicySet, evaluate, parsePolicyDocuments, type PolicyOptions } from '../../../gateway/policy/index.js';
import { normalizePath } from '../../../gateway/request/path.js';
import { checkInput, type CheckInputShortForm } from '../../helpers/check-input.js';

const reminder = 'cluster.local/ns/default/sa/reminder';
const todos = 'cluster.local/ns/default/sa/todos';
const share = 'cluster.local/ns/other/sa/share';

type Spec = Record<string, unknown>;
type Rule = Record<string, unknown>;

/** An AuthorizationPolicy document. */
function policy(name: string, spec: Spec, namespace = 'default', annotations?: Record<string, string>): Record<string, unknown> {
  return {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name, namespace, ...(annotations ? { annotations } : {}) },
    spec,
  };
}
const allow = (name: string, rules: Rule[], extra: Spec = {}, namespace?: string) =>
  policy(name, { action: 'ALLOW', rules, ...extra }, namespace);
const deny = (name: string, rules: Rule[], extra: Spec = {}, namespace?: string) =>
  policy(name, { action: 'DENY', rules, ...extra }, namespace);
const from = (source: Record<string, unknown>): Rule => ({ from: [{ source }] });
const to = (operation: Record<string, unknown>): Rule => ({ to: [{ operation }] });
const when = (key: string, values?: string[], notValues?: string[]): Rule => ({
  when: [{ key, ...(values ? { values } : {}), ...(notValues ? { notValues } : {}) }],
});

/** The usual shape: one ALLOW policy with one rule, checking whether it matches. */
const allowOnly = (rule: Rule) => [allow('p', [rule])];
const matched = { allowed: true, code: DecisionCode.Allowed, policy: 'default/p', rule: 0 };
const unmatched = { allowed: false, code: DecisionCode.NoAllowMatch };
const noAllowApplies = { allowed: true, code: DecisionCode.Allowed, policy: undefined };

interface Row {
  readonly name: string;
  readonly policies: Record<string, unknown>[];
  readonly input: CheckInputShortForm & { rawPathToNormalize?: string };
  readonly expect: { allowed: boolean; code: DecisionCode; policy?: string | undefined; rule?: number; audited?: string[] };
  readonly options?: PolicyOptions;
}

const claims = {
  iss: 'https://issuer.example',
  sub: 'alice',
  aud: ['todos', 'share'],
  azp: 'web-app',
  groups: ['admins', 'dev'],
  org: { team: 'blue' },
  level: 3,
  active: true,
};
const alice = { claims };
const shareActor = 'spiffe://cluster.local/ns/default/sa/share';
const webActor = 'spiffe://cluster.local/ns/default/sa/web';
/** Alice's token presented by share, which got it from web (RFC 8693 `act`). */
const aliceViaShare = { claims, delegation: { actor: shareActor, actors: [shareActor, webActor], depth: 2 } };

const rows: Row[] = [
  // Evaluation order
  { name: 'no policies at all: allowed', policies: [], input: {}, expect: noAllowApplies },
  {
    name: 'a matching DENY wins over a matching ALLOW',
    policies: [allow('a', [{}]), deny('d', [{}])],
    input: {},
    expect: { allowed: false, code: DecisionCode.PolicyDenied, policy: 'default/d', rule: 0 },
  },
  {
    name: 'a DENY that does not match leaves the ALLOW to decide',
    policies: [allow('a', [{}]), deny('d', [to({ methods: ['DELETE'] })])],
    input: {},
    expect: { allowed: true, code: DecisionCode.Allowed, policy: 'default/a', rule: 0 },
  },
  {
    name: 'only DENY policies, none matching: allowed because no ALLOW policy applies',
    policies: [deny('d', [to({ methods: ['DELETE'] })])],
    input: {},
    expect: noAllowApplies,
  },
  {
    name: 'ALLOW policies apply and none matches: NO_ALLOW_MATCH',
    policies: [allow('a', [to({ methods: ['POST'] })])],
    input: {},
    expect: unmatched,
  },
  { name: 'spec {} allows nothing', policies: [policy('p', {})], input: { principal: reminder }, expect: unmatched },
  {
    name: 'spec {} still lets another ALLOW policy allow',
    policies: [policy('empty', {}), allow('p', [{}])],
    input: {},
    expect: { allowed: true, code: DecisionCode.Allowed, policy: 'default/p' },
  },
  { name: 'rules [{}] allows everything', policies: [allow('p', [{}])], input: { method: 'DELETE', path: '/anything' }, expect: matched },
  { name: 'a DENY policy without rules denies nothing', policies: [deny('d', [])], input: {}, expect: noAllowApplies },
  {
    name: 'a DENY policy with rules [{}] denies everything',
    policies: [deny('d', [{}])],
    input: {},
    expect: { allowed: false, code: DecisionCode.PolicyDenied, policy: 'default/d' },
  },
  {
    name: 'a matching AUDIT policy only marks the request',
    policies: [policy('audit', { action: 'AUDIT', rules: [{}] })],
    input: {},
    expect: { ...noAllowApplies, audited: ['default/audit'] },
  },
  {
    name: 'an AUDIT policy that does not match marks nothing',
    policies: [policy('audit', { action: 'AUDIT', rules: [to({ methods: ['POST'] })] })],
    input: {},
    expect: { ...noAllowApplies, audited: [] },
  },
  {
    name: 'AUDIT does not turn a denial into an allow',
    policies: [policy('audit', { action: 'AUDIT', rules: [{}] }), allow('p', [to({ methods: ['POST'] })])],
    input: {},
    expect: { ...unmatched, audited: ['default/audit'] },
  },
  {
    name: 'AUDIT is reported on a DENY too',
    policies: [policy('audit', { action: 'AUDIT', rules: [{}] }), deny('d', [{}])],
    input: {},
    expect: { allowed: false, code: DecisionCode.PolicyDenied, audited: ['default/audit'] },
  },
  {
    name: 'a CUSTOM policy is skipped, not evaluated',
    policies: [policy('ext', { action: 'CUSTOM', provider: { name: 'gatehouse' }, rules: [{}] })],
    input: {},
    expect: noAllowApplies,
  },
  {
    name: 'a dry-run DENY policy is not enforced',
    policies: [policy('d', { action: 'DENY', rules: [{}] }, 'default', { 'istio.io/dry-run': 'true' })],
    input: {},
    expect: noAllowApplies,
  },
  {
    name: 'the lowest matching rule index is reported',
    policies: [allow('p', [to({ methods: ['POST'] }), to({ methods: ['GET'] }), {}])],
    input: {},
    expect: { ...matched, rule: 1 },
  },
  {
    name: 'policies are evaluated in namespace/name order',
    policies: [allow('b', [{}]), allow('a', [{}])],
    input: {},
    expect: { allowed: true, code: DecisionCode.Allowed, policy: 'default/a' },
  },
  {
    name: 'an always-checked rule before a principal-indexed rule is reported first',
    policies: [allow('p', [to({ methods: ['GET'] }), from({ principals: [reminder] })])],
    input: { principal: reminder },
    expect: { ...matched, rule: 0 },
  },
  {
    name: 'a principal-indexed rule before an always-checked rule is reported first',
    policies: [allow('p', [from({ principals: [reminder] }), to({ methods: ['GET'] })])],
    input: { principal: reminder },
    expect: { ...matched, rule: 0 },
  },

  // Rule structure
  {
    name: 'any one of several from entries suffices',
    policies: allowOnly({ from: [{ source: { principals: [todos] } }, { source: { principals: [reminder] } }] }),
    input: { principal: reminder },
    expect: matched,
  },
  {
    name: 'fields within one source are ANDed',
    policies: allowOnly(from({ principals: [reminder], ipBlocks: ['192.168.0.0/16'] })),
    input: { principal: reminder, sourceIp: '10.0.0.1' },
    expect: unmatched,
  },
  {
    name: 'a rule needs both a matching from and a matching to',
    policies: allowOnly({ from: [{ source: { principals: [reminder] } }], to: [{ operation: { methods: ['POST'] } }] }),
    input: { principal: reminder },
    expect: unmatched,
  },
  {
    name: 'all when conditions must match',
    policies: allowOnly({
      when: [
        { key: 'request.headers[x-a]', values: ['1'] },
        { key: 'request.headers[x-b]', values: ['2'] },
      ],
    }),
    input: { headers: { 'x-a': '1', 'x-b': '3' } },
    expect: unmatched,
  },

  // Source: principals
  {
    name: 'principals: exact match',
    policies: allowOnly(from({ principals: [reminder] })),
    input: { principal: reminder },
    expect: matched,
  },
  {
    name: 'principals: another principal does not match',
    policies: allowOnly(from({ principals: [reminder] })),
    input: { principal: todos },
    expect: unmatched,
  },
  {
    name: 'principals: a policy value with spiffe:// matches',
    policies: allowOnly(from({ principals: [`spiffe://${reminder}`] })),
    input: { principal: reminder },
    expect: matched,
  },
  {
    name: 'principals: prefix match',
    policies: allowOnly(from({ principals: ['cluster.local/ns/default/*'] })),
    input: { principal: reminder },
    expect: matched,
  },
  {
    name: 'principals: suffix match',
    policies: allowOnly(from({ principals: ['*/sa/reminder'] })),
    input: { principal: reminder },
    expect: matched,
  },
  {
    name: 'principals: "*" matches any mTLS peer',
    policies: allowOnly(from({ principals: ['*'] })),
    input: { principal: todos },
    expect: matched,
  },
  {
    name: 'principals: "*" does not match a request without a peer',
    policies: allowOnly(from({ principals: ['*'] })),
    input: {},
    expect: unmatched,
  },
  {
    name: 'notPrincipals: another principal matches',
    policies: allowOnly(from({ notPrincipals: [todos] })),
    input: { principal: reminder },
    expect: matched,
  },
  {
    name: 'notPrincipals: the listed principal does not match',
    policies: allowOnly(from({ notPrincipals: [todos] })),
    input: { principal: todos },
    expect: unmatched,
  },
  {
    name: 'notPrincipals: "*" matches a request without a peer',
    policies: allowOnly(from({ notPrincipals: ['*'] })),
    input: {},
    expect: matched,
  },
  {
    name: 'notPrincipals: "*" does not match an mTLS peer',
    policies: allowOnly(from({ notPrincipals: ['*'] })),
    input: { principal: reminder },
    expect: unmatched,
  },

  // Source: request principals
  {
    name: 'requestPrincipals: iss/sub matches',
    policies: allowOnly(from({ requestPrincipals: ['https://issuer.example/alice'] })),
    input: { auth: alice },
    expect: matched,
  },
  {
    name: 'requestPrincipals: "*" does not match a token-less request',
    policies: allowOnly(from({ requestPrincipals: ['*'] })),
    input: {},
    expect: unmatched,
  },
  {
    name: 'notRequestPrincipals "*" in a DENY denies token-less requests',
    policies: [deny('d', [from({ notRequestPrincipals: ['*'] })])],
    input: {},
    expect: { allowed: false, code: DecisionCode.PolicyDenied, policy: 'default/d' },
  },
  {
    name: 'notRequestPrincipals "*" in a DENY lets requests with a token through',
    policies: [deny('d', [from({ notRequestPrincipals: ['*'] })])],
    input: { auth: alice },
    expect: noAllowApplies,
  },

  // Source: namespaces and service accounts
  {
    name: 'namespaces: the peer namespace matches',
    policies: allowOnly(from({ namespaces: ['default'] })),
    input: { principal: reminder },
    expect: matched,
  },
  {
    name: 'namespaces: another namespace does not match',
    policies: allowOnly(from({ namespaces: ['default'] })),
    input: { principal: share },
    expect: unmatched,
  },
  { name: 'namespaces: no peer, no match', policies: allowOnly(from({ namespaces: ['*'] })), input: {}, expect: unmatched },
  {
    name: 'notNamespaces: excludes the listed namespace',
    policies: allowOnly(from({ notNamespaces: ['other'] })),
    input: { principal: share },
    expect: unmatched,
  },
  {
    name: 'serviceAccounts: namespace/name matches',
    policies: allowOnly(from({ serviceAccounts: ['default/reminder'] })),
    input: { principal: reminder },
    expect: matched,
  },
  {
    name: 'serviceAccounts: another account does not match',
    policies: allowOnly(from({ serviceAccounts: ['default/reminder'] })),
    input: { principal: todos },
    expect: unmatched,
  },
  {
    name: 'serviceAccounts: the same name in another namespace does not match',
    policies: allowOnly(from({ serviceAccounts: ['default/share'] })),
    input: { principal: share },
    expect: unmatched,
  },
  {
    name: 'notServiceAccounts: excludes the listed account',
    policies: allowOnly(from({ notServiceAccounts: ['default/todos'] })),
    input: { principal: todos },
    expect: unmatched,
  },
  {
    name: 'notServiceAccounts: a request without a peer passes',
    policies: allowOnly(from({ notServiceAccounts: ['default/todos'] })),
    input: {},
    expect: matched,
  },

  // Source: IP blocks
  {
    name: 'ipBlocks: IPv4 CIDR match',
    policies: allowOnly(from({ ipBlocks: ['10.0.0.0/8'] })),
    input: { sourceIp: '10.20.30.40' },
    expect: matched,
  },
  {
    name: 'ipBlocks: IPv4 outside the block',
    policies: allowOnly(from({ ipBlocks: ['10.0.0.0/8'] })),
    input: { sourceIp: '11.0.0.1' },
    expect: unmatched,
  },
  {
    name: 'ipBlocks: a single IP',
    policies: allowOnly(from({ ipBlocks: ['203.0.113.4'] })),
    input: { sourceIp: '203.0.113.4' },
    expect: matched,
  },
  {
    name: 'ipBlocks: IPv6 CIDR match',
    policies: allowOnly(from({ ipBlocks: ['2001:db8::/32'] })),
    input: { sourceIp: '2001:db8:1::5' },
    expect: matched,
  },
  {
    name: 'ipBlocks: an IPv6 address does not match an IPv4 block',
    policies: allowOnly(from({ ipBlocks: ['10.0.0.0/8'] })),
    input: { sourceIp: '2001:db8::1' },
    expect: unmatched,
  },
  {
    name: 'notIpBlocks: excludes the block',
    policies: allowOnly(from({ notIpBlocks: ['10.0.0.0/8'] })),
    input: { sourceIp: '10.1.1.1' },
    expect: unmatched,
  },
  {
    name: 'remoteIpBlocks: compares the original client IP, not the source IP',
    policies: allowOnly(from({ remoteIpBlocks: ['198.51.100.0/24'] })),
    input: { sourceIp: '10.0.0.1', remoteIp: '198.51.100.7' },
    expect: matched,
  },
  {
    name: 'notRemoteIpBlocks: excludes the client block',
    policies: allowOnly(from({ notRemoteIpBlocks: ['198.51.100.0/24'] })),
    input: { remoteIp: '198.51.100.7' },
    expect: unmatched,
  },

  // Operation
  {
    name: 'hosts: matched case-insensitively',
    policies: allowOnly(to({ hosts: ['Todos.Default.SVC'] })),
    input: { host: 'todos.default.svc' },
    expect: matched,
  },
  {
    name: 'hosts: a host without port matches the host with a port',
    policies: allowOnly(to({ hosts: ['todos.default.svc'] })),
    input: { host: 'todos.default.svc:8080' },
    expect: matched,
  },
  {
    name: 'hosts: a host with port does not match another port',
    policies: allowOnly(to({ hosts: ['todos.default.svc:9090'] })),
    input: { host: 'todos.default.svc:8080' },
    expect: unmatched,
  },
  {
    name: 'hosts: suffix match',
    policies: allowOnly(to({ hosts: ['*.default.svc'] })),
    input: { host: 'todos.default.svc' },
    expect: matched,
  },
  {
    name: 'notHosts: excludes the host',
    policies: allowOnly(to({ notHosts: ['todos.default.svc'] })),
    input: { host: 'TODOS.default.svc' },
    expect: unmatched,
  },
  {
    name: 'ports: the destination port matches',
    policies: allowOnly(to({ ports: ['8080'] })),
    input: { destinationPort: 8080 },
    expect: matched,
  },
  {
    name: 'ports: another port does not match',
    policies: allowOnly(to({ ports: ['9090'] })),
    input: { destinationPort: 8080 },
    expect: unmatched,
  },
  {
    name: 'notPorts: excludes the port',
    policies: allowOnly(to({ notPorts: ['8080'] })),
    input: { destinationPort: 8080 },
    expect: unmatched,
  },
  { name: 'methods: exact match', policies: allowOnly(to({ methods: ['GET', 'HEAD'] })), input: { method: 'HEAD' }, expect: matched },
  { name: 'methods: case-sensitive', policies: allowOnly(to({ methods: ['get'] })), input: { method: 'GET' }, expect: unmatched },
  { name: 'methods: prefix wildcard', policies: allowOnly(to({ methods: ['P*'] })), input: { method: 'PATCH' }, expect: matched },
  {
    name: 'notMethods: excludes the method',
    policies: allowOnly(to({ notMethods: ['DELETE'] })),
    input: { method: 'DELETE' },
    expect: unmatched,
  },
  { name: 'paths: exact match', policies: allowOnly(to({ paths: ['/todos'] })), input: { path: '/todos' }, expect: matched },
  {
    name: 'paths: exact does not match a longer path',
    policies: allowOnly(to({ paths: ['/todos'] })),
    input: { path: '/todos/1' },
    expect: unmatched,
  },
  { name: 'paths: prefix match', policies: allowOnly(to({ paths: ['/todos/*'] })), input: { path: '/todos/1/items' }, expect: matched },
  { name: 'paths: suffix match', policies: allowOnly(to({ paths: ['*.json'] })), input: { path: '/export/all.json' }, expect: matched },
  { name: 'paths: "*" matches any path', policies: allowOnly(to({ paths: ['*'] })), input: { path: '/' }, expect: matched },
  {
    name: 'paths: {*} matches exactly one segment',
    policies: allowOnly(to({ paths: ['/users/{*}/todos'] })),
    input: { path: '/users/alice/todos' },
    expect: matched,
  },
  {
    name: 'paths: {*} does not match two segments',
    policies: allowOnly(to({ paths: ['/users/{*}/todos'] })),
    input: { path: '/users/a/b/todos' },
    expect: unmatched,
  },
  {
    name: 'paths: {*} does not match an empty segment',
    policies: allowOnly(to({ paths: ['/users/{*}/todos'] })),
    input: { path: '/users//todos' },
    expect: unmatched,
  },
  {
    name: 'paths: {**} matches several segments',
    policies: allowOnly(to({ paths: ['/users/{*}/files/{**}'] })),
    input: { path: '/users/alice/files/a/b/c.txt' },
    expect: matched,
  },
  {
    name: 'paths: {**} does not match the parent without its slash',
    policies: allowOnly(to({ paths: ['/files/{**}'] })),
    input: { path: '/files' },
    expect: unmatched,
  },
  {
    name: 'notPaths: excludes the prefix',
    policies: allowOnly(to({ notPaths: ['/admin*'] })),
    input: { path: '/admin/users' },
    expect: unmatched,
  },
  {
    name: 'normalization: /public/../admin is denied by a DENY on /admin*',
    policies: [deny('d', [to({ paths: ['/admin*'] })])],
    input: { rawPathToNormalize: '/public/../admin' },
    expect: { allowed: false, code: DecisionCode.PolicyDenied },
  },
  {
    name: 'normalization: %2e%2e segments are dot segments',
    policies: [deny('d', [to({ paths: ['/admin*'] })])],
    input: { rawPathToNormalize: '/public/%2e%2E/admin' },
    expect: { allowed: false, code: DecisionCode.PolicyDenied },
  },
  {
    name: 'normalization: percent-encoded letters are decoded (%61dmin)',
    policies: [deny('d', [to({ paths: ['/admin'] })])],
    input: { rawPathToNormalize: '/%61dmin' },
    expect: { allowed: false, code: DecisionCode.PolicyDenied },
  },
  {
    name: 'normalization: backslashes become slashes',
    policies: [deny('d', [to({ paths: ['/admin/*'] })])],
    input: { rawPathToNormalize: '\\admin\\users' },
    expect: { allowed: false, code: DecisionCode.PolicyDenied },
  },
  {
    name: 'normalization: %2F is not a separator, so /admin%2Fx is not under /admin/',
    policies: [deny('d', [to({ paths: ['/admin/*'] })])],
    input: { rawPathToNormalize: '/admin%2fx' },
    expect: noAllowApplies,
  },
  {
    name: 'normalization: double slashes are kept, so //admin is not /admin',
    policies: [deny('d', [to({ paths: ['/admin'] })])],
    input: { rawPathToNormalize: '//admin' },
    expect: noAllowApplies,
  },

  // when
  {
    name: 'when request.headers: the header name is case-insensitive',
    policies: allowOnly(when('request.headers[X-Env]', ['prod'])),
    input: { headers: { 'x-env': 'prod' } },
    expect: matched,
  },
  {
    name: 'when request.headers: the value is case-sensitive',
    policies: allowOnly(when('request.headers[x-env]', ['prod'])),
    input: { headers: { 'x-env': 'PROD' } },
    expect: unmatched,
  },
  {
    name: 'when request.headers: prefix value',
    policies: allowOnly(when('request.headers[User-Agent]', ['Mozilla/*'])),
    input: { headers: { 'user-agent': 'Mozilla/5.0' } },
    expect: matched,
  },
  {
    name: 'when request.headers: an absent header fails values',
    policies: allowOnly(when('request.headers[x-env]', ['*'])),
    input: {},
    expect: unmatched,
  },
  {
    name: 'when request.headers: an absent header satisfies notValues',
    policies: allowOnly(when('request.headers[x-env]', undefined, ['prod'])),
    input: {},
    expect: matched,
  },
  {
    name: 'when values and notValues must both hold',
    policies: allowOnly(when('request.headers[x-env]', ['p*'], ['prod'])),
    input: { headers: { 'x-env': 'prod' } },
    expect: unmatched,
  },
  {
    name: 'when source.ip: CIDR',
    policies: allowOnly(when('source.ip', ['10.0.0.0/24'])),
    input: { sourceIp: '10.0.0.9' },
    expect: matched,
  },
  {
    name: 'when remote.ip: CIDR against the client IP',
    policies: allowOnly(when('remote.ip', ['198.51.100.0/24'])),
    input: { sourceIp: '10.0.0.1', remoteIp: '198.51.100.1' },
    expect: matched,
  },
  {
    name: 'when destination.ip: IPv6 CIDR',
    policies: allowOnly(when('destination.ip', ['fd00::/8'])),
    input: { destinationIp: 'fd00::2' },
    expect: matched,
  },
  { name: 'when source.namespace', policies: allowOnly(when('source.namespace', ['other'])), input: { principal: share }, expect: matched },
  {
    name: 'when source.principal: with spiffe:// in the policy',
    policies: allowOnly(when('source.principal', [`spiffe://${reminder}`])),
    input: { principal: reminder },
    expect: matched,
  },
  {
    name: 'when destination.port',
    policies: allowOnly(when('destination.port', ['8443'])),
    input: { destinationPort: 8443 },
    expect: matched,
  },
  {
    name: 'when connection.sni',
    policies: allowOnly(when('connection.sni', ['*.example.com'])),
    input: { sni: 'api.example.com' },
    expect: matched,
  },
  {
    name: 'when connection.sni: absent SNI fails values',
    policies: allowOnly(when('connection.sni', ['*'])),
    input: {},
    expect: unmatched,
  },
  {
    name: 'when request.auth.principal',
    policies: allowOnly(when('request.auth.principal', ['https://issuer.example/*'])),
    input: { auth: alice },
    expect: matched,
  },
  {
    name: 'when request.auth.audiences: any audience matches',
    policies: allowOnly(when('request.auth.audiences', ['share'])),
    input: { auth: alice },
    expect: matched,
  },
  {
    name: 'when request.auth.presenter',
    policies: allowOnly(when('request.auth.presenter', ['web-app'])),
    input: { auth: alice },
    expect: matched,
  },
  {
    name: 'when request.auth.claims: a list claim matches on any element',
    policies: allowOnly(when('request.auth.claims[groups]', ['admins'])),
    input: { auth: alice },
    expect: matched,
  },
  {
    name: 'when request.auth.claims: nested claim [org][team]',
    policies: allowOnly(when('request.auth.claims[org][team]', ['blue'])),
    input: { auth: alice },
    expect: matched,
  },
  {
    name: 'when request.auth.claims: a number compares by its string form',
    policies: allowOnly(when('request.auth.claims[level]', ['3'])),
    input: { auth: alice },
    expect: matched,
  },
  {
    name: 'when request.auth.claims: a bool compares by its string form',
    policies: allowOnly(when('request.auth.claims[active]', ['true'])),
    input: { auth: alice },
    expect: matched,
  },
  {
    name: 'when request.auth.claims: an object claim matches nothing',
    policies: allowOnly(when('request.auth.claims[org]', ['*'])),
    input: { auth: alice },
    expect: unmatched,
  },
  {
    name: 'when request.auth.*: a token-less request does not match values',
    policies: allowOnly(when('request.auth.claims[sub]', ['*'])),
    input: {},
    expect: unmatched,
  },
  {
    name: 'when request.auth.*: a token-less request satisfies notValues',
    policies: allowOnly(when('request.auth.claims[groups]', undefined, ['banned'])),
    input: {},
    expect: matched,
  },
  {
    name: 'when request.auth.audiences: notValues with a listed audience fails',
    policies: allowOnly(when('request.auth.audiences', undefined, ['todos'])),
    input: { auth: alice },
    expect: unmatched,
  },

  // Delegation (docs/delegation.md)
  {
    name: 'when request.auth.actor: the current actor',
    policies: allowOnly(when('request.auth.actor', [shareActor])),
    input: { auth: aliceViaShare },
    expect: matched,
  },
  {
    name: 'when request.auth.actor: a prior actor is not the current one',
    policies: allowOnly(when('request.auth.actor', [webActor])),
    input: { auth: aliceViaShare },
    expect: unmatched,
  },
  {
    name: 'when request.auth.actor: a token without act does not match values',
    policies: allowOnly(when('request.auth.actor', ['*'])),
    input: { auth: alice },
    expect: unmatched,
  },
  {
    name: 'when request.auth.actor: notValues ["*"] admits only undelegated tokens',
    policies: allowOnly(when('request.auth.actor', undefined, ['*'])),
    input: { auth: aliceViaShare },
    expect: unmatched,
  },
  {
    name: 'when request.auth.actors: any actor of the chain matches',
    policies: allowOnly(when('request.auth.actors', ['*/sa/web'])),
    input: { auth: aliceViaShare },
    expect: matched,
  },
  {
    name: 'when request.auth.actors: notValues refuses a chain with that actor anywhere',
    policies: allowOnly(when('request.auth.actors', undefined, [webActor])),
    input: { auth: aliceViaShare },
    expect: unmatched,
  },
  {
    name: 'when request.auth.delegation.depth: compares the number',
    policies: allowOnly(when('request.auth.delegation.depth', ['2'])),
    input: { auth: aliceViaShare },
    expect: matched,
  },
  {
    name: 'when request.auth.delegation.depth: absent without delegation',
    policies: allowOnly(when('request.auth.delegation.depth', ['0', '1'])),
    input: { auth: alice },
    expect: unmatched,
  },

  // Workload targeting
  {
    name: 'selector: a workload with the labels is selected',
    policies: [allow('p', [to({ methods: ['POST'] })], { selector: { matchLabels: { app: 'todos' } } })],
    input: { workload: { labels: { app: 'todos' } } },
    expect: unmatched,
  },
  {
    name: 'selector: a workload without the labels is not selected',
    policies: [allow('p', [to({ methods: ['POST'] })], { selector: { matchLabels: { app: 'todos' } } })],
    input: { workload: { labels: { app: 'reminder' } } },
    expect: noAllowApplies,
  },
  {
    name: 'selector: every label must be present',
    policies: [allow('p', [to({ methods: ['POST'] })], { selector: { matchLabels: { app: 'todos', version: 'v2' } } })],
    input: { workload: { labels: { app: 'todos', version: 'v1' } } },
    expect: noAllowApplies,
  },
  {
    name: 'selector: extra workload labels do not matter',
    policies: [allow('p', [{}], { selector: { matchLabels: { app: 'todos' } } })],
    input: { workload: { labels: { app: 'todos', version: 'v1' } } },
    expect: matched,
  },
  {
    name: 'namespace: a policy of another namespace does not apply',
    policies: [allow('p', [to({ methods: ['POST'] })], {}, 'other')],
    input: {},
    expect: noAllowApplies,
  },
  {
    name: 'root namespace: a policy in istio-system applies to every workload',
    policies: [policy('mesh-deny', { action: 'DENY', rules: [to({ paths: ['/debug*'] })] }, 'istio-system')],
    input: { path: '/debug/pprof' },
    expect: { allowed: false, code: DecisionCode.PolicyDenied, policy: 'istio-system/mesh-deny' },
  },
  {
    name: 'root namespace: with a selector it applies to matching workloads of any namespace',
    policies: [policy('mesh', { action: 'DENY', selector: { matchLabels: { app: 'todos' } }, rules: [{}] }, 'istio-system')],
    input: { workload: { namespace: 'team-a', labels: { app: 'todos' } } },
    expect: { allowed: false, code: DecisionCode.PolicyDenied },
  },
  {
    name: 'root namespace: configurable',
    policies: [policy('mesh', { action: 'DENY', rules: [{}] }, 'mesh-root')],
    input: {},
    options: { rootNamespace: 'mesh-root' },
    expect: { allowed: false, code: DecisionCode.PolicyDenied, policy: 'mesh-root/mesh' },
  },
  {
    name: 'root namespace: istio-system is not root when another root is configured',
    policies: [policy('mesh', { action: 'DENY', rules: [{}] }, 'istio-system')],
    input: {},
    options: { rootNamespace: 'mesh-root' },
    expect: noAllowApplies,
  },
  {
    name: 'targetRefs: kind Service applies to that service',
    policies: [deny('d', [{}], { targetRefs: [{ kind: 'Service', group: '', name: 'todos' }] })],
    input: { workload: { service: 'todos' } },
    expect: { allowed: false, code: DecisionCode.PolicyDenied },
  },
  {
    name: 'targetRefs: kind Service does not apply to another service',
    policies: [deny('d', [{}], { targetRefs: [{ kind: 'Service', group: '', name: 'todos' }] })],
    input: { workload: { service: 'reminder' } },
    expect: noAllowApplies,
  },
  {
    name: 'targetRef: kind Gateway applies to that gateway',
    policies: [deny('d', [{}], { targetRef: { kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'edge' } })],
    input: { workload: { gateway: 'edge' } },
    expect: { allowed: false, code: DecisionCode.PolicyDenied },
  },
  {
    name: 'unresolved workload: denied when a namespace policy exists',
    policies: [deny('d', [to({ methods: ['DELETE'] })])],
    input: { workload: { namespace: undefined } },
    expect: { allowed: false, code: DecisionCode.WorkloadUnresolved },
  },
  {
    name: 'unresolved workload: root selector-less policies still evaluate',
    policies: [policy('mesh', { action: 'ALLOW', rules: [to({ methods: ['GET'] })] }, 'istio-system')],
    input: { workload: { namespace: undefined } },
    expect: { allowed: true, code: DecisionCode.Allowed, policy: 'istio-system/mesh' },
  },

  // CEL
  {
    name: 'CEL: a true expression matches',
    policies: allowOnly(when('gatehouse.cel', ["request.path.split('/')[2] == auth.claims.sub"])),
    input: { path: '/users/alice/todos', auth: alice },
    expect: matched,
  },
  {
    name: 'CEL: a false expression does not match',
    policies: allowOnly(when('gatehouse.cel', ["request.path.split('/')[2] == auth.claims.sub"])),
    input: { path: '/users/bob/todos', auth: alice },
    expect: unmatched,
  },
  {
    name: 'CEL: any of several values may be true',
    policies: allowOnly(when('gatehouse.cel', ['false', "request.method == 'GET'"])),
    input: {},
    expect: matched,
  },
  {
    name: 'CEL: notValues matches when none is true',
    policies: allowOnly(when('gatehouse.cel', undefined, ["request.headers['x-debug'] == '1'"])),
    input: { headers: { 'x-debug': '0' } },
    expect: matched,
  },
  {
    name: 'CEL: a runtime error denies with POLICY_EVALUATION_ERROR',
    policies: allowOnly(when('gatehouse.cel', ['auth.claims.sub == "alice"'])),
    input: {},
    expect: { allowed: false, code: DecisionCode.PolicyError, policy: 'default/p' },
  },
  {
    name: 'CEL: a non-bool result denies with POLICY_EVALUATION_ERROR',
    policies: allowOnly(when('gatehouse.cel', ["request.headers['x-a']"])),
    input: { headers: { 'x-a': 'yes' } },
    expect: { allowed: false, code: DecisionCode.PolicyError },
  },
  {
    name: 'CEL: an error in a DENY policy denies, never allows',
    policies: [deny('d', [when('gatehouse.cel', ['int(request.headers["x-n"]) > 3'])]), allow('p', [{}])],
    input: { headers: { 'x-n': 'abc' } },
    expect: { allowed: false, code: DecisionCode.PolicyError, policy: 'default/d' },
  },
  {
    name: 'CEL: has(auth.claims) guards token-less requests',
    policies: allowOnly(when('gatehouse.cel', ["has(auth.claims) && auth.claims.sub == 'alice'"])),
    input: {},
    expect: unmatched,
  },
  {
    name: 'CEL: auth.actor, auth.actors and auth.depth of a delegated token',
    policies: allowOnly(when('gatehouse.cel', [`auth.actor == '${shareActor}' && '${webActor}' in auth.actors && auth.depth <= 2`])),
    input: { auth: aliceViaShare },
    expect: matched,
  },
  {
    name: 'CEL: has(auth.actor) is false for a token without act',
    policies: allowOnly(when('gatehouse.cel', ['!has(auth.actor) && !has(auth.depth)'])),
    input: { auth: alice },
    expect: matched,
  },
  {
    name: 'CEL: source and context variables',
    policies: allowOnly(when('gatehouse.cel', ["source.serviceAccount == 'reminder' && context['tier'] == 'gold'"])),
    input: { principal: reminder, contextExtensions: { tier: 'gold' } },
    expect: matched,
  },
  {
    name: 'CEL: plain conditions run first, so a failing header skips the CEL error',
    policies: allowOnly({
      when: [
        { key: 'gatehouse.cel', values: ['auth.claims.sub == "x"'] },
        { key: 'request.headers[x-a]', values: ['1'] },
      ],
    }),
    input: {},
    expect: unmatched,
  },
];

for (const row of rows) {
  test(row.name, (t) => {
    const text = row.policies.map((document) => stringify(document)).join('---\n');
    const set = compilePolicySet(parsePolicyDocuments([{ file: 'case.yaml', text }], row.options), row.options);
    const { rawPathToNormalize, ...short } = row.input;
    if (rawPathToNormalize !== undefined) {
      const normalized = normalizePath(rawPathToNormalize);
      if (!normalized.ok) return t.fail(normalized.reason);
      short.path = normalized.path;
      short.rawPath = rawPathToNormalize;
    }
    const decision = evaluate(set, checkInput(short));
    const { audited, ...rest } = row.expect;
    t.like(decision, rest, decision.reason);
    if ('policy' in row.expect && row.expect.policy === undefined) t.is(decision.policy, undefined);
    if (audited !== undefined) t.deepEqual(decision.audited, audited);
  });
}

test('the table covers at least 70 cases', (t) => {
  t.true(rows.length >= 70, `${rows.length} rows`);
});
