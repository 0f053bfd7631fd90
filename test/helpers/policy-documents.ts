/**
 * Arbitraries for the policy documents Gatehouse reads from YAML
 * (AuthorizationPolicy, RequestAuthentication, DelegationPolicy,
 * KubernetesAccessPolicy), built from the documented schemas over small
 * shared pools so that generated requests often match generated rules; the
 * mutations that break them; and the loading pipeline of `gatehouse validate`
 * without the file reads. Used by test/properties/policy-documents.test.ts
 * and test/properties/kubernetes-access-policies.test.ts.
 */
import fc from 'fast-check';
import { stringify } from 'yaml';
import { ValidationError } from '../../gateway/errors.js';
import { compileRequestAuthentications, defaultIssuerExtensions, parseRequestAuthentications } from '../../gateway/identity/index.js';
import { KubernetesAuthorizer, parseKubernetesAccessPolicies } from '../../gateway/kubernetes/index.js';
import type { AccessReview, KubernetesUser } from '../../gateway/kubernetes/types.js';
import {
  compileDelegationPolicies,
  compilePolicySet,
  parseDelegationPolicies,
  parsePolicyDocuments,
  type PolicyDocumentSource,
} from '../../gateway/policy/index.js';
import type { CheckInput } from '../../gateway/request/model.js';
import { checkInput } from './check-input.js';

/** A document as YAML holds it: plain data. */
export type Document = Record<string, unknown>;

export const policyOptions = { rootNamespace: 'istio-system', defaultNamespace: 'default' } as const;

const namespaces = ['default', 'istio-system', 'shop', 'payments'];
const labelKeys = ['app', 'version'];
const labelValues = ['todos', 'web', 'v1'];
const serviceAccounts = ['web', 'api', 'reminder'];
const principals = namespaces.flatMap((namespace) => serviceAccounts.map((sa) => `cluster.local/ns/${namespace}/sa/${sa}`));
const issuer = 'https://idp.example';
const subjects = ['alice', 'bob', 'svc-1'];
const requestPrincipals = subjects.map((sub) => `${issuer}/${sub}`);
const methods = ['GET', 'POST', 'DELETE', 'PUT'];
const paths = ['/', '/todos', '/todos/1', '/todos/1/a', '/admin', '/files/a/b'];
const hosts = ['todos.default.svc', 'todos.default.svc:8080', 'web.shop.svc'];
const ports = ['8080', '443', '9090'];
const ips = ['10.0.0.1', '192.168.1.1', '::1', '2001:db8::5'];
const ipBlocks = ['10.0.0.0/8', '10.0.0.1', '0.0.0.0/0', '::1', '2001:db8::/32', '192.168.0.0/16'];
const headerNames = ['x-team', 'x-env'];
const headerValues = ['blue', 'green', 'prod'];
const groups = ['sre', 'dev', 'interns'];
const actorIds = serviceAccounts.map((sa) => `spiffe://cluster.local/ns/default/sa/${sa}`);

/** Istio string match values over `values`: exact, `prefix*`, `*suffix` or `*`. */
function pattern(values: readonly string[]): fc.Arbitrary<string> {
  const value = fc.constantFrom(...values);
  return fc.oneof(
    { weight: 3, arbitrary: value },
    value.chain((v) => fc.integer({ min: 1, max: Math.max(1, v.length - 1) }).map((n) => `${v.slice(0, n)}*`)),
    value.chain((v) => fc.integer({ min: 1, max: Math.max(1, v.length - 1) }).map((n) => `*${v.slice(n)}`)),
    fc.constant('*'),
  );
}

const list = <T>(item: fc.Arbitrary<T>, maxLength = 2) => fc.array(item, { minLength: 1, maxLength });

/** A record with one or two of its optional fields set: few enough that generated rules often match. */
function someOf<T extends Record<string, unknown>>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<Partial<T>> {
  return fc
    .shuffledSubarray(Object.keys(model), { minLength: 1, maxLength: 2 })
    .chain((keys) => fc.record(Object.fromEntries(keys.map((key) => [key, model[key] as fc.Arbitrary<unknown>])))) as fc.Arbitrary<
    Partial<T>
  >;
}

