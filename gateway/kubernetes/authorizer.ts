/**
 * Decides SubjectAccessReviews with KubernetesAccessPolicies. In order:
 * break-glass subjects are allowed; a matching DENY rule denies; a matching
 * ALLOW rule allows; otherwise Gatehouse has no opinion and the cluster's RBAC
 * decides. Every error path ends in a deny or no opinion, never an allow.
 */
import { ValidationError } from '../errors.js';
import { readPolicySources, type PolicyOptions } from '../policy/index.js';
import { accessCelActivation, type AccessCelActivation } from './access-cel.js';
import { isAnonymous, NonResourceEntryMatcher, ResourceEntryMatcher, SubjectMatcher, type ExactOrAnyMatcher } from './access-match.js';
import {
  kubernetesAccessPolicyKind,
  parseKubernetesAccessPolicies,
  type AccessCondition,
  type KubernetesAccessAction,
  type KubernetesAccessPolicy,
} from './access-policy.js';
import type { AccessReview, AccessVerdict, BreakGlassSubjects } from './types.js';

const noOpinionReason = "no Gatehouse policy matched; RBAC and the cluster's other authorizers decide";
const noOpinion: AccessVerdict = Object.freeze({ allowed: false, denied: false, reason: noOpinionReason });

interface CompiledRule {
  /** `namespace/name`. */
  readonly policy: string;
  readonly index: number;
  readonly action: KubernetesAccessAction;
  /** Undefined: any subject (any authenticated subject for ALLOW). */
  readonly subjects: readonly SubjectMatcher[] | undefined;
  readonly resources: readonly ResourceEntryMatcher[];
  readonly nonResources: readonly NonResourceEntryMatcher[];
  readonly when: readonly AccessCondition[];
  /** The verdict when this rule decides, built once. */
  readonly verdict: AccessVerdict;
}

/**
 * The rules that can match a verb, in policy order: a rule is listed under
 * each verb its entries name, and under every verb when one names `*`.
 */
class VerbIndex {
  private readonly byVerb = new Map<string, CompiledRule[]>();
  private readonly anyVerb: CompiledRule[] = [];

  constructor(rules: readonly CompiledRule[], entriesOf: (rule: CompiledRule) => readonly { readonly verbs: ExactOrAnyMatcher }[]) {
    for (const rule of rules) for (const entry of entriesOf(rule)) for (const verb of entry.verbs.values) this.byVerb.set(verb, []);
    for (const rule of rules) {
      const entries = entriesOf(rule);
      if (entries.some((entry) => entry.verbs.any)) {
        this.anyVerb.push(rule);
        for (const list of this.byVerb.values()) list.push(rule);
        continue;
      }
      const verbs = new Set(entries.flatMap((entry) => [...entry.verbs.values]));
      for (const verb of verbs) this.byVerb.get(verb)?.push(rule);
    }
  }

  candidates(verb: string): readonly CompiledRule[] {
    return this.byVerb.get(verb) ?? this.anyVerb;
  }
}

/** Outcome of a rule's `when` conditions, combined like CEL's `&&`: a false one decides even when another fails. */
type ConditionOutcome = true | false | { readonly error: string };

/**
 * The compiled KubernetesAccessPolicies and break-glass subjects. Immutable;
 * compile a new one to reload.
 *
 * @example
 * const authorizer = await loadKubernetesAuthorizer(['policies'], { users: [], groups: ['break-glass'] });
 * authorizer.review({ user: { username: 'alice', groups: ['todo-devs'], extra: {} }, kind: 'resource', resource });
 */
export class KubernetesAuthorizer {
  /**
   * Compiles policies (in namespace/name order, whatever the order given) and break-glass subjects.
   *
   * @throws ValidationError when a break-glass user or group is empty.
   */
  static compile(policies: readonly KubernetesAccessPolicy[], breakGlass: BreakGlassSubjects): KubernetesAuthorizer {
    const sorted = [...policies].sort((a, b) => compare(a.namespace, b.namespace) || compare(a.name, b.name));
    const rules = sorted.flatMap((policy) => policy.rules.map((rule, index) => compileRule(policy, index, rule)));
    return new KubernetesAuthorizer(rules, breakGlassVerdicts(breakGlass), sorted.length);
  }

