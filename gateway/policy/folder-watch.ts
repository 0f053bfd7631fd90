/**
 * Watching policy files for changes, for every component that reloads them
 * (the gateway's PolicyStore, the Kubernetes webhook's LiveAuthorizer). The
 * folders holding the files are watched, not the files: atomic renames and
 * a ConfigMap's symlink swap replace the file, and a watch on the old one
 * would see nothing after the first change.
 */
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log.js';

/** Changes closer together than this are one reload (editors and `kubectl cp` write in several steps). */
const DEBOUNCE_MS = 150;

/**
 * Calls `changed` once after each burst of changes to `paths` (files or
 * folders), `DEBOUNCE_MS` after its last event.
 *
 * @example
 * const watcher = new FolderWatch(paths, log, () => void store.reload());
 * await watcher.start();
 * // … later
 * watcher.close();
 */
export class FolderWatch {
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly paths: readonly string[],
    private readonly log: Logger,
    private readonly changed: () => void,
  ) {}

  async start(): Promise<void> {
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

  close(): void {
    clearTimeout(this.timer);
    for (const watcher of this.watchers) watcher.close();
    this.watchers = [];
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(this.changed, DEBOUNCE_MS);
    this.timer.unref();
  }
}