const selector = fc.record({ matchLabels: fc.dictionary(fc.constantFrom(...labelKeys), fc.constantFrom(...labelValues), { maxKeys: 2 }) });
const targetRef = fc.oneof(
  fc.record({ kind: fc.constant('Service'), name: fc.constantFrom('todos', 'web') }),
  fc.record({ group: fc.constant('gateway.networking.k8s.io'), kind: fc.constant('Gateway'), name: fc.constantFrom('ingress') }),
);
/** `selector`, `targetRef`, `targetRefs` or none: the targeting every namespaced kind shares. */
const targeting = fc.oneof(
  fc.constant({}),
  fc.record({ selector }),
  fc.record({ targetRef }),
  fc.record({ targetRefs: list(targetRef, 2) }),
);

/** Mostly `default` and the root namespace, so that documents often apply to the requests' workloads. */
const namespace = fc.oneof({ weight: 3, arbitrary: fc.constantFrom('default', 'istio-system') }, fc.constantFrom(...namespaces));

const metadata = fc.record(
  {
    namespace,
    annotations: fc.oneof(
      fc.constant({ 'gatehouse.dev/shadow': 'true' }),
      fc.constant({ 'istio.io/dry-run': 'false' }),
      fc.constant({ note: 'free text' }),
    ),
    labels: fc.constant({ team: 'platform' }),
  },
  { requiredKeys: [] },
);

const source = fc.oneof(
  someOf({
    principals: list(
      fc.oneof(
        pattern(principals),
        fc.constantFrom(...principals).map((p) => `spiffe://${p}`),
      ),
    ),
    notPrincipals: list(pattern(principals)),
    requestPrincipals: list(pattern(requestPrincipals)),
    notRequestPrincipals: list(pattern(requestPrincipals)),
    namespaces: list(pattern(namespaces)),
    notNamespaces: list(pattern(namespaces)),
    ipBlocks: list(fc.constantFrom(...ipBlocks)),
    notIpBlocks: list(fc.constantFrom(...ipBlocks)),
    remoteIpBlocks: list(fc.constantFrom(...ipBlocks)),
    notRemoteIpBlocks: list(fc.constantFrom(...ipBlocks)),
  }),
  // serviceAccounts may not be combined with principals or namespaces (Istio ≥ 1.25).
  someOf({
    serviceAccounts: list(fc.constantFrom(...namespaces.flatMap((namespace) => serviceAccounts.map((sa) => `${namespace}/${sa}`)))),
    notServiceAccounts: list(fc.constantFrom('default/web', 'shop/api')),
    requestPrincipals: list(pattern(requestPrincipals)),
  }),
);

const pathValue = fc.oneof(pattern(paths), fc.constantFrom('/todos/{*}', '/{**}', '/todos/{*}/a', '/files/{**}'));
const operation = someOf({
  hosts: list(pattern(hosts)),
  notHosts: list(pattern(hosts)),
  ports: list(fc.constantFrom(...ports)),
  notPorts: list(fc.constantFrom(...ports)),
  methods: list(pattern(methods)),
  notMethods: list(pattern(methods)),
  paths: list(pathValue),
  notPaths: list(pathValue),
});

/** CEL expressions that type-check; some fail at run time on some requests (a missing claim), as real ones do. */
const celExpressions = [
  "request.method == 'GET'",
  "request.path.startsWith('/todos')",
  "has(auth.claims) && auth.claims.sub == 'alice'",
  "auth.claims.sub == 'bob'",
  "has(source.principal) && source.principal.endsWith('/sa/web')",
  "size(request.headers) > 0 && 'x-team' in request.headers",
  'destination.port == 8080',
];

