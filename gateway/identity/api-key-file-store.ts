/**
 * API keys in a YAML file, typically mounted from a Kubernetes Secret:
 *
 * ```yaml
 * keys:
 *   - id: 3f9c2a7d1e4b8a60
 *     principal: reminder
 *     scopes: [todos:read]
 *     notAfter: "2026-04-01T00:00:00Z"
 *     sha256: 0k3Z…   # base64url SHA-256 of the key; the key itself is never stored
 * ```
 *
 * The gateway reads the file at start (an invalid file fails start-up) and
 * again whenever its folder changes (a Secret update swaps a symlink there);
 * an invalid new version is refused and the last good one keeps serving.
 * `gatehouse api-key --file` edits the file, keeping comments and layout.
 */
import { createHash, randomBytes } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isMap, isSeq, parseDocument, type Document } from 'yaml';
import { ValidationError } from '../errors.js';
import type { Logger } from '../log.js';
import { readApiKeyRecord, storedApiKeyRecord, type ApiKeyRecord } from './api-key-record.js';
import type { ApiKeyAdministration, ApiKeyLookup, ApiKeyStore } from './api-key-store.js';

/** Bounds on a key file. */
export const apiKeyFileLimits = { maxBytes: 4 * 1024 * 1024, maxKeys: 10_000 } as const;

const DEBOUNCE_MS = 150;
const ABSENT: ApiKeyLookup = Object.freeze({ kind: 'absent' });

/**
 * Reads key-file text into records by id. Throws a ValidationError naming
 * the file and the field (`keys[2].sha256`) for anything invalid, including
 * a repeated id.
 */
export function parseApiKeyFile(text: string, file: string): Map<string, ApiKeyRecord> {
  return recordsOf(parseKeyDocument(text, file), file);
}

