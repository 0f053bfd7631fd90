/**
 * The authorizer of the live policy set: loaded at start (an invalid set
 * fails the start), loaded again when a file in the policy folders
 * changes, and swapped in one assignment. A rejected reload is logged with
 * its precise error and the last good set keeps answering.
 */
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../gateway/log.js';

export interface LiveAuthorizerStats {
  readonly reloads: number;
  readonly rejections: number;
  readonly lastError?: string;
  readonly loadedAt: Date;
}

/** Changes closer together than this are one reload (editors and `kubectl cp` write in several steps). */
const DEBOUNCE_MS = 150;

/**
 * @example
 * const live = await LiveAuthorizer.open(paths, () => loadKubernetesAuthorizer(paths, breakGlass, options), log);
 * await live.watch();
 * live.current().review(review);
 */
export class LiveAuthorizer<T extends { readonly policyCount: number }> {
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> = Promise.resolve();
  private counts = { reloads: 0, rejections: 0 };
  private lastError: string | undefined;
  private loadedAt = new Date();

  private constructor(
    private readonly paths: readonly string[],
    private readonly load: () => Promise<T>,
    private readonly log: Logger,
    private authorizer: T,
  ) {}

  /** Loads the set; rejects with the loader's error (a ValidationError naming file and field) when it is invalid. */
  static async open<T extends { readonly policyCount: number }>(
    paths: readonly string[],
    load: () => Promise<T>,
    log: Logger,
  ): Promise<LiveAuthorizer<T>> {
    const authorizer = await load();
    log.info({ policies: authorizer.policyCount }, 'kubernetes access policies loaded');
    return new LiveAuthorizer(paths, load, log, authorizer);
  }

  /** The live authorizer: a reference read, valid for one review. */
  current(): T {
    return this.authorizer;
  }

  stats(): LiveAuthorizerStats {
    return { ...this.counts, ...(this.lastError === undefined ? {} : { lastError: this.lastError }), loadedAt: this.loadedAt };
  }

  /** Watches the policy files (the folders holding them, so atomic renames and ConfigMap symlink swaps are seen). */
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

  /** Loads the set again now; resolves with whether the new set is live. */
  async reload(): Promise<boolean> {
    let swapped = false;
    this.reloading = this.reloading.then(async () => {
      try {
        this.authorizer = await this.load();
        this.counts.reloads++;
        this.lastError = undefined;
        this.loadedAt = new Date();
        swapped = true;
        this.log.info({ policies: this.authorizer.policyCount }, 'kubernetes access policies reloaded');
      } catch (error) {
        this.counts.rejections++;
        this.lastError = error instanceof Error ? error.message : String(error);
        this.log.error({ err: this.lastError }, 'kubernetes access policies rejected; the last good set keeps answering');
      }
    });
    await this.reloading;
    return swapped;
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
