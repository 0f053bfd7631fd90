/**
 * The authorizer of the live policy set: loaded at start (an invalid set
 * fails the start), loaded again when a file in the policy folders
 * changes, and swapped in one assignment. A rejected reload is logged with
 * its precise error and the last good set keeps answering.
 */
import type { Logger } from '../../gateway/log.js';
import { FolderWatch } from '../../gateway/policy/folder-watch.js';

export interface LiveAuthorizerStats {
  readonly reloads: number;
  readonly rejections: number;
  readonly lastError?: string;
  readonly loadedAt: Date;
}

/**
 * @example
 * const live = await LiveAuthorizer.open(paths, () => loadKubernetesAuthorizer(paths, breakGlass, options), log);
 * await live.watch();
 * live.current().review(review);
 */
export class LiveAuthorizer<T extends { readonly policyCount: number }> {
  private readonly folders: FolderWatch;
  private reloading: Promise<void> = Promise.resolve();
  private counts = { reloads: 0, rejections: 0 };
  private lastError: string | undefined;
  private loadedAt = new Date();

  private constructor(
    private readonly paths: readonly string[],
    private readonly load: () => Promise<T>,
    private readonly log: Logger,
    private authorizer: T,
  ) {
    this.folders = new FolderWatch(paths, log, () => void this.reload());
  }

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
  watch(): Promise<void> {
    return this.folders.start();
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
    this.folders.close();
  }
}
