/**
 * Gatehouse's KubernetesAccessPolicy (`gatehouse.dev/v1alpha1`): who may do
 * what in a Kubernetes cluster, answered for kube-apiserver's
 * SubjectAccessReview webhook. Read from the same policy files as the Istio
 * documents; strict validation into the typed model below, every problem a
 * ValidationError naming file#document and field (docs/kubernetes-authorization.md).
 */
import { readDocumentsOfKind, Validator, defaultPolicyNamespace } from '../policy/index.js';
import type { PolicyDocumentSource, PolicyOptions, PolicyOrigin } from '../policy/index.js';
import { compileAccessCel, type AccessCelProgram } from './access-cel.js';
import type { SelectorOperator, SelectorRequirement } from './types.js';

export const kubernetesAccessApiVersion = 'gatehouse.dev/v1alpha1';
export const kubernetesAccessPolicyKind = 'KubernetesAccessPolicy';

/** ALLOW grants (RBAC decides what no policy allows); DENY refuses before RBAC is asked. */
export type KubernetesAccessAction = 'ALLOW' | 'DENY';

/** Bounds that keep a hostile or broken file from exhausting memory or review time. */
export const accessPolicyLimits = {
  maxRules: 1_000,
  /** Entries of `subjects`, `resources` and `nonResources` per rule. */
  maxEntries: 100,
  /** Values of any one pattern list (users, verbs, resources, paths…). */
  maxPatterns: 1_000,
  maxConditions: 16,
  /** Requirements of one label or field selector. */
  maxSelectorRequirements: 32,
  maxSelectorValues: 256,
} as const;

/**
 * One `subjects[]` entry; its fields are AND'ed, absent fields do not
 * constrain. Patterns are Istio's: exact, `prefix*`, `*suffix`, `*`.
 */
export interface AccessSubject {
  /** Patterns of which the username must match one. */
  readonly users?: readonly string[];
  /** Patterns of which one of the user's groups must match one. */
  readonly groups?: readonly string[];
  /** `namespace/name` (name may be `*`), i.e. usernames `system:serviceaccount:<namespace>:<name>`. */
  readonly serviceAccounts?: readonly string[];
  /** Patterns the username must not match. */
  readonly notUsers?: readonly string[];
  /** Patterns none of the user's groups may match. */
  readonly notGroups?: readonly string[];
}

/** One `resources[]` entry, RBAC style. Absent `namespaces` and `names` mean any. */
export interface AccessResourceRule {
  /** Verbs, or `*`. */
  readonly verbs: readonly string[];
  /** API groups (`""` is the core group), or `*`. */
  readonly apiGroups: readonly string[];
  // `resource`, `resource/subresource`, `resource/*` (any subresource), "*/subresource" (of any resource) or `*`.
  readonly resources: readonly string[];
  /** Namespace patterns; `""` is cluster-scoped requests. */
  readonly namespaces?: readonly string[];
  /** Name patterns; a request without a name (list, create) never matches them. */
  readonly names?: readonly string[];
  /** ALLOW only: the request's own label selector must imply every one of these. */
  readonly labelSelector?: readonly SelectorRequirement[];
  /** ALLOW only: the request's own field selector must imply every one of these. */
  readonly fieldSelector?: readonly SelectorRequirement[];
}

/** One `nonResources[]` entry, RBAC `nonResourceURLs` style. */
export interface AccessNonResourceRule {
  readonly verbs: readonly string[];
  /** Exact paths, prefixes ending in `*`, or `*`. */
  readonly paths: readonly string[];
}

/** One `when[]` CEL expression, compiled when read. */
export interface AccessCondition {
  readonly expression: string;
  readonly program: AccessCelProgram;
}

/** One validated `spec.rules[]` entry. At least one of `resources` and `nonResources` is non-empty. */
export interface KubernetesAccessRule {
  /** OR'ed; empty: any subject (for ALLOW, any authenticated subject). */
  readonly subjects: readonly AccessSubject[];
  /** OR'ed; empty: the rule matches no resource request. */
  readonly resources: readonly AccessResourceRule[];
  /** OR'ed; empty: the rule matches no non-resource request. */
  readonly nonResources: readonly AccessNonResourceRule[];
  /** All must be true. */
  readonly when: readonly AccessCondition[];
}