  readonly policyCount: number;
  readonly ruleCount: number;
  private readonly denyResource: VerbIndex;
  private readonly denyNonResource: VerbIndex;
  private readonly allowResource: VerbIndex;
  private readonly allowNonResource: VerbIndex;
  private readonly hasDeny: boolean;

  private constructor(
    rules: readonly CompiledRule[],
    private readonly breakGlass: {
      readonly users: ReadonlyMap<string, AccessVerdict>;
      readonly groups: ReadonlyMap<string, AccessVerdict>;
    },
    policyCount: number,
  ) {
    this.policyCount = policyCount;
    this.ruleCount = rules.length;
    const deny = rules.filter((rule) => rule.action === 'DENY');
    const allow = rules.filter((rule) => rule.action === 'ALLOW');
    this.hasDeny = deny.length > 0;
    this.denyResource = new VerbIndex(deny, (rule) => rule.resources);
    this.denyNonResource = new VerbIndex(deny, (rule) => rule.nonResources);
    this.allowResource = new VerbIndex(allow, (rule) => rule.resources);
    this.allowNonResource = new VerbIndex(allow, (rule) => rule.nonResources);
  }

  /**
   * Answers one SubjectAccessReview. Synchronous and never throws: an
   * unexpected failure is never an allow (a deny when DENY policies exist,
   * since one of them might have matched; otherwise no opinion).
   */
  review(review: AccessReview): AccessVerdict {
    try {
      return this.decide(review);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return {
        allowed: false,
        denied: this.hasDeny,
        reason: `Gatehouse could not evaluate its ${kubernetesAccessPolicyKind} policies`,
        evaluationError: `internal error: ${message}`,
      };
    }
  }

  private decide(review: AccessReview): AccessVerdict {
    const { user } = review;
    // Break-glass comes first: it is the way in when policies or the identity provider are broken.
    const breakGlassUser = this.breakGlass.users.get(user.username);
    if (breakGlassUser !== undefined) return breakGlassUser;
    if (this.breakGlass.groups.size > 0) {
      for (const group of user.groups) {
        const verdict = this.breakGlass.groups.get(group);
        if (verdict !== undefined) return verdict;
      }
    }

    const resource = review.kind === 'resource';
    const verb = resource ? review.resource.verb : review.nonResource.verb;
    const anonymous = isAnonymous(user);
    let activation: AccessCelActivation | undefined;

    for (const rule of (resource ? this.denyResource : this.denyNonResource).candidates(verb)) {
      if (!structuralMatch(rule, review, anonymous)) continue;
      if (rule.when.length === 0) return rule.verdict;
      const outcome = runConditions(rule, (activation ??= accessCelActivation(review)));
      if (outcome === true) return rule.verdict;
      // Fail closed: a DENY whose condition cannot be evaluated denies.
      if (outcome !== false) {
        return {
          ...rule.verdict,
          reason: `${rule.verdict.reason}: a condition could not be evaluated (fail closed)`,
          evaluationError: outcome.error,
        };
      }
    }

    let firstError: string | undefined;
    for (const rule of (resource ? this.allowResource : this.allowNonResource).candidates(verb)) {
      if (!structuralMatch(rule, review, anonymous)) continue;
      if (rule.when.length === 0) return rule.verdict;
      const outcome = runConditions(rule, (activation ??= accessCelActivation(review)));
      if (outcome === true) return rule.verdict;
      if (outcome !== false) firstError ??= outcome.error;
    }
    if (firstError === undefined) return noOpinion;
    return {
      allowed: false,
      denied: false,
      reason: `${noOpinionReason} (an ALLOW condition could not be evaluated)`,
      evaluationError: firstError,
    };
  }
}

