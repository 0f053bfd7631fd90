/**
 * Compiles validated policies into matchers and indexes, once, at load time.
 * At decision time nothing is parsed and no regex is built; the indexes keep
 * the work per request flat as the number of policies and rules grows:
 * - policies by namespace, then by one selector label pair, Service or Gateway name;
 * - within a policy, rules by exact source principal.
 */
import { ValidationError } from '../errors.js';
import type { PolicyAction } from './decision.js';
import { celConditionKey, compileCel, type CelProgram } from './cel.js';
import { stripPort, type RequestFacts } from './facts.js';
import { IpMatcher, StringMatcher, pathMatcher, type ValueMatcher } from './match.js';
import { TargetIndex, type NamespaceTargets } from './targeting.js';
import { defaultRootNamespace } from './types.js';
import type {
  AuthorizationPolicy,
  LoadedPolicies,
  PolicyCondition,
  PolicyOperation,
  PolicyOptions,
  PolicyRule,
  PolicySource,
} from './types.js';
import { claimPathOf, conditionValueKind, headerNameOf } from './validate.js';

/** A compiled test of one part of a rule. May throw `PolicyEvaluationError` (CEL only). */
type Check<F = RequestFacts> = (facts: F) => boolean;

/** What a `to[].operation` looks at: a subset of RequestFacts, so other kinds (DelegationPolicy) can match operations too. */
export interface OperationFacts {
  /** Lower-cased host, possibly with `:port`. */
  readonly host: string | undefined;
  readonly method: string | undefined;
  /** The normalized path. */
  readonly path: string | undefined;
  readonly destinationPort: number | undefined;
}

/** A CEL expression failed at run time or did not yield a bool. */
export class PolicyEvaluationError extends Error {
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(`${field}: ${problem}`);
    this.name = 'PolicyEvaluationError';
  }
}

export interface CompiledRule {
  /** All `from`, `to` and `when` checks, cheapest first; CEL conditions last. */
  readonly matches: Check;
  /** The decision reason when this rule decides, built once. */
  readonly matchedReason: string;
}

export interface CompiledPolicy {
  /** `namespace/name`. */
  readonly id: string;
  /** Position in the deterministic order (namespace, then name). */
  readonly order: number;
  readonly namespace: string;
  readonly action: PolicyAction;
  readonly selector: readonly (readonly [string, string])[] | undefined;
  readonly rules: readonly CompiledRule[];
  /** Indexes of rules every `from` of which names exact principals, by principal, ascending. */
  readonly rulesByPrincipal: ReadonlyMap<string, readonly number[]>;
  /** Indexes of all other rules, ascending. */
  readonly rulesAlwaysChecked: readonly number[];
}

/** The policies of one namespace, indexed by what selects a workload. */
export type NamespacePolicies = NamespaceTargets<CompiledPolicy>;

/** The policies that apply to one workload, in (namespace, name) order, also split by action. */
export interface ApplicablePolicies {
  readonly all: readonly CompiledPolicy[];
  readonly deny: readonly CompiledPolicy[];
  readonly allow: readonly CompiledPolicy[];
  readonly audit: readonly CompiledPolicy[];
  /** Reason when no ALLOW policy applies (so the request is allowed). */
  readonly noAllowPolicyReason: string;
  /** Reason when ALLOW policies apply and none matched. */
  readonly noAllowMatchReason: string;
}

/**
 * The shadow policies of a set (`istio.io/dry-run` or `gatehouse.dev/shadow`)
 * and the candidate set they would make if enforced.
 */
export interface ShadowPolicies {
  /** The live policies plus the shadow ones, as if enforced. */
  readonly candidate: CompiledPolicySet;
  /** The shadow policies alone, by the workloads they apply to: is there anything to compare for this request? */
  readonly targets: TargetIndex<CompiledPolicy>;
  /** Every shadow policy, in (namespace, name) order. */
  readonly policies: readonly CompiledPolicy[];
  /** `namespace/name` of every shadow policy. */
  readonly ids: ReadonlySet<string>;
  /** The shadow policies that apply to a workload, by the workload object (as `applicableByWorkload`). */
  readonly applicableByWorkload: WeakMap<object, readonly CompiledPolicy[]>;
}