function parseKeyDocument(text: string, file: string): Document {
  if (Buffer.byteLength(text) > apiKeyFileLimits.maxBytes) {
    throw new ValidationError(file, undefined, '', `larger than ${apiKeyFileLimits.maxBytes} bytes`);
  }
  const document = parseDocument(text, { uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new ValidationError(file, undefined, '', `not valid YAML: ${document.errors[0]?.message.split('\n')[0] ?? 'unknown error'}`);
  }
  return document;
}

function recordsOf(document: Document, file: string): Map<string, ApiKeyRecord> {
  const fail = (field: string, problem: string): never => {
    throw new ValidationError(file, undefined, field, problem);
  };
  let root: unknown;
  try {
    // Key files have no use for aliases: refusing them rules out alias bombs.
    root = document.toJS({ maxAliasCount: 0 }) ?? { keys: [] };
  } catch (error) {
    return fail('', `not a key file: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (typeof root !== 'object' || root === null || Array.isArray(root)) return fail('', 'must be a mapping with a keys list');
  for (const name of Object.keys(root)) if (name !== 'keys') fail(name, 'unknown field (expected keys)');
  const keys = (root as { keys?: unknown }).keys ?? [];
  if (!Array.isArray(keys)) return fail('keys', 'must be a list');
  if (keys.length > apiKeyFileLimits.maxKeys) fail('keys', `at most ${apiKeyFileLimits.maxKeys} keys`);
  const records = new Map<string, ApiKeyRecord>();
  keys.forEach((entry, i) => {
    const reading = readApiKeyRecord(entry);
    if (!reading.ok) return fail(reading.field ? `keys[${i}].${reading.field}` : `keys[${i}]`, reading.problem);
    if (records.has(reading.record.id)) fail(`keys[${i}].id`, `${reading.record.id} appears twice`);
    records.set(reading.record.id, reading.record);
  });
  return records;
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new ValidationError(file, undefined, '', `cannot read the file: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

/**
 * The gateway's view of a key file: a map read per lookup, swapped whole on reload.
 *
 * @example
 * const store = await ApiKeyFileStore.open('/etc/gatehouse/api-keys/keys.yaml', log);
 * store.watch();
 * store.find('3f9c2a7d1e4b8a60'); // { kind: 'found', record }
 */
export class ApiKeyFileStore implements ApiKeyStore {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> = Promise.resolve();
  private readonly listeners = new Set<() => void>();

  private constructor(
    readonly file: string,
    private readonly log: Logger,
    private records: ReadonlyMap<string, ApiKeyRecord>,
    private fingerprint: string,
  ) {}

  /** Reads the file; throws its first ValidationError. */
  static async open(file: string, log: Logger): Promise<ApiKeyFileStore> {
    const text = await readText(file);
    const records = parseApiKeyFile(text, file);
    log.info({ file, keys: records.size }, 'api keys loaded');
    return new ApiKeyFileStore(file, log, records, fingerprintOf(text));
  }

  get size(): number {
    return this.records.size;
  }

  find(id: string): ApiKeyLookup {
    const record = this.records.get(id);
    return record === undefined ? ABSENT : { kind: 'found', record };
  }

  /** Calls `listener` after every reload that changed the keys. */
  onReload(listener: () => void): void {
    this.listeners.add(listener);
  }

  /** Watches the file's folder: a Kubernetes Secret update replaces a symlink there rather than writing the file. */
  watch(): void {
    if (this.watcher) return;
    this.watcher = watch(path.dirname(this.file), { persistent: false }, () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.reload(), DEBOUNCE_MS);
      this.timer.unref();
    });
    this.watcher.on('error', (error) => this.log.warn({ file: this.file, err: error.message }, 'api key file watch failed'));
  }

  /** Reads the file again; an invalid version is refused and the current keys stay. Resolves with whether they changed. */
  async reload(): Promise<boolean> {
    let changed = false;
    this.reloading = this.reloading.then(async () => {
      try {
        const text = await readText(this.file);
        const fingerprint = fingerprintOf(text);
        if (fingerprint === this.fingerprint) return;
        this.records = parseApiKeyFile(text, this.file);
        this.fingerprint = fingerprint;
        changed = true;
        this.log.info({ file: this.file, keys: this.records.size }, 'api keys reloaded');
        for (const listener of this.listeners) listener();
      } catch (error) {
        this.log.error(
          { file: this.file, err: error instanceof Error ? error.message : String(error) },
          'api key file refused; keeping the last good keys',
        );
      }
    });
    await this.reloading;
    return changed;
  }

  close(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
    this.watcher = undefined;
  }
}

function fingerprintOf(text: string): string {
  return createHash('sha256').update(text).digest('base64url');
}

/**
 * Edits a key file for `gatehouse api-key --file`, keeping its comments and
 * layout; writes atomically (a temporary file renamed over it). A missing
 * file is created.
 *
 * @example
 * const keys = new ApiKeyFile('keys.yaml');
 * await keys.create(record);
 */
export class ApiKeyFile implements ApiKeyAdministration {
  constructor(readonly file: string) {}

  async create(record: ApiKeyRecord): Promise<void> {
    const document = await this.document(true);
    if (recordsOf(document, this.file).has(record.id)) throw new Error(`an API key with id ${record.id} exists already in ${this.file}`);
    const keys = document.get('keys');
    if (isSeq(keys)) {
      keys.flow = false; // `keys: []` grows into a block list, one record under another
      keys.add(document.createNode(storedApiKeyRecord(record)));
    } else document.set('keys', document.createNode([storedApiKeyRecord(record)]));
    await this.write(document);
  }

  async revoke(id: string, at: number): Promise<ApiKeyRecord | undefined> {
    const document = await this.document(false);
    const record = recordsOf(document, this.file).get(id);
    if (record === undefined) return undefined;
    if (record.revokedAt !== undefined) return record;
    const keys = document.get('keys');
    const entry = isSeq(keys) ? keys.items.find((item) => isMap(item) && item.get('id') === id) : undefined;
    if (!isMap(entry)) return undefined;
    entry.set('revokedAt', new Date(at).toISOString());
    await this.write(document);
    return { ...record, revokedAt: at };
  }

  async list(): Promise<ApiKeyRecord[]> {
    const records = recordsOf(await this.document(false), this.file);
    return [...records.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  private async document(createIfMissing: boolean): Promise<Document> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if (!createIfMissing || (error as NodeJS.ErrnoException).code !== 'ENOENT')
        return parseKeyDocument(await readText(this.file), this.file);
      text = '# Gatehouse API keys (docs/api-keys.md): hashes only, never the keys themselves.\nkeys: []\n';
    }
    return parseKeyDocument(text, this.file);
  }

  private async write(document: Document): Promise<void> {
    const text = document.toString();
    parseApiKeyFile(text, this.file); // never write a file the gateway would refuse
    const temporary = `${this.file}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await writeFile(temporary, text, { mode: 0o600 });
      await rename(temporary, this.file);
    } finally {
      await rm(temporary, { force: true });
    }
  }
}
