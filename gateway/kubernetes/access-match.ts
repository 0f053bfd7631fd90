/**
 * The matchers a KubernetesAccessPolicy rule compiles to: subjects, RBAC-style
 * resource and non-resource entries. Built once when the authorizer is
 * compiled; a review only calls `matches`, which allocates nothing.
 */
import { StringMatcher } from '../policy/index.js';
import type { AccessNonResourceRule, AccessResourceRule, AccessSubject } from './access-policy.js';
import { compileRequirements, impliesAll, type CompiledRequirement } from './access-selectors.js';
import type { KubernetesUser, NonResourceAttributes, ResourceAttributes } from './types.js';

/** Kubernetes' anonymous user and group (`--anonymous-auth`). */
const anonymousUser = 'system:anonymous';
const unauthenticatedGroup = 'system:unauthenticated';

/** Whether Kubernetes authenticated nobody for this request. */
export function isAnonymous(user: KubernetesUser): boolean {
  return user.username === anonymousUser || user.groups.includes(unauthenticatedGroup);
}

/** RBAC's matching for verbs and API groups: exact values, or `*` for any (including the core group ""). */
export class ExactOrAnyMatcher {
  readonly any: boolean;
  readonly values: ReadonlySet<string>;

  constructor(values: readonly string[]) {
    this.any = values.includes('*');
    this.values = new Set(values.filter((value) => value !== '*'));
  }

  matches(value: string): boolean {
    return this.any || this.values.has(value);
  }
}

/**
 * RBAC resource matching: `*` any resource or subresource; `pods` only pods
 * itself, never `pods/log`; `pods/log` exactly; "*" + "/scale" the scale
 * subresource of anything; and Gatehouse's `pods/*`, any subresource of pods.
 */
export class ResourceMatcher {
  private readonly any: boolean;
  private readonly anySubresource: boolean;
  private readonly whole = new Set<string>();
  private readonly exactSubresources = new Map<string, Set<string>>();
  private readonly everySubresourceOf = new Set<string>();
  private readonly subresourceOfAny = new Set<string>();

  /** `resources` must have passed validation. */
  constructor(resources: readonly string[]) {
    let any = false;
    let anySubresource = false;
    for (const entry of resources) {
      const slash = entry.indexOf('/');
      if (slash === -1) {
        if (entry === '*') any = true;
        else this.whole.add(entry);
        continue;
      }
      const resource = entry.slice(0, slash);
      const subresource = entry.slice(slash + 1);
      if (resource === '*' && subresource === '*') anySubresource = true;
      else if (resource === '*') this.subresourceOfAny.add(subresource);
      else if (subresource === '*') this.everySubresourceOf.add(resource);
      else {
        let subresources = this.exactSubresources.get(resource);
        if (subresources === undefined) this.exactSubresources.set(resource, (subresources = new Set()));
        subresources.add(subresource);
      }
    }
    this.any = any;
    this.anySubresource = anySubresource;
  }

  matches(resource: string, subresource: string): boolean {
    if (this.any) return true;
    if (subresource === '') return this.whole.has(resource);
    return (
      this.anySubresource ||
      this.everySubresourceOf.has(resource) ||
      this.subresourceOfAny.has(subresource) ||
      this.exactSubresources.get(resource)?.has(subresource) === true
    );
  }
}

/** Namespace patterns, where "" stands for cluster-scoped requests. */
export class NamespaceMatcher {
  private readonly clusterScoped: boolean;
  private readonly namespaces: StringMatcher;

  constructor(namespaces: readonly string[]) {
    this.clusterScoped = namespaces.includes('');
    this.namespaces = new StringMatcher(namespaces.filter((namespace) => namespace !== ''));
  }

  matches(namespace: string): boolean {
    return namespace === '' ? this.clusterScoped : this.namespaces.matches(namespace);
  }
}

/** One compiled `resources[]` entry. */
export class ResourceEntryMatcher {
  readonly verbs: ExactOrAnyMatcher;
  private readonly apiGroups: ExactOrAnyMatcher;
  private readonly resources: ResourceMatcher;
  private readonly namespaces: NamespaceMatcher | undefined;
  private readonly names: StringMatcher | undefined;
  private readonly labelSelector: readonly CompiledRequirement[] | undefined;
  private readonly fieldSelector: readonly CompiledRequirement[] | undefined;

