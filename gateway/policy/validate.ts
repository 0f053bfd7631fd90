/**
 * Strict validation of one AuthorizationPolicy document into the typed
 * model of `types.ts`. Every problem is a ValidationError naming the file,
 * the document index and the field path, e.g.
 * `spec.rules[0].from[1].source.principals[2]`.
 */
import { ValidationError } from '../errors.js';
import { celConditionKey, compileCel } from './cel.js';
import { checkPathTemplate, checkStringPattern, isPathTemplate, parseIpBlock } from './match.js';
import type {
  AuthorizationAction,
  AuthorizationPolicy,
  PolicyCondition,
  PolicyOperation,
  PolicyOrigin,
  PolicyRule,
  PolicySource,
  PolicyTargetRef,
} from './types.js';

/** Bounds that keep a hostile or broken file from exhausting memory or time. */
export const policyLimits = {
  maxStringLength: 4096,
  maxNameLength: 253,
  maxRules: 10_000,
  maxListLength: 10_000,
  maxServiceAccounts: 16,
  maxServiceAccountLength: 320,
} as const;

const actions: readonly AuthorizationAction[] = ['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'];

/** Either annotation puts a policy in shadow mode: evaluated and logged, never enforced. Istio's name first. */
export const shadowAnnotations = ['istio.io/dry-run', 'gatehouse.dev/shadow'] as const;

// Go's strconv.ParseBool, which Istio uses for its annotations.
const annotationTrue = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const annotationFalse = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

// Kubernetes ObjectMeta fields a `kubectl get -o yaml` export may carry; only name/namespace/annotations are read.
const metadataFields = new Set([
  'name',
  'namespace',
  'labels',
  'annotations',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'ownerReferences',
  'finalizers',
  'generateName',
  'selfLink',
]);

type SourceField = keyof PolicySource;
const sourceFields: readonly SourceField[] = [
  'principals',
  'notPrincipals',
  'requestPrincipals',
  'notRequestPrincipals',
  'namespaces',
  'notNamespaces',
  'serviceAccounts',
  'notServiceAccounts',
  'ipBlocks',
  'notIpBlocks',
  'remoteIpBlocks',
  'notRemoteIpBlocks',
];

type OperationField = keyof PolicyOperation;
const operationFields: readonly OperationField[] = ['hosts', 'notHosts', 'ports', 'notPorts', 'methods', 'notMethods', 'paths', 'notPaths'];

/** Keys Istio defines for `when`, each mapped to how its values are checked. */
type ValueKind = 'string' | 'ip' | 'port' | 'count' | 'cel';
const fixedConditionKeys: ReadonlyMap<string, ValueKind> = new Map([
  ['source.ip', 'ip'],
  ['remote.ip', 'ip'],
  ['destination.ip', 'ip'],
  ['source.namespace', 'string'],
  ['source.principal', 'string'],
  ['destination.port', 'port'],
  ['connection.sni', 'string'],
  ['request.auth.principal', 'string'],
  ['request.auth.audiences', 'string'],
  ['request.auth.presenter', 'string'],
  // Gatehouse's credential kind (docs/api-keys.md): jwt, client-credentials or api-key.
  ['request.auth.credential', 'string'],
  // Gatehouse's delegation keys (docs/delegation.md): absent for a token without `act`.
  ['request.auth.actor', 'string'],
  ['request.auth.actors', 'string'],
  ['request.auth.delegation.depth', 'count'],
  [celConditionKey, 'cel'],
]);

/** `request.headers[name]` → the header name, or undefined when `key` has another shape. */
export function headerNameOf(key: string): string | undefined {
  const match = /^request\.headers\[([^[\]]+)\]$/.exec(key);
  return match?.[1];
}

/** `request.auth.claims[a][b]` → `['a', 'b']`, or undefined when `key` has another shape. */
export function claimPathOf(key: string): string[] | undefined {
  if (!/^request\.auth\.claims(\[[^[\]]+\])+$/.test(key)) return undefined;
  return [...key.slice('request.auth.claims'.length).matchAll(/\[([^[\]]+)\]/g)].map((m) => m[1] as string);
}