/** Everything but the CEL conditions: the request's entries, then the subjects. Plain loops: no closure per review. */
function structuralMatch(rule: CompiledRule, review: AccessReview, anonymous: boolean): boolean {
  let matched = false;
  if (review.kind === 'resource') {
    for (const entry of rule.resources) if ((matched = entry.matches(review.resource))) break;
  } else {
    for (const entry of rule.nonResources) if ((matched = entry.matches(review.nonResource))) break;
  }
  if (!matched) return false;
  if (rule.subjects === undefined) return rule.action === 'DENY' || !anonymous;
  for (const subject of rule.subjects) if (subject.matches(review.user, anonymous)) return true;
  return false;
}

function runConditions(rule: CompiledRule, activation: AccessCelActivation): ConditionOutcome {
  let error: string | undefined;
  for (let i = 0; i < rule.when.length; i++) {
    const condition = rule.when[i] as AccessCondition;
    let result: unknown;
    try {
      result = condition.program.run(activation);
    } catch (cause) {
      error ??= `${rule.policy} rule ${rule.index} when[${i}]: ${cause instanceof Error ? cause.message.split('\n', 1)[0] : String(cause)}`;
      continue;
    }
    if (result === false) return false;
    if (result !== true) error ??= `${rule.policy} rule ${rule.index} when[${i}]: yielded ${describe(result)}, not a bool`;
  }
  return error === undefined ? true : { error };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Map) return 'a map';
  return typeof value;
}

function compileRule(policy: KubernetesAccessPolicy, index: number, rule: KubernetesAccessPolicy['rules'][number]): CompiledRule {
  const id = `${policy.namespace}/${policy.name}`;
  const { action } = policy;
  const verdict: AccessVerdict = Object.freeze(
    action === 'DENY'
      ? { allowed: false, denied: true, reason: `denied by ${kubernetesAccessPolicyKind} ${id} rule ${index}`, policy: id, rule: index }
      : { allowed: true, denied: false, reason: `allowed by ${kubernetesAccessPolicyKind} ${id} rule ${index}`, policy: id, rule: index },
  );
  return {
    policy: id,
    index,
    action,
    subjects: rule.subjects.length === 0 ? undefined : rule.subjects.map((subject) => new SubjectMatcher(subject, action === 'DENY')),
    resources: rule.resources.map((entry) => new ResourceEntryMatcher(entry)),
    nonResources: rule.nonResources.map((entry) => new NonResourceEntryMatcher(entry)),
    when: rule.when,
    verdict,
  };
}

function breakGlassVerdicts(breakGlass: BreakGlassSubjects): {
  users: Map<string, AccessVerdict>;
  groups: Map<string, AccessVerdict>;
} {
  const verdicts = (names: readonly string[], kind: 'users' | 'groups') => {
    const map = new Map<string, AccessVerdict>();
    names.forEach((name, i) => {
      if (typeof name !== 'string' || name === '') {
        throw new ValidationError('breakGlass', undefined, `${kind}[${i}]`, 'must be a non-empty string');
      }
      const reason = `break-glass ${kind === 'users' ? 'user' : 'group'} ${name}: allowed without consulting any policy`;
      map.set(name, Object.freeze({ allowed: true, denied: false, breakGlass: name, reason }));
    });
    return map;
  };
  return { users: verdicts(breakGlass.users, 'users'), groups: verdicts(breakGlass.groups, 'groups') };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Reads the KubernetesAccessPolicy documents of policy files or folders and
 * compiles them with the break-glass subjects.
 *
 * @throws ValidationError naming file, document index and field of the first problem.
 * @example
 * const authorizer = await loadKubernetesAuthorizer(['deploy/examples/todo/policies'], { users: [], groups: ['break-glass'] });
 */
export async function loadKubernetesAuthorizer(
  paths: readonly string[],
  breakGlass: BreakGlassSubjects,
  options: PolicyOptions = {},
): Promise<KubernetesAuthorizer> {
  const sources = await readPolicySources([...paths]);
  return KubernetesAuthorizer.compile(parseKubernetesAccessPolicies(sources, options), breakGlass);
}
