/**
 * Gatehouse's DelegationPolicy (`gatehouse.dev/v1alpha1`): which actors may
 * act for which subjects (RFC 8693 `act`), read from the same files as the
 * Istio documents, targeted at workloads exactly like an AuthorizationPolicy,
 * and evaluated by the gateway for every token with an actor chain and by the
 * token-exchange service before it mints one. Default deny: a chain no rule
 * permits is refused.
 */
import { DecisionCode, ValidationError, type DelegationCode } from '../errors.js';
import type { WorkloadRef } from '../request/model.js';
import { compileOperations, type OperationFacts } from './compile.js';
import { readDocumentsOfKind } from './load.js';
import { StringMatcher } from './match.js';
import { TargetIndex } from './targeting.js';
import { defaultPolicyNamespace, defaultRootNamespace } from './types.js';
import type { PolicyDocumentSource, PolicyOperation, PolicyOptions, PolicyOrigin, PolicyTargetRef } from './types.js';
import { Validator } from './validate.js';

export const delegationApiVersion = 'gatehouse.dev/v1alpha1';
export const delegationKind = 'DelegationPolicy';

/** The global maximum chain depth when gatehouse.yaml says nothing (`delegation.maxDepth`). */
export const defaultMaxDelegationDepth = 3;

/** Bounds on one document and on any configured depth. */
export const delegationLimits = {
  maxRules: 1_000,
  /** No configuration may allow chains longer than this. */
  maxDepth: 16,
} as const;

/** One validated `spec.rules[]` entry. Empty `audiences` and `to` mean "any". */
export interface DelegationRule {
  /** Patterns (exact, `prefix*`, `*suffix`, `*`) matched against actor IDs as the token writes them (`act.sub`). */
  readonly actors: readonly string[];
  /** Patterns matched against the subject principal `iss/sub`. */
  readonly subjects: readonly string[];
  /** Patterns of which the token's `aud` must match at least one; empty: any audience. */
  readonly audiences: readonly string[];
  /** Istio-like operations (hosts, methods, paths and their `not` forms); empty: any request. */
  readonly to: readonly PolicyOperation[];
  /** Longest chain this rule permits; absent: the global maximum. */
  readonly maxDepth?: number;
}

/** One validated DelegationPolicy document. */
export interface DelegationPolicy {
  readonly apiVersion: typeof delegationApiVersion;
  readonly name: string;
  readonly namespace: string;
  readonly origin: PolicyOrigin;
  readonly selector?: Readonly<Record<string, string>>;
  readonly targetRefs: readonly PolicyTargetRef[];
  readonly rules: readonly DelegationRule[];
}

/** What `parseDelegationPolicies` returns. */
export interface LoadedDelegationPolicies {
  readonly documents: readonly DelegationPolicy[];
}

/** Options of `compileDelegationPolicies`: the policy namespaces, and the global maximum depth. */
export interface DelegationPolicyOptions extends PolicyOptions {
  /** gatehouse.yaml `delegation.maxDepth`; default 3. */
  maxDepth?: number;
}

/** One delegation to decide: a token's (or a token-exchange request's) subject, actors and audience. */
export interface DelegationRequest {
  /** The subject principal `iss/sub`. */
  readonly subject: string;
  /** Every actor, current first (the outermost `act`), innermost last. */
  readonly actors: readonly string[];
  /** The token's `aud` values. */
  readonly audiences: readonly string[];
  /** The workload called; absent (token exchange): every DelegationPolicy is considered, whatever it targets. */
  readonly workload?: WorkloadRef;
  /** The request; when method, path and host are all absent (token exchange), rules' `to` is not checked. */
  readonly method?: string;
  /** The normalized path. */
  readonly path?: string;
  readonly host?: string;
  /** The subject token's `may_act` claim (RFC 8693 §4.4), if it has one. */
  readonly mayAct?: unknown;
}

export type DelegationVerdict =
  | { readonly ok: true; readonly policy: string; readonly rule: number }
  | { readonly ok: false; readonly code: DelegationCode; readonly reason: string };