/** A policy set ready for `evaluate`. Immutable; swap the whole set to reload. */
export class CompiledPolicySet {
  /** Policies that are enforced (ALLOW, DENY, AUDIT; not CUSTOM, not shadow). */
  readonly policyCount: number;
  /** Rules of the enforced policies. */
  readonly ruleCount: number;
  readonly skipped: LoadedPolicies['skipped'];
  readonly rootNamespace: string;
  readonly byNamespace: ReadonlyMap<string, NamespacePolicies>;
  /** The evaluated policies by the workloads they apply to, in (namespace, name) order. */
  readonly targets: TargetIndex<CompiledPolicy>;
  /** Whether any policy needs the workload's namespace, labels or name to know if it applies. */
  readonly hasWorkloadSpecificPolicies: boolean;
  /**
   * The policies that apply to a workload, by the workload object. The
   * request stage hands out one object per distinct workload, so a busy
   * workload's policies are looked up once per set.
   */
  readonly applicableByWorkload = new WeakMap<object, ApplicablePolicies>();
  /** Shadow policies, when the files hold any: evaluated beside this set, never deciding. */
  readonly shadow: ShadowPolicies | undefined;

  constructor(parts: {
    policyCount: number;
    ruleCount: number;
    skipped: LoadedPolicies['skipped'];
    rootNamespace: string;
    targets: TargetIndex<CompiledPolicy>;
    shadow?: ShadowPolicies;
  }) {
    this.policyCount = parts.policyCount;
    this.ruleCount = parts.ruleCount;
    this.skipped = parts.skipped;
    this.rootNamespace = parts.rootNamespace;
    this.targets = parts.targets;
    this.byNamespace = parts.targets.byNamespace;
    this.hasWorkloadSpecificPolicies = parts.targets.hasWorkloadSpecificItems;
    this.shadow = parts.shadow;
  }
}

/**
 * Compiles loaded policies. CUSTOM policies are left out (they are already
 * listed in `loaded.skipped`); shadow policies are compiled into
 * `set.shadow`, outside the enforced set. Each policy is compiled once, and
 * the live and candidate sets share it.
 *
 * @throws ValidationError when a value cannot be compiled (normally caught by `parsePolicyDocuments`).
 */
export function compilePolicySet(loaded: LoadedPolicies, options: PolicyOptions = {}): CompiledPolicySet {
  const rootNamespace = options.rootNamespace ?? defaultRootNamespace;
  const evaluated = loaded.policies
    .filter((policy) => policy.action !== 'CUSTOM')
    .sort((a, b) => compare(a.namespace, b.namespace) || compare(a.name, b.name));
  const compiled = evaluated.map((policy, order) => ({ policy, compiled: compilePolicy(policy, order) }));
  const skipped = [...loaded.skipped];
  const live = compiled.filter(({ policy }) => !policy.shadow);
  const shadows = compiled.filter(({ policy }) => policy.shadow);
  const shadow =
    shadows.length === 0
      ? undefined
      : {
          candidate: indexedSet(compiled, rootNamespace, skipped),
          targets: targetIndex(shadows, rootNamespace),
          policies: shadows.map((entry) => entry.compiled),
          ids: new Set(shadows.map((entry) => entry.compiled.id)),
          applicableByWorkload: new WeakMap<object, readonly CompiledPolicy[]>(),
        };
  return indexedSet(live, rootNamespace, skipped, shadow);
}

interface CompiledEntry {
  readonly policy: AuthorizationPolicy;
  readonly compiled: CompiledPolicy;
}

function indexedSet(
  entries: readonly CompiledEntry[],
  rootNamespace: string,
  skipped: LoadedPolicies['skipped'],
  shadow?: ShadowPolicies,
): CompiledPolicySet {
  return new CompiledPolicySet({
    policyCount: entries.length,
    ruleCount: entries.reduce((sum, entry) => sum + entry.compiled.rules.length, 0),
    skipped,
    rootNamespace,
    targets: targetIndex(entries, rootNamespace),
    ...(shadow === undefined ? {} : { shadow }),
  });
}