/** `when` keys, each with values of the kind it takes. */
const conditionKinds: readonly (readonly [fc.Arbitrary<string>, fc.Arbitrary<string[]>])[] = [
  [fc.constantFrom('source.ip', 'remote.ip', 'destination.ip'), list(fc.constantFrom(...ipBlocks))],
  [fc.constant('source.namespace'), list(pattern(namespaces))],
  [fc.constant('source.principal'), list(pattern(principals))],
  [fc.constant('destination.port'), list(fc.constantFrom(...ports))],
  [fc.constant('request.auth.principal'), list(pattern(requestPrincipals))],
  [fc.constant('request.auth.audiences'), list(pattern(['todos', 'web']))],
  [fc.constant('request.auth.claims[groups]'), list(pattern(groups))],
  [fc.constant('request.auth.delegation.depth'), list(fc.constantFrom('1', '2'))],
  [fc.constantFrom(...headerNames.map((name) => `request.headers[${name}]`)), list(pattern(headerValues))],
  [fc.constant('gatehouse.cel'), list(fc.constantFrom(...celExpressions), 2)],
];
const condition = fc.oneof(
  ...conditionKinds.map(([key, values]) =>
    fc.tuple(key, someOf({ values, notValues: values })).map(([k, chosen]) => ({ key: k, ...chosen })),
  ),
);

const rule = fc.record(
  {
    from: list(source.map((s) => ({ source: s }))),
    to: list(operation.map((o) => ({ operation: o }))),
    when: list(condition, 2),
  },
  { requiredKeys: [] },
);

/** Valid AuthorizationPolicy documents (ALLOW, DENY or AUDIT; CUSTOM is not evaluated). */
export function authorizationPolicies(actions: readonly string[] = ['ALLOW', 'DENY', 'AUDIT']): fc.Arbitrary<Document> {
  return fc
    .record({
      apiVersion: fc.constantFrom('security.istio.io/v1', 'security.istio.io/v1beta1'),
      metadata,
      targeting,
      action: fc.option(fc.constantFrom(...actions), { nil: undefined }),
      rules: fc.option(fc.array(rule, { maxLength: 2 }), { nil: undefined, freq: 10 }),
    })
    .map(({ apiVersion, metadata, targeting, action, rules }) => ({
      apiVersion,
      kind: 'AuthorizationPolicy',
      metadata,
      // An absent action is ALLOW: keep it absent only when ALLOW may be generated.
      spec: {
        ...targeting,
        ...(action === undefined ? (actions.includes('ALLOW') ? {} : { action: actions[0] }) : { action }),
        ...(rules === undefined ? {} : { rules }),
      },
    }));
}

const headerLocation = fc.record(
  { name: fc.constantFrom('authorization', 'x-token'), prefix: fc.constantFrom('Bearer ', '') },
  { requiredKeys: ['name'] },
);
const jwtRule = fc.record(
  {
    issuer: fc.constantFrom(issuer, 'https://other.example'),
    audiences: list(fc.constantFrom('todos', 'web')),
    jwksUri: fc.constantFrom(`${issuer}/jwks.json`, 'http://keys.example:8080/keys'),
    fromHeaders: list(headerLocation),
    fromParams: list(fc.constantFrom('token', 'access_token')),
    fromCookies: list(fc.constantFrom('session', 'tok')),
    outputPayloadToHeader: fc.constant('x-jwt-payload'),
    outputClaimToHeaders: list(fc.record({ header: fc.constant('x-sub'), claim: fc.constantFrom('sub', 'email') })),
    forwardOriginalToken: fc.boolean(),
    timeout: fc.constantFrom('5s', '1.5s', '500ms'),
  },
  { requiredKeys: ['issuer', 'jwksUri'] },
);

/** Valid RequestAuthentication documents, each rule with a `jwksUri` (no discovery needed). */
export const requestAuthentications: fc.Arbitrary<Document> = fc
  .record({
    apiVersion: fc.constantFrom('security.istio.io/v1', 'security.istio.io/v1beta1'),
    metadata,
    targeting,
    jwtRules: fc.option(fc.array(jwtRule, { maxLength: 2 }), { nil: undefined }),
  })
  .map(({ apiVersion, metadata, targeting, jwtRules }) => ({
    apiVersion,
    kind: 'RequestAuthentication',
    metadata,
    spec: { ...targeting, ...(jwtRules === undefined ? {} : { jwtRules }) },
  }));