const ruleFields = ['actors', 'subjects', 'audiences', 'to', 'maxDepth'];
const operationFields = ['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths'];

/**
 * Reads the DelegationPolicy documents among policy sources; documents of
 * other kinds are left to their readers.
 *
 * @throws ValidationError naming file, document index and field (e.g. `spec.rules[0].actors[1]`).
 * @example
 * const loaded = parseDelegationPolicies(await readPolicySources(config.policies.paths), { defaultNamespace: 'default' });
 */
export function parseDelegationPolicies(sources: readonly PolicyDocumentSource[], options: PolicyOptions = {}): LoadedDelegationPolicies {
  const defaultNamespace = options.defaultNamespace ?? defaultPolicyNamespace;
  const documents = readDocumentsOfKind(sources, 'gatehouse.dev', delegationKind, (document, origin) =>
    validateDelegationPolicy(document, origin, defaultNamespace),
  );
  return { documents };
}

/** Reads one document already known to be a `gatehouse.dev` DelegationPolicy. */
export function validateDelegationPolicy(document: unknown, origin: PolicyOrigin, defaultNamespace: string): DelegationPolicy {
  const v = new Validator(origin);
  const root = v.object(document, '');
  v.onlyFields(root, '', ['apiVersion', 'kind', 'metadata', 'spec', 'status']);
  if (root['apiVersion'] !== delegationApiVersion) {
    v.fail('apiVersion', `unsupported version ${JSON.stringify(root['apiVersion'])}; expected ${delegationApiVersion}`);
  }
  const { name, namespace } = v.metadata(root['metadata'], defaultNamespace);
  const spec = root['spec'] === undefined || root['spec'] === null ? {} : v.object(root['spec'], 'spec');
  v.onlyFields(spec, 'spec', ['selector', 'targetRef', 'targetRefs', 'rules']);
  const { selector, targetRefs } = v.targeting(spec, namespace);
  const rules =
    spec['rules'] === undefined
      ? []
      : v.list(spec['rules'], 'spec.rules', delegationLimits.maxRules).map((rule, i) => readRule(v, rule, `spec.rules[${i}]`));
  return {
    apiVersion: delegationApiVersion,
    name,
    namespace,
    origin,
    ...(selector === undefined ? {} : { selector }),
    targetRefs,
    rules,
  };
}

function readRule(v: Validator, value: unknown, field: string): DelegationRule {
  const rule = v.object(value, field);
  v.onlyFields(rule, field, ruleFields);
  const patterns = (name: string, required: boolean): string[] => {
    if (rule[name] === undefined) {
      if (required) v.fail(`${field}.${name}`, `is required (use ["*"] for any)`);
      return [];
    }
    const values = v.stringList(rule[name], `${field}.${name}`);
    if (required && values.length === 0) v.fail(`${field}.${name}`, `must not be empty (use ["*"] for any)`);
    values.forEach((entry, i) => v.pattern(entry, `${field}.${name}[${i}]`));
    return values;
  };
  const actors = patterns('actors', true);
  const subjects = patterns('subjects', true);
  const audiences = patterns('audiences', false);
  const to =
    rule['to'] === undefined
      ? []
      : v.list(rule['to'], `${field}.to`).map((entry, i) => {
          const entryField = `${field}.to[${i}]`;
          const operation = v.object(v.object(entry, entryField)['operation'], `${entryField}.operation`);
          // Ports are left out: the token-exchange service and the rule's reader have no port to compare.
          v.onlyFields(operation, `${entryField}.operation`, operationFields);
          return v.operation(entry, entryField);
        });
  let maxDepth: number | undefined;
  if (rule['maxDepth'] !== undefined) {
    const depth = rule['maxDepth'];
    if (typeof depth !== 'number' || !Number.isInteger(depth) || depth < 1 || depth > delegationLimits.maxDepth) {
      v.fail(`${field}.maxDepth`, `must be a whole number from 1 to ${delegationLimits.maxDepth}, not ${JSON.stringify(depth)}`);
    }
    maxDepth = depth;
  }
  return { actors, subjects, audiences, to, ...(maxDepth === undefined ? {} : { maxDepth }) };
}