function targetIndex(entries: readonly CompiledEntry[], rootNamespace: string): TargetIndex<CompiledPolicy> {
  const targets = new TargetIndex<CompiledPolicy>(rootNamespace);
  for (const { policy, compiled } of entries) targets.add(compiled, policy);
  return targets;
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else if (!list.includes(value)) list.push(value);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compilePolicy(policy: AuthorizationPolicy, order: number): CompiledPolicy {
  const fail = (field: string, problem: string): never => {
    throw new ValidationError(policy.origin.file, policy.origin.documentIndex, field, problem);
  };
  const id = `${policy.namespace}/${policy.name}`;
  const rules = policy.rules.map((rule, i) => ({
    matches: compileRule(rule, `spec.rules[${i}]`, fail),
    matchedReason: `${policy.action} policy ${id} rule ${i} matched`,
  }));
  const rulesByPrincipal = new Map<string, number[]>();
  const rulesAlwaysChecked: number[] = [];
  policy.rules.forEach((rule, i) => {
    const principals = exactPrincipalsOf(rule);
    if (principals === undefined) rulesAlwaysChecked.push(i);
    else for (const principal of principals) push(rulesByPrincipal, principal, i);
  });
  const selector = policy.selector === undefined ? undefined : Object.entries(policy.selector).sort(([a], [b]) => compare(a, b));
  return {
    id,
    order,
    namespace: policy.namespace,
    action: policy.action as PolicyAction,
    selector,
    rules,
    rulesByPrincipal,
    rulesAlwaysChecked,
  };
}

/**
 * The principals a rule can only match with, when every `from` names exact
 * principals; undefined when the rule could match other principals too.
 */
function exactPrincipalsOf(rule: PolicyRule): Set<string> | undefined {
  if (rule.from.length === 0) return undefined;
  const principals = new Set<string>();
  for (const from of rule.from) {
    if (from.principals === undefined) return undefined;
    const exact = new StringMatcher(from.principals.map(stripSpiffeScheme)).exactValuesOnly;
    if (exact === undefined) return undefined;
    for (const principal of exact) principals.add(principal);
  }
  return principals;
}

/** Policies may write principals with or without `spiffe://`; requests carry them without. */
function stripSpiffeScheme(value: string): string {
  return value.startsWith('spiffe://') ? value.slice('spiffe://'.length) : value;
}

type Fail = (field: string, problem: string) => never;

function compileRule(rule: PolicyRule, field: string, fail: Fail): Check {
  const from = anyOf(rule.from.map((source) => allOf(compileSource(source))));
  const to: Check = compileOperations(rule.to);
  const plain = rule.when.filter((condition) => condition.key !== celConditionKey);
  const cel = rule.when.filter((condition) => condition.key === celConditionKey);
  const when = [...plain, ...cel].map((condition) => compileCondition(condition, `${field}.when[${rule.when.indexOf(condition)}]`, fail));
  return allOf([from, to, ...when]);
}

function anyOf<F>(checks: readonly Check<F>[]): Check<F> {
  if (checks.length === 0) return () => true; // absent or empty from/to: any
  if (checks.length === 1) return checks[0] as Check<F>;
  return (facts) => {
    for (const check of checks) if (check(facts)) return true;
    return false;
  };
}

function allOf<F>(checks: readonly Check<F>[]): Check<F> {
  if (checks.length === 1) return checks[0] as Check<F>;
  return (facts) => {
    for (const check of checks) if (!check(facts)) return false;
    return true;
  };
}

/** A positive field needs a present value that matches; a negative one rejects a present value that matches. */
function fieldCheck<F>(read: (facts: F) => string | undefined, matcher: ValueMatcher, negative: boolean): Check<F> {
  return negative
    ? (facts) => {
        const value = read(facts);
        return value === undefined || !matcher.matches(value);
      }
    : (facts) => {
        const value = read(facts);
        return value !== undefined && matcher.matches(value);
      };
}

/** Like `fieldCheck` for multi-valued attributes (audiences, list claims): any element counts. */
function listCheck(read: (facts: RequestFacts) => readonly string[] | undefined, matcher: ValueMatcher, negative: boolean): Check {
  return (facts) => {
    const values = read(facts);
    const any = values !== undefined && values.some((value) => matcher.matches(value));
    return negative ? !any : any;
  };
}

function compileSource(source: PolicySource): Check[] {
  const checks: Check[] = [];
  const add = (
    values: readonly string[] | undefined,
    negative: boolean,
    read: (facts: RequestFacts) => string | undefined,
    matcher: (values: readonly string[]) => ValueMatcher,
  ) => {
    if (values !== undefined) checks.push(fieldCheck(read, matcher(values), negative));
  };
  const strings = (values: readonly string[]) => new StringMatcher(values);
  const principals = (values: readonly string[]) => new StringMatcher(values.map(stripSpiffeScheme));
  const ips = (values: readonly string[]) => new IpMatcher(values);
  const exact = (values: readonly string[]) => new ExactMatcher(values);
  add(source.principals, false, (f) => f.principal, principals);
  add(source.notPrincipals, true, (f) => f.principal, principals);
  add(source.requestPrincipals, false, (f) => f.requestPrincipal, strings);
  add(source.notRequestPrincipals, true, (f) => f.requestPrincipal, strings);
  add(source.namespaces, false, (f) => f.sourceNamespace, strings);
  add(source.notNamespaces, true, (f) => f.sourceNamespace, strings);
  add(source.serviceAccounts, false, (f) => f.serviceAccount, exact);
  add(source.notServiceAccounts, true, (f) => f.serviceAccount, exact);
  add(source.ipBlocks, false, (f) => f.sourceIp, ips);
  add(source.notIpBlocks, true, (f) => f.sourceIp, ips);
  add(source.remoteIpBlocks, false, (f) => f.remoteIp, ips);
  add(source.notRemoteIpBlocks, true, (f) => f.remoteIp, ips);
  return checks;
}

/**
 * Compiles `to[]` operations: any one operation matching suffices, all of
 * its fields must; an empty list matches every request.
 *
 * @example
 * const matches = compileOperations([{ methods: ['GET'], paths: ['/todos/*'] }]);
 * matches({ method: 'GET', path: '/todos/1', host: 'todos', destinationPort: undefined }); // true
 */
export function compileOperations(operations: readonly PolicyOperation[]): (facts: OperationFacts) => boolean {
  return anyOf(operations.map((operation) => allOf(compileOperation(operation))));
}

function compileOperation(operation: PolicyOperation): Check<OperationFacts>[] {
  const checks: Check<OperationFacts>[] = [];
  for (const [values, negative] of [
    [operation.hosts, false],
    [operation.notHosts, true],
  ] as const) {
    if (values !== undefined) checks.push(fieldCheck((f) => f.host, new HostMatcher(values), negative));
  }
  for (const [values, negative] of [
    [operation.ports, false],
    [operation.notPorts, true],
  ] as const) {
    if (values !== undefined)
      checks.push(fieldCheck((f) => portString(f.destinationPort), new ExactMatcher(values.map((port) => String(Number(port)))), negative));
  }
  if (operation.methods !== undefined) checks.push(fieldCheck((f) => f.method, new StringMatcher(operation.methods), false));
  if (operation.notMethods !== undefined) checks.push(fieldCheck((f) => f.method, new StringMatcher(operation.notMethods), true));
  if (operation.paths !== undefined) checks.push(fieldCheck((f) => f.path, pathMatcher(operation.paths), false));
  if (operation.notPaths !== undefined) checks.push(fieldCheck((f) => f.path, pathMatcher(operation.notPaths), true));
  return checks;
}

function portString(port: number | undefined): string | undefined {
  return port === undefined ? undefined : String(port);
}

/** Exact comparison only (service accounts, ports). */
class ExactMatcher implements ValueMatcher {
  private readonly values: ReadonlySet<string>;
  constructor(values: readonly string[]) {
    this.values = new Set(values);
  }
  matches(value: string): boolean {
    return this.values.has(value);
  }
}

/**
 * Hosts match case-insensitively, and a policy host without a port also
 * matches the same host with any port (`example.com` matches `example.com:8080`).
 */
class HostMatcher implements ValueMatcher {
  private readonly anyForm: StringMatcher;
  private readonly portless: StringMatcher;
  constructor(values: readonly string[]) {
    const lower = values.map((value) => value.toLowerCase());
    this.anyForm = new StringMatcher(lower);
    this.portless = new StringMatcher(lower.filter((value) => !/:[^\]]*$/.test(value)));
  }
  matches(host: string): boolean {
    if (this.anyForm.matches(host)) return true;
    const withoutPort = stripPort(host);
    return withoutPort !== undefined && this.portless.matches(withoutPort);
  }
}

