/**
 * Which workloads a namespaced Istio document applies to, the same way for
 * every kind that targets workloads (AuthorizationPolicy,
 * RequestAuthentication): a document in the root namespace applies mesh-wide,
 * one in another namespace to that namespace's workloads, narrowed by
 * `selector.matchLabels` or by `targetRef(s)` to a Service or Gateway.
 *
 * The index is built once at load time; a query looks at the root namespace
 * and the workload's namespace only, then at one bucket per workload label.
 */
import type { WorkloadRef } from '../request/model.js';
import type { PolicyTargetRef } from './types.js';

/** What decides which workloads a document applies to. */
export interface Targeting {
  readonly namespace: string;
  /** `spec.selector.matchLabels`; undefined (or empty) selects every workload of the namespace. */
  readonly selector?: Readonly<Record<string, string>>;
  /** `spec.targetRef` and `spec.targetRefs` together. */
  readonly targetRefs: readonly PolicyTargetRef[];
}

interface Entry<T> {
  readonly item: T;
  /** Insertion position: query results come back in this order. */
  readonly order: number;
  /** Selector label pairs sorted by key; undefined when the entry has no selector. */
  readonly selector: readonly (readonly [string, string])[] | undefined;
}

/** The entries of one namespace, indexed by what selects a workload. */
export class NamespaceTargets<T> {
  /** Entries without selector or targetRefs: they apply to every workload of the namespace. */
  readonly unselected: Entry<T>[] = [];
  /** Entries with a selector, under their first `key\0value` label pair. */
  readonly byLabel = new Map<string, Entry<T>[]>();
  readonly byService = new Map<string, Entry<T>[]>();
  readonly byGateway = new Map<string, Entry<T>[]>();
}

/**
 * An index from (namespace, selector, targetRefs) to items, queried with a workload.
 *
 * @example
 * const index = new TargetIndex<string>('istio-system');
 * index.add('mesh-wide', { namespace: 'istio-system', targetRefs: [] });
 * index.add('todos-only', { namespace: 'default', selector: { app: 'todos' }, targetRefs: [] });
 * index.find({ namespace: 'default', labels: { app: 'todos' } }); // ['mesh-wide', 'todos-only']
 */
export class TargetIndex<T> {
  readonly byNamespace = new Map<string, NamespaceTargets<T>>();
  /** Whether any item needs the workload's namespace, labels, Service or Gateway to know if it applies. */
  hasWorkloadSpecificItems = false;
  private size = 0;

  constructor(readonly rootNamespace: string) {}

  /** Adds an item; `find` returns items in the order they were added. */
  add(item: T, targeting: Targeting): void {
    const selector =
      targeting.selector === undefined || Object.keys(targeting.selector).length === 0
        ? undefined
        : Object.entries(targeting.selector).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const entry: Entry<T> = { item, order: this.size++, selector };
    if (targeting.namespace !== this.rootNamespace || selector !== undefined || targeting.targetRefs.length > 0) {
      this.hasWorkloadSpecificItems = true;
    }
    let bucket = this.byNamespace.get(targeting.namespace);
    if (bucket === undefined) this.byNamespace.set(targeting.namespace, (bucket = new NamespaceTargets<T>()));
    if (selector !== undefined) {
      const [key, value] = selector[0] as readonly [string, string];
      push(bucket.byLabel, labelKey(key, value), entry);
    } else if (targeting.targetRefs.length > 0) {
      for (const ref of targeting.targetRefs) push(ref.kind === 'Service' ? bucket.byService : bucket.byGateway, ref.name, entry);
    } else {
      bucket.unselected.push(entry);
    }
  }

  /**
   * The items that apply to the workload, in insertion order: those of the
   * root namespace and of the workload's namespace, without selector or with
   * a matching selector or targetRef. A workload of unknown namespace gets
   * the root namespace's items only.
   */
  find(workload: WorkloadRef): T[] {
    const found: Entry<T>[] = [];
    this.collect(this.rootNamespace, workload, found);
    if (workload.namespace !== undefined && workload.namespace !== this.rootNamespace) this.collect(workload.namespace, workload, found);
    if (found.length > 1) found.sort((a, b) => a.order - b.order);
    return found.map((entry) => entry.item);
  }

  private collect(namespace: string, workload: WorkloadRef, found: Entry<T>[]): void {
    const bucket = this.byNamespace.get(namespace);
    if (bucket === undefined) return;
    for (const entry of bucket.unselected) found.push(entry);
    for (const [key, value] of Object.entries(workload.labels)) {
      for (const entry of bucket.byLabel.get(labelKey(key, value)) ?? []) {
        if (selects(entry, workload)) found.push(entry);
      }
    }
    const targeted = [
      ...(workload.service === undefined ? [] : (bucket.byService.get(workload.service) ?? [])),
      ...(workload.gateway === undefined ? [] : (bucket.byGateway.get(workload.gateway) ?? [])),
    ];
    for (const entry of targeted) if (!found.includes(entry)) found.push(entry);
  }
}

/** The index key of a label pair; `\0` cannot occur in label keys or values. */
export function labelKey(key: string, value: string): string {
  return `${key}\u0000${value}`;
}

function selects(entry: Entry<unknown>, workload: WorkloadRef): boolean {
  for (const [key, value] of entry.selector ?? []) {
    if (!Object.hasOwn(workload.labels, key) || workload.labels[key] !== value) return false;
  }
  return true;
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else if (!list.includes(value)) list.push(value);
}