/** One validated KubernetesAccessPolicy document. Policies are cluster-wide; namespace and name only name them. */
export interface KubernetesAccessPolicy {
  readonly apiVersion: typeof kubernetesAccessApiVersion;
  readonly name: string;
  readonly namespace: string;
  readonly origin: PolicyOrigin;
  readonly action: KubernetesAccessAction;
  readonly rules: readonly KubernetesAccessRule[];
}

const subjectFields = ['users', 'groups', 'serviceAccounts', 'notUsers', 'notGroups'] as const;
const resourceFields = ['verbs', 'apiGroups', 'resources', 'namespaces', 'names', 'labelSelector', 'fieldSelector'];
const selectorOperators: readonly SelectorOperator[] = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

/**
 * Reads the KubernetesAccessPolicy documents among policy sources; documents
 * of other kinds are left to their readers.
 *
 * @throws ValidationError naming file, document index and field (e.g. `spec.rules[0].resources[1].verbs[0]`).
 * @example
 * const policies = parseKubernetesAccessPolicies(await readPolicySources(['deploy/examples/todo/policies']));
 */
export function parseKubernetesAccessPolicies(
  sources: readonly PolicyDocumentSource[],
  options: PolicyOptions = {},
): KubernetesAccessPolicy[] {
  const defaultNamespace = options.defaultNamespace ?? defaultPolicyNamespace;
  return readDocumentsOfKind(sources, 'gatehouse.dev', kubernetesAccessPolicyKind, (document, origin) =>
    validateKubernetesAccessPolicy(document, origin, defaultNamespace),
  );
}

/** Reads one document already known to be a `gatehouse.dev` KubernetesAccessPolicy. */
export function validateKubernetesAccessPolicy(document: unknown, origin: PolicyOrigin, defaultNamespace: string): KubernetesAccessPolicy {
  const v = new Validator(origin);
  const root = v.object(document, '');
  v.onlyFields(root, '', ['apiVersion', 'kind', 'metadata', 'spec', 'status']);
  if (root['apiVersion'] !== kubernetesAccessApiVersion) {
    v.fail('apiVersion', `unsupported version ${JSON.stringify(root['apiVersion'])}; expected ${kubernetesAccessApiVersion}`);
  }
  const { name, namespace } = v.metadata(root['metadata'], defaultNamespace);
  const spec = v.object(root['spec'], 'spec');
  v.onlyFields(spec, 'spec', ['action', 'rules']);
  const action = readAction(v, spec['action']);
  const rules = nonEmptyList(v, spec['rules'], 'spec.rules', accessPolicyLimits.maxRules, 'a policy needs at least one rule').map(
    (rule, i) => readRule(v, rule, `spec.rules[${i}]`, action),
  );
  return { apiVersion: kubernetesAccessApiVersion, name, namespace, origin, action, rules };
}

function readAction(v: Validator, value: unknown): KubernetesAccessAction {
  if (value === undefined) return 'ALLOW';
  if (value !== 'ALLOW' && value !== 'DENY') v.fail('spec.action', `must be ALLOW or DENY, not ${JSON.stringify(value)}`);
  return value;
}

function readRule(v: Validator, value: unknown, field: string, action: KubernetesAccessAction): KubernetesAccessRule {
  const rule = v.object(value, field);
  v.onlyFields(rule, field, ['subjects', 'resources', 'nonResources', 'when']);
  const subjects =
    rule['subjects'] === undefined
      ? []
      : nonEmptyList(v, rule['subjects'], `${field}.subjects`, accessPolicyLimits.maxEntries, 'omit subjects for any subject').map(
          (entry, i) => readSubject(v, entry, `${field}.subjects[${i}]`),
        );
  if (rule['resources'] === undefined && rule['nonResources'] === undefined) {
    v.fail(field, 'needs resources, nonResources or both');
  }
  const resources =
    rule['resources'] === undefined
      ? []
      : nonEmptyList(v, rule['resources'], `${field}.resources`, accessPolicyLimits.maxEntries).map((entry, i) =>
          readResourceRule(v, entry, `${field}.resources[${i}]`, action),
        );
  const nonResources =
    rule['nonResources'] === undefined
      ? []
      : nonEmptyList(v, rule['nonResources'], `${field}.nonResources`, accessPolicyLimits.maxEntries).map((entry, i) =>
          readNonResourceRule(v, entry, `${field}.nonResources[${i}]`),
        );
  const when =
    rule['when'] === undefined
      ? []
      : v.stringList(rule['when'], `${field}.when`, accessPolicyLimits.maxConditions).map((expression, i): AccessCondition => {
          const compiled = compileAccessCel(expression);
          if (!compiled.ok) v.fail(`${field}.when[${i}]`, compiled.problem);
          return { expression, program: compiled.program };
        });
  return { subjects, resources, nonResources, when };
}

