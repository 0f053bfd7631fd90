/**
 * Holds the live policy set and swaps it atomically when its files change.
 * An invalid new set is rejected with its precise error and the last good set
 * keeps serving; starting with an invalid set fails fast with the same error.
 */
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log.js';
import { compilePolicySet, parsePolicyDocuments, readPolicySources, type CompiledPolicySet, type PolicyOptions } from './index.js';

/** Counters an operator (and the metrics endpoint) can read. */
export interface PolicyStoreStats {
  readonly reloads: number;
  readonly rejections: number;
  readonly lastError?: string;
  readonly loadedAt: Date;
}

const DEBOUNCE_MS = 150;

/** The current policy set, reloaded from disk on change. */
export class PolicyStore {
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> = Promise.resolve();
  private reloads = 0;
  private rejections = 0;
  private lastError: string | undefined;
  private loadedAt = new Date();

  private constructor(
    private readonly paths: readonly string[],
    private readonly options: PolicyOptions,
    private readonly log: Logger,
    private set: CompiledPolicySet,
    private fingerprint: string,
  ) {}

  /**
   * Loads the policy set; throws the first ValidationError if it is invalid.
   *
   * @example
   * const store = await PolicyStore.open(config.policies.paths, { rootNamespace: 'istio-system' }, log);
   */
  static async open(paths: readonly string[], options: PolicyOptions, log: Logger): Promise<PolicyStore> {
    const { set, fingerprint } = await load(paths, options);
    log.info({ policies: set.policyCount, rules: set.ruleCount, skipped: set.skipped.length }, 'policy set loaded');
    return new PolicyStore(paths, options, log, set, fingerprint);
  }

  /** The live set. A reference read: swapping is a single assignment. */
  current(): CompiledPolicySet {
    return this.set;
  }

  stats(): PolicyStoreStats {
    return { reloads: this.reloads, rejections: this.rejections, lastError: this.lastError, loadedAt: this.loadedAt };
  }

  /** Starts watching the policy files (and the folders holding them, for atomic renames). */
  async watch(): Promise<void> {
    const folders = new Set<string>();
    for (const target of this.paths) {
      const info = await stat(target).catch(() => undefined);
      folders.add(info?.isDirectory() ? target : path.dirname(target));
    }
    for (const folder of folders) {
      const watcher = watch(folder, { persistent: false }, () => this.schedule());
      watcher.on('error', (error) => this.log.warn({ folder, err: error.message }, 'policy watch failed'));
      this.watchers.push(watcher);
    }
  }

  /** Reloads now; resolves when done. Returns whether the set changed. */
  async reload(): Promise<boolean> {
    let changed = false;
    this.reloading = this.reloading.then(async () => {
      try {
        const next = await load(this.paths, this.options);
        if (next.fingerprint === this.fingerprint) return;
        this.set = next.set;
        this.fingerprint = next.fingerprint;
        this.reloads += 1;
        this.lastError = undefined;
        this.loadedAt = new Date();
        changed = true;
        this.log.info({ policies: next.set.policyCount, rules: next.set.ruleCount }, 'policy set reloaded');
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
    clearTimeout(this.timer);
    for (const watcher of this.watchers) watcher.close();
    this.watchers = [];
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.reload(), DEBOUNCE_MS);
    this.timer.unref();
  }
}

async function load(paths: readonly string[], options: PolicyOptions): Promise<{ set: CompiledPolicySet; fingerprint: string }> {
  const sources = await readPolicySources([...paths]);
  const hash = createHash('sha256');
  for (const source of sources) hash.update(source.file).update('\0').update(source.text).update('\0');
  const set = compilePolicySet(parsePolicyDocuments(sources, options), options);
  return { set, fingerprint: hash.digest('hex') };
}