const delegationOperation = someOf({
  hosts: list(pattern(hosts)),
  notHosts: list(pattern(hosts)),
  methods: list(pattern(methods)),
  notMethods: list(pattern(methods)),
  paths: list(pathValue),
  notPaths: list(pathValue),
});
const delegationRule = fc.record(
  {
    actors: list(pattern(actorIds)),
    subjects: list(pattern(requestPrincipals)),
    audiences: list(pattern(['todos', 'web'])),
    to: list(delegationOperation.map((o) => ({ operation: o }))),
    maxDepth: fc.integer({ min: 1, max: 3 }),
  },
  { requiredKeys: ['actors', 'subjects'] },
);

/** Valid DelegationPolicy documents (rule depths within the default global maximum, 3). */
export const delegationPolicies: fc.Arbitrary<Document> = fc
  .record({ metadata, targeting, rules: fc.option(fc.array(delegationRule, { maxLength: 2 }), { nil: undefined }) })
  .map(({ metadata, targeting, rules }) => ({
    apiVersion: 'gatehouse.dev/v1alpha1',
    kind: 'DelegationPolicy',
    metadata,
    spec: { ...targeting, ...(rules === undefined ? {} : { rules }) },
  }));

const kubernetesNamespaces = ['default', 'kube-system', 'shop'];
const kubernetesUsers = ['alice', 'bob', 'system:anonymous', 'system:serviceaccount:default:web', 'oidc:carol'];
const kubernetesGroups = ['sre', 'dev', 'system:authenticated', 'system:unauthenticated'];
const verbs = ['get', 'list', 'watch', 'create', 'delete', 'impersonate'];
const resources = ['pods', 'pods/log', 'configmaps', 'deployments/scale', 'secrets'];
const nonResourcePaths = ['/healthz', '/healthz/ready', '/apis', '/apis/apps', '/metrics'];

const accessSubject = someOf({
  users: list(pattern(kubernetesUsers)),
  groups: list(pattern(kubernetesGroups)),
  serviceAccounts: list(fc.constantFrom('default/web', 'default/*', 'kube-system/*')),
  notUsers: list(pattern(kubernetesUsers)),
  notGroups: list(pattern(kubernetesGroups)),
});
const requirement = fc.oneof(
  fc.record({
    key: fc.constantFrom('app', 'spec.nodeName'),
    operator: fc.constantFrom('In', 'NotIn'),
    values: list(fc.constantFrom('todos', 'node-1')),
  }),
  fc.record({ key: fc.constantFrom('app', 'tier'), operator: fc.constantFrom('Exists', 'DoesNotExist'), values: fc.constant([]) }),
);
const resourceEntry = fc.record(
  {
    verbs: list(fc.constantFrom(...verbs, '*')),
    apiGroups: list(fc.constantFrom('', 'apps', '*')),
    resources: list(fc.constantFrom(...resources, 'pods/*', '*/scale', '*')),
    namespaces: list(fc.oneof(pattern(kubernetesNamespaces), fc.constant(''))),
    names: list(pattern(['todo-config', 'web-1'])),
    labelSelector: list(requirement, 2),
    fieldSelector: list(requirement, 2),
  },
  { requiredKeys: ['verbs', 'apiGroups', 'resources'] },
);
const nonResourceEntry = fc.record({
  verbs: list(fc.constantFrom('get', 'post', '*')),
  paths: list(fc.oneof(fc.constantFrom(...nonResourcePaths), fc.constantFrom('/apis/*', '/healthz*', '*'))),
});
const accessConditions = [
  "user.groups.exists(g, g == 'sre')",
  "verb == 'get'",
  "resource.namespace == 'default'",
  "user.extra['team'][0] == 'blue'",
  "nonResource.path.startsWith('/apis')",
];
const accessRule = fc
  .record(
    {
      subjects: list(accessSubject),
      resources: list(resourceEntry),
      nonResources: list(nonResourceEntry),
      when: list(fc.constantFrom(...accessConditions), 2),
    },
    { requiredKeys: [] },
  )
  .filter((rule) => rule.resources !== undefined || rule.nonResources !== undefined);

