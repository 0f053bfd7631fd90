/**
 * Holds the live policy set, and the RequestAuthentication rules and
 * DelegationPolicies read from the same files, and swaps them atomically when the files change. An invalid
 * new set is rejected with its precise error and the last good set keeps
 * serving; starting with an invalid set fails fast with the same error.
 */
import { createHash } from 'node:crypto';
import type { IssuerExtensions } from '../identity/issuer-rule.js';
import { compileRequestAuthentications, parseRequestAuthentications, type RequestAuthenticationSet } from '../identity/index.js';
import type { Logger } from '../log.js';
import { FolderWatch } from './folder-watch.js';
import {
  compileDelegationPolicies,
  compilePolicySet,
  parseDelegationPolicies,
  parsePolicyDocuments,
  readPolicySources,
  type CompiledPolicySet,
  type DelegationPolicySet,
  type PolicyOptions,
} from './index.js';
import type { GatehouseConfig } from '../config/config.js';
import { issuerExtensions } from '../config/issuers.js';

/** Counters an operator (and the metrics endpoint) can read. */
export interface PolicyStoreStats {
  readonly reloads: number;
  readonly rejections: number;
  readonly lastError?: string;
  readonly loadedAt: Date;
}

/** Everything compiled from one version of the policy files. */
export interface PolicySnapshot {
  readonly policies: CompiledPolicySet;
  readonly authentication: RequestAuthenticationSet;
  readonly delegation: DelegationPolicySet;
}

export interface PolicyStoreOptions extends PolicyOptions {
  /** Gatehouse's per-issuer extensions (from gatehouse.yaml) for an issuer named by a RequestAuthentication. */
  readonly extensionsFor: (issuer: string) => IssuerExtensions;
  /** gatehouse.yaml `delegation.maxDepth`: the longest actor chain any DelegationPolicy may permit. Default 3. */
  readonly maxDelegationDepth?: number;
}

/**
 * The store's options as the configuration sets them.
 *
 * @example
 * const store = await PolicyStore.open(config.policies.paths, policyStoreOptions(config), log);
 */
export function policyStoreOptions(config: GatehouseConfig): PolicyStoreOptions {
  return {
    rootNamespace: config.policies.rootNamespace,
    defaultNamespace: config.policies.defaultNamespace,
    extensionsFor: issuerExtensions(config.jwt),
    maxDelegationDepth: config.delegation.maxDepth,
  };
}

/** The current policy set, reloaded from disk on change. */
export class PolicyStore {
  private readonly folders: FolderWatch;
  private reloading: Promise<void> = Promise.resolve();
  private reloads = 0;
  private rejections = 0;
  private lastError: string | undefined;
  private loadedAt = new Date();
  private readonly listeners = new Set<(snapshot: PolicySnapshot) => void>();

  private constructor(
    private readonly paths: readonly string[],
    private readonly options: PolicyStoreOptions,
    private readonly log: Logger,
    private snapshot: PolicySnapshot,
    private fingerprint: string,
  ) {
    this.folders = new FolderWatch(paths, log, () => void this.reload());
  }

  /**
   * Loads the policy files; throws the first ValidationError if they are invalid.
   *
   * @example
   * const store = await PolicyStore.open(config.policies.paths, { rootNamespace: 'istio-system', extensionsFor }, log);
   */
  static async open(paths: readonly string[], options: PolicyStoreOptions, log: Logger): Promise<PolicyStore> {
    const { snapshot, fingerprint } = await load(paths, options);
    log.info(describe(snapshot), 'policy set loaded');
    return new PolicyStore(paths, options, log, snapshot, fingerprint);
  }

  /** The live AuthorizationPolicy set. A reference read: swapping is a single assignment. */
  current(): CompiledPolicySet {
    return this.snapshot.policies;
  }

  /** The live RequestAuthentication rules. */
  currentAuthentication(): RequestAuthenticationSet {
    return this.snapshot.authentication;
  }

  /** The live DelegationPolicies. */
  currentDelegation(): DelegationPolicySet {
    return this.snapshot.delegation;
  }

  /** Calls `listener` with every new snapshot (e.g. to fetch the keys of new issuers). */
  onReload(listener: (snapshot: PolicySnapshot) => void): void {
    this.listeners.add(listener);
  }

  stats(): PolicyStoreStats {
    return { reloads: this.reloads, rejections: this.rejections, lastError: this.lastError, loadedAt: this.loadedAt };
  }

  /** Starts watching the policy files (and the folders holding them, for atomic renames). */
  watch(): Promise<void> {
    return this.folders.start();
  }

  /** Reloads now; resolves when done. Returns whether the set changed. */
  async reload(): Promise<boolean> {
    let changed = false;
    this.reloading = this.reloading.then(async () => {
      try {
        const next = await load(this.paths, this.options);
        if (next.fingerprint === this.fingerprint) return;
        this.snapshot = next.snapshot;
        this.fingerprint = next.fingerprint;
        this.reloads += 1;
        this.lastError = undefined;
        this.loadedAt = new Date();
        changed = true;
        this.log.info(describe(next.snapshot), 'policy set reloaded');
        for (const listener of this.listeners) listener(next.snapshot);
      } catch (error) {
        this.rejections += 1;
        this.lastError = error instanceof Error ? error.message : String(error);
        this.log.error({ err: this.lastError }, 'policy set rejected; the last good set keeps serving');
      }
    });
    await this.reloading;
    return changed;
  }

  close(): void {
    this.folders.close();
  }
}

function describe({ policies, authentication, delegation }: PolicySnapshot): Record<string, number> {
  return {
    policies: policies.policyCount,
    rules: policies.ruleCount,
    shadowPolicies: policies.shadow?.policies.length ?? 0,
    skipped: policies.skipped.length,
    requestAuthentications: authentication.documentCount,
    issuerRules: authentication.ruleCount,
    delegationPolicies: delegation.policyCount,
    delegationRules: delegation.ruleCount,
  };
}

async function load(paths: readonly string[], options: PolicyStoreOptions): Promise<{ snapshot: PolicySnapshot; fingerprint: string }> {
  const sources = await readPolicySources([...paths]);
  const hash = createHash('sha256');
  for (const source of sources) hash.update(source.file).update('\0').update(source.text).update('\0');
  const policies = compilePolicySet(parsePolicyDocuments(sources, options), options);
  const authentication = compileRequestAuthentications(parseRequestAuthentications(sources, options), options.extensionsFor, options);
  const delegation = compileDelegationPolicies(parseDelegationPolicies(sources, options), {
    ...options,
    ...(options.maxDelegationDepth === undefined ? {} : { maxDepth: options.maxDelegationDepth }),
  });
  return { snapshot: { policies, authentication, delegation }, fingerprint: hash.digest('hex') };
}