  constructor(entry: AccessResourceRule) {
    this.verbs = new ExactOrAnyMatcher(entry.verbs);
    this.apiGroups = new ExactOrAnyMatcher(entry.apiGroups);
    this.resources = new ResourceMatcher(entry.resources);
    this.namespaces = entry.namespaces === undefined ? undefined : new NamespaceMatcher(entry.namespaces);
    this.names = entry.names === undefined ? undefined : new StringMatcher(entry.names);
    this.labelSelector = entry.labelSelector === undefined ? undefined : compileRequirements(entry.labelSelector);
    this.fieldSelector = entry.fieldSelector === undefined ? undefined : compileRequirements(entry.fieldSelector);
  }

  /** RBAC ignores the version, and so does this; CEL conditions can read it. */
  matches(request: ResourceAttributes): boolean {
    return (
      this.verbs.matches(request.verb) &&
      this.apiGroups.matches(request.group) &&
      this.resources.matches(request.resource, request.subresource) &&
      (this.namespaces === undefined || this.namespaces.matches(request.namespace)) &&
      // A request without a name (list, create) is not "a request for one of these names".
      (this.names === undefined || this.names.matches(request.name)) &&
      (this.labelSelector === undefined || impliesAll(request.labelSelector, this.labelSelector)) &&
      (this.fieldSelector === undefined || impliesAll(request.fieldSelector, this.fieldSelector))
    );
  }
}

/** One compiled `nonResources[]` entry: RBAC `nonResourceURLs` (exact, `prefix*`, `*`). */
export class NonResourceEntryMatcher {
  readonly verbs: ExactOrAnyMatcher;
  private readonly anyPath: boolean;
  private readonly exactPaths = new Set<string>();
  private readonly pathPrefixes: string[] = [];

  constructor(entry: AccessNonResourceRule) {
    this.verbs = new ExactOrAnyMatcher(entry.verbs);
    this.anyPath = entry.paths.includes('*');
    for (const path of entry.paths) {
      if (path === '*') continue;
      if (path.endsWith('*')) this.pathPrefixes.push(path.slice(0, -1));
      else this.exactPaths.add(path);
    }
  }

  matches(request: NonResourceAttributes): boolean {
    if (!this.verbs.matches(request.verb)) return false;
    if (this.anyPath || this.exactPaths.has(request.path)) return true;
    for (const prefix of this.pathPrefixes) if (request.path.startsWith(prefix)) return true;
    return false;
  }
}

/** The username of a service account, as Kubernetes authenticates its tokens. */
export function serviceAccountUsername(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

/**
 * One compiled `subjects[]` entry: its fields AND'ed. An entry without
 * `users`, `groups` or `serviceAccounts` constrains only by its exclusions,
 * and then matches any subject `anyone` admits.
 */
export class SubjectMatcher {
  private readonly users: StringMatcher | undefined;
  private readonly serviceAccounts: StringMatcher | undefined;
  private readonly groups: StringMatcher | undefined;
  private readonly notUsers: StringMatcher | undefined;
  private readonly notGroups: StringMatcher | undefined;
  private readonly positive: boolean;

  /**
   * @param anonymousAllowed whether a subject without positive fields admits
   *   the anonymous user: true for DENY (a deny must not be escaped by
   *   authenticating less), false for ALLOW.
   */
  constructor(
    subject: AccessSubject,
    private readonly anonymousAllowed: boolean,
  ) {
    const matcher = (values: readonly string[] | undefined) => (values === undefined ? undefined : new StringMatcher(values));
    this.users = matcher(subject.users);
    this.serviceAccounts = matcher(
      subject.serviceAccounts?.map((entry) => {
        const slash = entry.indexOf('/');
        // `ns/*` becomes the prefix pattern `system:serviceaccount:ns:*`.
        return serviceAccountUsername(entry.slice(0, slash), entry.slice(slash + 1));
      }),
    );
    this.groups = matcher(subject.groups);
    this.notUsers = matcher(subject.notUsers);
    this.notGroups = matcher(subject.notGroups);
    this.positive = this.users !== undefined || this.serviceAccounts !== undefined || this.groups !== undefined;
  }

  matches(user: KubernetesUser, anonymous: boolean): boolean {
    if (this.users !== undefined && !this.users.matches(user.username)) return false;
    if (this.serviceAccounts !== undefined && !this.serviceAccounts.matches(user.username)) return false;
    if (this.groups !== undefined && !anyMatches(this.groups, user.groups)) return false;
    if (this.notUsers !== undefined && this.notUsers.matches(user.username)) return false;
    if (this.notGroups !== undefined && anyMatches(this.notGroups, user.groups)) return false;
    return this.positive || this.anonymousAllowed || !anonymous;
  }
}

function anyMatches(matcher: StringMatcher, values: readonly string[]): boolean {
  for (const value of values) if (matcher.matches(value)) return true;
  return false;
}