function compileCondition(condition: PolicyCondition, field: string, fail: Fail): Check {
  const checks: Check[] = [];
  if (condition.key === celConditionKey) {
    if (condition.values !== undefined) checks.push(celCheck(condition.values, `${field}.values`, false, fail));
    if (condition.notValues !== undefined) checks.push(celCheck(condition.notValues, `${field}.notValues`, true, fail));
    return allOf(checks);
  }
  const kind = conditionValueKind(condition.key);
  if (typeof kind === 'object') return fail(`${field}.key`, kind.problem);
  for (const [values, negative] of [
    [condition.values, false],
    [condition.notValues, true],
  ] as const) {
    if (values === undefined) continue;
    checks.push(conditionCheck(condition.key, values, negative));
  }
  return allOf(checks);
}

function conditionCheck(key: string, values: readonly string[], negative: boolean): Check {
  const header = headerNameOf(key);
  if (header !== undefined) {
    const name = header.toLowerCase();
    return fieldCheck((f) => f.input.request.headers.get(name), new StringMatcher(values), negative);
  }
  const claimPath = claimPathOf(key);
  if (claimPath !== undefined) return listCheck((f) => claimValues(f, claimPath), new StringMatcher(values), negative);
  switch (key) {
    case 'source.ip':
      return fieldCheck((f) => f.sourceIp, new IpMatcher(values), negative);
    case 'remote.ip':
      return fieldCheck((f) => f.remoteIp, new IpMatcher(values), negative);
    case 'destination.ip':
      return fieldCheck((f) => f.destinationIp, new IpMatcher(values), negative);
    case 'destination.port':
      return fieldCheck((f) => portString(f.destinationPort), new ExactMatcher(values.map((port) => String(Number(port)))), negative);
    case 'source.namespace':
      return fieldCheck((f) => f.sourceNamespace, new StringMatcher(values), negative);
    case 'source.principal':
      return fieldCheck((f) => f.principal, new StringMatcher(values.map(stripSpiffeScheme)), negative);
    case 'connection.sni':
      return fieldCheck((f) => f.sni, new StringMatcher(values), negative);
    case 'request.auth.principal':
      return fieldCheck((f) => f.requestPrincipal, new StringMatcher(values), negative);
    case 'request.auth.presenter':
      return fieldCheck((f) => f.input.auth?.presenter, new StringMatcher(values), negative);
    case 'request.auth.credential':
      return fieldCheck((f) => f.credential, new StringMatcher(values), negative);
    case 'request.auth.audiences':
      return listCheck((f) => f.input.auth?.audiences, new StringMatcher(values), negative);
    case 'request.auth.actor':
      return fieldCheck((f) => f.actor, new StringMatcher(values), negative);
    case 'request.auth.actors':
      return listCheck((f) => f.input.auth?.delegation?.actors, new StringMatcher(values), negative);
    case 'request.auth.delegation.depth':
      return fieldCheck((f) => f.delegationDepth, new ExactMatcher(values.map((depth) => String(Number(depth)))), negative);
    default:
      throw new Error(`condition key ${key} has no compiler`); // unreachable: validated keys only
  }
}