function readSubject(v: Validator, value: unknown, field: string): AccessSubject {
  const subject = v.object(value, field);
  v.onlyFields(subject, field, subjectFields);
  const result: { -readonly [K in keyof AccessSubject]: string[] } = {};
  for (const name of subjectFields) {
    if (subject[name] === undefined) continue;
    const values = requiredPatterns(v, subject[name], `${field}.${name}`);
    values.forEach((entry, i) => {
      if (name === 'serviceAccounts') checkServiceAccount(v, entry, `${field}.${name}[${i}]`);
      else v.pattern(entry, `${field}.${name}[${i}]`);
    });
    result[name] = values;
  }
  if (Object.keys(result).length === 0) v.fail(field, `must set at least one of ${subjectFields.join(', ')}`);
  return result;
}

const dnsLabel = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const dnsSubdomain = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

function checkServiceAccount(v: Validator, value: string, field: string): void {
  const slash = value.indexOf('/');
  const namespace = value.slice(0, slash);
  const name = value.slice(slash + 1);
  if (slash === -1 || !dnsLabel.test(namespace) || (name !== '*' && !dnsSubdomain.test(name))) {
    v.fail(field, `"${value}" must have the form <namespace>/<name> or <namespace>/*`);
  }
}

function readResourceRule(v: Validator, value: unknown, field: string, action: KubernetesAccessAction): AccessResourceRule {
  const entry = v.object(value, field);
  v.onlyFields(entry, field, resourceFields);
  const verbs = readVerbs(v, entry['verbs'], `${field}.verbs`);
  const apiGroups = requiredPatterns(v, entry['apiGroups'], `${field}.apiGroups`, 'use [""] for the core group, ["*"] for any');
  apiGroups.forEach((group, i) => checkApiGroup(v, group, `${field}.apiGroups[${i}]`));
  const resources = requiredPatterns(v, entry['resources'], `${field}.resources`, 'use ["*"] for any');
  resources.forEach((resource, i) => checkResource(v, resource, `${field}.resources[${i}]`));
  const result: { -readonly [K in keyof AccessResourceRule]: AccessResourceRule[K] } = { verbs, apiGroups, resources };
  if (entry['namespaces'] !== undefined) {
    const namespaces = requiredPatterns(v, entry['namespaces'], `${field}.namespaces`, 'omit namespaces for any');
    namespaces.forEach((namespace, i) => {
      if (namespace !== '') v.pattern(namespace, `${field}.namespaces[${i}]`);
    });
    result.namespaces = namespaces;
  }
  if (entry['names'] !== undefined) {
    const names = requiredPatterns(v, entry['names'], `${field}.names`, 'omit names for any');
    names.forEach((name, i) => v.pattern(name, `${field}.names[${i}]`));
    result.names = names;
  }
  for (const selector of ['labelSelector', 'fieldSelector'] as const) {
    if (entry[selector] === undefined) continue;
    // A DENY that a selector could narrow would stop denying whatever the request leaves out of its selector.
    if (action === 'DENY') v.fail(`${field}.${selector}`, 'selectors may only narrow an ALLOW; a DENY policy cannot use them');
    const requirements = nonEmptyList(v, entry[selector], `${field}.${selector}`, accessPolicyLimits.maxSelectorRequirements);
    result[selector] = requirements.map((requirement, i) => readRequirement(v, requirement, `${field}.${selector}[${i}]`));
  }
  return result;
}