/** Valid KubernetesAccessPolicy documents; a DENY never has selectors (the docs refuse them). */
export function kubernetesAccessPolicies(actions: readonly ('ALLOW' | 'DENY')[] = ['ALLOW', 'DENY']): fc.Arbitrary<Document> {
  return fc
    .record({
      metadata,
      action: fc.option(fc.constantFrom(...actions), { nil: undefined }),
      rules: list(accessRule),
    })
    .map(({ metadata, action, rules }) => {
      const effective = action ?? (actions.includes('ALLOW') ? undefined : 'DENY');
      const unselected =
        effective === 'DENY'
          ? rules.map((rule) =>
              rule.resources === undefined
                ? rule
                : { ...rule, resources: rule.resources.map(({ labelSelector: _l, fieldSelector: _f, ...entry }) => entry) },
            )
          : rules;
      return {
        apiVersion: 'gatehouse.dev/v1alpha1',
        kind: 'KubernetesAccessPolicy',
        metadata,
        spec: { ...(effective === undefined ? {} : { action: effective }), rules: unselected },
      };
    });
}

/** Gives every document its own name (`<prefix>-<index>`), so no two collide whatever namespace a mutation gives them. */
export function named(documents: readonly Document[], prefix = 'p'): Document[] {
  return documents.map((document, i) => ({
    ...document,
    metadata: { ...(document.metadata as Document), name: `${prefix}-${i}` },
  }));
}

/** A multi-document YAML stream, as `kubectl get -o yaml` or a hand-written file has them. */
export function yamlStream(documents: readonly unknown[]): string {
  return documents.map((document) => stringify(document, { aliasDuplicateObjects: false })).join('---\n');
}

/** What `gatehouse validate` builds from policy files: every kind, compiled. */
export interface LoadedSet {
  readonly policies: ReturnType<typeof compilePolicySet>;
  readonly authentication: ReturnType<typeof compileRequestAuthentications>;
  readonly delegation: ReturnType<typeof compileDelegationPolicies>;
  readonly kubernetes: KubernetesAuthorizer;
}

/** Parses, validates and compiles every kind in the sources, as `gatehouse validate` and the policy store do. */
export function loadAll(sources: readonly PolicyDocumentSource[]): LoadedSet {
  return {
    policies: compilePolicySet(parsePolicyDocuments([...sources], policyOptions), policyOptions),
    authentication: compileRequestAuthentications(
      parseRequestAuthentications(sources, policyOptions),
      () => defaultIssuerExtensions,
      policyOptions,
    ),
    delegation: compileDelegationPolicies(parseDelegationPolicies(sources, policyOptions), policyOptions),
    kubernetes: KubernetesAuthorizer.compile(parseKubernetesAccessPolicies(sources, policyOptions), { users: [], groups: [] }),
  };
}

/**
 * Runs `load`: its result, or the ValidationError it refused with. Any other
 * exception is rethrown, so that it fails the property that called this.
 */
export function loadOrRefusal<T>(load: () => T): { ok: true; value: T } | { ok: false; error: ValidationError } {
  try {
    return { ok: true, value: load() };
  } catch (error) {
    if (error instanceof ValidationError) return { ok: false, error };
    throw error;
  }
}

/** Random requests over the same pools as the documents, with or without peer, token, delegation and known workload. */
export const checkInputs: fc.Arbitrary<CheckInput> = fc
  .record(
    {
      principal: fc.oneof(fc.constantFrom(...principals), fc.constant('opaque-principal')),
      method: fc.constantFrom(...methods),
      path: fc.constantFrom(...paths),
      host: fc.constantFrom(...hosts),
      headers: fc.dictionary(fc.constantFrom(...headerNames), fc.constantFrom(...headerValues, '')),
      sourceIp: fc.constantFrom(...ips),
      remoteIp: fc.constantFrom(...ips),
      destinationPort: fc.constantFrom(8080, 443, 9090),
      sni: fc.constantFrom('todos.default.svc'),
      workload: fc.record(
        {
          namespace: fc.option(namespace, { nil: undefined, freq: 10 }),
          labels: fc.dictionary(fc.constantFrom(...labelKeys), fc.constantFrom(...labelValues), { maxKeys: 2 }),
          service: fc.constantFrom('todos', 'web'),
          gateway: fc.constant('ingress'),
        },
        { requiredKeys: ['namespace', 'labels'] },
      ),
      auth: fc.record(
        {
          claims: fc.record(
            {
              iss: fc.constant(issuer),
              sub: fc.constantFrom(...subjects),
              aud: fc.constantFrom('todos', 'web'),
              groups: fc.array(fc.constantFrom(...groups)),
            },
            { requiredKeys: ['iss', 'sub'] },
          ),
          delegation: fc.uniqueArray(fc.constantFrom(...actorIds), { minLength: 1, maxLength: 3 }).map((actors) => ({
            actor: actors[0] as string,
            actors,
            depth: actors.length,
          })),
        },
        { requiredKeys: ['claims'] },
      ),
    },
    { requiredKeys: ['method', 'path', 'host', 'sourceIp', 'workload'] },
  )
  .map((short) => checkInput(short));