interface CompiledDelegationRule {
  readonly index: number;
  readonly actors: StringMatcher;
  readonly subjects: StringMatcher;
  /** Undefined: any audience. */
  readonly audiences: StringMatcher | undefined;
  readonly to: (facts: OperationFacts) => boolean;
  readonly maxDepth: number;
}

interface CompiledDelegationPolicy {
  /** `namespace/name`. */
  readonly id: string;
  readonly rules: readonly CompiledDelegationRule[];
}

/**
 * The compiled DelegationPolicy documents. Immutable; swap the whole set to reload.
 *
 * @example
 * const set = compileDelegationPolicies(parseDelegationPolicies(sources), { maxDepth: 3 });
 * set.evaluate({ subject: 'https://idp/bob', actors: ['spiffe://cluster.local/ns/default/sa/share'], audiences: ['todos'] });
 */
export class DelegationPolicySet {
  /** An empty set: every delegation is refused. */
  static empty(options: DelegationPolicyOptions = {}): DelegationPolicySet {
    return compileDelegationPolicies({ documents: [] }, options);
  }

  readonly policyCount: number;
  readonly ruleCount: number;
  /** The global maximum chain depth. */
  readonly maxDepth: number;

  constructor(
    private readonly targets: TargetIndex<CompiledDelegationPolicy>,
    private readonly all: readonly CompiledDelegationPolicy[],
    maxDepth: number,
  ) {
    this.policyCount = all.length;
    this.ruleCount = all.reduce((sum, policy) => sum + policy.rules.length, 0);
    this.maxDepth = maxDepth;
  }

  /**
   * Decides one delegation. In order: an empty chain is malformed, a repeated
   * actor is a cycle, a chain longer than the global maximum is too deep, a
   * `may_act` that does not name the current actor is a mismatch; then some
   * rule of an applicable policy must permit the current actor (actor,
   * subject, audience, request, depth) and, for every prior actor, some rule
   * must permit it as an actor for the subject in a chain of this depth.
   * Never throws.
   */
  /** The policies that apply to a workload, memoized per workload object (the request stage reuses them). */
  private policiesFor(workload: WorkloadRef): readonly CompiledDelegationPolicy[] {
    let policies = this.byWorkload.get(workload);
    if (policies === undefined) {
      policies = this.targets.find(workload);
      this.byWorkload.set(workload, policies);
    }
    return policies;
  }

  private readonly byWorkload = new WeakMap<WorkloadRef, readonly CompiledDelegationPolicy[]>();

