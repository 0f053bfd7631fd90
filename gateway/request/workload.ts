/**
 * Works out which workload a Check is for, so the right policies apply.
 *
 * In a plain Istio CUSTOM set-up Envoy reports the destination's SPIFFE ID
 * (namespace and service account) but rarely pod labels, so labels come from
 * three places, later ones adding to earlier ones:
 *   1. `destination.labels` as Envoy sent them;
 *   2. the configured `workloads` entry for the destination's namespace and
 *      service account;
 *   3. `context_extensions` keys `label.<key>` set on the route.
 * `context_extensions` `namespace`, `service` and `gateway` override the rest.
 */
import type { WorkloadEntry } from '../config/config.js';
import type { SpiffeId, WorkloadRef } from './model.js';
import { BoundedMemo } from '../bounded-memo.js';

/** Indexes the configured workloads by `namespace/serviceAccount`. */
export class WorkloadDirectory {
  private readonly byAccount = new Map<string, WorkloadEntry>();
  /**
   * Workloads named only by their SPIFFE ID (the usual Istio case), resolved
   * once: handing out the same object lets the policy stage memoize by it.
   */
  private readonly bySpiffeId = new BoundedMemo<string, WorkloadRef>(4096);

  constructor(entries: readonly WorkloadEntry[]) {
    for (const entry of entries) this.byAccount.set(`${entry.namespace}/${entry.serviceAccount}`, entry);
  }

  /**
   * Resolves the workload being called.
   *
   * @example
   * directory.resolve(spiffeOfTodos, {}, {}) // → { namespace: 'default', labels: { app: 'todos' }, ... }
   */
  resolve(
    destination: SpiffeId | undefined,
    envoyLabels: Readonly<Record<string, string>>,
    contextExtensions: Readonly<Record<string, string>>,
    envoyService?: string,
  ): WorkloadRef {
    const plain = isEmpty(envoyLabels) && isEmpty(contextExtensions);
    const memoKey = plain ? `${destination?.uri ?? ''}\u0000${envoyService ?? ''}` : undefined;
    const known = memoKey === undefined ? undefined : this.bySpiffeId.get(memoKey);
    if (known) return known;
    const workload = this.compute(destination, envoyLabels, contextExtensions, envoyService);
    return memoKey === undefined ? workload : this.bySpiffeId.remember(memoKey, workload);
  }

  private compute(
    destination: SpiffeId | undefined,
    envoyLabels: Readonly<Record<string, string>>,
    contextExtensions: Readonly<Record<string, string>>,
    envoyService?: string,
  ): WorkloadRef {
    const namespace = contextExtensions.namespace || destination?.namespace;
    const serviceAccount = destination?.serviceAccount;
    const entry = namespace && serviceAccount ? this.byAccount.get(`${namespace}/${serviceAccount}`) : undefined;

    const labels: Record<string, string> = { ...envoyLabels, ...entry?.labels };
    for (const [key, value] of Object.entries(contextExtensions)) {
      if (key.startsWith('label.') && key.length > 'label.'.length) labels[key.slice('label.'.length)] = value;
    }
    return {
      namespace,
      serviceAccount,
      labels,
      service: contextExtensions.service || entry?.service || envoyService || undefined,
      gateway: contextExtensions.gateway || undefined,
    };
  }
}

function isEmpty(record: Readonly<Record<string, string>>): boolean {
  for (const key in record) if (Object.hasOwn(record, key)) return false;
  return true;
}