/** How the values of a `when` key are checked, or a problem when the key is not supported. */
export function conditionValueKind(key: string): ValueKind | { problem: string } {
  const fixed = fixedConditionKeys.get(key);
  if (fixed !== undefined) return fixed;
  if (headerNameOf(key) !== undefined || claimPathOf(key) !== undefined) return 'string';
  if (key.startsWith('experimental.envoy.filters.'))
    return { problem: `"${key}": experimental.envoy.filters.* conditions are not supported by Gatehouse` };
  if (key === 'source.serviceAccount')
    return { problem: '"source.serviceAccount" is not an Istio condition key; use source.serviceAccounts in from' };
  return { problem: `"${key}" is not a supported condition key` };
}

/** Reads one document already known to be `security.istio.io` AuthorizationPolicy. */
export function validateAuthorizationPolicy(document: unknown, origin: PolicyOrigin, defaultNamespace: string): AuthorizationPolicy {
  const v = new Validator(origin);
  const root = v.object(document, '');
  v.onlyFields(root, '', ['apiVersion', 'kind', 'metadata', 'spec', 'status']);
  const apiVersion = root['apiVersion'];
  if (apiVersion !== 'security.istio.io/v1' && apiVersion !== 'security.istio.io/v1beta1') {
    v.fail('apiVersion', `unsupported version ${JSON.stringify(apiVersion)}; expected security.istio.io/v1 or security.istio.io/v1beta1`);
  }

  const { name, namespace, annotations } = v.metadata(root['metadata'], defaultNamespace);
  const shadow = shadowAnnotations.some((annotation) => v.annotationFlag(annotations, annotation));

  const spec = root['spec'] === undefined || root['spec'] === null ? {} : v.object(root['spec'], 'spec');
  v.onlyFields(spec, 'spec', ['selector', 'targetRef', 'targetRefs', 'action', 'provider', 'rules']);

  const action = spec['action'] === undefined ? 'ALLOW' : spec['action'];
  if (typeof action !== 'string' || !(actions as readonly string[]).includes(action)) {
    v.fail('spec.action', `must be one of ${actions.join(', ')}, not ${JSON.stringify(action)}`);
  }
  let provider: string | undefined;
  if (spec['provider'] !== undefined) {
    if (action !== 'CUSTOM') v.fail('spec.provider', 'is only allowed with action CUSTOM');
    const providerObject = v.object(spec['provider'], 'spec.provider');
    v.onlyFields(providerObject, 'spec.provider', ['name']);
    provider = v.string(providerObject['name'], 'spec.provider.name');
  } else if (action === 'CUSTOM') {
    v.fail('spec.provider', 'is required with action CUSTOM');
  }

  const { selector, targetRefs } = v.targeting(spec, namespace);

  const rules =
    spec['rules'] === undefined
      ? []
      : v.list(spec['rules'], 'spec.rules', policyLimits.maxRules).map((rule, i) => v.rule(rule, `spec.rules[${i}]`));

  return {
    apiVersion: apiVersion as AuthorizationPolicy['apiVersion'],
    name,
    namespace,
    origin,
    action: action as AuthorizationAction,
    ...(provider === undefined ? {} : { provider }),
    ...(selector === undefined ? {} : { selector }),
    targetRefs,
    rules,
    shadow,
  };
}

/**
 * Field-by-field checks that throw a ValidationError at the first problem.
 * Shared with the other Istio kinds Gatehouse reads (RequestAuthentication).
 */
export class Validator {
  constructor(private readonly origin: PolicyOrigin) {}

  fail(field: string, problem: string): never {
    throw new ValidationError(this.origin.file, this.origin.documentIndex, field, problem);
  }