  evaluate(request: DelegationRequest): DelegationVerdict {
    const { actors, subject } = request;
    const current = actors[0];
    if (current === undefined || actors.some((actor) => typeof actor !== 'string' || actor === '')) {
      return refuse(DecisionCode.DelegationMalformed, 'the actor chain is empty or names an empty actor');
    }
    const repeated = actors.find((actor, i) => actors.indexOf(actor) !== i);
    if (repeated !== undefined) return refuse(DecisionCode.DelegationCycle, `actor ${repeated} appears twice in the chain`);
    const depth = actors.length;
    if (depth > this.maxDepth) {
      return refuse(DecisionCode.DelegationTooDeep, `the chain has ${depth} actors; at most ${this.maxDepth} are allowed`);
    }
    if (request.mayAct !== undefined) {
      const allowed = mayActSubject(request.mayAct);
      if (allowed !== current) {
        return refuse(
          DecisionCode.DelegationMayActMismatch,
          allowed === undefined
            ? 'the subject token has a may_act claim without a string sub'
            : `the subject's may_act names ${allowed}, not the current actor ${current}`,
        );
      }
    }

    const policies = request.workload === undefined ? this.all : this.policiesFor(request.workload);
    const operationKnown = request.method !== undefined || request.path !== undefined || request.host !== undefined;
    const facts: OperationFacts = {
      method: request.method,
      path: request.path,
      host: request.host?.toLowerCase(),
      destinationPort: undefined,
    };

    let permitted: { policy: string; rule: number } | undefined;
    let tooDeepFor: number | undefined;
    for (const policy of policies) {
      for (const rule of policy.rules) {
        if (!rule.actors.matches(current) || !rule.subjects.matches(subject)) continue;
        if (rule.audiences !== undefined && !request.audiences.some((audience) => rule.audiences?.matches(audience))) continue;
        if (operationKnown && !rule.to(facts)) continue;
        if (depth > rule.maxDepth) {
          tooDeepFor ??= rule.maxDepth;
          continue;
        }
        permitted = { policy: policy.id, rule: rule.index };
        break;
      }
      if (permitted !== undefined) break;
    }
    if (permitted === undefined) {
      if (tooDeepFor !== undefined) {
        return refuse(
          DecisionCode.DelegationTooDeep,
          `the chain has ${depth} actors; the rules permitting ${current} for ${subject} allow at most ${tooDeepFor}`,
        );
      }
      return refuse(DecisionCode.DelegationNotPermitted, `no DelegationPolicy permits ${current} to act for ${subject} here`);
    }

    for (const prior of actors.slice(1)) {
      const allowed = policies.some((policy) =>
        policy.rules.some((rule) => rule.actors.matches(prior) && rule.subjects.matches(subject) && depth <= rule.maxDepth),
      );
      if (!allowed) {
        return refuse(
          DecisionCode.DelegationNotPermitted,
          `prior actor ${prior} is not permitted to act for ${subject} in a chain of ${depth}`,
        );
      }
    }
    return { ok: true, ...permitted };
  }
}

/** RFC 8693 §4.4: `may_act` is an object whose `sub` names the party allowed to act. */
function mayActSubject(mayAct: unknown): string | undefined {
  if (typeof mayAct !== 'object' || mayAct === null || Array.isArray(mayAct)) return undefined;
  const sub = (mayAct as Record<string, unknown>)['sub'];
  return typeof sub === 'string' && sub !== '' ? sub : undefined;
}

function refuse(code: DelegationCode, reason: string): DelegationVerdict {
  return { ok: false, code, reason };
}

/**
 * Compiles loaded DelegationPolicies, in (namespace, name) order.
 *
 * @throws ValidationError when a rule's `maxDepth` exceeds the global maximum, or the global maximum is out of range.
 */
export function compileDelegationPolicies(loaded: LoadedDelegationPolicies, options: DelegationPolicyOptions = {}): DelegationPolicySet {
  const maxDepth = options.maxDepth ?? defaultMaxDelegationDepth;
  if (!Number.isInteger(maxDepth) || maxDepth < 1 || maxDepth > delegationLimits.maxDepth) {
    throw new ValidationError('delegation', undefined, 'maxDepth', `must be a whole number from 1 to ${delegationLimits.maxDepth}`);
  }
  const targets = new TargetIndex<CompiledDelegationPolicy>(options.rootNamespace ?? defaultRootNamespace);
  const sorted = [...loaded.documents].sort((a, b) => compare(a.namespace, b.namespace) || compare(a.name, b.name));
  const all = sorted.map((policy) => {
    const compiled: CompiledDelegationPolicy = {
      id: `${policy.namespace}/${policy.name}`,
      rules: policy.rules.map((rule, index) => {
        if (rule.maxDepth !== undefined && rule.maxDepth > maxDepth) {
          throw new ValidationError(
            policy.origin.file,
            policy.origin.documentIndex,
            `spec.rules[${index}].maxDepth`,
            `${rule.maxDepth} exceeds the global delegation.maxDepth ${maxDepth}`,
          );
        }
        return {
          index,
          actors: new StringMatcher(rule.actors),
          subjects: new StringMatcher(rule.subjects),
          audiences: rule.audiences.length === 0 ? undefined : new StringMatcher(rule.audiences),
          to: compileOperations(rule.to),
          maxDepth: rule.maxDepth ?? maxDepth,
        };
      }),
    };
    targets.add(compiled, policy);
    return compiled;
  });
  return new DelegationPolicySet(targets, all, maxDepth);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