/**
 * The string forms of claim `a.b...`: a string is itself, a number or bool
 * its string form, a list each such element; objects and absent claims have none.
 */
function claimValues(facts: RequestFacts, path: readonly string[]): readonly string[] | undefined {
  let value: unknown = facts.input.auth?.claims;
  for (const name of path) {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, name)) return undefined;
    value = (value as Record<string, unknown>)[name];
  }
  const scalar = (item: unknown): string | undefined =>
    typeof item === 'string' ? item : typeof item === 'number' || typeof item === 'boolean' ? String(item) : undefined;
  if (Array.isArray(value)) return value.map(scalar).filter((item): item is string => item !== undefined);
  const single = scalar(value);
  return single === undefined ? undefined : [single];
}

/** `values`: any expression true; `notValues`: none true. Errors and non-bools throw. */
function celCheck(expressions: readonly string[], field: string, negative: boolean, fail: Fail): Check {
  const programs: { program: CelProgram; field: string }[] = expressions.map((expression, i) => {
    const compiled = compileCel(expression);
    return compiled.ok ? { program: compiled.program, field: `${field}[${i}]` } : fail(`${field}[${i}]`, compiled.problem);
  });
  return (facts) => {
    for (const { program, field: expressionField } of programs) {
      let result: unknown;
      try {
        result = program.run(facts.cel);
      } catch (error) {
        throw new PolicyEvaluationError(expressionField, `CEL evaluation failed: ${firstLine(error)}`);
      }
      if (typeof result !== 'boolean')
        throw new PolicyEvaluationError(expressionField, `CEL expression yielded ${typeof result}, not a bool`);
      if (result) return !negative;
    }
    return negative;
  };
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n', 1)[0] ?? message;
}