/** Random delegation requests over the same pools as DelegationPolicies. */
export const delegationRequests = fc.record(
  {
    subject: fc.constantFrom(...requestPrincipals, ''),
    actors: fc.array(fc.oneof(fc.constantFrom(...actorIds), fc.constant('')), { maxLength: 5 }),
    audiences: fc.array(fc.constantFrom('todos', 'web')),
    workload: fc.record({
      namespace: fc.option(fc.constantFrom(...namespaces), { nil: undefined }),
      labels: fc.constant({ app: 'todos' }),
    }),
    method: fc.constantFrom(...methods),
    path: fc.constantFrom(...paths),
    host: fc.constantFrom(...hosts),
    mayAct: fc.oneof(fc.record({ sub: fc.constantFrom(...actorIds) }), fc.jsonValue({ maxDepth: 1 })),
  },
  { requiredKeys: ['subject', 'actors', 'audiences'] },
);

const kubernetesUser: fc.Arbitrary<KubernetesUser> = fc.record({
  username: fc.constantFrom(...kubernetesUsers),
  groups: fc.uniqueArray(fc.constantFrom(...kubernetesGroups), { maxLength: 3 }),
  extra: fc.oneof(fc.constant({}), fc.constant({ team: ['blue'] }), fc.constant({ team: [] })),
});

/** Random SubjectAccessReviews over the same pools as KubernetesAccessPolicies. */
export const accessReviews: fc.Arbitrary<AccessReview> = fc.oneof(
  fc.record({
    user: kubernetesUser,
    kind: fc.constant('resource' as const),
    resource: fc.record(
      {
        verb: fc.constantFrom(...verbs),
        namespace: fc.constantFrom(...kubernetesNamespaces, ''),
        group: fc.constantFrom('', 'apps'),
        version: fc.constantFrom('v1'),
        resource: fc.constantFrom('pods', 'configmaps', 'deployments', 'secrets'),
        subresource: fc.constantFrom('', 'log', 'scale'),
        name: fc.constantFrom('', 'todo-config', 'web-1'),
        labelSelector: list(requirement, 2),
        fieldSelector: list(requirement, 2),
      },
      { requiredKeys: ['verb', 'namespace', 'group', 'version', 'resource', 'subresource', 'name'] },
    ),
  }),
  fc.record({
    user: kubernetesUser,
    kind: fc.constant('nonResource' as const),
    nonResource: fc.record({ verb: fc.constantFrom('get', 'post'), path: fc.constantFrom(...nonResourcePaths) }),
  }),
);

/** A path into a document: map keys and list indexes. */
export type FieldPath = readonly (string | number)[];

/** A path as ValidationError names it: `spec.rules[0].from[1].source.principals[2]`. */
export function fieldName(path: FieldPath): string {
  return path.reduce<string>((name, step) => (typeof step === 'number' ? `${name}[${step}]` : name === '' ? step : `${name}.${step}`), '');
}

/** Whether an error's field is the mutated field, one of its ancestors, or inside it (what the mutation made wrong). */
export function isRelatedField(errorField: string, mutated: string): boolean {
  // The validator names annotations `metadata.annotations[name]`; map keys are dotted everywhere else.
  const error = errorField.replace(/\[([^\]\d][^\]]*)\]/g, '.$1');
  const within = (inner: string, outer: string) => inner === outer || inner.startsWith(`${outer}.`) || inner.startsWith(`${outer}[`);
  return error !== '' && (within(error, mutated) || within(mutated, error));
}