  object(value: unknown, field: string): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(field, `must be a mapping, not ${describe(value)}`);
    return value as Record<string, unknown>;
  }

  onlyFields(object: Record<string, unknown>, field: string, allowed: readonly string[]): void {
    for (const key of Object.keys(object)) {
      if (!allowed.includes(key)) this.fail(join(field, key), `unknown field (expected one of ${allowed.join(', ')})`);
    }
  }

  string(value: unknown, field: string, maxLength: number = policyLimits.maxStringLength): string {
    if (typeof value !== 'string') this.fail(field, `must be a string, not ${describe(value)}`);
    if (value.length > maxLength) this.fail(field, `is longer than ${maxLength} characters`);
    return value;
  }

  dnsName(value: unknown, field: string): string {
    const name = this.string(value, field, policyLimits.maxNameLength);
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name)) this.fail(field, `"${name}" is not a valid Kubernetes name`);
    return name;
  }

  list(value: unknown, field: string, maxLength: number = policyLimits.maxListLength): unknown[] {
    if (!Array.isArray(value)) this.fail(field, `must be a list, not ${describe(value)}`);
    if (value.length > maxLength) this.fail(field, `has more than ${maxLength} entries`);
    return value;
  }

  stringMap(value: unknown, field: string): Record<string, string> {
    const object = this.object(value, field);
    const result: Record<string, string> = {};
    for (const [key, entry] of Object.entries(object)) result[key] = this.string(entry, join(field, key));
    return result;
  }

  /** `metadata`: name, namespace (or `defaultNamespace`) and annotations; other ObjectMeta fields are tolerated. */
  metadata(value: unknown, defaultNamespace: string): { name: string; namespace: string; annotations: Record<string, string> } {
    const metadata = this.object(value, 'metadata');
    for (const key of Object.keys(metadata)) if (!metadataFields.has(key)) this.fail(`metadata.${key}`, 'unknown field');
    const name = this.dnsName(metadata['name'], 'metadata.name');
    const namespace = metadata['namespace'] === undefined ? defaultNamespace : this.dnsName(metadata['namespace'], 'metadata.namespace');
    const annotations = metadata['annotations'] === undefined ? {} : this.stringMap(metadata['annotations'], 'metadata.annotations');
    return { name, namespace, annotations };
  }

  /**
   * A boolean annotation: absent is false. Any other value than Go's boolean
   * spellings is an error, because a mistyped shadow annotation would
   * otherwise enforce a policy its author meant only to observe.
   */
  annotationFlag(annotations: Readonly<Record<string, string>>, name: string): boolean {
    const value = annotations[name];
    if (value === undefined || annotationFalse.has(value)) return false;
    if (annotationTrue.has(value)) return true;
    return this.fail(`metadata.annotations[${name}]`, `must be "true" or "false", not ${JSON.stringify(value)}`);
  }

  /** `spec.selector`, `spec.targetRef` and `spec.targetRefs`: which workloads the document applies to. */
  targeting(spec: Record<string, unknown>, namespace: string): { selector?: Record<string, string>; targetRefs: PolicyTargetRef[] } {
    let selector: Record<string, string> | undefined;
    if (spec['selector'] !== undefined) {
      const selectorObject = this.object(spec['selector'], 'spec.selector');
      this.onlyFields(selectorObject, 'spec.selector', ['matchLabels']);
      const matchLabels =
        selectorObject['matchLabels'] === undefined ? {} : this.stringMap(selectorObject['matchLabels'], 'spec.selector.matchLabels');
      // An empty selector selects every workload of the namespace, exactly like no selector.
      if (Object.keys(matchLabels).length > 0) selector = matchLabels;
    }
    const targetRefs: PolicyTargetRef[] = [];
    if (spec['targetRef'] !== undefined) {
      if (spec['targetRefs'] !== undefined) this.fail('spec.targetRef', 'targetRef and targetRefs are mutually exclusive');
      targetRefs.push(this.targetRef(spec['targetRef'], 'spec.targetRef', namespace));
    }
    if (spec['targetRefs'] !== undefined) {
      this.list(spec['targetRefs'], 'spec.targetRefs').forEach((ref, i) =>
        targetRefs.push(this.targetRef(ref, `spec.targetRefs[${i}]`, namespace)),
      );
    }
    if (spec['selector'] !== undefined && targetRefs.length > 0) {
      this.fail(spec['targetRef'] !== undefined ? 'spec.targetRef' : 'spec.targetRefs', 'selector and targetRef(s) are mutually exclusive');
    }
    return { ...(selector === undefined ? {} : { selector }), targetRefs };
  }

  targetRef(value: unknown, field: string, policyNamespace: string): PolicyTargetRef {
    const ref = this.object(value, field);
    this.onlyFields(ref, field, ['group', 'kind', 'name', 'namespace']);
    const group = ref['group'] === undefined ? '' : this.string(ref['group'], `${field}.group`);
    const kind = this.string(ref['kind'], `${field}.kind`);
    const name = this.string(ref['name'], `${field}.name`, policyLimits.maxNameLength);
    if (ref['namespace'] !== undefined && this.string(ref['namespace'], `${field}.namespace`) !== policyNamespace) {
      this.fail(`${field}.namespace`, 'must equal the policy namespace (cross-namespace references are not allowed)');
    }
    if (kind === 'Service') {
      if (group !== '' && group !== 'core') this.fail(`${field}.group`, `kind Service has group "" (core), not "${group}"`);
      return { group: '', kind, name };
    }
    if (kind === 'Gateway') {
      if (group !== 'gateway.networking.k8s.io') this.fail(`${field}.group`, 'kind Gateway needs group gateway.networking.k8s.io');
      return { group, kind, name };
    }
    return this.fail(`${field}.kind`, `"${kind}" is not supported; Gatehouse targets kind Service or Gateway`);
  }

  rule(value: unknown, field: string): PolicyRule {
    const rule = value === null ? {} : this.object(value, field);
    this.onlyFields(rule, field, ['from', 'to', 'when']);
    const from =
      rule['from'] === undefined
        ? []
        : this.list(rule['from'], `${field}.from`).map((entry, i) => this.source(entry, `${field}.from[${i}]`));
    const to =
      rule['to'] === undefined ? [] : this.list(rule['to'], `${field}.to`).map((entry, i) => this.operation(entry, `${field}.to[${i}]`));
    const when =
      rule['when'] === undefined
        ? []
        : this.list(rule['when'], `${field}.when`).map((entry, i) => this.condition(entry, `${field}.when[${i}]`));
    return { from, to, when };
  }

  source(value: unknown, field: string): PolicySource {
    const wrapper = this.object(value, field);
    this.onlyFields(wrapper, field, ['source']);
    const path = `${field}.source`;
    const source = this.object(wrapper['source'], path);
    this.onlyFields(source, path, sourceFields);
    const result: Partial<Record<SourceField, string[]>> = {};
    for (const name of sourceFields) {
      if (source[name] === undefined) continue;
      const isServiceAccount = name === 'serviceAccounts' || name === 'notServiceAccounts';
      const values = this.stringList(
        source[name],
        `${path}.${name}`,
        isServiceAccount ? policyLimits.maxServiceAccounts : policyLimits.maxListLength,
      );
      values.forEach((entry, i) => this.sourceValue(name, entry, `${path}.${name}[${i}]`));
      result[name] = values;
    }
    if (Object.keys(result).length === 0) this.fail(path, 'must set at least one field');
    const hasServiceAccounts = result.serviceAccounts !== undefined || result.notServiceAccounts !== undefined;
    if (hasServiceAccounts) {
      for (const other of ['principals', 'notPrincipals', 'namespaces', 'notNamespaces'] as const) {
        if (result[other] !== undefined) this.fail(`${path}.${other}`, 'cannot be combined with serviceAccounts or notServiceAccounts');
      }
    }
    return result;
  }

  private sourceValue(name: SourceField, value: string, field: string): void {
    switch (name) {
      case 'ipBlocks':
      case 'notIpBlocks':
      case 'remoteIpBlocks':
      case 'notRemoteIpBlocks':
        if (parseIpBlock(value) === undefined) this.fail(field, `"${value}" is not an IP address or CIDR block`);
        return;
      case 'serviceAccounts':
      case 'notServiceAccounts':
        if (value.length > policyLimits.maxServiceAccountLength)
          this.fail(field, `is longer than ${policyLimits.maxServiceAccountLength} characters`);
        if (!/^[^/*]+\/[^/*]+$/.test(value))
          this.fail(field, `"${value}" must have the form <namespace>/<serviceaccount>, without wildcards`);
        return;
      default:
        this.pattern(value, field);
    }
  }

  operation(value: unknown, field: string): PolicyOperation {
    const wrapper = this.object(value, field);
    this.onlyFields(wrapper, field, ['operation']);
    const path = `${field}.operation`;
    const operation = this.object(wrapper['operation'], path);
    this.onlyFields(operation, path, operationFields);
    const result: Partial<Record<OperationField, string[]>> = {};
    for (const name of operationFields) {
      if (operation[name] === undefined) continue;
      const values = this.stringList(operation[name], `${path}.${name}`);
      values.forEach((entry, i) => {
        const entryField = `${path}.${name}[${i}]`;
        if (name === 'ports' || name === 'notPorts') this.port(entry, entryField);
        else if ((name === 'paths' || name === 'notPaths') && isPathTemplate(entry)) {
          const problem = checkPathTemplate(entry);
          if (problem !== undefined) this.fail(entryField, problem);
        } else this.pattern(entry, entryField);
      });
      result[name] = values;
    }
    if (Object.keys(result).length === 0) this.fail(path, 'must set at least one field');
    return result;
  }

  condition(value: unknown, field: string): PolicyCondition {
    const condition = this.object(value, field);
    this.onlyFields(condition, field, ['key', 'values', 'notValues']);
    const key = this.string(condition['key'], `${field}.key`);
    const kind = conditionValueKind(key);
    if (typeof kind === 'object') this.fail(`${field}.key`, kind.problem);
    if (condition['values'] === undefined && condition['notValues'] === undefined) {
      this.fail(field, 'needs values or notValues');
    }
    const result: { key: string; values?: string[]; notValues?: string[] } = { key };
    for (const name of ['values', 'notValues'] as const) {
      if (condition[name] === undefined) continue;
      const values = this.stringList(condition[name], `${field}.${name}`);
      values.forEach((entry, i) => {
        const entryField = `${field}.${name}[${i}]`;
        if (kind === 'ip' && parseIpBlock(entry) === undefined) this.fail(entryField, `"${entry}" is not an IP address or CIDR block`);
        if (kind === 'port') this.port(entry, entryField);
        if (kind === 'count' && !/^\d{1,3}$/.test(entry)) this.fail(entryField, `"${entry}" is not a whole number`);
        if (kind === 'string') this.pattern(entry, entryField);
        if (kind === 'cel') {
          const compiled = compileCel(entry);
          if (!compiled.ok) this.fail(entryField, compiled.problem);
        }
      });
      result[name] = values;
    }
    return result;
  }

  stringList(value: unknown, field: string, maxLength: number = policyLimits.maxListLength): string[] {
    const list = this.list(value, field, maxLength);
    return list.map((entry, i) => this.string(entry, `${field}[${i}]`));
  }

  /** An Istio string match value: exact, `prefix*`, `*suffix` or `*`. */
  pattern(value: string, field: string): void {
    const problem = checkStringPattern(value);
    if (problem !== undefined) this.fail(field, problem);
  }

  private port(value: string, field: string): void {
    if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) this.fail(field, `"${value}" is not a port number (0-65535)`);
  }
}

function join(field: string, key: string): string {
  return field === '' ? key : `${field}.${key}`;
}

function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}