function readNonResourceRule(v: Validator, value: unknown, field: string): AccessNonResourceRule {
  const entry = v.object(value, field);
  v.onlyFields(entry, field, ['verbs', 'paths']);
  const verbs = readVerbs(v, entry['verbs'], `${field}.verbs`);
  const paths = requiredPatterns(v, entry['paths'], `${field}.paths`, 'use ["*"] for any');
  paths.forEach((path, i) => {
    const inner = path.endsWith('*') ? path.slice(0, -1) : path;
    if (path !== '*' && (!path.startsWith('/') || inner.includes('*'))) {
      v.fail(`${field}.paths[${i}]`, `"${path}" must be "*" or a path starting with "/", with "*" only at its end`);
    }
  });
  return { verbs, paths };
}

function readRequirement(v: Validator, value: unknown, field: string): SelectorRequirement {
  const requirement = v.object(value, field);
  v.onlyFields(requirement, field, ['key', 'operator', 'values']);
  const key = v.string(requirement['key'], `${field}.key`, 317);
  if (key === '') v.fail(`${field}.key`, 'must not be empty');
  const operator = requirement['operator'];
  if (typeof operator !== 'string' || !(selectorOperators as readonly string[]).includes(operator)) {
    v.fail(`${field}.operator`, `must be one of ${selectorOperators.join(', ')}, not ${JSON.stringify(operator)}`);
  }
  const values =
    requirement['values'] === undefined ? [] : v.stringList(requirement['values'], `${field}.values`, accessPolicyLimits.maxSelectorValues);
  if ((operator === 'In' || operator === 'NotIn') && values.length === 0) v.fail(`${field}.values`, `${operator} needs at least one value`);
  if ((operator === 'Exists' || operator === 'DoesNotExist') && values.length > 0) {
    v.fail(`${field}.values`, `${operator} takes no values`);
  }
  return { key, operator: operator as SelectorOperator, values };
}

function readVerbs(v: Validator, value: unknown, field: string): string[] {
  const verbs = requiredPatterns(v, value, field, 'use ["*"] for any');
  verbs.forEach((verb, i) => {
    if (verb !== '*' && !/^[a-z][a-z0-9-]*$/.test(verb)) {
      v.fail(`${field}[${i}]`, `"${verb}" is not a Kubernetes verb (lowercase, e.g. get, list, watch, create, impersonate) or "*"`);
    }
  });
  return verbs;
}

function checkApiGroup(v: Validator, group: string, field: string): void {
  if (group === '*' || group === '') return;
  if (group === 'core') v.fail(field, 'the core API group is "" (there is no group named core)');
  if (group.includes('/')) v.fail(field, `"${group}": name the API group without its version`);
  if (!dnsSubdomain.test(group)) v.fail(field, `"${group}" is not an API group name or "*"`);
}

// RBAC's resource forms `pods`, `pods/log`, `*` and "*/scale", and Gatehouse's `pods/*` (any subresource of pods).
function checkResource(v: Validator, resource: string, field: string): void {
  if (resource === '*') return;
  // The subresource is everything after the first "/": impersonation's `userextras/<key>` keys may contain slashes.
  const slash = resource.indexOf('/');
  const base = slash === -1 ? resource : resource.slice(0, slash);
  const subresource = slash === -1 ? undefined : resource.slice(slash + 1);
  const bad = (part: string): boolean => part === '' || (part !== '*' && part.includes('*')) || /\s/.test(part);
  if (bad(base) || (subresource !== undefined && bad(subresource))) {
    v.fail(field, `"${resource}" must be "*", a resource, resource/subresource, resource/* or */subresource`);
  }
}

/** A required, non-empty list of strings bounded by `maxPatterns`. */
function requiredPatterns(v: Validator, value: unknown, field: string, hint?: string): string[] {
  const suffix = hint === undefined ? '' : ` (${hint})`;
  if (value === undefined) v.fail(field, `is required${suffix}`);
  const values = v.stringList(value, field, accessPolicyLimits.maxPatterns);
  if (values.length === 0) v.fail(field, `must not be empty${suffix}`);
  return values;
}

function nonEmptyList(v: Validator, value: unknown, field: string, maxLength: number, hint?: string): unknown[] {
  const suffix = hint === undefined ? '' : ` (${hint})`;
  if (value === undefined) v.fail(field, `is required${suffix}`);
  const list = v.list(value, field, maxLength);
  if (list.length === 0) v.fail(field, `must not be empty${suffix}`);
  return list;
}