/** Every path of a document that holds a value, parents before children. */
export function fieldPaths(value: unknown, prefix: FieldPath = []): FieldPath[] {
  const children: [string | number, unknown][] = Array.isArray(value)
    ? value.map((item, i) => [i, item])
    : typeof value === 'object' && value !== null
      ? Object.entries(value)
      : [];
  return children.flatMap(([step, child]) => [[...prefix, step], ...fieldPaths(child, [...prefix, step])]);
}

/** The value at `path`, or undefined. */
export function valueAt(document: unknown, path: FieldPath): unknown {
  let value = document;
  for (const step of path)
    value = typeof value === 'object' && value !== null ? (value as Record<string | number, unknown>)[step] : undefined;
  return value;
}

/** A copy of `document` with the value at `path` replaced by `replace(old)`, or removed when it returns undefined. */
export function withValueAt(document: Document, path: FieldPath, replace: (old: unknown) => unknown): Document {
  const copy = structuredClone(document);
  const parent = valueAt(copy, path.slice(0, -1)) as Record<string | number, unknown> | unknown[];
  const last = path[path.length - 1] as string | number;
  const next = replace((parent as Record<string | number, unknown>)[last]);
  if (next !== undefined) (parent as Record<string | number, unknown>)[last] = next;
  else if (Array.isArray(parent)) parent.splice(last as number, 1);
  else delete parent[last as string];
  return copy;
}

/** A value of another type than the one it replaces: string, number, bool, null, list or map. */
export const replacementValues: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
);

/** A field name no schema defines. */
export const unknownFieldNames = fc.stringMatching(/^x[A-Z][a-zA-Z0-9]{0,8}$/);

/** How long a "huge" list is: beyond every per-list bound but the 10,000 ones, and cheap enough to run hundreds of times. */
const hugeListLength = 300;

/** One mutation of a document, and the field it touched. */
export interface Mutation {
  readonly document: Document;
  readonly field: string;
  readonly kind: 'delete' | 'retype' | 'unknown field' | 'huge list';
}

/**
 * A field deleted, a field's value replaced by one of another type, an
 * unknown field added to a mapping, or a list made {@link hugeListLength} long.
 */
export function mutations(document: Document): fc.Arbitrary<Mutation> {
  const all = fieldPaths(document);
  const maps = [[] as FieldPath, ...all.filter((path) => isMap(valueAt(document, path)))];
  const lists = all.filter((path) => Array.isArray(valueAt(document, path)));
  const options: fc.Arbitrary<Mutation>[] = [
    fc
      .constantFrom(...all)
      .map((path) => ({ document: withValueAt(document, path, () => undefined), field: fieldName(path), kind: 'delete' as const })),
    fc
      .tuple(fc.constantFrom(...all), replacementValues)
      .map(([path, value]) => ({ document: withValueAt(document, path, () => value), field: fieldName(path), kind: 'retype' as const })),
    fc.tuple(fc.constantFrom(...maps), unknownFieldNames, replacementValues).map(([path, name, value]) => ({
      document:
        path.length === 0
          ? { ...document, [name]: value }
          : withValueAt(document, path, (old) => ({ ...(old as Document), [name]: value })),
      field: fieldName([...path, name]),
      kind: 'unknown field' as const,
    })),
  ];
  if (lists.length > 0) {
    options.push(
      fc.constantFrom(...lists).map((path) => ({
        document: withValueAt(document, path, (old) => {
          const items = (old as unknown[]).length > 0 ? (old as unknown[]) : ['x'];
          return Array.from({ length: hugeListLength }, (_, i) => items[i % items.length]);
        }),
        field: fieldName(path),
        kind: 'huge list' as const,
      })),
    );
  }
  return fc.oneof(...options);
}

/** Whether a value is a YAML mapping. */
export function isMap(value: unknown): value is Document {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A valid document of any of the four kinds. */
export const anyDocument: fc.Arbitrary<Document> = fc.oneof(
  authorizationPolicies(),
  requestAuthentications,
  delegationPolicies,
  kubernetesAccessPolicies(),
);
